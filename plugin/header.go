package plugin

import (
	"github.com/buildkite/yaml"

	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// header is what decides whether a document is ours, read with the YAML
// library Drone itself reads configs with, so we agree with Drone on
// what each document is (YAML 1.1: an annotation written `yes` or `on`
// is "true" to Drone).
type header struct {
	Kind     string `yaml:"kind"`
	Type     string `yaml:"type"`
	Name     string `yaml:"name"`
	Metadata struct {
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
}

// readHeader decodes the header fields with buildkite/yaml from a small
// document holding only them (merge keys and aliases resolved), rather
// than from the whole document: the answer is the same, and decoding a
// long pipeline twice more was a sixth of a conversion's cost. Values
// are what the runner reads, after envsubst's backslash rule.
func readHeader(doc *yamldoc.Document, h *header) error {
	if doc.DuplicateKey() != nil {
		// buildkite/yaml merges a repeated mapping key into what it read
		// before; only the library itself knows the result exactly.
		return yaml.Unmarshal(doc.DroneText(), h)
	}
	subset, err := yamldoc.Subset(doc.Body(), "kind", "type", "name", "metadata")
	if err != nil {
		return err
	}
	return yaml.Unmarshal(subset, h)
}
