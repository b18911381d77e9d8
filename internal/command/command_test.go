package command

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestConvertCommand(t *testing.T) {
	optedIn, err := os.ReadFile("../../testdata/convert/opted_in.yml")
	if err != nil {
		t.Fatal(err)
	}
	notOpted, _ := os.ReadFile("../../testdata/convert/not_opted.yml")
	tests := []struct {
		name       string
		args       []string
		stdin      []byte
		code       int
		stdout     string // substring
		sameStdout bool   // stdout must equal stdin
		stderr     string // substring
		env        map[string]string
		// inOrder are substrings of stderr in this order: the author's
		// lines before the operator's.
		inOrder []string
	}{
		{name: "converts a file", args: []string{"convert", "../../testdata/convert/opted_in.yml"}, code: 0, stdout: "type: virtual-kubelet", stderr: `pipeline "build": converted`},
		{name: "reads stdin", args: []string{"convert", "-"}, stdin: optedIn, code: 0, stdout: "virtual-kubelet.io/provider"},
		{name: "unchanged is success", args: []string{"convert"}, stdin: notOpted, code: 0, sameStdout: true, stderr: "not opted in"},
		{name: "opt-in flag", args: []string{"convert", "--opt-in"}, stdin: notOpted, code: 0, stdout: "type: virtual-kubelet"},
		{name: "repo list", args: []string{"convert", "--repo", "octo/x"}, stdin: notOpted, code: 0, sameStdout: true},
		{name: "opt-out wins over --opt-in", args: []string{"convert", "--opt-in", "../../testdata/convert/opted_out.yml"}, code: 0, stderr: "opted out"},
		{name: "docker pipeline left alone", args: []string{"convert", "../../testdata/convert/migrate_untyped.yml"}, code: 0, stderr: "no kubernetes pipeline in this config; its 1 Docker-runner pipeline(s) convert with --migrate-docker"},
		{name: "migrate-docker flag", args: []string{"convert", "--migrate-docker", "../../testdata/convert/migrate_untyped.yml"}, code: 0, stdout: "type: kubernetes", stderr: "type kubernetes added"},
		{name: "migrate-docker keeps an unmovable pipeline", args: []string{"convert", "--migrate-docker", "../../testdata/convert/migrate_service_name.yml"}, code: 0, stdout: "type: docker", stderr: `kept on the Docker runner (cannot move to ECI)`},
		{name: "migrate-docker refusal", args: []string{"convert", "--migrate-docker", "../../testdata/convert/migrate_service_name.yml"}, env: map[string]string{"DRONE_ECI_MIGRATE_UNMOVABLE": "fail"}, code: 1, stderr: `service "redis_db"`},
		{name: "migrate-unmovable is validated", args: []string{"convert", "--migrate-docker", "../../testdata/convert/migrate_service_name.yml"}, env: map[string]string{"DRONE_ECI_MIGRATE_UNMOVABLE": "drop"}, code: 2, stderr: `DRONE_ECI_MIGRATE_UNMOVABLE: "drop" is neither keep nor fail`},
		{name: "dind refused without a remote daemon", args: []string{"convert", "../../testdata/convert/dockerhost_off.yml"}, code: 1, inOrder: []string{"convert: document 1: pipeline", "needs a Docker daemon", "\noperator: DRONE_ECI_DOCKER_HOST: "}},
		{name: "author's lines first, the operator's marked", args: []string{"convert", "../../testdata/convert/sizing_capped.yml"}, env: map[string]string{"DRONE_ECI_MAX_SPEC": "4-8Gi"}, code: 0,
			inOrder: []string{"  warning: sizing: peak demand 8 vCPU / 16 GiB exceeds the largest spec this service gives a pod", "\noperator: document 1, pipeline \"capped\": DRONE_ECI_MAX_SPEC: "}},
		{name: "docker-host flag", args: []string{"convert", "--docker-host", "tcp://10.0.0.5:2375", "../../testdata/convert/dockerhost_off.yml"}, env: map[string]string{"DRONE_ECI_DOCKER_PLAIN_TCP": "true"}, code: 0, stdout: "DOCKER_HOST='tcp://10.0.0.5:2375'", stderr: "remote Docker daemon tcp://10.0.0.5:2375 (plain TCP)"},
		{name: "docker-host flag is validated", args: []string{"convert", "--docker-host", "unix:///var/run/docker.sock", "../../testdata/convert/dockerhost_off.yml"}, env: map[string]string{"DRONE_ECI_DOCKER_PLAIN_TCP": "true"}, code: 2, stderr: "DRONE_ECI_DOCKER_HOST: \"unix:///var/run/docker.sock\": want tcp://host:port"},
		{name: "docker-host flag needs TLS or plain TCP", args: []string{"convert", "--docker-host", "tcp://10.0.0.5:2376", "../../testdata/convert/dockerhost_off.yml"}, code: 2, stderr: "needs TLS client certificates"},
		{name: "protected left alone", args: []string{"convert", "--protected", "../../testdata/convert/opted_in.yml"}, code: 0, stderr: "is protected"},
		{name: "cannot convert", args: []string{"convert", "../../testdata/convert/bad_tolerations.yml"}, code: 1, stderr: "tolerations: expected a list"},
		{name: "hostile config", args: []string{"convert", "../../testdata/convert/alias_bomb.yml"}, code: 1, stderr: "aliases expand"},
		{name: "missing file", args: []string{"convert", "nope.yml"}, code: 2, stderr: "nope.yml: no such file"},
		{name: "unknown flag", args: []string{"convert", "--bogus"}, code: 2, stderr: "usage:"},
		{name: "two files", args: []string{"convert", "a", "b"}, code: 2, stderr: "one file at most"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "serve refuses without a secret", args: []string{"serve"}, code: 2, stderr: "DRONE_SECRET: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DRONE_SECRET", "")
			if tt.name == "repo list" {
				t.Setenv("DRONE_ECI_REPOS", "acme/*")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := Run(tt.args, bytes.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout.String())
			}
			if tt.sameStdout && !bytes.Equal(stdout.Bytes(), tt.stdin) {
				t.Errorf("stdout differs from the input:\n%s", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
			rest := stderr.String()
			for _, s := range tt.inOrder {
				_, after, ok := strings.Cut(rest, s)
				if !ok {
					t.Errorf("stderr lacks %q after the lines before it:\n%s", s, stderr.String())
					break
				}
				rest = after
			}
		})
	}
}

