//go:build tools

// Package tools pins the real drone CLI (github.com/drone/drone-cli
// v1.8.0), a second genuine client of the conversion extension for
// end-to-end tests (internal/dronecli builds and runs it). It is its own
// module so that the CLI's 2020-era dependency tree (docker/engine, old
// grpc and genproto) never enters the service's go.mod. The build tag
// keeps this file out of every build; it exists so `go mod tidy` keeps
// the requirement. From the repository root:
//
//	go build -C tools -ldflags "-X main.version=1.8.0" -o ../bin/drone github.com/drone/drone-cli/drone
//
// `go get`/`go mod tidy` in this directory need
// GONOSUMDB=github.com/drone/drone-cli,github.com/docker/engine: the
// checksum database reachable here answers 404 for those two modules.
package tools

import _ "github.com/drone/drone-cli/drone"
