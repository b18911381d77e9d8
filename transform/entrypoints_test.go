package transform

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestEntrypoints(t *testing.T) {
	src := `kind: pipeline
type: kubernetes
name: p
services:
- name: cache
  image: redis:7
- name: db
  image: postgres:16
  command: [postgres, -c, fsync=off]
- name: mysql
  image: mysql:8.0
  entrypoint: [docker-entrypoint.sh]
- name: scripted
  image: postgres:16
  commands: [docker-entrypoint.sh postgres]
steps:
- name: publish
  image: docker.io/plugins/kaniko:1.13.9
- name: mirrored
  image: mirror.example.com/hub/plugins/kaniko-ecr@sha256:0123456789012345678901234567890123456789012345678901234567890123
- name: test
  image: plugins/kaniko
  commands: [ls]
- name: own-entrypoint
  image: plugins/kaniko
  entrypoint: [/bin/sh]
- name: unknown
  image: plugins/unknown
- name: notify
  image: plugins/slack:1.4.1
- name: upload
  image: docker.io/plugins/s3@sha256:0123456789012345678901234567890123456789012345678901234567890123
- name: service-like
  image: redis:7
- name: substituted
  image: plugins/kaniko:${TAG}
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Name: "p", Body: doc.Content[0]}
	e := Entrypoints{Table: DefaultEntrypoints(), CloneImage: "drone/git:latest", Mirror: "mirror.example.com/hub"}
	if err := e.Apply(p); err != nil {
		t.Fatal(err)
	}
	raw := lookupString(resolve(lookup(resolve(lookup(p.Body, "metadata")), "annotations")), EntrypointsAnnotation)
	var got map[string]Entrypoint
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	want := map[string]string{"clone": "/usr/local/bin/clone", "publish": "/kaniko/kaniko-docker", "mirrored": "/kaniko/kaniko-ecr", "notify": "/bin/drone-slack", "upload": "/bin/drone-s3",
		// Services and a step on a service image run ENTRYPOINT + CMD
		// (db's YAML command replaces the CMD in the container's args);
		// a YAML entrypoint or commands make the runner's shell script.
		"cache": "docker-entrypoint.sh", "db": "docker-entrypoint.sh", "service-like": "docker-entrypoint.sh"}
	if len(got) != len(want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	for step, ep := range want {
		if got[step].Entrypoint == nil || got[step].Entrypoint[0] != ep {
			t.Errorf("%s: %v, want %s", step, got[step], ep)
		}
	}
	if c := got["cache"]; !c.Shell || !slices.Equal(c.Cmd, []string{"redis-server"}) || c.Image != "redis:7" {
		t.Errorf("cache: %+v", c)
	}
	if !strings.Contains(strings.Join(p.Report.Changes, "\n"), "entrypoints: recorded") {
		t.Error("not reported")
	}
	// Off: nothing recorded.
	p2 := &Pipeline{Name: "p", Body: doc.Content[0]}
	if err := (Entrypoints{}).Apply(p2); err != nil || len(p2.Report.Changes) != 0 {
		t.Errorf("the empty transform changed something: %v %v", err, p2.Report.Changes)
	}
	if _, err := ParseEntrypoints(`{"a/b": {"entrypoint": []}}`); err == nil {
		t.Error("an empty entrypoint must be refused")
	}
}

// TestDefaultEntrypoints: every built-in plugin entry names an
// absolute program and sets no CMD (none of the plugin Dockerfiles read
// does); the service images (redis, postgres, mysql) record their
// ENTRYPOINT and CMD and have a shell; every key is a familiar
// repository name without tag or digest.
func TestDefaultEntrypoints(t *testing.T) {
	services := map[string][]string{"redis": {"redis-server"}, "postgres": {"postgres"}, "mysql": {"mysqld"}}
	for name, ep := range DefaultEntrypoints() {
		if ep.Image != "" || len(ep.Entrypoint) == 0 {
			t.Errorf("%s: unexpected image or empty entrypoint: %+v", name, ep)
		}
		if strings.ContainsAny(name, ":@") || strings.HasPrefix(name, "docker.io/") {
			t.Errorf("%s: not a familiar repository name", name)
		}
		if cmd, ok := services[name]; ok {
			if !ep.Shell || !slices.Equal(ep.Cmd, cmd) || !slices.Equal(ep.Entrypoint, []string{"docker-entrypoint.sh"}) {
				t.Errorf("%s: %+v, want docker-entrypoint.sh %q through the shell", name, ep, cmd)
			}
			continue
		}
		if !strings.HasPrefix(ep.Entrypoint[0], "/") {
			t.Errorf("%s: entrypoint %q is not an absolute program", name, ep.Entrypoint)
		}
		if len(ep.Cmd) != 0 || ep.Shell {
			t.Errorf("%s: unexpected cmd or shell: %+v", name, ep)
		}
	}
	for name := range services {
		if _, ok := DefaultEntrypoints()[name]; !ok {
			t.Errorf("%s: missing", name)
		}
	}
}
