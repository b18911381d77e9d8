// Package leader runs a task on one replica of the service at a time,
// under a coordination.k8s.io Lease (client-go's leader election): the
// webhook certificate's renewal and the env Secret collection are each
// cluster-wide jobs that two replicas must not do at once.
package leader

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
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
	// Kubernetes' own controllers use.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       logrus.FieldLogger
}

// Run campaigns for the Lease until ctx is done. Whenever this replica
// holds it, lead runs with a context that is cancelled when the Lease is
// lost; lead should return then. After a loss it campaigns again.
func (e Election) Run(ctx context.Context, lead func(context.Context)) error {
	cfg, err := e.config(lead)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(cfg)
		if err != nil {
			return fmt.Errorf("lease %s/%s: %w", e.Namespace, e.Lease, err)
		}
		elector.Run(ctx)
		// Lost (or ctx done): wait a retry period so a flapping API
		// server is not hammered, then campaign again.
		select {
		case <-ctx.Done():
		case <-time.After(cfg.RetryPeriod):
		}
	}
	return nil
}

func (e Election) config(lead func(context.Context)) (leaderelection.LeaderElectionConfig, error) {
	if e.Client == nil || e.Namespace == "" || e.Lease == "" {
		return leaderelection.LeaderElectionConfig{}, fmt.Errorf("leader election needs a client, a namespace and a Lease name (got namespace %q, lease %q)", e.Namespace, e.Lease)
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
	lock := &resourcelock.LeaseLock{
		Client:     e.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	lock.LeaseMeta.Namespace, lock.LeaseMeta.Name = e.Namespace, e.Lease
	return leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   orDefault(e.LeaseDuration, 15*time.Second),
		RenewDeadline:   orDefault(e.RenewDeadline, 10*time.Second),
		RetryPeriod:     orDefault(e.RetryPeriod, 2*time.Second),
		ReleaseOnCancel: true,
		Name:            e.Lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("holding the Lease")
				lead(ctx)
			},
			OnStoppedLeading: func() { log.Info("Lease released or lost") },
		},
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
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
