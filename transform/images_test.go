package transform

import (
	"testing"
)

const digestA = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func TestImages(t *testing.T) {
	pins, err := ParsePins([]string{"golang:1.22", "golang:1.22.5@" + digestA, "alpine:3.20", "quay.io/org/tool@" + digestA})
	if err != nil {
		t.Fatal(err)
	}
	base := Images{Pins: pins, PullAlways: "if-not-exists", CacheAnnotation: "k8s.aliyun.com/eci-auto-imc", CacheValue: "true"}
	tests := []struct {
		name     string
		images   *Images
		input    string
		contains []string
		absent   []string
		report   []string
		operator []string
		err      string
	}{
		{
			name:     "floating images get their pin; explicit tags stay",
			input:    "steps:\n- {name: a, image: golang}\n- {name: b, image: 'alpine:latest'}\n- {name: c, image: 'golang:1.13'}\n- {name: d, image: quay.io/org/tool}\n",
			contains: []string{"image: 'golang:1.22'", "image: 'alpine:3.20'", "image: 'golang:1.13'", "image: 'quay.io/org/tool@" + digestA + "'", "k8s.aliyun.com/eci-auto-imc: \"true\""},
			report:   []string{"step a: image golang → golang:1.22 (pinned)", "step b: image alpine:latest → alpine:3.20 (pinned)"},
		},
		{
			name:     "a pinned tag gains its digest, the spelling of the name is kept",
			input:    "steps:\n- {name: a, image: docker.io/library/golang:1.22.5}\n",
			contains: []string{"image: 'docker.io/library/golang:1.22.5@" + digestA + "'"},
			report:   []string{"(digest pinned)"},
		},
		{
			name:   "floating without a pin warns",
			input:  "services:\n- {name: db, image: postgres}\nsteps:\n- {name: a, image: 'golang:1.13'}\n",
			report: []string{"warnings: service db: image postgres floats (no tag): builds are not reproducible"}, operator: []string{"DRONE_ECI_IMAGE_PINS: service db: image postgres floats and has no pin"},
		},
		{
			name:   "floating without a pin fails when asked",
			images: &Images{FailFloating: true},
			input:  "steps:\n- {name: a, image: 'redis:latest'}\n",
			err:    `pipeline "p": steps[0] (a): image redis:latest floats (tag latest) and has no pin: give it a tag`, operator: []string{"DRONE_ECI_IMAGE_PINS: image redis:latest floats and has no pin"},
		},
		{
			name:     "mirror rewrites Docker Hub only",
			images:   &Images{Pins: pins, Mirror: "registry.cn-hangzhou.aliyuncs.com/hub"},
			input:    "steps:\n- {name: a, image: golang}\n- {name: b, image: 'plugins/slack:1.4.1'}\n- {name: c, image: 'quay.io/x/y:1'}\n",
			contains: []string{"registry.cn-hangzhou.aliyuncs.com/hub/library/golang:1.22", "registry.cn-hangzhou.aliyuncs.com/hub/plugins/slack:1.4.1", "quay.io/x/y:1"},
			report:   []string{"(pinned, Docker Hub mirror)"},
		},
		{
			name:     "pull always becomes if-not-exists, through a merge key",
			input:    "x: &s {pull: always, image: 'golang:1.22'}\nsteps:\n- <<: *s\n  name: a\n- {name: b, image: 'x:1', pull: never}\n",
			contains: []string{"x: &s {pull: always, image: 'golang:1.22'}", "  - <<: *s\n    name: a\n    pull: if-not-exists\n", "pull: never"},
		},
		{
			name:   "pull always kept when asked",
			images: &Images{PullAlways: "keep"},
			input:  "steps:\n- {name: a, image: 'golang:1.22', pull: always}\n",
			absent: []string{"if-not-exists"},
		},
		{
			name:     "an aliased step is copied, its anchor untouched",
			input:    "x: &s {name: a, image: golang}\nsteps:\n- *s\n",
			contains: []string{"x: &s {name: a, image: golang}", "- {name: a, image: 'golang:1.22'}"},
		},
		{
			name:     "an anchored image scalar keeps its anchor and its aliases follow",
			input:    "steps:\n- {name: a, image: &img golang}\n- {name: b, image: *img}\n",
			contains: []string{"image: &img 'golang:1.22'", "image: *img"},
		},
		{
			name:     "substituted images are left alone with a warning",
			input:    "steps:\n- {name: a, image: 'golang:${GO}'}\n",
			contains: []string{"golang:${GO}"},
			report:   []string{"step a: image golang:${GO} is substituted at build time"},
		},
		{
			name:     "the pipeline's own cache choice wins",
			input:    "metadata:\n  annotations:\n    k8s.aliyun.com/eci-imc-id: imc-123\nsteps:\n- {name: a, image: 'golang:1.22'}\n",
			absent:   []string{"eci-auto-imc"},
			contains: []string{"imc-123"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := base
			if tt.images != nil {
				tr = *tt.images
			}
			checkTransform(t, tr, tt.input, expect{err: tt.err, contains: tt.contains, absent: tt.absent, report: tt.report, operator: tt.operator})
		})
	}
}

func TestStripTagDigest(t *testing.T) {
	for in, want := range map[string]string{
		"golang":                               "golang",
		"golang:1.22":                          "golang",
		"localhost:5000/x":                     "localhost:5000/x",
		"localhost:5000/x:1":                   "localhost:5000/x",
		"x@" + digestA:                         "x",
		"reg.example.com:443/a/b:2@" + digestA: "reg.example.com:443/a/b",
	} {
		if got := stripTagDigest(in); got != want {
			t.Errorf("stripTagDigest(%q) = %q, want %q", in, got, want)
		}
	}
}
