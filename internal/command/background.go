package command

import (
	"context"
	"sync"
	"time"
)

// backgroundStopLimit is how long an exiting process waits for its jobs
// to let go of their Leases: a Lease update is one API call.
const backgroundStopLimit = 5 * time.Second

// startBackground runs the process's cluster-wide jobs (the webhook
// certificate's keeper, the env Secret collector) under ctx. The stop it
// returns cancels them and waits up to limit for them to return, so that
// a job holding a Lease releases it before the process exits, whether
// SIGTERM or a failed listener ended the process: the next replica then
// takes over at once instead of when the Lease expires.
func startBackground(ctx context.Context, tasks ...func(context.Context)) (stop func(limit time.Duration) bool) {
	ctx, cancel := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, task := range tasks {
		if task == nil {
			continue
		}
		running.Add(1)
		go func() {
			defer running.Done()
			task(ctx)
		}()
	}
	return func(limit time.Duration) bool {
		cancel()
		done := make(chan struct{})
		go func() {
			running.Wait()
			close(done)
		}()
		select {
		case <-done:
			return true
		case <-time.After(limit):
			return false
		}
	}
}
