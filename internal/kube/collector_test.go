package kube

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus/hooks/test"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/leader"
	"github.com/drone-convert-eci/drone-convert-eci/internal/leader/leadertest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

// Two replicas share one fake API server, each campaigning for the
// collector's Lease: never do both collect at once, every expired
// Secret is deleted once, and when the holder stops the other collects
// (finding the day's collection done). A holder may also lose the Lease
// on its own when renewing is slow (the race detector on a busy
// machine): a handover, not two collectors.
func TestCollectorOneReplicaAtATime(t *testing.T) {
	client := newClient(t)
	leadertest.OptimisticLeases(client.Tracker(), client)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	old := &Secrets{Client: client, Now: clock("2024-01-01")}
	var expired []string
	for _, ns := range []string{"builds", "team"} {
		for i := range 3 {
			name := fmt.Sprintf("drone-convert-eci-env-%s-%d", ns, i)
			if err := old.Ensure(ctx, ns, name, map[string][]byte{"env": []byte(name)}); err != nil {
				t.Fatal(err)
			}
			expired = append(expired, ns+"/"+name)
		}
	}

	var mu sync.Mutex
	var passes []string // identity of each pass, in order
	var leading, maxLeading atomic.Int32
	passed := make(chan struct{}, 100)
	log, hook := test.NewNullLogger()
	reg := prometheus.NewRegistry()
	m := metrics.NewEnvSecrets(reg)
	stops := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b"} {
		replicaCtx, stop := context.WithCancel(ctx)
		stops[id] = stop
		c := Collector{
			Secrets: &Secrets{Client: client, Now: clock("2025-03-01")},
			Namespaces: func() []string {
				mu.Lock()
				passes = append(passes, id)
				mu.Unlock()
				passed <- struct{}{}
				return []string{"builds", "team", "builds"}
			},
			Retention: 90 * 24 * time.Hour,
			Delay:     10 * time.Millisecond, Interval: 50 * time.Millisecond,
			Log: log, Metrics: m,
		}
		e := leader.Election{Client: client, Namespace: "drone", Lease: CollectorLease, Identity: id, Log: log,
			LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lead := func(ctx context.Context) {
				n := leading.Add(1)
				for m := maxLeading.Load(); n > m && !maxLeading.CompareAndSwap(m, n); m = maxLeading.Load() {
				}
				c.Lead(ctx)
				leading.Add(-1)
			}
			if err := e.Run(replicaCtx, lead); err != nil {
				t.Error(err)
			}
		}()
	}
	waitPasses := func(n int) []string {
		t.Helper()
		for {
			mu.Lock()
			got := append([]string(nil), passes...)
			mu.Unlock()
			if len(got) >= n {
				return got
			}
			select {
			case <-passed:
			case <-ctx.Done():
				t.Fatalf("only %d collection passes: %v", len(got), got)
			}
		}
	}
	first := waitPasses(3)
	holder := first[len(first)-1]
	stops[holder]()
	for i, taken := len(first), false; !taken; i++ {
		taken = waitPasses(i + 1)[i] != holder
	}
	cancel()
	wg.Wait()
	if maxLeading.Load() != 1 {
		t.Errorf("%d replicas collected at once", maxLeading.Load())
	}

	deletes := map[string]int{}
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource() == secretsGVR {
			deletes[a.GetNamespace()+"/"+d.GetName()]++
		}
	}
	for _, name := range expired {
		if deletes[name] != 1 {
			t.Errorf("%s deleted %d times, want once", name, deletes[name])
		}
	}
	if len(deletes) != len(expired) {
		t.Errorf("deletes %v", deletes)
	}
	for _, ns := range []string{"builds", "team"} {
		if idx := index(t, client, ns); len(idx.Data) != 0 || idx.Annotations[CollectedAnnotation] != "2025-03-01" {
			t.Errorf("%s: index %v %v", ns, idx.Data, idx.Annotations)
		}
		if _, err := client.CoreV1().Secrets(ns).Get(context.Background(), fmt.Sprintf("drone-convert-eci-env-%s-0", ns), metav1.GetOptions{}); err == nil {
			t.Errorf("%s: expired Secret left", ns)
		}
	}
	if got := testutil.ToFloat64(m.Deleted); got != float64(len(expired)) {
		t.Errorf("deleted metric %v", got)
	}
	if got := testutil.ToFloat64(m.Errors); got != 0 {
		t.Errorf("errors metric %v", got)
	}
	logged := 0
	for _, e := range hook.AllEntries() {
		if e.Message == "env Secrets unused for longer than DRONE_ECI_ENV_SECRET_RETENTION deleted" {
			logged++
		}
	}
	if logged != 2 {
		t.Errorf("%d deletion log lines, want one per namespace", logged)
	}
}

func TestCollectorCountsErrors(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	s := &Secrets{Client: client, Now: clock("2024-01-01")}
	if err := s.Ensure(ctx, "builds", "drone-convert-eci-env-x", map[string][]byte{"env": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("forbidden")
	})
	m := metrics.NewEnvSecrets(prometheus.NewRegistry())
	log, hook := test.NewNullLogger()
	Collector{Secrets: s, Namespaces: func() []string { return []string{"builds", "team"} }, Retention: 90 * 24 * time.Hour, Log: log, Metrics: m}.Pass(ctx)
	if got := testutil.ToFloat64(m.Errors); got != 2 {
		t.Errorf("errors metric %v, want one per namespace", got)
	}
	if e := hook.LastEntry(); e == nil || e.Data["namespace"] != "team" {
		t.Errorf("last log %+v", e)
	}
}
