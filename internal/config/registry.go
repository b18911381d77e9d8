package config

import (
	"fmt"
	"net"
	"path"
	"strings"
	"time"
)

// Registry is how the converter asks registries about images no table
// knows (docs/how-it-works.md "Registry lookups"). Cluster access for pull secrets is
// the secret carrier's: DRONE_ECI_ENV_IN_CLUSTER or
// DRONE_ECI_ENV_KUBECONFIG.
type Registry struct {
	// Lookup switches lookups on; off by default so the local dry run
	// and the tests need no network.
	Lookup bool `envconfig:"DRONE_ECI_REGISTRY_LOOKUP"`
	// Timeout bounds all lookups of one conversion together.
	Timeout time.Duration `envconfig:"DRONE_ECI_REGISTRY_TIMEOUT"`
	// TagTTL is how long what a tag points to is reused.
	TagTTL time.Duration `envconfig:"DRONE_ECI_REGISTRY_TAG_TTL"`
	// AuthFile is a Docker config.json with registry credentials.
	AuthFile string `envconfig:"DRONE_ECI_REGISTRY_AUTH_FILE"`
	// PullSecrets are dockerconfigjson Secrets read in the build's
	// namespace, besides its service account's image pull secrets.
	PullSecrets []string `envconfig:"DRONE_ECI_REGISTRY_PULL_SECRETS"`
	// ServiceAccount is the runner's default pod service account (its
	// DRONE_SERVICE_ACCOUNT_DEFAULT), whose image pull secrets are used
	// for pipelines that set no service_account_name.
	ServiceAccount string `envconfig:"DRONE_ECI_REGISTRY_SERVICE_ACCOUNT"`
	// Allow lists the registry hosts that may be asked (globs); empty:
	// any host a config names.
	Allow []string `envconfig:"DRONE_ECI_REGISTRY_ALLOW"`
	// Insecure lists hosts (host[:port]) reached over plain HTTP.
	Insecure []string `envconfig:"DRONE_ECI_REGISTRY_INSECURE"`
	// PinDigests is which images get the registry's digest: floating
	// (no tag, or latest), all (every tagged image) or none.
	PinDigests string `envconfig:"DRONE_ECI_PIN_DIGESTS"`
}

func defaultRegistry() Registry {
	return Registry{
		Timeout:        3 * time.Second,
		TagTTL:         10 * time.Minute,
		ServiceAccount: "default",
		PinDigests:     "floating",
	}
}

func (r Registry) validate() error {
	switch r.PinDigests {
	case "floating", "all", "none":
	default:
		return fmt.Errorf("DRONE_ECI_PIN_DIGESTS: %q is not floating, all or none", r.PinDigests)
	}
	if r.Timeout <= 0 {
		return fmt.Errorf("DRONE_ECI_REGISTRY_TIMEOUT: must be positive, got %s", r.Timeout)
	}
	if r.TagTTL <= 0 {
		return fmt.Errorf("DRONE_ECI_REGISTRY_TAG_TTL: must be positive, got %s", r.TagTTL)
	}
	for _, g := range r.Allow {
		if _, err := path.Match(strings.TrimSpace(g), "x"); err != nil {
			return fmt.Errorf("DRONE_ECI_REGISTRY_ALLOW: bad pattern %q: %w", g, err)
		}
	}
	for _, h := range r.Insecure {
		host := strings.TrimSpace(h)
		if strings.ContainsAny(host, "/@ ") {
			host = ""
		} else if hp, _, err := net.SplitHostPort(host); err == nil {
			host = hp
		}
		if host == "" {
			return fmt.Errorf("DRONE_ECI_REGISTRY_INSECURE: %q is not host or host:port", h)
		}
	}
	return nil
}
