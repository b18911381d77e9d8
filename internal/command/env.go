package command

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/kube"
	"github.com/drone-convert-eci/drone-convert-eci/internal/leader"
	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// envSecrets connects the secret env carrier to the cluster when the
// settings give it access, and returns the plugin option plus the
// garbage collector to run for the server's lifetime (nil when there is
// nothing to collect): it campaigns for the collector's Lease and
// collects while it holds it, so one replica of the cluster collects.
func envSecrets(cfg config.Config, m *metrics.EnvSecrets, log logrus.FieldLogger) ([]plugin.Option, func(context.Context), error) {
	if !cfg.EnvFiles.ClusterAccess() {
		return nil, nil, nil
	}
	client, err := kube.NewClient(cfg.EnvFiles.InCluster, cfg.EnvFiles.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	store := &kube.Secrets{Client: client}
	opts := []plugin.Option{plugin.WithEnvSecrets(store)}
	if cfg.EnvFiles.Retention <= 0 || cfg.EnvFiles.Carrier == "annotations" {
		// Nothing to collect, and no Lease to hold (with the annotations
		// carrier the service may have no RBAC for one).
		return opts, nil, nil
	}
	own, err := leader.OwnNamespace(cfg.Namespace)
	if err != nil {
		return nil, nil, fmt.Errorf("env Secret collection (DRONE_ECI_ENV_SECRET_RETENTION) runs under a Lease in the service's own namespace: %w", err)
	}
	collector := kube.Collector{
		Secrets:    store,
		Namespaces: collectionNamespaces(cfg.EnvFiles, store),
		Retention:  cfg.EnvFiles.Retention,
		Log:        log,
		Metrics:    m,
	}
	// A daily job needs no quick failover: a slower term than leader's
	// defaults keeps each replica's Lease traffic to one call in 10 s.
	election := leader.Election{Client: client, Namespace: own, Lease: cmp.Or(cfg.EnvFiles.CollectorLease, kube.CollectorLease), Log: log,
		LeaseDuration: time.Minute, RenewDeadline: 40 * time.Second, RetryPeriod: 10 * time.Second}
	return opts, func(ctx context.Context) {
		if err := election.Run(ctx, collector.Lead); err != nil {
			log.WithError(err).Error("env Secret collection")
		}
	}, nil
}

// collectionNamespaces is where collection looks: the namespaces the
// operator listed (every one the Secret carrier may write), else the
// default one and those this process has created Secrets in (a replica
// that just took the Lease knows only its own).
func collectionNamespaces(env config.EnvFiles, store *kube.Secrets) func() []string {
	if len(env.SecretNamespaces) > 0 {
		return func() []string { return env.SecretNamespaces }
	}
	return func() []string { return append([]string{env.Namespace}, store.Namespaces()...) }
}
