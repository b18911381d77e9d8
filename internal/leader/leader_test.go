package leader

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/drone-convert-eci/drone-convert-eci/internal/leader/leadertest"
)

// Two replicas share one fake API server: at no moment do both lead,
// and when the leader stops, the other takes over.
func TestOneLeaderAtATime(t *testing.T) {
	client := fake.NewSimpleClientset()
	leadertest.OptimisticLeases(client.Tracker(), client)
	log, _ := test.NewNullLogger()
	var leading, maxLeading, terms atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	replicaCtx := []context.Context{}
	stops := []context.CancelFunc{}
	for range 2 {
		c, s := context.WithCancel(ctx)
		replicaCtx, stops = append(replicaCtx, c), append(stops, s)
	}
	tookOver := make(chan string, 4)
	var wg sync.WaitGroup
	for i, id := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := Election{Client: client, Namespace: "drone", Lease: "drone-convert-eci-test", Identity: id,
				LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond, Log: log}
			err := e.Run(replicaCtx[i], func(lead context.Context) {
				n := leading.Add(1)
				for m := maxLeading.Load(); n > m && !maxLeading.CompareAndSwap(m, n); m = maxLeading.Load() {
				}
				terms.Add(1)
				tookOver <- id
				<-lead.Done()
				// A lead that takes its time to wind down: the Lease
				// must not pass on before it returns.
				time.Sleep(500 * time.Millisecond)
				leading.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	first := <-tookOver
	firstIndex := map[string]int{"a": 0, "b": 1}[first]
	stops[firstIndex]()
	select {
	case second := <-tookOver:
		if second == first {
			t.Fatalf("the stopped replica %s led again", first)
		}
	case <-ctx.Done():
		t.Fatal("no replica took over after the leader stopped")
	}
	lease, err := client.CoordinationV1().Leases("drone").Get(ctx, "drone-convert-eci-test", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if holder := *lease.Spec.HolderIdentity; holder == first {
		t.Errorf("Lease still held by the stopped replica %s", holder)
	}
	cancel()
	wg.Wait()
	if maxLeading.Load() != 1 {
		t.Errorf("%d replicas led at once", maxLeading.Load())
	}
	if terms.Load() != 2 {
		t.Errorf("%d terms, want 2", terms.Load())
	}
}

func TestRunRefusesIncompleteElection(t *testing.T) {
	err := Election{Client: fake.NewSimpleClientset(), Lease: "x", Log: logrus.New()}.Run(context.Background(), func(context.Context) {})
	if err == nil {
		t.Fatal("an election without a namespace ran")
	}
}

// client-go records a Lease's duration in whole seconds, truncated: one
// under a second is recorded as 0, so every other replica takes the
// Lease at once; the election refuses it rather than run without
// exclusion.
func TestRunRefusesSubSecondLease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, d := range []time.Duration{600 * time.Millisecond, 1500 * time.Millisecond} {
		led := false
		err := Election{Client: fake.NewSimpleClientset(), Namespace: "drone", Lease: "x", Log: logrus.New(),
			LeaseDuration: d, RenewDeadline: 400 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}.Run(ctx, func(context.Context) { led = true })
		if err == nil || led {
			t.Errorf("LeaseDuration %s: ran (led %v)", d, led)
		}
	}
}
