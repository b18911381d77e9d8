package bench

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/server"
)

// BenchmarkWorkingSet measures what one request really holds while the
// full signed HTTP path serves it (body, drone-go's decoded request, the
// parsed and converted config, the answer), as a multiple of its body:
// the figure server.Options.WorkFactor must cover. The collector runs
// with GOGC=5 so that the heap follows what is live, and a sampler reads
// the heap's object bytes every 20µs; peak-live/body is the peak above
// the idle heap, divided by the body's size.
//
//	go test ./bench -run '^$' -bench WorkingSet
func BenchmarkWorkingSet(b *testing.B) {
	cfg := config.Default()
	log := quietLogger()
	handler := server.Handler(plugin.New(cfg, log), server.Options{Secret: secret, MaxBodyBytes: cfg.MaxBodyBytes, MaxClockSkew: time.Hour, MemoryBudget: 1 << 40}, log)
	// Many steps cost more per byte than anything in inputs: a config of
	// 2 000 steps (240 KB) measures the shape, as the per-step cost does
	// not depend on the number of steps.
	// Configs written densely, on purpose: a 1 MB flow list of one-letter
	// items and a block list of one-key mappings, charged for their
	// nodes (server.WorkingSetOf), not their bytes.
	all := append(inputs(b), input{"2000-steps", manySteps(2000)}, input{"env-moved", envMoved(200)},
		input{"dense-flow-list", denseFlowList(500000)}, input{"dense-block-mappings", denseBlockMappings(85000)})
	for _, in := range all {
		body, header := signed(b, in.data)
		b.Run(in.name, func(b *testing.B) {
			defer debug.SetGCPercent(debug.SetGCPercent(5))
			var worst float64
			for i := 0; i < b.N; i++ {
				var rec *httptest.ResponseRecorder
				peak := peakHeap(func() {
					req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
					req.Header = header
					rec = httptest.NewRecorder()
					handler.ServeHTTP(rec, req)
				})
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
				worst = max(worst, float64(peak)/float64(len(body)))
			}
			b.ReportMetric(worst, "peak-live/body")
			b.ReportMetric(float64(server.WorkingSetOf(body))/float64(len(body)), "charged/body")
			b.ReportMetric(float64(len(body)), "body-bytes")
		})
	}
}

// denseFlowList is an opted-in config whose one step's commands are a
// flow list of n one-letter items: two bytes a YAML node.
func denseFlowList(n int) []byte {
	var b strings.Builder
	b.WriteString("kind: pipeline\ntype: kubernetes\nname: big\nmetadata:\n  annotations:\n    drone-convert-eci/enabled: \"true\"\nsteps:\n- name: a\n  image: alpine\n  commands: [a")
	b.WriteString(strings.Repeat(",a", n-1))
	b.WriteString("]\n")
	return []byte(b.String())
}

// denseBlockMappings is an opted-in config with a setting holding n
// one-key mappings in block style, one a line: three nodes in 11 bytes.
func denseBlockMappings(n int) []byte {
	var b strings.Builder
	b.WriteString("kind: pipeline\ntype: kubernetes\nname: big\nmetadata:\n  annotations:\n    drone-convert-eci/enabled: \"true\"\nsteps:\n- name: a\n  image: alpine\n  settings:\n    list:\n")
	b.WriteString(strings.Repeat("    - a: b\n", n))
	return []byte(b.String())
}

// peakHeap runs fn and returns the most heap it held above the idle
// heap, sampled every 20µs; the caller sets a low GOGC so that the heap
// follows what is live.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	idle := heapObjects()
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Microsecond):
			}
		}
	}()
	fn()
	close(done)
	<-sampled
	return peak.Load() - min(idle, peak.Load())
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// envMoved is an opted-in command step with n env vars of 100-byte
// values, few enough to move into an env file (the annotation carrier's
// limits), so the working set includes writing the file.
func envMoved(n int) []byte {
	var b strings.Builder
	b.WriteString("kind: pipeline\ntype: kubernetes\nname: env\nmetadata:\n  annotations:\n    drone-convert-eci/enabled: \"true\"\nsteps:\n- name: test\n  image: golang:1.22\n  commands: [go test]\n  environment:\n")
	for i := range n {
		fmt.Fprintf(&b, "    VAR_%d: %s\n", i, strings.Repeat("v", 100))
	}
	return []byte(b.String())
}
