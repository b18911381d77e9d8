package plugin

import (
	"context"
	"fmt"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// SecretStore creates the Secrets that carry env files. Ensure must
// leave an immutable Secret named name in namespace holding exactly
// data (creating it, or finding the same one), or fail: the converted
// config mounts it, and a pod mounting a missing Secret never starts.
type SecretStore interface {
	Ensure(ctx context.Context, namespace, name string, data map[string][]byte) error
}

// envTransform builds the "env" transform from validated settings;
// cluster says whether a SecretStore is attached.
func envTransform(cfg config.Config, cluster bool) transform.Transform {
	return transform.Env{
		Carrier:       cfg.EnvFiles.Carrier,
		When:          cfg.EnvFiles.When,
		Budget:        cfg.EnvFiles.Budget,
		Overhead:      cfg.EnvFiles.Overhead,
		ClusterAccess: cluster,
		Namespace:     cfg.EnvFiles.Namespace,
		Webhook:       cfg.Webhook.Enabled,
	}
}

// WithSecretStore attaches the store the secret env carrier needs; with
// none, every env file travels as annotations.
func (c *Converter) WithSecretStore(store SecretStore) *Converter {
	c.secrets = store
	for i, t := range c.transforms {
		if t.Name() == "env" {
			c.transforms[i] = envTransform(c.cfg, store != nil)
		}
	}
	return c
}

// ensureSecrets creates the Secrets the converted pipeline mounts
// before the answer leaves: an API failure fails the conversion rather
// than answer a config whose pod could not start.
//
// A dry run creates nothing and tells only report (the caller's, not the
// pipeline's: the pod annotation says what the server would say).
func (c *Converter) ensureSecrets(in Input, p *transform.Pipeline, report *transform.Report) error {
	if len(p.EnvSecrets) == 0 {
		return nil
	}
	if in.DryRun {
		for _, s := range p.EnvSecrets {
			report.Warn("dry run: Secret %s/%s not created; the pod would not start without it", s.Namespace, s.Name)
		}
		return nil
	}
	if c.secrets == nil {
		return transform.WithNote(fmt.Errorf("pipeline %q: env files need Secrets, which this service cannot create (it has no cluster access)", p.Name),
			"DRONE_ECI_ENV_IN_CLUSTER", "the secret env carrier needs cluster access (or DRONE_ECI_ENV_KUBECONFIG)")
	}
	ctx := in.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if c.cfg.EnvFiles.APITimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.EnvFiles.APITimeout)
		defer cancel()
	}
	for _, s := range p.EnvSecrets {
		err := c.secrets.Ensure(ctx, s.Namespace, s.Name, map[string][]byte{transform.EnvSecretKey: s.Data})
		if err != nil {
			return fmt.Errorf("pipeline %q: creating env file Secret %s/%s: %w", p.Name, s.Namespace, s.Name, err)
		}
	}
	return nil
}

// WithEnvSecrets attaches the store the secret env carrier creates
// Secrets with; without it every env file travels as annotations.
func WithEnvSecrets(store SecretStore) Option {
	return func(p *plugin) { p.converter.WithSecretStore(store) }
}
