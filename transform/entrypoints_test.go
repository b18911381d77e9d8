package transform

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestEntrypoints(t *testing.T) {
	src := `kind: pipeline
type: kubernetes
name: p
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
	want := map[string]string{"clone": "/usr/local/bin/clone", "publish": "/kaniko/kaniko-docker", "mirrored": "/kaniko/kaniko-ecr", "notify": "/bin/drone-slack", "upload": "/bin/drone-s3"}
	if len(got) != len(want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	for step, ep := range want {
		if got[step].Entrypoint == nil || got[step].Entrypoint[0] != ep {
			t.Errorf("%s: %v, want %s", step, got[step], ep)
		}
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

// TestDefaultEntrypoints: every built-in entry names an absolute
// program, sets no CMD (none of the Dockerfiles read does) and is keyed
// by a familiar repository name without tag or digest; services, whose
// images need their CMD too, are not in it.
func TestDefaultEntrypoints(t *testing.T) {
	for name, ep := range DefaultEntrypoints() {
		if len(ep.Entrypoint) == 0 || !strings.HasPrefix(ep.Entrypoint[0], "/") {
			t.Errorf("%s: entrypoint %q is not an absolute program", name, ep.Entrypoint)
		}
		if len(ep.Cmd) != 0 || ep.Image != "" {
			t.Errorf("%s: unexpected cmd or image: %+v", name, ep)
		}
		if strings.ContainsAny(name, ":@") || strings.HasPrefix(name, "docker.io/") {
			t.Errorf("%s: not a familiar repository name", name)
		}
	}
	for _, service := range []string{"redis", "postgres", "mysql", "library/redis"} {
		if _, ok := DefaultEntrypoints()[service]; ok {
			t.Errorf("%s: a service image must not be in the table", service)
		}
	}
}
