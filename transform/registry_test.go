package transform

import (
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

const digestB = "sha256:2222222222222222222222222222222222222222222222222222222222222222"

// withRegistry runs the images then the entrypoints transform over
// input, with facts standing in for the registry's answers (keyed by
// ImageKey, and by DigestKey where a digest is known, as the plugin
// files them).
func withRegistry(t *testing.T, im Images, ep Entrypoints, facts map[string]ImageFacts, input string) (string, Report, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(input), &doc); err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Name: "p", Body: doc.Content[0], Registry: map[string]ImageFacts{}}
	for ref, f := range facts {
		p.Registry[ImageKey(ref)] = f
		if f.Digest != "" {
			p.Registry[DigestKey(ref, f.Digest)] = f
		}
	}
	for _, tr := range []Transform{im, ep} {
		if err := tr.Apply(p); err != nil {
			return "", p.Report, err
		}
	}
	out, err := yamldoc.Encode([]*yamldoc.Document{{Root: &doc, Edited: true}})
	if err != nil {
		t.Fatal(err)
	}
	return string(out), p.Report, nil
}

func TestRegistryFacts(t *testing.T) {
	pins, err := ParsePins([]string{"alpine:3.20"})
	if err != nil {
		t.Fatal(err)
	}
	floating := Images{Pins: pins, PinDigests: "floating"}
	table := Entrypoints{Table: DefaultEntrypoints()}
	trivy := ImageFacts{Digest: digestA, Entrypoint: []string{"/usr/bin/trivy"}, Cmd: []string{"--help"}, HasConfig: true, Registry: "registry.example.com"}
	tests := []struct {
		name   string
		images Images
		facts  map[string]ImageFacts
		input  string
		expect
	}{
		{
			name:   "a floating private image is pinned by digest and its entrypoint recorded",
			images: floating,
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy": trivy},
			input:  "steps:\n- {name: scan, image: registry.example.com/sec/trivy}\n",
			expect: expect{
				contains: []string{"image: 'registry.example.com/sec/trivy:latest@" + digestA + "'", `"scan":{"image":"registry.example.com/sec/trivy:latest@` + digestA + `","entrypoint":["/usr/bin/trivy"],"cmd":["--help"]}`},
				report:   []string{"(digest from registry registry.example.com)", "entrypoints: read from the registry: scan"},
			},
		},
		{
			name:   "latest keeps its tag beside the digest",
			images: floating,
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy:latest": trivy},
			input:  "steps:\n- {name: scan, image: 'registry.example.com/sec/trivy:latest', commands: [trivy fs .]}\n",
			expect: expect{
				contains: []string{"image: 'registry.example.com/sec/trivy:latest@" + digestA + "'"},
				absent:   []string{"entrypoints"},
			},
		},
		{
			name:   "the pin table comes first",
			images: floating,
			facts:  map[string]ImageFacts{"alpine": {Digest: digestB, Registry: "index.docker.io"}},
			input:  "steps:\n- {name: a, image: alpine, commands: [true]}\n",
			expect: expect{contains: []string{"image: 'alpine:3.20'"}, absent: []string{digestB}},
		},
		{
			name:   "an explicit tag is left alone with floating",
			images: floating,
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy:0.50": trivy},
			input:  "steps:\n- {name: a, image: 'registry.example.com/sec/trivy:0.50', commands: [true]}\n",
			expect: expect{contains: []string{"image: 'registry.example.com/sec/trivy:0.50'"}, absent: []string{digestA}},
		},
		{
			name:   "all pins explicit tags too, never an author's digest",
			images: Images{PinDigests: "all"},
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy:0.50": trivy},
			input:  "steps:\n- {name: a, image: 'registry.example.com/sec/trivy:0.50', commands: [true]}\n- {name: b, image: 'registry.example.com/sec/trivy:0.50@" + digestB + "', commands: [true]}\n",
			expect: expect{contains: []string{"image: 'registry.example.com/sec/trivy:0.50@" + digestA + "'", "image: 'registry.example.com/sec/trivy:0.50@" + digestB + "'"}},
		},
		{
			name:   "all names a tag the registry could not resolve",
			images: Images{PinDigests: "all"},
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy:0.50": {Registry: "registry.example.com", Err: "timeout after 3s"}},
			input:  "steps:\n- {name: a, image: 'registry.example.com/sec/trivy:0.50', commands: [true]}\n",
			expect: expect{report: []string{"step a: image registry.example.com/sec/trivy:0.50 is not pinned to a digest; registry registry.example.com could not resolve it (timeout after 3s)"}},
		},
		{
			name:   "a cmd-only image whose step sets command is not recorded",
			images: floating,
			facts:  map[string]ImageFacts{"registry.example.com/ci/python:3": {Digest: digestB, Cmd: []string{"python3"}, HasConfig: true, Registry: "registry.example.com"}},
			input:  "steps:\n- {name: job, image: 'registry.example.com/ci/python:3', command: [python3, job.py]}\n",
			expect: expect{
				absent: []string{"drone_convert_eci.entrypoints"},
				report: []string{"step job: image registry.example.com/ci/python:3 has no entrypoint and the step's command replaces its cmd"},
			},
		},
		{
			name:   "none pins nothing",
			images: Images{PinDigests: "none"},
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy": trivy},
			input:  "steps:\n- {name: a, image: registry.example.com/sec/trivy, commands: [true]}\n",
			expect: expect{absent: []string{digestA}, report: []string{"floats (no tag)"}},
		},
		{
			name:   "a failed lookup says which registry and why, and the image floats as before",
			images: floating,
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy": {Registry: "registry.example.com", Err: "401 unauthorized"}},
			input:  "steps:\n- {name: scan, image: registry.example.com/sec/trivy}\n",
			expect: expect{
				absent: []string{"sha256", "drone_convert_eci.entrypoints"},
				report: []string{
					"step scan: image registry.example.com/sec/trivy floats (no tag); registry registry.example.com could not resolve it (401 unauthorized)",
					"step scan: image registry.example.com/sec/trivy: entrypoint unknown (registry registry.example.com: 401 unauthorized)",
				},
			},
		},
		{
			name:   "a failed lookup fails a floating image when the operator chose fail",
			images: Images{PinDigests: "floating", FailFloating: true},
			facts:  map[string]ImageFacts{"registry.example.com/sec/trivy": {Registry: "registry.example.com", Err: "timeout after 3s"}},
			input:  "steps:\n- {name: scan, image: registry.example.com/sec/trivy}\n",
			expect: expect{err: `pipeline "p": steps[0] (scan): image registry.example.com/sec/trivy floats (no tag) and has no pin; registry registry.example.com could not resolve it (timeout after 3s): give it a tag`,
				operator: []string{"DRONE_ECI_IMAGE_PINS: image registry.example.com/sec/trivy floats and has no pin"}},
		},
		{
			name:   "an image with only a CMD runs it as its entrypoint",
			images: floating,
			facts:  map[string]ImageFacts{"registry.example.com/tools/notify:2": {Digest: digestB, Cmd: []string{"/bin/notify", "-v"}, HasConfig: true, Registry: "registry.example.com"}},
			input:  "steps:\n- {name: notify, image: 'registry.example.com/tools/notify:2'}\n",
			expect: expect{contains: []string{`"notify":{"image":"registry.example.com/tools/notify:2","entrypoint":["/bin/notify","-v"]}`}},
		},
		{
			name:   "an image that runs nothing is named",
			images: floating,
			facts:  map[string]ImageFacts{"registry.example.com/tools/empty:2": {Digest: digestB, HasConfig: true, Registry: "registry.example.com"}},
			input:  "steps:\n- {name: e, image: 'registry.example.com/tools/empty:2'}\n",
			expect: expect{report: []string{"step e: image registry.example.com/tools/empty:2: entrypoint unknown (registry registry.example.com: its image sets no entrypoint or cmd)"}},
		},
		{
			name:   "the table wins over the registry",
			images: floating,
			facts:  map[string]ImageFacts{"plugins/slack": {Digest: digestB, Entrypoint: []string{"/other"}, HasConfig: true, Registry: "index.docker.io"}},
			input:  "steps:\n- {name: s, image: plugins/slack}\n",
			expect: expect{contains: []string{"plugins/slack:latest@" + digestB, `["/bin/drone-slack"]`}, absent: []string{"/other"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, report, err := withRegistry(t, tc.images, table, tc.facts, tc.input)
			checkResult(t, out, report, err, tc.expect)
		})
	}
}

func TestRegistryQueries(t *testing.T) {
	pins, err := ParsePins([]string{"alpine:3.20"})
	if err != nil {
		t.Fatal(err)
	}
	input := `
services:
- {name: db, image: registry.example.com/db}
steps:
- {name: a, image: alpine, commands: [true]}
- {name: b, image: 'golang:1.22', commands: [true]}
- {name: c, image: 'registry.example.com/sec/trivy:0.50'}
- {name: d, image: 'registry.example.com/sec/trivy:0.50'}
- {name: e, image: plugins/slack}
- {name: f, image: 'x/y:${TAG}'}
- {name: g, image: 'registry.example.com/pinned@` + digestA + `'}
- {name: h, image: 'node', entrypoint: [node]}
`
	for _, tc := range []struct {
		name   string
		images Images
		ep     Entrypoints
		want   []string
	}{
		{"floating and unknown entrypoints", Images{Pins: pins, PinDigests: "floating", Mirror: "mirror.example.com/hub"}, Entrypoints{Table: DefaultEntrypoints()}, []string{
			"registry.example.com/db", "registry.example.com/sec/trivy:0.50", "mirror.example.com/hub/plugins/slack", "registry.example.com/pinned@" + digestA, "mirror.example.com/hub/library/node",
		}},
		{"all tags, no entrypoints", Images{Pins: pins, PinDigests: "all"}, Entrypoints{}, []string{
			"registry.example.com/db", "alpine:3.20", "golang:1.22", "registry.example.com/sec/trivy:0.50", "plugins/slack", "node",
		}},
		{"nothing asked", Images{PinDigests: "none"}, Entrypoints{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(input), &doc); err != nil {
				t.Fatal(err)
			}
			got := RegistryQueries(&Pipeline{Name: "p", Body: doc.Content[0]}, tc.images, tc.ep)
			if !slices.Equal(got, tc.want) {
				t.Errorf("queries\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestPipelinePlatform(t *testing.T) {
	for input, want := range map[string]string{
		"steps: []\n":                               "linux/amd64",
		"platform: {arch: arm64}\n":                 "linux/arm64",
		"platform: {os: Linux, arch: ARM64}\n":      "linux/arm64",
		"platform: {os: windows, arch: amd64}\n":    "windows/amd64",
		"x: &p {arch: arm64}\nplatform: {<<: *p}\n": "linux/arm64",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(input), &doc); err != nil {
			t.Fatal(err)
		}
		if os, arch := PipelinePlatform(doc.Content[0]); os+"/"+arch != want {
			t.Errorf("%q: %s/%s, want %s", input, os, arch, want)
		}
	}
}
