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
  image: plugins/slack
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
	want := map[string]string{"clone": "/usr/local/bin/clone", "publish": "/kaniko/kaniko-docker", "mirrored": "/kaniko/kaniko-ecr"}
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
