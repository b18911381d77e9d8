package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// EnvFiles is how the YAML's environment moves into a mounted file
// (docs/how-it-works.md "Environment files").
type EnvFiles struct {
	// Carrier is auto, secret or annotations.
	Carrier string `envconfig:"DRONE_ECI_ENV_CARRIER"`
	// When is always, over-budget or never.
	When string `envconfig:"DRONE_ECI_ENV_WHEN"`
	// Budget is the most env vars a container may carry (ECI: 92).
	Budget int `envconfig:"DRONE_ECI_ENV_BUDGET"`
	// Overhead is what the runner adds that no config shows: runner
	// globals, proxies, netrc (4 secret refs on private repos).
	Overhead int `envconfig:"DRONE_ECI_ENV_OVERHEAD"`
	// Namespace is where pods of pipelines without metadata.namespace
	// run: the runner's DRONE_NAMESPACE_DEFAULT.
	Namespace string `envconfig:"DRONE_ECI_ENV_NAMESPACE"`
	// InCluster uses the pod's service account for the secret carrier;
	// Kubeconfig names a kubeconfig file instead. With neither, the
	// service has no cluster access and auto means annotations.
	InCluster  bool   `envconfig:"DRONE_ECI_ENV_IN_CLUSTER"`
	Kubeconfig string `envconfig:"DRONE_ECI_ENV_KUBECONFIG"`
	// Retention is how long an env Secret must go unused before garbage
	// collection may delete it; Drone replays cached answers, so it is
	// long on purpose. Zero disables collection.
	Retention time.Duration `envconfig:"DRONE_ECI_ENV_SECRET_RETENTION"`
	// SecretNamespaces are every namespace the Secret carrier may write
	// (the chart's pipelineNamespaces), where collection looks; empty:
	// Namespace plus those this process has created Secrets in.
	SecretNamespaces []string `envconfig:"DRONE_ECI_ENV_SECRET_NAMESPACES"`
	// CollectorLease names the Lease under which one replica collects;
	// two releases in one namespace need one each (the chart names it
	// after the release). Empty: drone-convert-eci-env-collector.
	CollectorLease string `envconfig:"DRONE_ECI_ENV_COLLECTOR_LEASE"`
	// APITimeout bounds each Kubernetes API call of a conversion.
	APITimeout time.Duration `envconfig:"DRONE_ECI_ENV_API_TIMEOUT"`
}

func defaultEnvFiles() EnvFiles {
	return EnvFiles{
		Carrier:    "auto",
		When:       "over-budget",
		Budget:     92,
		Overhead:   4,
		Namespace:  "default",
		Retention:  90 * 24 * time.Hour,
		APITimeout: 10 * time.Second,
	}
}

// ClusterAccess says whether the secret carrier can reach the cluster.
func (e EnvFiles) ClusterAccess() bool { return e.InCluster || e.Kubeconfig != "" }

func (e EnvFiles) validate() error {
	switch e.Carrier {
	case "auto", "annotations":
	case "secret":
		if !e.ClusterAccess() {
			return fmt.Errorf("DRONE_ECI_ENV_CARRIER: secret needs cluster access: set DRONE_ECI_ENV_IN_CLUSTER=true or DRONE_ECI_ENV_KUBECONFIG")
		}
	default:
		return fmt.Errorf("DRONE_ECI_ENV_CARRIER: %q is not auto, secret or annotations", e.Carrier)
	}
	switch e.When {
	case "always", "over-budget", "never":
	default:
		return fmt.Errorf("DRONE_ECI_ENV_WHEN: %q is not always, over-budget or never", e.When)
	}
	if e.Budget <= 0 {
		return fmt.Errorf("DRONE_ECI_ENV_BUDGET: must be positive, got %d", e.Budget)
	}
	if e.Overhead < 0 {
		return fmt.Errorf("DRONE_ECI_ENV_OVERHEAD: must not be negative, got %d", e.Overhead)
	}
	if e.InCluster && e.Kubeconfig != "" {
		return fmt.Errorf("DRONE_ECI_ENV_KUBECONFIG: set either it or DRONE_ECI_ENV_IN_CLUSTER, not both")
	}
	if e.Retention != 0 && e.Retention < 7*24*time.Hour {
		return fmt.Errorf("DRONE_ECI_ENV_SECRET_RETENTION: %s is too short: Drone replays cached answers that mount these Secrets; use at least 168h, or 0 to never collect", e.Retention)
	}
	for _, ns := range e.SecretNamespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("DRONE_ECI_ENV_SECRET_NAMESPACES: %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
	}
	if e.CollectorLease != "" {
		if errs := validation.IsDNS1123Subdomain(e.CollectorLease); len(errs) > 0 {
			return fmt.Errorf("DRONE_ECI_ENV_COLLECTOR_LEASE: %q is not a Lease name: %s", e.CollectorLease, strings.Join(errs, "; "))
		}
	}
	if len(e.SecretNamespaces) > 0 && !slices.Contains(e.SecretNamespaces, e.Namespace) {
		return fmt.Errorf("DRONE_ECI_ENV_SECRET_NAMESPACES: %s leaves out DRONE_ECI_ENV_NAMESPACE %q, where env Secrets are created: they would never be collected", strings.Join(e.SecretNamespaces, ","), e.Namespace)
	}
	if e.APITimeout <= 0 {
		return fmt.Errorf("DRONE_ECI_ENV_API_TIMEOUT: must be positive, got %s", e.APITimeout)
	}
	return nil
}
