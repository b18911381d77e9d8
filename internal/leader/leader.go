// Package leader runs a task on one replica of the service at a time,
// under a coordination.k8s.io Lease (client-go's leader election): the
// webhook certificate's renewal and the env Secret collection are each
// cluster-wide jobs that two replicas must not do at once.
package leader

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// serviceAccountNamespace is where a pod's own namespace is mounted.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Election names one Lease and who campaigns for it.
type Election struct {
	Client    kubernetes.Interface
	Namespace string
	// Lease is the Lease's name; the chart's Role grants get and update
	// on exactly this name.
	Lease string
	// Identity tells replicas apart in the Lease's holderIdentity; empty:
	// the host name (the pod's name) plus a random suffix, so a restarted
	// container does not inherit its predecessor's term.
	Identity string
	// Timings of client-go's election; zero: 15 s, 10 s, 2 s, the values
	// Kubernetes' own controllers use. LeaseDuration is whole seconds:
	// the Lease records it in seconds, truncated, and the other replicas
	// take the Lease over once that has passed without a renewal.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       logrus.FieldLogger
}

// Run campaigns for the Lease until ctx is done. Whenever this replica
// holds it, lead runs with a context that is cancelled when the Lease is
// lost or ctx is done; lead should return then. The Lease is released
// only after lead has returned, so no two replicas' lead ever overlap
// through a release (client-go's own ReleaseOnCancel releases while the
// lead callback, which it starts in a goroutine, may still be running).
// After a loss it campaigns again.
func (e Election) Run(ctx context.Context, lead func(context.Context)) error {
	if e.Client == nil || e.Namespace == "" || e.Lease == "" {
		return fmt.Errorf("leader election needs a client, a namespace and a Lease name (got namespace %q, lease %q)", e.Namespace, e.Lease)
	}
	if d := cmp.Or(e.LeaseDuration, 15*time.Second); d%time.Second != 0 {
		// 600ms would be recorded as 0 s: every other replica would see
		// the Lease expired and take it while this one still leads.
		return fmt.Errorf("lease %s/%s: LeaseDuration %s is not whole seconds; the Lease records %d s", e.Namespace, e.Lease, d, d/time.Second)
	}
	id := e.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = host + "_" + rand.String(6)
	}
	log := e.Log
	if log == nil {
		log = logrus.StandardLogger()
	}
	log = log.WithFields(logrus.Fields{"lease": e.Namespace + "/" + e.Lease, "identity": id})
	for ctx.Err() == nil {
		lock := &resourcelock.LeaseLock{
			Client:     e.Client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}
		lock.LeaseMeta.Namespace, lock.LeaseMeta.Name = e.Namespace, e.Lease
		term := &term{lead: lead}
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: cmp.Or(e.LeaseDuration, 15*time.Second),
			RenewDeadline: cmp.Or(e.RenewDeadline, 10*time.Second),
			RetryPeriod:   cmp.Or(e.RetryPeriod, 2*time.Second),
			Name:          e.Lease,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					log.Info("holding the Lease")
					term.run(ctx)
				},
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			return fmt.Errorf("lease %s/%s: %w", e.Namespace, e.Lease, err)
		}
		elector.Run(ctx)
		if term.end() {
			e.release(lock, id, log)
		}
		// Lost (or ctx done): wait a retry period so a flapping API
		// server is not hammered, then campaign again.
		select {
		case <-ctx.Done():
		case <-time.After(cmp.Or(e.RetryPeriod, 2*time.Second)):
		}
	}
	return nil
}

// term is one turn at leading: client-go starts the callback in a
// goroutine it does not wait for, so end waits for it.
type term struct {
	lead    func(context.Context)
	mu      sync.Mutex
	ended   bool
	started bool
	running sync.WaitGroup
}

func (t *term) run(ctx context.Context) {
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return
	}
	t.started = true
	t.running.Add(1)
	t.mu.Unlock()
	defer t.running.Done()
	t.lead(ctx)
}

// end waits for a running lead to return and says whether this replica
// led in this term.
func (t *term) end() bool {
	t.mu.Lock()
	t.ended = true
	started := t.started
	t.mu.Unlock()
	t.running.Wait()
	return started
}

// release gives the Lease up if this replica still holds it, as
// client-go's ReleaseOnCancel would, so the next replica need not wait
// for it to expire.
func (e Election) release(lock *resourcelock.LeaseLock, id string, log logrus.FieldLogger) {
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(e.RenewDeadline, 10*time.Second))
	defer cancel()
	record, _, err := lock.Get(ctx)
	if err != nil || record.HolderIdentity != id {
		log.Info("Lease lost")
		return
	}
	now := metav1.NewTime(time.Now())
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions:    record.LeaderTransitions,
		LeaseDurationSeconds: 1,
		RenewTime:            now,
		AcquireTime:          now,
	}); err != nil {
		log.WithError(err).Warn("releasing the Lease; the next replica takes it when it expires")
		return
	}
	log.Info("Lease released")
}

// OwnNamespace is the namespace the service runs in: configured when
// given, else the one its service account token is mounted for.
func OwnNamespace(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	data, err := os.ReadFile(serviceAccountNamespace)
	if err != nil {
		return "", fmt.Errorf("DRONE_ECI_NAMESPACE is empty and the service account's namespace is unreadable: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
