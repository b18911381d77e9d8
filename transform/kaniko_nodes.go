package transform

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// fresh builds a new mapping node from entries, so that editing it
// never touches an anchor other places share.
func fresh(pairs []pair) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, p := range pairs {
		m.Content = append(m.Content, p.key, p.value)
	}
	return m
}

// get returns the value under key in a mapping without merge keys.
func get(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// put sets key to value, in place when present, else at the end.
func put(m *yaml.Node, key string, value *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = value
			return
		}
	}
	m.Content = append(m.Content, scalar(key), value)
}

// del removes key, reporting whether it was there.
func del(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i:i], m.Content[i+2:]...)
			return true
		}
	}
	return false
}

// raw is a string node holding text taken from the author's own YAML:
// it is already in the runner's envsubst domain, so "$" stays as is.
func raw(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// literal returns a scalar's text; ok is false for a from_secret
// mapping, a list or nothing.
func literal(n *yaml.Node) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		return "", false
	}
	return n.Value, true
}

// truth reads a boolean setting the way urfave/cli does
// (strconv.ParseBool); known is false for secrets and unparsable text.
func truth(n *yaml.Node) (value, known bool) {
	s, ok := literal(n)
	if !ok {
		return false, false
	}
	// Drone reads YAML 1.1: a plain yes/no/on/off is a boolean there.
	if resolve(n).Style == 0 {
		if b, ok := yaml11Bools[s]; ok {
			return b, true
		}
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, false
	}
	return b, true
}

// yaml11Bools are the plain scalars YAML 1.1 (buildkite/yaml) reads as
// booleans beyond what strconv.ParseBool knows.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false,
	"off": false, "Off": false, "OFF": false,
}

// nonEmpty says whether a commands or entrypoint value gives the runner
// anything to run: it treats an empty list (and null) as none, so such a
// step is still a plugin step.
func nonEmpty(n *yaml.Node) bool {
	n = resolve(n)
	switch {
	case n == nil || isNull(n):
		return false
	case n.Kind == yaml.SequenceNode:
		return len(n.Content) > 0
	}
	return true
}