// TestUsage: "COMMAND --help" prints that command's usage on standard
// output and exits 0; a usage error prints the command's usage only.
func TestUsage(t *testing.T) {
	flagsOf := map[string][]string{
		"convert": {"--opt-in", "--repo", "--trusted", "--protected", "--migrate-docker", "--docker-host"},
		"images":  {"--manifest", "--name", "--size", "--retention-days", "--pull-secret", "--migrate-docker"},
	}
	for _, cmd := range []string{"serve", "convert", "images", "webhook", "mutate-pod"} {
		for _, help := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			var stdout, stderr bytes.Buffer
			if code := Run(help, nil, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
				t.Errorf("%v: exit %d, stderr %q; want 0 and nothing", help, code, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), "usage: drone-convert-eci ") || !strings.Contains(stdout.String(), " "+cmd) && cmd != "serve" {
				t.Errorf("%v: not the usage of %s:\n%s", help, cmd, stdout.String())
			}
			for _, f := range flagsOf[cmd] {
				if !strings.Contains(stdout.String(), f) {
					t.Errorf("%v: usage lacks flag %s", help, f)
				}
			}
		}
	}
	for _, tt := range []struct {
		args []string
		cmd  string
	}{
		{[]string{"convert", "--bogus"}, "convert"},
		{[]string{"convert", "a", "b"}, "convert"},
		{[]string{"images", "--size"}, "images"},
		{[]string{"serve", "extra"}, "serve"},
		{[]string{"webhook", "extra"}, "webhook"},
		{[]string{"mutate-pod", "a", "b"}, "mutate-pod"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(tt.args, nil, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", tt.args, code)
		}
		if !strings.Contains(stderr.String(), "usage: drone-convert-eci ") {
			t.Errorf("%v: no usage:\n%s", tt.args, stderr.String())
		}
		for cmd, flags := range flagsOf {
			for _, f := range flags {
				if cmd != tt.cmd && strings.Contains(stderr.String(), f+" ") && !slices.Contains(flagsOf[tt.cmd], f) {
					t.Errorf("%v: the usage error names %s's flag %s:\n%s", tt.args, cmd, f, stderr.String())
				}
			}
		}
	}
}
