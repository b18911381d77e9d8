//go:build tools

// Package tools pins drone/drone-kaniko v1.13.9 for the semantic test
// (e2e/kaniko_semantic_test.go), which builds its cmd/kaniko-* plugins and
// runs them with the env drone-runner-kube gives a converted step. A module
// of its own, so AWS/Azure SDKs never enter the service's go.mod.
package tools

import (
	_ "github.com/drone/drone-kaniko/cmd/kaniko-acr"
	_ "github.com/drone/drone-kaniko/cmd/kaniko-docker"
	_ "github.com/drone/drone-kaniko/cmd/kaniko-ecr"
	_ "github.com/drone/drone-kaniko/cmd/kaniko-gar"
	_ "github.com/drone/drone-kaniko/cmd/kaniko-gcr"
)
