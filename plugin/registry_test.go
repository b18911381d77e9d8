package plugin

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/registry"
)

// recordingResolver answers every query with a digest, and records what
// it was asked.
type recordingResolver struct {
	mu        sync.Mutex
	calls     []recordedCall
	deadlines []time.Time
}

type recordedCall struct {
	scope   registry.Scope
	queries []registry.Query
}

func (r *recordingResolver) Timeout() time.Duration { return time.Minute }

func (r *recordingResolver) ResolveAll(ctx context.Context, scope registry.Scope, queries []registry.Query) []registry.Answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, _ := ctx.Deadline()
	r.deadlines = append(r.deadlines, d)
	r.calls = append(r.calls, recordedCall{scope, queries})
	out := make([]registry.Answer, len(queries))
	for i, q := range queries {
		out[i] = registry.Answer{Query: q, Registry: "r.example.com", Facts: registry.Facts{Digest: "sha256:" + strings.Repeat("a", 64)}}
	}
	return out
}

func TestLookups(t *testing.T) {
	const config0 = `kind: pipeline
type: kubernetes
name: one
metadata:
  namespace: builds
  annotations: {drone-convert-eci/enabled: "true"}
service_account_name: builder
platform: {arch: arm64}
steps:
- {name: a, image: r.example.com/app/tool, commands: [x]}
- {name: b, image: 'golang:1.22', commands: [x]}
---
kind: pipeline
type: kubernetes
name: two
metadata:
  annotations: {drone-convert-eci/enabled: "true", drone-convert-eci/disable: images}
steps:
- {name: a, image: r.example.com/app/tool, commands: [x]}
- {name: p, image: 'r.example.com/app/plugin:3'}
`
	cfg := config.Default()
	cfg.Registry.Lookup = true
	cfg.Webhook.RecordEntrypoints = true
	cfg.EnvFiles.Namespace = "drone-pipelines"
	r := &recordingResolver{}
	result, err := NewConverter(cfg).WithResolver(r).Convert(Input{Config: []byte(config0), Repo: "octo/x"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.calls) != 2 {
		t.Fatalf("%d lookups, want one per pipeline: %+v", len(r.calls), r.calls)
	}
	arm := registry.Platform{OS: "linux", Architecture: "arm64"}
	if c := r.calls[0]; c.scope != (registry.Scope{Namespace: "builds", ServiceAccount: "builder"}) || !slices.Equal(c.queries, []registry.Query{{Ref: "r.example.com/app/tool", Platform: arm}}) {
		t.Errorf("first pipeline asked %+v", c)
	}
	// Images off: no digests asked, only the entrypoint of the plugin.
	if c := r.calls[1]; c.scope != (registry.Scope{Namespace: "drone-pipelines"}) || !slices.Equal(c.queries, []registry.Query{{Ref: "r.example.com/app/plugin:3", Platform: registry.DefaultPlatform}}) {
		t.Errorf("second pipeline asked %+v", c)
	}
	if r.deadlines[0].IsZero() || !r.deadlines[0].Equal(r.deadlines[1]) {
		t.Errorf("lookups of one conversion have deadlines %v, want one", r.deadlines)
	}
	if !strings.Contains(string(result.Config), "image: 'r.example.com/app/tool:latest@sha256:aaaa") {
		t.Errorf("first pipeline's floating image not pinned:\n%s", result.Config)
	}

}
