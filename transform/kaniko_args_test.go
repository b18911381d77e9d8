package transform

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// TestBuildKit: which docker plugin images built with BuildKit (and so
// skipped unused stages), by tag, and DOCKER_BUILDKIT over the tag.
func TestBuildKit(t *testing.T) {
	tests := []struct {
		image, env      string
		buildkit, known bool
	}{
		{image: "plugins/docker", buildkit: true, known: true},
		{image: "plugins/docker:latest", buildkit: true, known: true},
		{image: "docker.io/plugins/ecr:21.3.4", buildkit: true, known: true},
		{image: "plugins/gcr:linux-amd64", buildkit: true, known: true},
		{image: "plugins/docker:20", buildkit: false, known: true},
		{image: "plugins/docker:20.10", buildkit: false, known: true},
		{image: "plugins/ecr:20@sha256:0000", buildkit: false, known: true},
		{image: "plugins/docker:19.03.8", buildkit: false, known: true},
		{image: "plugins/docker@sha256:0000", known: false},
		{image: "plugins/docker:20", env: "DOCKER_BUILDKIT: \"1\"", buildkit: true, known: true},
		{image: "plugins/docker", env: "DOCKER_BUILDKIT: \"0\"", buildkit: false, known: true},
		{image: "plugins/docker", env: "DOCKER_BUILDKIT: {from_secret: bk}", known: false},
	}
	for _, tt := range tests {
		s := &stepConversion{c: &container{image: tt.image}}
		if tt.env != "" {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.env), &doc); err != nil {
				t.Fatal(err)
			}
			s.stepEnv = doc.Content[0]
		}
		buildkit, known := s.buildKit()
		if known != tt.known || (known && buildkit != tt.buildkit) {
			t.Errorf("%s %s: buildkit=%v known=%v, want %v %v", tt.image, tt.env, buildkit, known, tt.buildkit, tt.known)
		}
	}
}
