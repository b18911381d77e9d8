package transform

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// resolve and lookup are yamldoc's, under the short names the
// transforms use everywhere.
var (
	resolve = yamldoc.Resolve
	lookup  = yamldoc.Lookup
)

// lookupString returns the scalar value under key, "" when absent.
func lookupString(m *yaml.Node, key string) string {
	v := resolve(lookup(m, key))
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

// editable returns the value under key in m, ready to be edited in
// place without touching anything else: an alias or a merged value is
// replaced by an explicit copy (editing the anchor would change every
// other place that uses it), and a missing or null value by an empty
// node of the wanted kind. field names the value for error messages.
func editable(m *yaml.Node, key string, kind yaml.Kind, field string) (*yaml.Node, error) {
	return editableField(m, key, kind, func() string { return field })
}

// editableField is editable with the field's name built only for an
// error (naming a step costs a fmt.Sprintf).
func editableField(m *yaml.Node, key string, kind yaml.Kind, field func() string) (*yaml.Node, error) {
	var slot *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && !yamldoc.IsMergeKey(m.Content[i]) {
			slot = m.Content[i+1]
			break
		}
	}
	current := resolve(slot)
	if slot == nil {
		current = resolve(lookup(m, key)) // brought in by a merge key
	}
	if current != nil && isNull(current) {
		current = nil
	}
	if current != nil && current.Kind != kind {
		return nil, fmt.Errorf("%s: expected a %s, found a %s", field(), kindName(kind), kindName(current.Kind))
	}
	// An anchored value is copied too: editing it in place would change
	// every alias of it; the encoder puts the original back where the
	// first alias stands (yamldoc's repairAliases).
	if slot != nil && slot == current && slot.Anchor == "" {
		return slot, nil
	}
	fresh := &yaml.Node{Kind: kind, Tag: kindTag(kind)}
	if current != nil {
		fresh.Style = current.Style
		fresh.Content = append([]*yaml.Node(nil), current.Content...)
		if slot == current {
			// The anchor is defined here: the edited copy keeps its name,
			// and the original, put back at the first alias, redefines it
			// for the aliases after that, so they keep their value.
			fresh.Anchor = current.Anchor
		}
	}
	if slot != nil {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i+1] == slot {
				m.Content[i+1] = fresh
			}
		}
		return fresh, nil
	}
	m.Content = append(m.Content, scalar(key), fresh)
	return fresh, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || (n.Tag == "" && n.Value == ""))
}

func kindTag(kind yaml.Kind) string {
	switch kind {
	case yaml.MappingNode:
		return "!!map"
	case yaml.SequenceNode:
		return "!!seq"
	}
	return "!!str"
}

func kindName(kind yaml.Kind) string {
	switch kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// scalar is a string node holding s. Drone runs envsubst over the whole
// config before parsing it, so a "$" the converter writes must be
// doubled to reach the runner as written.
func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: escapeDollars(s)}
}

// escapeDollars escapes s from Drone's substitution: "$$" is a "$".
func escapeDollars(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// setString sets key in mapping m to the string s, replacing an
// existing explicit value.
func setString(m *yaml.Node, key, s string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && !yamldoc.IsMergeKey(m.Content[i]) {
			m.Content[i+1] = scalar(s)
			return
		}
	}
	m.Content = append(m.Content, scalar(key), scalar(s))
}

// pair is one key and value of a mapping.
type pair struct {
	key   *yaml.Node
	value *yaml.Node
}

// flatten returns the mapping's effective entries the way a YAML 1.1
// reader sees them: explicit keys in order, then keys brought in by
// merge keys that no explicit key overrides (earlier sources win).
func flatten(m *yaml.Node) []pair {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]pair, 0, len(m.Content)/2)
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if yamldoc.IsMergeKey(m.Content[i]) || seen[m.Content[i].Value] {
			continue
		}
		seen[m.Content[i].Value] = true
		out = append(out, pair{m.Content[i], m.Content[i+1]})
	}
	for _, s := range yamldoc.MergeSources(m) {
		for _, p := range flatten(s) {
			if !seen[p.key.Value] {
				seen[p.key.Value] = true
				out = append(out, p)
			}
		}
	}
	return out
}
