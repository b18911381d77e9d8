package command

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestStartBackgroundStopsAndWaits(t *testing.T) {
	var finished atomic.Int32
	task := func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // releasing its Lease
		finished.Add(1)
	}
	stop := startBackground(context.Background(), task, nil, task)
	if !stop(5 * time.Second) {
		t.Fatal("stop gave up waiting")
	}
	if finished.Load() != 2 {
		t.Errorf("%d of 2 tasks had returned when stop did", finished.Load())
	}

	stuck := startBackground(context.Background(), func(context.Context) { select {} })
	start := time.Now()
	if stuck(30 * time.Millisecond) {
		t.Error("stop reported a task that never returns as stopped")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("stop waited past its limit")
	}
}
