package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/drone-convert-eci/drone-convert-eci/internal/registry"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// ImageResolver answers registry lookups (internal/registry.Resolver):
// every query, in order, within its own deadline; a failed lookup is an
// Answer with Err, never a failed conversion.
type ImageResolver interface {
	ResolveAll(ctx context.Context, scope registry.Scope, queries []registry.Query) []registry.Answer
	// Timeout is the deadline of all lookups of one conversion.
	Timeout() time.Duration
}

// lookupDeadline is the one deadline of a conversion's lookups, started
// by the first.
type lookupDeadline struct {
	parent context.Context
	ctx    context.Context
	stop   context.CancelFunc
}

func (l *lookupDeadline) context(timeout time.Duration) context.Context {
	if l.ctx == nil {
		parent := l.parent
		if parent == nil {
			parent = context.Background()
		}
		l.ctx, l.stop = context.WithTimeout(parent, timeout)
	}
	return l.ctx
}

func (l *lookupDeadline) cancel() {
	if l.stop != nil {
		l.stop()
	}
}

// WithResolver makes the converter ask registries about the images its
// tables do not know (DRONE_ECI_REGISTRY_LOOKUP).
func (c *Converter) WithResolver(r ImageResolver) *Converter {
	c.resolver = r
	return c
}

// WithImageResolver is WithResolver for the server's plugin.
func WithImageResolver(r ImageResolver) Option {
	return func(p *plugin) { p.converter.WithResolver(r) }
}

// lookUpImages asks the registries, before the images transform runs,
// about the references that transform and the entrypoints transform
// would use, and hands the answers to both through p.Registry.
// It returns one line per failed lookup, for the operator's log and the
// CLI.
func (c *Converter) lookUpImages(ctx context.Context, p *transform.Pipeline, disabled map[string]bool) []string {
	var images transform.Images
	var entrypoints transform.Entrypoints
	for _, t := range c.transforms {
		if disabled[t.Name()] {
			continue
		}
		switch t := t.(type) {
		case transform.Images:
			images = t
		case transform.Entrypoints:
			entrypoints = t
		}
	}
	refs := transform.RegistryQueries(p, images, entrypoints)
	p.Registry = map[string]transform.ImageFacts{}
	if len(refs) == 0 {
		return nil
	}
	osName, arch := transform.PipelinePlatform(p.Body)
	platform := registry.Platform{OS: osName, Architecture: arch}
	queries := make([]registry.Query, len(refs))
	for i, ref := range refs {
		queries[i] = registry.Query{Ref: ref, Platform: platform}
	}
	var failed []string
	for _, a := range c.resolver.ResolveAll(ctx, c.buildScope(p), queries) {
		facts := transform.ImageFacts{
			Digest:     a.Digest,
			Entrypoint: a.Entrypoint,
			Cmd:        a.Cmd,
			HasConfig:  a.HasConfig,
			Registry:   a.Registry,
		}
		if a.Err != nil {
			facts.Err = a.Err.Error()
			failed = append(failed, "image "+a.Ref+": registry "+a.Registry+": "+facts.Err)
		}
		p.Registry[transform.ImageKey(a.Ref)] = facts
		if a.Digest != "" {
			// The images transform may add the digest; the entrypoints
			// transform then looks the pinned reference up.
			p.Registry[transform.DigestKey(a.Ref, a.Digest)] = facts
		}
	}
	return failed
}

// buildScope is where the pipeline's pod will run and as whom, whose
// pull credentials apply: metadata.namespace, else the runner's
// default, and service_account_name, else the runner's default ("").
// A value only known at build time (substituted, or the runner's random
// drone- namespace) falls back to the default.
func (c *Converter) buildScope(p *transform.Pipeline) registry.Scope {
	scope := registry.Scope{Namespace: transform.PipelineNamespace(p.Body), ServiceAccount: transform.PipelineServiceAccount(p.Body)}
	if scope.Namespace == "" || scope.Namespace == "drone-" || strings.Contains(scope.Namespace, "$") {
		scope.Namespace = c.cfg.EnvFiles.Namespace
	}
	if strings.Contains(scope.ServiceAccount, "$") {
		scope.ServiceAccount = ""
	}
	return scope
}
