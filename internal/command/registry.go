package command

import (
	"github.com/sirupsen/logrus"
	"k8s.io/client-go/kubernetes"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/kube"
	"github.com/drone-convert-eci/drone-convert-eci/internal/registry"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// imageResolver builds the registry resolver the settings ask for, or
// nil with DRONE_ECI_REGISTRY_LOOKUP off. Its cluster access (pull
// secrets, service accounts) is the secret carrier's.
func imageResolver(cfg config.Config, log logrus.FieldLogger) (plugin.ImageResolver, error) {
	if !cfg.Registry.Lookup {
		return nil, nil
	}
	var client kubernetes.Interface
	if cfg.EnvFiles.ClusterAccess() {
		c, err := kube.NewClient(cfg.EnvFiles.InCluster, cfg.EnvFiles.Kubeconfig)
		if err != nil {
			return nil, err
		}
		client = c
	}
	creds, err := registry.NewCredentials(cfg.Registry.AuthFile, client, cfg.Registry.PullSecrets)
	if err != nil {
		return nil, err
	}
	creds.ServiceAccount = cfg.Registry.ServiceAccount
	creds.OnError = func(namespace string, err error) {
		log.WithError(err).WithField("namespace", namespace).Warn("registry lookups: reading pull secrets failed; asking with the other credentials")
	}
	return registry.New(registry.Options{
		Keychains: creds.For,
		Allow:     cfg.Registry.Allow,
		Insecure:  cfg.Registry.Insecure,
		Timeout:   cfg.Registry.Timeout,
		TagTTL:    cfg.Registry.TagTTL,
	}), nil
}
