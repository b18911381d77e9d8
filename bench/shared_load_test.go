//go:build load

package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drone/drone-go/plugin/converter"
)

var sharedProcs = flag.Int("shared.procs", 1, "GOMAXPROCS of the server in TestLoadSharedThroughput")

// TestLoadSharedThroughput measures what the webhook costs the converter
// when both run in one process (serve with the webhook on, as the chart
// runs it with webhook.enabled, GOMAXPROCS=1 and its GOMEMLIMIT): 8
// clients convert the typical pipeline in a closed loop for 10 s, first
// alone, then while 2 more send reviews of a pod with 50 000 env vars
// (3.3 MB each) without pause. Every conversion must succeed in both
// phases, and beside the reviews the converter must keep at least a
// tenth of its throughput alone. The reviews take most of the core
// (each is about 0.4 s of CPU, a conversion of this pipeline 1 ms), and
// the converter kept 18-37 % of its rate in the runs recorded in
// docs/performance.md; a webhook quadratic in a container's env left it
// 8 % (170 of 2 180 a second), which this catches. -shared.procs sets
// GOMAXPROCS (1, the chart's CPU limit, by default).
//
//	go test -tags load -run TestLoadSharedThroughput -v ./bench
func TestLoadSharedThroughput(t *testing.T) {
	_, env := chartMemory(t)
	env["GOMAXPROCS"] = strconv.Itoa(*sharedProcs)
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	addr, hookAddr := freeLoopback(t), freeLoopback(t)
	startServer(t, env, "DRONE_BIND="+addr, "DRONE_ECI_WEBHOOK_ENABLED=true",
		"DRONE_ECI_WEBHOOK_BIND="+hookAddr, "DRONE_ECI_WEBHOOK_TLS_CERT="+certFile, "DRONE_ECI_WEBHOOK_TLS_KEY="+keyFile,
		"DRONE_ECI_WEBHOOK_LOADER_IMAGE=drone-convert-eci:load")
	waitHealthy(t, "http://"+addr)

	data := typical(t)
	review := reviewBody(t, runnerPod(50000, true))
	hook := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	const converters, reviewers, length = 8, 2, 10 * time.Second

	type phase struct {
		conversions, failed int
		reviews, busy       int64
		latencies           []time.Duration
		firstFailure        error
		elapsed             time.Duration
	}
	run := func(withReviews bool) phase {
		var (
			p        phase
			mu       sync.Mutex
			wg       sync.WaitGroup
			reviews  atomic.Int64
			busy     atomic.Int64
			stopping = make(chan struct{})
		)
		if withReviews {
			for range reviewers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stopping:
							return
						default:
						}
						res, err := hook.Post("https://"+hookAddr+"/mutate", "application/json", bytes.NewReader(review))
						if err != nil {
							continue
						}
						out, _ := io.ReadAll(res.Body)
						res.Body.Close()
						switch {
						case res.StatusCode == http.StatusOK && bytes.Contains(out, []byte(`"patch":`)):
							reviews.Add(1)
						case res.StatusCode == http.StatusServiceUnavailable:
							busy.Add(1)
						}
					}
				}()
			}
		}
		client := converter.Client("http://"+addr, secret, false)
		start := time.Now()
		deadline := start.Add(length)
		for c := range converters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := request(data)
				req.Repo.Slug = fmt.Sprintf("octo/repo-%d", c)
				for time.Now().Before(deadline) {
					began := time.Now()
					res, err := client.Convert(context.Background(), req)
					took := time.Since(began)
					mu.Lock()
					if err == nil && res != nil && res.Data != "" {
						p.conversions++
						p.latencies = append(p.latencies, took)
					} else {
						p.failed++
						if p.firstFailure == nil {
							p.firstFailure = fmt.Errorf("answer %v, error %v", res, err)
						}
					}
					mu.Unlock()
				}
			}()
		}
		// The reviewers stop once the converters are done.
		go func() {
			for time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			close(stopping)
		}()
		wg.Wait()
		p.elapsed = time.Since(start)
		p.reviews, p.busy = reviews.Load(), busy.Load()
		slices.Sort(p.latencies)
		return p
	}
	report := func(name string, p phase) float64 {
		rate := float64(p.conversions) / p.elapsed.Seconds()
		var p50, p99 time.Duration
		if n := len(p.latencies); n > 0 {
			p50, p99 = p.latencies[n/2], p.latencies[n*99/100]
		}
		t.Logf("%s: %d conversions in %s (%.0f/s), p50 %s, p99 %s, %d failed; %d reviews patched, %d answered 503",
			name, p.conversions, p.elapsed.Round(time.Millisecond), rate, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond),
			p.failed, p.reviews, p.busy)
		if p.failed > 0 {
			t.Errorf("%s: %d conversions failed; first: %v", name, p.failed, p.firstFailure)
		}
		return rate
	}
	alone := report("converter alone", run(false))
	shared := run(true)
	beside := report("beside 50 000-env reviews", shared)
	if shared.reviews == 0 {
		t.Error("no review was patched: the webhook did not share the process")
	}
	if beside < alone/10 {
		t.Errorf("beside the reviews the converter served %.0f/s, under a tenth of its %.0f/s alone", beside, alone)
	}
}
