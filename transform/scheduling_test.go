package transform

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

func TestScheduling(t *testing.T) {
	s := Scheduling{
		NodeSelector: map[string]string{"type": "virtual-kubelet"},
		Tolerations:  []Toleration{{Key: "virtual-kubelet.io/provider", Operator: "Exists", Effect: "NoSchedule"}},
	}
	tests := []struct {
		name, input, want, err string
	}{
		{
			name:  "adds both",
			input: "name: p\n",
			want:  "name: p\nnode_selector:\n  type: virtual-kubelet\ntolerations:\n  - key: virtual-kubelet.io/provider\n    operator: Exists\n    effect: NoSchedule\n",
		},
		{
			name:  "null values are replaced",
			input: "name: p\nnode_selector:\ntolerations: ~\n",
			want:  "name: p\nnode_selector:\n  type: virtual-kubelet\ntolerations:\n  - key: virtual-kubelet.io/provider\n    operator: Exists\n    effect: NoSchedule\n",
		},
		{
			name:  "merged with flow style kept",
			input: "name: p\nnode_selector: {zone: a}\ntolerations: [{key: gpu, operator: Exists}]\n",
			want:  "name: p\nnode_selector: {zone: a, type: virtual-kubelet}\ntolerations: [{key: gpu, operator: Exists}, {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}]\n",
		},
		{
			name:  "alias is copied, anchor untouched",
			input: "x: &sel {zone: a}\nnode_selector: *sel\ntolerations: [{operator: Exists}]\n",
			want:  "x: &sel {zone: a}\nnode_selector: {zone: a, type: virtual-kubelet}\ntolerations: [{operator: Exists}]\n",
		},
		{
			name:  "merge key value counts as present",
			input: "x: &sel {type: other}\nnode_selector:\n  <<: *sel\n  zone: a\ntolerations:\n  - {key: virtual-kubelet.io/provider, operator: Equal, value: alibabacloud}\n",
			want:  "x: &sel {type: other}\nnode_selector:\n  <<: *sel\n  zone: a\ntolerations:\n  - {key: virtual-kubelet.io/provider, operator: Equal, value: alibabacloud}\n",
		},
		{
			name:  "toleration for another effect is not a duplicate",
			input: "node_selector: {type: virtual-kubelet}\ntolerations: [{key: virtual-kubelet.io/provider, operator: Exists, effect: NoExecute}]\n",
			want:  "node_selector: {type: virtual-kubelet}\ntolerations: [{key: virtual-kubelet.io/provider, operator: Exists, effect: NoExecute}, {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}]\n",
		},
		{name: "selector of the wrong kind", input: "node_selector: [a]\n", err: `pipeline "p": node_selector: expected a mapping, found a list`},
		{name: "toleration of the wrong kind", input: "tolerations: [a]\n", err: `pipeline "p": tolerations[0]: expected a mapping, found a scalar`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.input), &doc); err != nil {
				t.Fatal(err)
			}
			err := s.Apply(&Pipeline{Name: "p", Body: doc.Content[0]})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("got error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := yamldoc.Encode([]*yamldoc.Document{{Root: &doc, Edited: true}})
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", out, tt.want)
			}
		})
	}
}
