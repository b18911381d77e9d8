package runnertest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/drone/drone-go/drone"
)

// A small pipeline with a command step, a plugin step (plain settings,
// an envsubst-ed setting and a from_secret setting) and a service.
const basic = `kind: pipeline
type: kubernetes
name: build

metadata:
  annotations:
    example.com/owner: team-a
    example.com/commit: ${DRONE_COMMIT_SHA:0:8}

steps:
- name: test
  image: golang:1.22
  commands:
  - go test ./...

- name: publish
  image: plugins/docker
  settings:
    repo: octo/hello-world
    tags:
    - latest
    - ${DRONE_COMMIT_SHA:0:8}
    password:
      from_secret: docker_password

services:
- name: redis
  image: redis:7
`

func compileOne(t *testing.T, config string, opts Options) Result {
	t.Helper()
	results, err := Compile([]byte(config), opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if len(results) != 1 {
		t.Fatalf("got %d results, want 1", len(results))
	}
	return results[0]
}

func TestCompileBasic(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(map[bool]string{true: "trusted", false: "untrusted"}[trusted], func(t *testing.T) {
			r := compileOne(t, basic, Options{Trusted: trusted, Secrets: map[string]string{"docker_password": "s3cr3t"}})
			if r.Pipeline != "build" {
				t.Errorf("Pipeline = %q, want build", r.Pipeline)
			}
			pod := r.Pod

			// clone + 1 service + 2 steps, every one a container from
			// the start.
			if got := len(pod.Spec.Containers); got != 4 {
				t.Fatalf("containers = %d, want 4 (clone, redis, test, publish)", got)
			}
			for _, c := range pod.Spec.Containers {
				if c.Image != "drone/placeholder:1" {
					t.Errorf("container %s image = %q, want the placeholder", c.Name, c.Image)
				}
			}
			wantImages := map[string]string{
				"clone":   "drone/git:latest",
				"redis":   "docker.io/library/redis:7",
				"test":    "docker.io/library/golang:1.22",
				"publish": "docker.io/plugins/docker:latest",
			}
			for step, image := range wantImages {
				c, s := r.Container(step)
				if c == nil || s == nil {
					t.Fatalf("no container for step %q", step)
				}
				if s.Image != image {
					t.Errorf("spec image of %s = %q, want %q", step, s.Image, image)
				}
			}

			if pod.Labels["io.drone"] != "true" {
				t.Errorf("label io.drone = %q, want true", pod.Labels["io.drone"])
			}
			if got := pod.Annotations["example.com/owner"]; got != "team-a" {
				t.Errorf("annotation example.com/owner = %q, want team-a", got)
			}
			// Annotations are substituted like everything else.
			if got := pod.Annotations["example.com/commit"]; got != "7f3a2c1e" {
				t.Errorf("annotation example.com/commit = %q, want 7f3a2c1e", got)
			}
			if pod.Namespace != DefaultNamespace {
				t.Errorf("namespace = %q, want %q", pod.Namespace, DefaultNamespace)
			}

			pub, _ := r.Container("publish")
			if e := Env(pub, "PLUGIN_REPO"); e == nil || e.Value != "octo/hello-world" {
				t.Errorf("PLUGIN_REPO = %+v", e)
			}
			if e := Env(pub, "PLUGIN_TAGS"); e == nil || e.Value != "latest,7f3a2c1e" {
				t.Errorf("PLUGIN_TAGS = %+v, want latest,7f3a2c1e", e)
			}
			e := Env(pub, "PLUGIN_PASSWORD")
			if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Fatalf("PLUGIN_PASSWORD = %+v, want a secretKeyRef", e)
			}
			if ref := e.ValueFrom.SecretKeyRef; ref.Name != pod.Name || ref.Key != "docker_password" {
				t.Errorf("PLUGIN_PASSWORD ref = %s/%s, want %s/docker_password", ref.Name, ref.Key, pod.Name)
			}
			if r.Secret == nil || r.Secret.Name != pod.Name || r.Secret.StringData["docker_password"] != "s3cr3t" {
				t.Errorf("Secret = %+v", r.Secret)
			}

			// plugins/docker is in compiler.Privileged: the compiler makes
			// it privileged whatever repo.trusted says (the linter only
			// checks an explicit `privileged: true`).
			if sc := pub.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
				t.Errorf("publish is not privileged (trusted=%v)", trusted)
			}
			test, _ := r.Container("test")
			if got := test.Args; len(got) == 0 || !strings.Contains(strings.Join(got, " "), "DRONE_SCRIPT") {
				t.Errorf("test args = %q, want the DRONE_SCRIPT runner", got)
			}
			if e := Env(test, "DRONE_SCRIPT"); e == nil || !strings.Contains(e.Value, "go test ./...") {
				t.Errorf("DRONE_SCRIPT = %+v", e)
			}
		})
	}
}

