//go:build load

package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drone/drone-go/plugin/converter"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/server"
)

var (
	loadRate     = flag.Int("load.rate", 500, "requests per second")
	loadDuration = flag.Duration("load.duration", 30*time.Second, "how long to send")
	loadP99      = flag.Duration("load.p99", 5*time.Millisecond, "p99 latency target")
)

// TestLoad drives the signed endpoint over loopback with drone-go's real
// client at a fixed rate for a fixed time (load.rate × load.duration
// requests, then it stops), with the typical 10-step pipeline, and
// reports p50/p99 latency, errors and the process's peak RSS (server and
// load generator share the process, as they share the 2 cores).
//
//	go test -tags load -run TestLoad -v ./bench
func TestLoad(t *testing.T) {
	cfg := config.Default()
	log := quietLogger()
	srv := httptest.NewServer(server.Handler(plugin.New(cfg, log), server.Options{
		Secret: secret, MaxBodyBytes: cfg.MaxBodyBytes, MaxClockSkew: cfg.MaxClockSkew,
	}, log))
	defer srv.Close()
	client := converter.Client(srv.URL, secret, false)
	// Builds come from many repos; one repo alone is held to
	// DRONE_ECI_MAX_CONCURRENT_PER_REPO conversions at a time by design.
	data := typical(t)
	requests := make([]*converter.Request, 64)
	for i := range requests {
		requests[i] = request(data)
		requests[i].Repo.Slug = fmt.Sprintf("octo/repo-%d", i)
	}

	total := int(float64(*loadRate) * loadDuration.Seconds())
	latencies := make([]time.Duration, total)
	errs := make([]error, total)
	interval := time.Second / time.Duration(*loadRate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		// Open-loop pacing: request i leaves at start + i×interval whether
		// or not earlier ones returned, so a slow server shows as latency.
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			began := time.Now()
			res, err := client.Convert(context.Background(), requests[i%len(requests)])
			latencies[i] = time.Since(began)
			if err == nil && res.Data == "" {
				err = errUnconverted
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)

	failures := 0
	for _, err := range errs {
		if err != nil {
			failures++
		}
	}
	slices.Sort(latencies)
	p50, p99 := latencies[total/2], latencies[total*99/100]
	t.Logf("%d requests in %s (%.0f/s): p50 %s, p99 %s, max %s, errors %d, peak RSS %s",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(),
		p50, p99, latencies[total-1], failures, peakRSS())
	if failures > 0 {
		t.Errorf("%d requests failed, first: %v", failures, firstError(errs))
	}
	if p99 > *loadP99 {
		t.Errorf("p99 %s over the %s target", p99, *loadP99)
	}
}

type loadError string

func (e loadError) Error() string { return string(e) }

const errUnconverted = loadError("answer did not carry the converted config")

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// peakRSS is the process's high-water resident set (VmHWM), Linux only.
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if value, ok := strings.CutPrefix(scanner.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}
