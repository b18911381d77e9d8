// Package e2e drives the whole service the way Drone does: over loopback,
// with drone-go's real converter client, the real drone CLI, and
// drone-runner-kube's own compiler on the other side of the conversion.
// It holds tests only.
package e2e