func TestLinterRejectsHostVolumeWhenUntrusted(t *testing.T) {
	const config = `kind: pipeline
type: kubernetes
name: hostvol

steps:
- name: test
  image: alpine:3.20
  commands: [ls /cache]
  volumes:
  - name: cache
    path: /cache

volumes:
- name: cache
  host:
    path: /var/cache/drone
`
	_, err := Compile([]byte(config), Options{Trusted: false})
	if err == nil {
		t.Fatal("untrusted: Compile succeeded, want a linter error")
	}
	const want = "linter: untrusted repositories cannot mount host volumes"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"hostvol"`) {
		t.Errorf("error = %q, want it to name the pipeline and contain %q", err, want)
	}
	t.Logf("untrusted error: %v", err)

	r := compileOne(t, config, Options{Trusted: true})
	var found bool
	for _, v := range r.Pod.Spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path == "/var/cache/drone" {
			found = true
		}
	}
	if !found {
		t.Errorf("trusted: no hostPath volume in pod: %+v", r.Pod.Spec.Volumes)
	}
}

func TestMultiplePipelines(t *testing.T) {
	// The stage name is part of the substitution environment, so each
	// pipeline sees its own DRONE_STAGE_NAME; docker pipelines are
	// skipped, but numbered like the server numbers stages.
	const config = `kind: pipeline
type: docker
name: on-docker
steps:
- name: a
  image: alpine
---
kind: pipeline
type: kubernetes
name: first
metadata:
  annotations:
    example.com/stage: ${DRONE_STAGE_NAME}
steps:
- name: a
  image: alpine
  commands:
  - echo $${DRONE_STAGE_NAME}
---
kind: secret
name: docker_password
get:
  path: secret/docker
  name: password
---
kind: pipeline
type: kubernetes
name: second
clone:
  disable: true
metadata:
  annotations:
    example.com/stage: ${DRONE_STAGE_NAME}
steps:
- name: b
  image: alpine
  commands: [echo hi]
`
	results, err := Compile([]byte(config), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("got %d results, want 2", len(results))
	}
	for i, want := range []string{"first", "second"} {
		r := results[i]
		if r.Pipeline != want {
			t.Errorf("result %d = %q, want %q", i, r.Pipeline, want)
		}
		if got := r.Pod.Annotations["example.com/stage"]; got != want {
			t.Errorf("%s: annotation = %q, want %q", want, got, want)
		}
		if got := r.Pod.Annotations["io.drone.stage.number"]; got != []string{"2", "3"}[i] {
			t.Errorf("%s: stage number = %q", want, got)
		}
	}
	// clone disabled: only the step's container.
	if got := len(results[1].Pod.Spec.Containers); got != 1 {
		t.Errorf("second: %d containers, want 1", got)
	}
	// $$ escapes survive as a literal $ for the shell.
	c, _ := results[0].Container("a")
	if e := Env(c, "DRONE_SCRIPT"); e == nil || !strings.Contains(e.Value, "echo ${DRONE_STAGE_NAME}") {
		t.Errorf("DRONE_SCRIPT = %+v", e)
	}
}

func TestErrorNamesPipeline(t *testing.T) {
	const config = `kind: pipeline
type: kubernetes
name: broken
steps:
- name: a
  commands: [true]
`
	_, err := Compile([]byte(config), Options{})
	if err == nil || !strings.Contains(err.Error(), `pipeline "broken"`) || !strings.Contains(err.Error(), "linter: invalid or missing image") {
		t.Fatalf("error = %v", err)
	}
}

func TestNormalizePodIsStable(t *testing.T) {
	a := compileOne(t, basic, Options{})
	b := compileOne(t, basic, Options{})
	if a.Pod.Name == b.Pod.Name {
		t.Fatalf("pod names are equal (%s): the compiler's names were expected to be random", a.Pod.Name)
	}
	na, nb := NormalizePod(a.Pod), NormalizePod(b.Pod)
	if !reflect.DeepEqual(na, nb) {
		t.Errorf("normalized pods differ:\n%+v\n%+v", na, nb)
	}
	if na.Name != "pod" || na.Labels["io.drone.name"] != "pod" {
		t.Errorf("normalized name = %q, label = %q", na.Name, na.Labels["io.drone.name"])
	}
	for _, c := range na.Spec.Containers {
		for i := 1; i < len(c.Env); i++ {
			if c.Env[i-1].Name > c.Env[i].Name {
				t.Fatalf("%s: env not sorted at %d", c.Name, i)
			}
		}
		for _, m := range c.VolumeMounts {
			if !strings.HasPrefix(m.Name, "volume-") {
				t.Errorf("%s: mount %q not renamed", c.Name, m.Name)
			}
		}
		if e := Env(&c, "DRONE_DOCKER_VOLUME_ID"); e != nil && !strings.HasPrefix(e.Value, "volume-") {
			t.Errorf("%s: DRONE_DOCKER_VOLUME_ID = %q", c.Name, e.Value)
		}
	}
	// The original is untouched.
	if a.Pod.Name == "pod" {
		t.Error("NormalizePod modified its argument")
	}
}

// TestEnvCounts measures how many env vars the runner gives a minimal
// command step (and the clone step) per event: the number ECI's 92-per-
// container limit is compared with.
func TestEnvCounts(t *testing.T) {
	// The compiler copies the host's proxy variables (runner-go
	// environ.Proxy) into every container; clear them so the count is the
	// runner's, not this machine's. Empty means unset to environ.Proxy.
	for _, k := range []string{"no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"} {
		t.Setenv(k, "")
	}
	const config = `kind: pipeline
type: kubernetes
name: default
steps:
- name: test
  image: alpine:3.20
  commands: [echo hi]
`
	for _, event := range []string{EventPush, EventPullRequest, EventTag} {
		r := compileOne(t, config, Options{Event: event})
		step, _ := r.Container("test")
		clone, _ := r.Container("clone")
		n, nc := len(step.Env), len(clone.Env)
		t.Logf("event %-12s: step container %d env vars, clone container %d", event, n, nc)
		if n < 90 || n > 110 {
			t.Errorf("%s: step has %d env vars, want 90..110", event, n)
		}
		names := map[string]bool{}
		for _, e := range step.Env {
			if names[e.Name] {
				t.Errorf("%s: duplicate env %s", event, e.Name)
			}
			names[e.Name] = true
		}
	}
	// With a netrc (private repositories) every container gets more.
	r := compileOne(t, config, Options{Netrc: &drone.Netrc{Machine: "github.com", Login: "octocat", Password: "token"}})
	step, _ := r.Container("test")
	t.Logf("event push + netrc : step container %d env vars", len(step.Env))
}
