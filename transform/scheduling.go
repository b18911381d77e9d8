package transform

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Toleration is one pod toleration, as the runner's YAML spells it.
type Toleration struct {
	Key      string
	Operator string
	Value    string
	Effect   string
}

func (t Toleration) String() string {
	s := t.Key
	if t.Operator == "Equal" {
		s += "=" + t.Value
	}
	if t.Effect != "" {
		s += ":" + t.Effect
	}
	return s
}

// Scheduling puts the pod on the ECI virtual node: the node is tainted,
// so the pod has to both select it and tolerate its taint. What the
// pipeline already says wins; only what is missing is added.
type Scheduling struct {
	NodeSelector map[string]string
	Tolerations  []Toleration
}

// Name implements Transform.
func (Scheduling) Name() string { return "scheduling" }

// Apply implements Transform.
func (s Scheduling) Apply(p *Pipeline) error {
	if err := s.selectNode(p); err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	if err := s.tolerate(p); err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	return nil
}

func (s Scheduling) selectNode(p *Pipeline) error {
	if len(s.NodeSelector) == 0 {
		return nil
	}
	if name := lookupString(p.Body, "node_name"); name != "" {
		// node_name bypasses the scheduler, so a selector would not move
		// the pod; the author asked for that node on purpose.
		p.Report.Warn("node_name %s kept: the pod is bound to that node, not scheduled onto the virtual node", name)
		return nil
	}
	keys := make([]string, 0, len(s.NodeSelector))
	for k := range s.NodeSelector {
		keys = append(keys, k)
	}
	slices.Sort(keys) // map order is random; the answer must be stable
	var selector *yaml.Node
	for _, key := range keys {
		want := s.NodeSelector[key]
		existing := resolve(lookup(resolve(lookup(p.Body, "node_selector")), key))
		if existing != nil {
			if existing.Value != want {
				p.Report.Warn("node_selector %s=%s kept (the pipeline's own); the virtual node is labelled %s=%s", key, existing.Value, key, want)
			}
			continue
		}
		if selector == nil {
			var err error
			if selector, err = editable(p.Body, "node_selector", yaml.MappingNode, "node_selector"); err != nil {
				return err
			}
		}
		setString(selector, key, want)
		p.Report.Changed("node_selector %s=%s", key, want)
	}
	return nil
}

func (s Scheduling) tolerate(p *Pipeline) error {
	var list *yaml.Node
	for _, want := range s.Tolerations {
		present, err := hasToleration(p.Body, want)
		if err != nil {
			return err
		}
		if present {
			continue
		}
		if list == nil {
			if list, err = editable(p.Body, "tolerations", yaml.SequenceNode, "tolerations"); err != nil {
				return err
			}
		}
		entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		setString(entry, "key", want.Key)
		setString(entry, "operator", want.Operator)
		if want.Value != "" {
			setString(entry, "value", want.Value)
		}
		if want.Effect != "" {
			setString(entry, "effect", want.Effect)
		}
		list.Content = append(list.Content, entry)
		p.Report.Changed("toleration %s", want)
	}
	return nil
}

// hasToleration reports whether the pipeline already tolerates the same
// taint key with the same effect; a second entry would be a duplicate,
// and the author's own operator and value win.
func hasToleration(body *yaml.Node, want Toleration) (bool, error) {
	list := resolve(lookup(body, "tolerations"))
	if list == nil || isNull(list) {
		return false, nil
	}
	if list.Kind != yaml.SequenceNode {
		return false, fmt.Errorf("tolerations: expected a list, found a %s", kindName(list.Kind))
	}
	for i, item := range list.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return false, fmt.Errorf("tolerations[%d]: expected a mapping, found a %s", i, kindName(item.Kind))
		}
		key := lookupString(item, "key")
		effect := lookupString(item, "effect")
		operator := lookupString(item, "operator")
		// An empty key with Exists tolerates every taint.
		if key == "" && strings.EqualFold(operator, "Exists") && (effect == "" || effect == want.Effect) {
			return true, nil
		}
		if key == want.Key && (effect == "" || effect == want.Effect) {
			return true, nil
		}
	}
	return false, nil
}
