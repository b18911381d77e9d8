package plugin

import (
	"github.com/buildkite/yaml"
	yamlv3 "gopkg.in/yaml.v3"

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
	if plainHeader(doc.Body(), h) {
		return nil
	}
	subset, err := yamldoc.Subset(doc.Body(), "kind", "type", "name", "metadata")
	if err != nil {
		return err
	}
	return yaml.Unmarshal(subset, h)
}

// plainHeader reads the header straight from the tree when every value
// in it is one whose reading by buildkite/yaml is certain
// (yamldoc.PlainString) and no merge key is involved: what the subset
// document would say, without writing and decoding it. Anything else
// (and an empty or null annotations mapping, which the library reads as
// an empty map) leaves h untouched and returns false. FuzzHeader checks
// the readings agree.
func plainHeader(body *yamlv3.Node, h *header) bool {
	if body == nil || body.Kind != yamlv3.MappingNode {
		return false
	}
	var got header
	for i := 0; i+1 < len(body.Content); i += 2 {
		k := body.Content[i]
		if yamldoc.IsMergeKey(k) {
			return false
		}
		var field *string
		switch k.Value {
		case "kind":
			field = &got.Kind
		case "type":
			field = &got.Type
		case "name":
			field = &got.Name
		case "metadata":
			if !plainMetadata(yamldoc.Resolve(body.Content[i+1]), &got) {
				return false
			}
			continue
		default:
			continue
		}
		if _, ok := yamldoc.PlainString(k); !ok {
			return false
		}
		v, ok := yamldoc.PlainString(yamldoc.Resolve(body.Content[i+1]))
		if !ok {
			return false
		}
		*field = v
	}
	*h = got
	return true
}

func plainMetadata(m *yamlv3.Node, h *header) bool {
	if m == nil || m.Kind != yamlv3.MappingNode {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if _, ok := yamldoc.PlainString(k); !ok {
			return false // a merge key among them
		}
		if k.Value != "annotations" {
			continue
		}
		a := yamldoc.Resolve(m.Content[i+1])
		if a == nil || a.Kind != yamlv3.MappingNode || len(a.Content) == 0 {
			return false
		}
		annotations := make(map[string]string, len(a.Content)/2)
		for j := 0; j+1 < len(a.Content); j += 2 {
			key, ok := yamldoc.PlainString(a.Content[j])
			if !ok {
				return false
			}
			value, ok := yamldoc.PlainString(yamldoc.Resolve(a.Content[j+1]))
			if !ok {
				return false
			}
			annotations[key] = value
		}
		h.Metadata.Annotations = annotations
	}
	return true
}
