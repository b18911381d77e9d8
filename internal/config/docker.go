package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// RemoteDocker is a Docker daemon outside ECI that steps which ran the
// docker CLI against a privileged docker:dind service use instead.
type RemoteDocker struct {
	// DockerHost is the daemon's endpoint, tcp://host:port. Empty keeps
	// such pipelines refused.
	DockerHost string `envconfig:"DRONE_ECI_DOCKER_HOST"`
	// DockerPlainTCP allows the daemon without TLS.
	DockerPlainTCP bool `envconfig:"DRONE_ECI_DOCKER_PLAIN_TCP"`
	// DockerTLSSecret is a Kubernetes Secret in the build pods'
	// namespace (the runner's DRONE_NAMESPACE_DEFAULT, or a pipeline's
	// metadata.namespace) holding ca.pem, cert.pem and key.pem, mounted
	// for trusted repos.
	DockerTLSSecret string `envconfig:"DRONE_ECI_DOCKER_TLS_SECRET"`
	// DockerTLSFromSecrets names the Drone secrets holding the same
	// files, as ca:NAME,cert:NAME,key:NAME, for untrusted repos.
	DockerTLSFromSecrets map[string]string `envconfig:"DRONE_ECI_DOCKER_TLS_FROM_SECRETS"`
}

func (d RemoteDocker) validate() error {
	if d.DockerHost == "" {
		if d.DockerPlainTCP || d.DockerTLSSecret != "" || len(d.DockerTLSFromSecrets) > 0 {
			return fmt.Errorf("DRONE_ECI_DOCKER_HOST: must be set when DRONE_ECI_DOCKER_PLAIN_TCP, DRONE_ECI_DOCKER_TLS_SECRET or DRONE_ECI_DOCKER_TLS_FROM_SECRETS is")
		}
		return nil
	}
	if err := ValidateDockerHost(d.DockerHost); err != nil {
		return fmt.Errorf("DRONE_ECI_DOCKER_HOST: %w", err)
	}
	tls := d.DockerTLSSecret != "" || len(d.DockerTLSFromSecrets) > 0
	switch {
	case d.DockerPlainTCP && tls:
		return fmt.Errorf("DRONE_ECI_DOCKER_PLAIN_TCP: true, but TLS certificates are configured too (DRONE_ECI_DOCKER_TLS_SECRET, DRONE_ECI_DOCKER_TLS_FROM_SECRETS): choose one")
	case !d.DockerPlainTCP && !tls:
		return fmt.Errorf("DRONE_ECI_DOCKER_HOST: %s needs TLS client certificates (DRONE_ECI_DOCKER_TLS_SECRET for trusted repos, DRONE_ECI_DOCKER_TLS_FROM_SECRETS for any repo), or DRONE_ECI_DOCKER_PLAIN_TCP=true to talk to it without TLS", d.DockerHost)
	}
	if d.DockerTLSSecret != "" {
		if errs := validation.IsDNS1123Subdomain(d.DockerTLSSecret); len(errs) > 0 {
			return fmt.Errorf("DRONE_ECI_DOCKER_TLS_SECRET: %q is not a Secret name: %s", d.DockerTLSSecret, strings.Join(errs, "; "))
		}
	}
	if len(d.DockerTLSFromSecrets) > 0 {
		for _, k := range []string{"ca", "cert", "key"} {
			if strings.TrimSpace(d.DockerTLSFromSecrets[k]) == "" {
				return fmt.Errorf("DRONE_ECI_DOCKER_TLS_FROM_SECRETS: no Drone secret named for %s (want ca:NAME,cert:NAME,key:NAME)", k)
			}
		}
		for k, v := range d.DockerTLSFromSecrets {
			if k != "ca" && k != "cert" && k != "key" {
				return fmt.Errorf("DRONE_ECI_DOCKER_TLS_FROM_SECRETS: unknown file %q (want ca, cert and key)", k)
			}
			if strings.ContainsAny(v, "$ \t") {
				return fmt.Errorf("DRONE_ECI_DOCKER_TLS_FROM_SECRETS: %s: %q is not a secret name", k, v)
			}
		}
	}
	return nil
}

// ValidateDockerHost checks a remote daemon endpoint: tcp://host:port
// and nothing else, since it is written into every step that uses it.
func ValidateDockerHost(endpoint string) error {
	if strings.ContainsAny(endpoint, "$ \t\n") {
		return fmt.Errorf("%q must be a literal tcp://host:port", endpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%q: %w", endpoint, err)
	}
	// The docker CLI reads the scheme as written: "TCP://" is no dial
	// network it knows, though url.Parse would lower it.
	if u.Scheme != "tcp" || !strings.HasPrefix(endpoint, "tcp://") {
		return fmt.Errorf("%q: want tcp://host:port (a daemon outside ECI, reached over the network)", endpoint)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want tcp://host:port and nothing more", endpoint)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: want tcp://host:port", endpoint)
	}
	// localhost is loopback by name (RFC 6761), as the steps' resolver
	// will have it.
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return fmt.Errorf("%q: a loopback address is the pod itself, where ECI runs no daemon", endpoint)
	}
	ip := net.ParseIP(host)
	if ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return fmt.Errorf("%q: a loopback address is the pod itself, where ECI runs no daemon", endpoint)
	}
	// inet_aton shorthands (0, 127.1) reach what they abbreviate, often
	// the pod itself; ask for the address in full.
	if ip == nil && strings.Trim(host, "0123456789.") == "" {
		return fmt.Errorf("%q: %s is a shorthand IPv4 address; write it in full", endpoint, host)
	}
	return nil
}
