package command

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/kube"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// envSecrets connects the secret env carrier to the cluster when the
// settings give it access, and returns the plugin option plus the
// garbage collector to run for the server's lifetime (nil when there is
// nothing to collect).
func envSecrets(cfg config.Config, log logrus.FieldLogger) ([]plugin.Option, func(context.Context), error) {
	if !cfg.EnvFiles.ClusterAccess() {
		return nil, nil, nil
	}
	client, err := kube.NewClient(cfg.EnvFiles.InCluster, cfg.EnvFiles.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	store := &kube.Secrets{Client: client}
	collect := func(ctx context.Context) {
		if cfg.EnvFiles.Retention <= 0 {
			return
		}
		tick := time.NewTicker(24 * time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			namespaces := append([]string{cfg.EnvFiles.Namespace}, store.Namespaces()...)
			done := map[string]bool{}
			for _, ns := range namespaces {
				if done[ns] {
					continue
				}
				done[ns] = true
				res, err := store.Collect(ctx, ns, cfg.EnvFiles.Retention)
				deleted := res.Deleted
				if err != nil {
					log.WithError(err).WithField("namespace", ns).Warn("env Secret collection")
				}
				if len(deleted) > 0 {
					log.WithFields(logrus.Fields{"namespace": ns, "deleted": deleted}).Info("env Secrets unused for longer than DRONE_ECI_ENV_SECRET_RETENTION deleted")
				}
			}
		}
	}
	return []plugin.Option{plugin.WithEnvSecrets(store)}, collect, nil
}
