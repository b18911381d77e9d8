package plugin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// gate bounds concurrent conversions overall and per repo, so that one
// repo pushing many builds (or a costly config) queues behind itself
// instead of slowing every other repo's builds.
type gate struct {
	global  chan struct{}
	perRepo int
	timeout time.Duration

	mu    sync.Mutex
	repos map[string]*repoSlots
}

type repoSlots struct {
	slots   chan struct{}
	waiters int // callers holding or waiting for a slot; the entry goes at 0
}

func newGate(global, perRepo int, timeout time.Duration) *gate {
	return &gate{
		global:  make(chan struct{}, global),
		perRepo: perRepo,
		timeout: timeout,
		repos:   map[string]*repoSlots{},
	}
}

// enter waits for a slot for repo, then for a global one, and returns the
// function that gives both back.
func (g *gate) enter(parent context.Context, repo string) (func(), error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, g.timeout)
	defer cancel()

	g.mu.Lock()
	r := g.repos[repo]
	if r == nil {
		r = &repoSlots{slots: make(chan struct{}, g.perRepo)}
		g.repos[repo] = r
	}
	r.waiters++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		r.waiters--
		if r.waiters == 0 {
			delete(g.repos, repo)
		}
		g.mu.Unlock()
	}

	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		leave()
		waited, bound := g.gaveUp(parent, start)
		return nil, transform.WithNote(fmt.Errorf("too many conversions of repo %s in flight; gave up after %s", repo, waited),
			"DRONE_ECI_MAX_CONCURRENT_PER_REPO", "repo %s waited %s for a slot (%s)", repo, waited, bound)
	}
	select {
	case g.global <- struct{}{}:
	case <-ctx.Done():
		<-r.slots
		leave()
		waited, bound := g.gaveUp(parent, start)
		return nil, transform.WithNote(fmt.Errorf("the converter is busy; gave up after %s", waited),
			"DRONE_ECI_MAX_CONCURRENT", "a conversion waited %s for a slot (%s)", waited, bound)
	}
	return func() {
		<-g.global
		<-r.slots
		leave()
	}, nil
}

// gaveUp says how long a wait for a slot lasted and which bound ended
// it: the queue timeout, or the request's own deadline (which also
// counts the wait for memory and the body's read) when that came first.
func (g *gate) gaveUp(parent context.Context, start time.Time) (time.Duration, string) {
	waited := time.Since(start).Round(time.Millisecond)
	if parent.Err() != nil {
		return waited, "the request's deadline, DRONE_ECI_CONVERT_TIMEOUT"
	}
	return waited, "DRONE_ECI_QUEUE_TIMEOUT"
}
