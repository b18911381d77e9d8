package deploy

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestPlacement: by default the replicas spread over nodes and never land
// on a virtual node (a node with every label of DRONE_ECI_NODE_SELECTOR);
// the operator's own node affinity terms each get the exclusion ANDed in,
// and both defaults can be switched off.
func TestPlacement(t *testing.T) {
	notVirtual := corev1.NodeSelectorRequirement{Key: "type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"virtual-kubelet"}}
	own := func(zone string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}
	}
	for _, tc := range []struct {
		name       string
		set        string
		files      []string
		terms      [][]corev1.NodeSelectorRequirement // nil: no node affinity
		antiAffine bool
		spreads    []string // topology keys, in order
	}{
		{name: "defaults", terms: [][]corev1.NodeSelectorRequirement{{notVirtual}}, spreads: []string{"kubernetes.io/hostname"}},
		{
			name:  "operator's terms each keep off virtual nodes",
			set:   "affinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n      nodeSelectorTerms:\n        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [a]}]\n        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [b]}]\n",
			terms: [][]corev1.NodeSelectorRequirement{{own("a"), notVirtual}, {own("b"), notVirtual}}, spreads: []string{"kubernetes.io/hostname"},
		},
		{
			name:  "full values: anti-affinity kept, zone spread added",
			files: []string{fullValues}, antiAffine: true,
			terms:   [][]corev1.NodeSelectorRequirement{{{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"cn-hangzhou-h"}}}, {notVirtual}},
			spreads: []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"},
		},
		{
			// Helm merges the map into the default {type: virtual-kubelet};
			// a node is excluded only when it has both labels.
			name:  "follows the converter's virtual node selector",
			set:   "env:\n  DRONE_ECI_NODE_SELECTOR: {pool: eci}\n",
			terms: [][]corev1.NodeSelectorRequirement{{{Key: "pool", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"eci"}}}, {notVirtual}}, spreads: []string{"kubernetes.io/hostname"},
		},
		{name: "both off (a cluster of virtual nodes only)", set: "avoidVirtualNodes: false\nspreadAcrossNodes: false\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.set
			if len(tc.files) == 0 {
				set = secretValue + set
			}
			d := one[*appsv1.Deployment](t, manifests(t, mustRender(t, set, tc.files...)))
			spec := d.Spec.Template.Spec
			var terms [][]corev1.NodeSelectorRequirement
			if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
				for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
					terms = append(terms, term.MatchExpressions)
				}
			}
			if !reflect.DeepEqual(terms, tc.terms) {
				t.Errorf("required node selector terms %v, want %v", terms, tc.terms)
			}
			if anti := spec.Affinity != nil && spec.Affinity.PodAntiAffinity != nil; anti != tc.antiAffine {
				t.Errorf("pod anti-affinity %v, want %v", anti, tc.antiAffine)
			}
			var keys []string
			for _, c := range spec.TopologySpreadConstraints {
				keys = append(keys, c.TopologyKey)
				if c.WhenUnsatisfiable != corev1.ScheduleAnyway {
					t.Errorf("%s spread is %s: a one-node cluster or a surge pod would stay Pending", c.TopologyKey, c.WhenUnsatisfiable)
				}
				if c.LabelSelector == nil || !matches(c.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
					t.Errorf("%s spread does not select the Deployment's pods: %v", c.TopologyKey, c.LabelSelector)
				}
			}
			if !reflect.DeepEqual(keys, tc.spreads) {
				t.Errorf("spread over %v, want %v", keys, tc.spreads)
			}
		})
	}
}
