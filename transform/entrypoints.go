package transform

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/distribution/reference"
	"gopkg.in/yaml.v3"
)

// EntrypointsAnnotation is the pipeline annotation where the converter
// records, per step name, the step's image and what it runs; the
// admission webhook reads it (README "Admission webhook"). Its key
// holds no "/" or "-": the runner's /run/drone/env file, where every
// annotation lands, is read by godotenv in many plugins.
const EntrypointsAnnotation = "drone_convert_eci.entrypoints"

// Entrypoint is what an image runs when the container has no command:
// its ENTRYPOINT and CMD.
type Entrypoint struct {
	Image      string   `json:"image,omitempty"`
	Entrypoint []string `json:"entrypoint"`
	Cmd        []string `json:"cmd,omitempty"`
}

// DefaultEntrypoints are the images the converter produces and the
// runner's default clone image, by familiar repository name. Sources:
// drone-kaniko v1.13.9 (KANIKO.md: /kaniko/kaniko-docker, -ecr, -gcr,
// -gar, -acr), drone/drone-git's linux Dockerfile (/usr/local/bin/clone).
func DefaultEntrypoints() map[string]Entrypoint {
	return map[string]Entrypoint{
		"plugins/kaniko":     {Entrypoint: []string{"/kaniko/kaniko-docker"}},
		"plugins/kaniko-ecr": {Entrypoint: []string{"/kaniko/kaniko-ecr"}},
		"plugins/kaniko-gcr": {Entrypoint: []string{"/kaniko/kaniko-gcr"}},
		"plugins/kaniko-gar": {Entrypoint: []string{"/kaniko/kaniko-gar"}},
		"plugins/kaniko-acr": {Entrypoint: []string{"/kaniko/kaniko-acr"}},
		"drone/git":          {Entrypoint: []string{"/usr/local/bin/clone"}},
	}
}

// Entrypoints records the entrypoint of every step and service that
// runs its image's own entrypoint (no commands, no entrypoint in the
// YAML) and whose image is in Table, and of the clone step (CloneImage,
// the runner's DRONE_IMAGE_CLONE) unless clone is disabled. Steps whose
// image is substituted or unknown are not recorded: the webhook leaves
// them as they are. Runs after images, so it sees the final images.
type Entrypoints struct {
	// Table maps familiar repository names (plugins/kaniko) to what
	// their images run.
	Table map[string]Entrypoint
	// CloneImage is the runner's clone image; empty records no clone.
	CloneImage string
	// Mirror is the images transform's Docker Hub mirror, stripped
	// before the table lookup.
	Mirror string
}

// Name implements Transform.
func (Entrypoints) Name() string { return "entrypoints" }

// Apply implements Transform.
func (e Entrypoints) Apply(p *Pipeline) error {
	recorded := map[string]Entrypoint{}
	if e.CloneImage != "" && !isTrue(lookupString(resolve(lookup(p.Body, "clone")), "disable")) {
		if ep, ok := e.lookup(e.CloneImage); ok {
			recorded["clone"] = ep
		}
	}
	for _, list := range []string{"services", "steps"} {
		seq := resolve(lookup(p.Body, list))
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range seq.Content {
			step := resolve(item)
			if step == nil || step.Kind != yaml.MappingNode {
				continue
			}
			name, image := lookupString(step, "name"), lookupString(step, "image")
			if name == "" || strings.Contains(image, "$") || strings.Contains(name, "$") || hasValues(lookup(step, "commands")) || hasValues(lookup(step, "entrypoint")) {
				continue
			}
			if ep, ok := e.lookup(image); ok {
				recorded[name] = ep
			}
		}
	}
	if len(recorded) == 0 {
		return nil
	}
	data, err := json.Marshal(recorded)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(recorded))
	for n := range recorded {
		names = append(names, n)
	}
	slices.Sort(names)
	p.Report.Changed("entrypoints: recorded for the admission webhook: %s", strings.Join(names, ", "))
	// The runner substitutes the whole YAML: "$" is written "$$".
	return Annotate(p, EntrypointsAnnotation, strings.ReplaceAll(string(data), "$", "$$"))
}

func (e Entrypoints) lookup(image string) (Entrypoint, bool) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return Entrypoint{}, false
	}
	name := reference.FamiliarName(named)
	if e.Mirror != "" {
		if rest, ok := strings.CutPrefix(named.Name(), e.Mirror+"/"); ok {
			if n, err := reference.ParseNormalizedNamed(rest); err == nil {
				name = reference.FamiliarName(n)
			}
		}
	}
	ep, ok := e.Table[name]
	if !ok || len(ep.Entrypoint) == 0 {
		return Entrypoint{}, false
	}
	ep.Image = image
	return ep, true
}

// hasValues says whether n is a non-empty list or a non-empty scalar.
func hasValues(n *yaml.Node) bool {
	n = resolve(n)
	switch {
	case n == nil || isNull(n):
		return false
	case n.Kind == yaml.SequenceNode:
		return len(n.Content) > 0
	case n.Kind == yaml.ScalarNode:
		return n.Value != ""
	}
	return true
}

// ParseEntrypoints reads a JSON object of extra table entries
// ({"repo/name": {"entrypoint": [...], "cmd": [...]}}).
func ParseEntrypoints(s string) (map[string]Entrypoint, error) {
	table := map[string]Entrypoint{}
	if strings.TrimSpace(s) == "" {
		return table, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&table); err != nil {
		return nil, err
	}
	for name, ep := range table {
		if len(ep.Entrypoint) == 0 {
			return nil, fmt.Errorf("%s: empty entrypoint", name)
		}
	}
	return table, nil
}
