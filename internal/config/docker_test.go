package config

import (
	"strings"
	"testing"
)

func TestValidateDockerHost(t *testing.T) {
	tests := []struct {
		endpoint string
		err      string // substring of the error, "" for a valid endpoint
	}{
		{endpoint: "tcp://build.example.com:2376"},
		{endpoint: "tcp://build.example.com:2376/"},
		{endpoint: "tcp://10.0.0.5:2375"},
		{endpoint: "tcp://[2001:db8::1]:2376"},
		{endpoint: "", err: "want tcp://host:port"},
		{endpoint: "unix:///var/run/docker.sock", err: "want tcp://host:port"},
		{endpoint: "ssh://builder@build.example.com", err: "want tcp://host:port"},
		{endpoint: "https://build.example.com:2376", err: "want tcp://host:port"},
		{endpoint: "build.example.com:2376", err: "want tcp://host:port"},
		{endpoint: "tcp://build.example.com", err: "want tcp://host:port"},
		{endpoint: "tcp://build.example.com:", err: "want tcp://host:port"},
		{endpoint: "tcp://:2376", err: "want tcp://host:port"},
		{endpoint: "tcp://build.example.com:docker", err: "invalid port"},
		{endpoint: "tcp://build.example.com:0", err: "want tcp://host:port"},
		{endpoint: "tcp://build.example.com:65536", err: "want tcp://host:port"},
		{endpoint: "TCP://build.example.com:2376", err: "want tcp://host:port"},
		{endpoint: "tcp://localhost:2375", err: "loopback"},
		{endpoint: "tcp://LocalHost:2375", err: "loopback"},
		{endpoint: "tcp://localhost.:2375", err: "loopback"},
		{endpoint: "tcp://docker.localhost:2375", err: "loopback"},
		{endpoint: "tcp://127.0.0.1:2375", err: "loopback"},
		{endpoint: "tcp://0:2376", err: "shorthand IPv4"},
		{endpoint: "tcp://127.1:2376", err: "shorthand IPv4"},
		{endpoint: "tcp://127.1.2.3:2375", err: "loopback"},
		{endpoint: "tcp://[::1]:2375", err: "loopback"},
		{endpoint: "tcp://0.0.0.0:2375", err: "loopback"},
		{endpoint: "tcp://[::]:2375", err: "loopback"},
		{endpoint: "tcp://build.example.com:2376/v1.41", err: "nothing more"},
		{endpoint: "tcp://admin@build.example.com:2376", err: "nothing more"},
		{endpoint: "tcp://admin:pw@build.example.com:2376", err: "nothing more"},
		{endpoint: "tcp://build.example.com:2376?tls=1", err: "nothing more"},
		{endpoint: "tcp://build.example.com:2376#x", err: "nothing more"},
		{endpoint: "tcp://$DOCKER_HOST:2376", err: "must be a literal tcp://host:port"},
		{endpoint: "tcp://${HOST}:2376", err: "must be a literal tcp://host:port"},
		{endpoint: "tcp://build.example.com:2376 ", err: "must be a literal tcp://host:port"},
		{endpoint: "tcp://build example.com:2376", err: "must be a literal tcp://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			err := ValidateDockerHost(tt.endpoint)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

func TestRemoteDockerValidate(t *testing.T) {
	const host = "tcp://build.example.com:2376"
	fromSecrets := map[string]string{"ca": "docker_ca", "cert": "docker_cert", "key": "docker_key"}
	tests := []struct {
		name   string
		docker RemoteDocker
		// variable is the DRONE_ECI_* variable the error must name
		// first, and err more of its text; both "" for a valid setting.
		variable string
		err      string
	}{
		{name: "unset", docker: RemoteDocker{}},
		{name: "plain TCP", docker: RemoteDocker{DockerHost: "tcp://build.example.com:2375", DockerPlainTCP: true}},
		{name: "TLS from a Secret", docker: RemoteDocker{DockerHost: host, DockerTLSSecret: "docker-tls"}},
		{name: "TLS from Drone secrets", docker: RemoteDocker{DockerHost: host, DockerTLSFromSecrets: fromSecrets}},
		{name: "TLS from both", docker: RemoteDocker{DockerHost: host, DockerTLSSecret: "docker-tls", DockerTLSFromSecrets: fromSecrets}},

		{name: "plain TCP without a host", docker: RemoteDocker{DockerPlainTCP: true}, variable: "DRONE_ECI_DOCKER_HOST", err: "must be set when"},
		{name: "TLS Secret without a host", docker: RemoteDocker{DockerTLSSecret: "docker-tls"}, variable: "DRONE_ECI_DOCKER_HOST", err: "must be set when"},
		{name: "Drone secrets without a host", docker: RemoteDocker{DockerTLSFromSecrets: fromSecrets}, variable: "DRONE_ECI_DOCKER_HOST", err: "must be set when"},
		{name: "unix socket", docker: RemoteDocker{DockerHost: "unix:///var/run/docker.sock", DockerPlainTCP: true}, variable: "DRONE_ECI_DOCKER_HOST", err: "want tcp://host:port"},
		{name: "no port", docker: RemoteDocker{DockerHost: "tcp://build.example.com", DockerPlainTCP: true}, variable: "DRONE_ECI_DOCKER_HOST", err: "want tcp://host:port"},
		{name: "localhost", docker: RemoteDocker{DockerHost: "tcp://localhost:2375", DockerPlainTCP: true}, variable: "DRONE_ECI_DOCKER_HOST", err: "loopback"},
		{name: "loopback", docker: RemoteDocker{DockerHost: "tcp://127.0.0.1:2375", DockerPlainTCP: true}, variable: "DRONE_ECI_DOCKER_HOST", err: "loopback"},
		{name: "path", docker: RemoteDocker{DockerHost: host + "/v1.41", DockerTLSSecret: "docker-tls"}, variable: "DRONE_ECI_DOCKER_HOST", err: "nothing more"},
		{name: "user", docker: RemoteDocker{DockerHost: "tcp://me@build.example.com:2376", DockerTLSSecret: "docker-tls"}, variable: "DRONE_ECI_DOCKER_HOST", err: "nothing more"},
		{name: "dollar", docker: RemoteDocker{DockerHost: "tcp://$HOST:2376", DockerTLSSecret: "docker-tls"}, variable: "DRONE_ECI_DOCKER_HOST", err: "literal"},
		{name: "plain TCP and a TLS Secret", docker: RemoteDocker{DockerHost: host, DockerPlainTCP: true, DockerTLSSecret: "docker-tls"}, variable: "DRONE_ECI_DOCKER_PLAIN_TCP", err: "choose one"},
		{name: "plain TCP and Drone secrets", docker: RemoteDocker{DockerHost: host, DockerPlainTCP: true, DockerTLSFromSecrets: fromSecrets}, variable: "DRONE_ECI_DOCKER_PLAIN_TCP", err: "choose one"},
		{name: "neither TLS nor plain TCP", docker: RemoteDocker{DockerHost: host}, variable: "DRONE_ECI_DOCKER_HOST", err: "DRONE_ECI_DOCKER_PLAIN_TCP=true"},
		{name: "Secret name with capitals", docker: RemoteDocker{DockerHost: host, DockerTLSSecret: "Docker_TLS"}, variable: "DRONE_ECI_DOCKER_TLS_SECRET", err: "is not a Secret name"},
		{name: "Secret name with a slash", docker: RemoteDocker{DockerHost: host, DockerTLSSecret: "ns/docker-tls"}, variable: "DRONE_ECI_DOCKER_TLS_SECRET", err: "is not a Secret name"},
		{name: "Drone secrets without key", docker: RemoteDocker{DockerHost: host, DockerTLSFromSecrets: map[string]string{"ca": "a", "cert": "b"}}, variable: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS", err: "no Drone secret named for key"},
		{name: "Drone secrets with a blank ca", docker: RemoteDocker{DockerHost: host, DockerTLSFromSecrets: map[string]string{"ca": " ", "cert": "b", "key": "c"}}, variable: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS", err: "no Drone secret named for ca"},
		{name: "Drone secrets with an unknown file", docker: RemoteDocker{DockerHost: host, DockerTLSFromSecrets: map[string]string{"ca": "a", "cert": "b", "key": "c", "pem": "d"}}, variable: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS", err: `unknown file "pem"`},
		{name: "Drone secret name with $", docker: RemoteDocker{DockerHost: host, DockerTLSFromSecrets: map[string]string{"ca": "a", "cert": "$b", "key": "c"}}, variable: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS", err: "is not a secret name"},
		{name: "Drone secret name with a space", docker: RemoteDocker{DockerHost: host, DockerTLSFromSecrets: map[string]string{"ca": "a", "cert": "b", "key": "my key"}}, variable: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS", err: "is not a secret name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.docker.validate()
			if tt.variable == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one naming %s", tt.variable)
			}
			if !strings.HasPrefix(err.Error(), tt.variable+":") || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %q, want an error that starts with %s: and contains %q", err, tt.variable, tt.err)
			}
		})
	}
}

func TestRemoteDockerFromEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		override string // as convert --docker-host gives it
		want     string // substring of the error, "" for success
		check    func(t *testing.T, d RemoteDocker)
	}{
		{name: "TLS from Drone secrets", env: map[string]string{
			"DRONE_ECI_DOCKER_HOST": "tcp://build.example.com:2376", "DRONE_ECI_DOCKER_TLS_FROM_SECRETS": "ca:docker_ca,cert:docker_cert,key:docker_key",
		}, check: func(t *testing.T, d RemoteDocker) {
			if d.DockerTLSFromSecrets["ca"] != "docker_ca" || d.DockerTLSFromSecrets["cert"] != "docker_cert" || d.DockerTLSFromSecrets["key"] != "docker_key" {
				t.Errorf("Drone secrets not read: %+v", d)
			}
		}},
		{name: "the command line's host over the environment's", env: map[string]string{
			"DRONE_ECI_DOCKER_HOST": "tcp://old.example.com:2375", "DRONE_ECI_DOCKER_PLAIN_TCP": "true",
		}, override: "tcp://new.example.com:2375", check: func(t *testing.T, d RemoteDocker) {
			if d.DockerHost != "tcp://new.example.com:2375" || !d.DockerPlainTCP {
				t.Errorf("override not applied: %+v", d)
			}
		}},
		{name: "a command-line host is validated", env: map[string]string{"DRONE_ECI_DOCKER_PLAIN_TCP": "true"}, override: "tcp://127.0.0.1:2375", want: "DRONE_ECI_DOCKER_HOST: "},
		{name: "plain TCP not a boolean", env: map[string]string{"DRONE_ECI_DOCKER_PLAIN_TCP": "sometimes"}, want: "DRONE_ECI_DOCKER_PLAIN_TCP"},
		{name: "Drone secrets not pairs", env: map[string]string{
			"DRONE_ECI_DOCKER_HOST": "tcp://build.example.com:2376", "DRONE_ECI_DOCKER_TLS_FROM_SECRETS": "docker_ca",
		}, want: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := Load(func(c *Config) {
				if tt.override != "" {
					c.DockerHost = tt.override
				}
			})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error naming %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c.RemoteDocker)
		})
	}
}
