package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		want  string // substring of the error, "" for success
		check func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.Bind != ":3000" || c.NodeSelector["type"] != "virtual-kubelet" || c.MaxBodyBytes != 1<<20 || !c.Enabled || c.MigrateUnmovable != MigrateKeep {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{name: "overrides", env: map[string]string{
			"DRONE_BIND": ":8080", "DRONE_ECI_REPOS": "octo/*,acme/api", "DRONE_ECI_NODE_SELECTOR": "pool:eci,zone:h", "DRONE_ECI_ENABLED": "false",
		}, check: func(t *testing.T, c Config) {
			if c.Bind != ":8080" || len(c.Repos) != 2 || c.NodeSelector["zone"] != "h" || c.Enabled {
				t.Errorf("overrides not applied: %+v", c)
			}
		}},
		{name: "migration", env: map[string]string{
			"DRONE_ECI_MIGRATE_DOCKER_REPOS": "octo/*", "DRONE_ECI_MIGRATE_RUNNER_LABELS": "pool:eci", "DRONE_ECI_MIGRATE_UNMOVABLE": "fail",
		}, check: func(t *testing.T, c Config) {
			if len(c.MigrateDockerRepos) != 1 || c.MigrateRunnerLabels["pool"] != "eci" || c.MigrateUnmovable != MigrateFail {
				t.Errorf("migration settings not applied: %+v", c)
			}
		}},
		{name: "live status", env: map[string]string{"DRONE_ECI_WEBHOOK_LIVE_STATUS": "false"}, check: func(t *testing.T, c Config) {
			if c.Webhook.LiveStatus || !Default().Webhook.LiveStatus {
				t.Errorf("DRONE_ECI_WEBHOOK_LIVE_STATUS: default %v, set false %v", Default().Webhook.LiveStatus, c.Webhook.LiveStatus)
			}
		}},
		{name: "bad unmovable policy", env: map[string]string{"DRONE_ECI_MIGRATE_UNMOVABLE": "drop"}, want: "DRONE_ECI_MIGRATE_UNMOVABLE: \"drop\" is neither keep nor fail"},
		{name: "bad migration glob", env: map[string]string{"DRONE_ECI_MIGRATE_DOCKER_REPOS": "octo/["}, want: "DRONE_ECI_MIGRATE_DOCKER_REPOS: bad pattern"},
		{name: "bad log format", env: map[string]string{"DRONE_LOG_FORMAT": "xml"}, want: "DRONE_LOG_FORMAT"},
		{name: "bad glob", env: map[string]string{"DRONE_ECI_REPOS": "octo/["}, want: "DRONE_ECI_REPOS: bad pattern"},
		{name: "bad operator", env: map[string]string{"DRONE_ECI_TOLERATION_OPERATOR": "Maybe"}, want: "DRONE_ECI_TOLERATION_OPERATOR"},
		{name: "value with Exists", env: map[string]string{"DRONE_ECI_TOLERATION_VALUE": "x"}, want: "DRONE_ECI_TOLERATION_VALUE"},
		{name: "zero limit", env: map[string]string{"DRONE_ECI_MAX_DEPTH": "0"}, want: "DRONE_ECI_MAX_DEPTH: must be positive"},
		{name: "grace shorter than a conversion", env: map[string]string{"DRONE_ECI_SHUTDOWN_GRACE": "30s"}, want: "DRONE_ECI_SHUTDOWN_GRACE: 30s is shorter than DRONE_ECI_CONVERT_TIMEOUT (45s)"},
		{name: "grace follows a shorter conversion timeout", env: map[string]string{"DRONE_ECI_SHUTDOWN_GRACE": "20s", "DRONE_ECI_CONVERT_TIMEOUT": "20s"}, check: func(t *testing.T, c Config) {
			if c.ShutdownGrace != c.ConvertTimeout || c.ShutdownDrain != Default().ShutdownDrain {
				t.Errorf("shutdown settings: %+v", c)
			}
		}},
		{name: "default grace covers a conversion", check: func(t *testing.T, c Config) {
			if c.ShutdownGrace < c.ConvertTimeout || c.ShutdownDrain <= 0 {
				t.Errorf("default grace %s, conversion timeout %s, drain %s", c.ShutdownGrace, c.ConvertTimeout, c.ShutdownDrain)
			}
		}},
		{name: "negative drain", env: map[string]string{"DRONE_ECI_SHUTDOWN_DRAIN": "-1s"}, want: "DRONE_ECI_SHUTDOWN_DRAIN: must not be negative"},
		{name: "loader pull secret", env: map[string]string{"DRONE_ECI_WEBHOOK_LOADER_PULL_SECRET": "acr-pull"}, check: func(t *testing.T, c Config) {
			if c.Webhook.LoaderPullSecret != "acr-pull" {
				t.Errorf("loader pull secret %q", c.Webhook.LoaderPullSecret)
			}
		}},
		{name: "bad loader pull secret", env: map[string]string{"DRONE_ECI_WEBHOOK_LOADER_PULL_SECRET": "ACR Pull"}, want: "DRONE_ECI_WEBHOOK_LOADER_PULL_SECRET: \"ACR Pull\" is not a Secret name"},
		{name: "env Secret namespaces", env: map[string]string{"DRONE_ECI_ENV_NAMESPACE": "builds", "DRONE_ECI_ENV_SECRET_NAMESPACES": "builds,team"}, check: func(t *testing.T, c Config) {
			if strings.Join(c.EnvFiles.SecretNamespaces, " ") != "builds team" {
				t.Errorf("DRONE_ECI_ENV_SECRET_NAMESPACES read as %q", c.EnvFiles.SecretNamespaces)
			}
		}},
		{name: "env Secret namespace not a name", env: map[string]string{"DRONE_ECI_ENV_SECRET_NAMESPACES": "default,Team A"}, want: `DRONE_ECI_ENV_SECRET_NAMESPACES: "Team A" is not a namespace name`},
		{name: "env Secret namespaces without the env namespace", env: map[string]string{"DRONE_ECI_ENV_NAMESPACE": "builds", "DRONE_ECI_ENV_SECRET_NAMESPACES": "team"}, want: `leaves out DRONE_ECI_ENV_NAMESPACE "builds"`},
		{name: "not a number", env: map[string]string{"DRONE_ECI_MAX_DEPTH": "deep"}, want: "DRONE_ECI_MAX_DEPTH"},
		{name: "self-managed webhook TLS", env: selfManaged(nil), check: func(t *testing.T, c Config) {
			if w := c.Webhook; w.TLSMode != TLSSelfManaged || w.CertSecret != "dce-webhook-tls" || w.Configuration != "dce" || w.Service != "dce" {
				t.Errorf("self-managed settings read as %+v", w)
			}
		}},
		{name: "self-managed without a Secret", env: selfManaged(map[string]string{"DRONE_ECI_WEBHOOK_CERT_SECRET": ""}), want: "DRONE_ECI_WEBHOOK_CERT_SECRET: required with DRONE_ECI_WEBHOOK_TLS_MODE=self-managed"},
		{name: "self-managed without a configuration", env: selfManaged(map[string]string{"DRONE_ECI_WEBHOOK_CONFIGURATION": ""}), want: "DRONE_ECI_WEBHOOK_CONFIGURATION: required"},
		{name: "self-managed with a bad Service name", env: selfManaged(map[string]string{"DRONE_ECI_WEBHOOK_SERVICE": "dce.drone"}), want: "DRONE_ECI_WEBHOOK_SERVICE: \"dce.drone\" is not a valid name"},
		{name: "unknown TLS mode", env: map[string]string{"DRONE_ECI_WEBHOOK_TLS_MODE": "cert-manager"}, want: "DRONE_ECI_WEBHOOK_TLS_MODE: \"cert-manager\" is neither files nor self-managed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := Load()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error naming %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestServeSecret(t *testing.T) {
	c := Default()
	if _, _, err := c.ServeSecret(); err == nil || !strings.Contains(err.Error(), "DRONE_SECRET") {
		t.Fatalf("no secret: got %v, want a refusal naming DRONE_SECRET", err)
	}
	c.LocalDryRun = true
	secret, bind, err := c.ServeSecret()
	if err != nil || secret != LocalDryRunSecret || bind != "127.0.0.1:3000" {
		t.Fatalf("dry run: got %q %q %v, want the public secret on loopback", secret, bind, err)
	}
	c.Secret = "s3cret"
	if secret, bind, _ := c.ServeSecret(); secret != "s3cret" || bind != ":3000" {
		t.Fatalf("real secret: got %q %q", secret, bind)
	}
}

func TestRegistrySettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"pin mode", func(c *Config) { c.Registry.PinDigests = "some" }, "DRONE_ECI_PIN_DIGESTS"},
		{"timeout", func(c *Config) { c.Registry.Timeout = 0 }, "DRONE_ECI_REGISTRY_TIMEOUT"},
		{"timeout past the conversion's", func(c *Config) { c.Registry.Lookup = true; c.Registry.Timeout = 30 * time.Second }, "more than half of DRONE_ECI_CONVERT_TIMEOUT"},
		{"tag ttl", func(c *Config) { c.Registry.TagTTL = -1 }, "DRONE_ECI_REGISTRY_TAG_TTL"},
		{"allow glob", func(c *Config) { c.Registry.Allow = []string{"[bad"} }, "DRONE_ECI_REGISTRY_ALLOW"},
		{"insecure host", func(c *Config) { c.Registry.Insecure = []string{"http://x"} }, "DRONE_ECI_REGISTRY_INSECURE"},
		{"unknown images", func(c *Config) { c.Webhook.UnknownImages = "drop" }, "DRONE_ECI_WEBHOOK_UNKNOWN_IMAGES"},
	} {
		cfg := Default()
		tc.set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// selfManaged is a complete self-managed webhook TLS configuration with
// changes over it.
func selfManaged(changes map[string]string) map[string]string {
	env := map[string]string{
		"DRONE_ECI_WEBHOOK_TLS_MODE":      "self-managed",
		"DRONE_ECI_WEBHOOK_CERT_SECRET":   "dce-webhook-tls",
		"DRONE_ECI_WEBHOOK_CONFIGURATION": "dce",
		"DRONE_ECI_WEBHOOK_SERVICE":       "dce",
	}
	for k, v := range changes {
		env[k] = v
	}
	return env
}
