package yamldoc

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// checkExpansion measures every document as a reader that expands
// aliases would see it, without expanding anything: each node's expanded
// size and height are computed once and reused wherever an alias points
// at it, so a "billion laughs" config costs a few microseconds to refuse.
// Size is in nodes, a scalar counting one more for every 64 bytes it
// holds, so a long string aliased many times is bounded like many nodes.
func checkExpansion(docs []*Document, limits Limits) error {
	var m measurer
	var literal, expanded int64
	for _, doc := range docs {
		if doc.Root == nil {
			continue
		}
		// One walk measures the document as written and as expanded, and
		// finds a key written twice (DuplicateKey).
		m.weighed, m.nodes, m.dup, m.aliases = 0, 0, nil, 0
		size, height, err := m.measure(doc.Root, true)
		if err != nil {
			return fmt.Errorf("document %d: %w", doc.Number, err)
		}
		if height > limits.MaxDepth {
			return &LimitError{Setting: "DRONE_ECI_MAX_DEPTH", msg: fmt.Sprintf("document %d: nesting depth %d exceeds the limit of %d", doc.Number, height, limits.MaxDepth)}
		}
		expanded = saturatingAdd(expanded, size)
		literal += m.weighed
		doc.nodes = int(m.nodes)
		doc.dup, doc.dupKnown = m.dup, true
		doc.noAliases = m.aliases == 0
		budget := max(int64(limits.MaxExpandedNodes), int64(limits.AliasRatio)*literal)
		if expanded > budget {
			return &LimitError{Setting: "DRONE_ECI_MAX_EXPANDED_NODES", msg: fmt.Sprintf("document %d: aliases expand the config to more than %d nodes from %d written; refusing it before the Drone server would expand it", doc.Number, budget, literal)}
		}
	}
	return nil
}

// LimitError refuses a config over one of the parse limits. Its message
// is the author's; Setting names the limit's setting, for the operator
// (the alias limit is DRONE_ECI_MAX_EXPANDED_NODES with
// DRONE_ECI_MAX_ALIAS_RATIO).
type LimitError struct {
	Setting string
	msg     string
}

func (e *LimitError) Error() string { return e.msg }

const saturated = int64(1) << 62

func saturatingAdd(a, b int64) int64 {
	if a >= saturated-b {
		return saturated
	}
	return a + b
}

type measurer struct {
	// Memos of anchored nodes, made for the first one.
	size   map[*yaml.Node]int64
	height map[*yaml.Node]int
	open   map[*yaml.Node]bool
	// The document as written: its weight, its number of nodes and the
	// first key written twice in one of its mappings.
	weighed, nodes int64
	dup            *yaml.Node
	aliases        int64 // aliases written
}

// measure returns n's expanded size and height. Only anchored nodes are
// memoised: aliases can point nowhere else, and keeping every node in
// maps would cost more than walking the tree. written is true when n is
// reached as written, not through an alias: every node of the tree is,
// exactly once (an alias comes after its anchor, whose memo it then
// finds), in the order duplicateKey visits them.
func (m *measurer) measure(n *yaml.Node, written bool) (int64, int, error) {
	if n.Kind == yaml.AliasNode {
		if written {
			m.weighed, m.nodes, m.aliases = m.weighed+weight(n), m.nodes+1, m.aliases+1
		}
		if n.Alias == nil {
			return 0, 0, fmt.Errorf("line %d: alias *%s has no anchor", n.Line, n.Value)
		}
		return m.measure(n.Alias, false)
	}
	anchored := n.Anchor != ""
	if anchored {
		if s, ok := m.size[n]; ok {
			return s, m.height[n], nil
		}
		if m.open[n] {
			return 0, 0, fmt.Errorf("line %d: anchor &%s contains itself", n.Line, n.Anchor)
		}
		if m.open == nil {
			m.size, m.height, m.open = map[*yaml.Node]int64{}, map[*yaml.Node]int{}, map[*yaml.Node]bool{}
		}
		m.open[n] = true
	}
	if written {
		m.weighed, m.nodes = m.weighed+weight(n), m.nodes+1
		if m.dup == nil {
			m.dup = duplicateIn(n)
		}
	}
	size, height := weight(n), 0
	for _, child := range n.Content {
		s, h, err := m.measure(child, written)
		if err != nil {
			return 0, 0, err
		}
		size = saturatingAdd(size, s)
		height = max(height, h)
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		height++
	}
	if anchored {
		delete(m.open, n)
		m.size[n], m.height[n] = size, height
	}
	return size, height, nil
}

// weight is what one node counts for in the expansion budget.
func weight(n *yaml.Node) int64 {
	return 1 + int64(len(n.Value))/64
}
