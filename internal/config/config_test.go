package config

import (
	"strings"
	"testing"
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
		{name: "bad unmovable policy", env: map[string]string{"DRONE_ECI_MIGRATE_UNMOVABLE": "drop"}, want: "DRONE_ECI_MIGRATE_UNMOVABLE: \"drop\" is neither keep nor fail"},
		{name: "bad migration glob", env: map[string]string{"DRONE_ECI_MIGRATE_DOCKER_REPOS": "octo/["}, want: "DRONE_ECI_MIGRATE_DOCKER_REPOS: bad pattern"},
		{name: "bad log format", env: map[string]string{"DRONE_LOG_FORMAT": "xml"}, want: "DRONE_LOG_FORMAT"},
		{name: "bad glob", env: map[string]string{"DRONE_ECI_REPOS": "octo/["}, want: "DRONE_ECI_REPOS: bad pattern"},
		{name: "bad operator", env: map[string]string{"DRONE_ECI_TOLERATION_OPERATOR": "Maybe"}, want: "DRONE_ECI_TOLERATION_OPERATOR"},
		{name: "value with Exists", env: map[string]string{"DRONE_ECI_TOLERATION_VALUE": "x"}, want: "DRONE_ECI_TOLERATION_VALUE"},
		{name: "zero limit", env: map[string]string{"DRONE_ECI_MAX_DEPTH": "0"}, want: "DRONE_ECI_MAX_DEPTH: must be positive"},
		{name: "not a number", env: map[string]string{"DRONE_ECI_MAX_DEPTH": "deep"}, want: "DRONE_ECI_MAX_DEPTH"},
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
