package yamldoc

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	buildkite "github.com/buildkite/yaml"
	"github.com/drone/envsubst"
	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
)

// FuzzSplice: a document edited after BeginEdit and written by splicing
// means, to Drone (envsubst, then buildkite/yaml) and to yaml.v3, what
// the same edits mean re-encoded whole.
func FuzzSplice(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/convert/*.yml")
	for i, file := range append(files, corpustest.Files(f)...) {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data, int64(i))
		}
	}
	// Wide collections, which the splicer matches through maps.
	for seed := int64(0); seed < 4; seed++ {
		f.Add(wideMapping(100, -1), seed)
		var steps strings.Builder
		steps.WriteString("kind: pipeline\nsteps:\n")
		for i := 0; i < 80; i++ {
			fmt.Fprintf(&steps, "- name: s%d\n  image: alpine\n  commands: [echo %d]\n", i, i)
		}
		f.Add([]byte(steps.String()), seed)
	}
	f.Fuzz(func(t *testing.T, data []byte, seed int64) {
		watchdog := time.AfterFunc(2*time.Second, func() { panic(fmt.Sprintf("hang on %q", data)) })
		defer watchdog.Stop()
		spliced, err := Parse(data, testLimits)
		if err != nil {
			return
		}
		whole, _ := Parse(data, testLimits)
		for i, d := range spliced {
			// Only mappings are ever edited (pipelines are mappings); yaml.v3
			// cannot re-encode every odd scalar document it parses.
			if d.Body() == nil || d.Body().Kind != yaml.MappingNode {
				continue
			}
			d.BeginEdit()
			editRandomly(d.Root, rand.New(rand.NewSource(seed+int64(i))))
			editRandomly(whole[i].Root, rand.New(rand.NewSource(seed+int64(i))))
			d.Edited, whole[i].Edited = true, true
		}
		want, err := Encode(whole)
		if err != nil {
			return // yaml.v3 refuses to encode some trees it parsed
		}
		got, err := Encode(spliced)
		if err != nil {
			t.Fatalf("spliced encoding fails where the whole one does not: %v\n%q", err, data)
		}
		again, err := Parse(got, Limits{MaxDocuments: 1 << 20, MaxDepth: 1 << 20, MaxExpandedNodes: 1 << 30, AliasRatio: 1 << 10})
		if err != nil {
			t.Fatalf("spliced config does not parse: %v\n%q\n%q", err, data, got)
		}
		ref, err := Parse(want, Limits{MaxDocuments: 1 << 20, MaxDepth: 1 << 20, MaxExpandedNodes: 1 << 30, AliasRatio: 1 << 10})
		if err != nil {
			return
		}
		if count(again) != count(ref) {
			t.Fatalf("spliced config has %d documents, want %d\n%q\n%q\n%q", count(again), count(ref), data, got, want)
		}
		for i, d := range spliced {
			if d.Number == 0 || i >= len(again) || i >= len(ref) {
				continue
			}
			if exotic(whole[i].Root) || bytes.Contains(d.Raw, []byte("!")) || substitutedFlowScalar(whole[i]) || blankIndentedLine.Match(d.Raw) || lineEndEscape.Match(d.Raw) || !utf8.Valid(d.Raw) {
				continue
			}
			if _, err := envsubst.Eval(string(droneBody(d.Raw)), func(string) string { return "x" }); err != nil {
				continue
			}
			g, errG := droneReads(again[i].Raw)
			w, errW := droneReads(ref[i].Raw)
			if errW != nil {
				continue
			}
			if errG != nil || !reflect.DeepEqual(g, w) {
				t.Fatalf("document %d: spliced means something else to Drone (%v):\n%q\nspliced:\n%s\nwhole:\n%s", d.Number, errG, data, again[i].Raw, ref[i].Raw)
			}
			var gv, wv any
			errG = yaml.Unmarshal(envsubstBackslashes(droneBody(again[i].Raw)), &gv)
			errW = yaml.Unmarshal(envsubstBackslashes(droneBody(ref[i].Raw)), &wv)
			if errW == nil && (errG != nil || !reflect.DeepEqual(gv, wv)) {
				t.Fatalf("document %d: spliced means something else to yaml.v3 (%v):\n%q\nspliced:\n%s\nwhole:\n%s", d.Number, errG, data, again[i].Raw, ref[i].Raw)
			}
		}
	})
}

// droneReads is a document as the runner reads it: envsubst, then
// buildkite/yaml.
func droneReads(raw []byte) (any, error) {
	text, err := envsubst.Eval(string(droneBody(raw)), func(string) string { return "x" })
	if err != nil {
		return nil, err
	}
	var v any
	err = buildkite.Unmarshal([]byte(text), &v)
	return v, err
}

// editRandomly edits a tree the way transforms do: values replaced, keys
// and items added and removed, collections copied, anchors kept.
func editRandomly(root *yaml.Node, rng *rand.Rand) {
	var nodes []*yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		nodes = append(nodes, n)
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	values := []string{"x", "a\nb\n", "x\n\n", "\n", `a\b`, "$x", "- y", "# z", "", "multi word value", "a\n  b",
		"yes", "On", "true", "NULL", "~", "1:30", "8-16Gi", "0755", "12", "1e3", ".inf", "a'b", `a"b`, "é → ü", "key: v", " lead", "trail ",
		"a\tb", "<<", "-", "a#b", "a #b", "\u2028", "\u0085", "k8s.aliyun.com/eci-use-specs", "/run/drone", "=", "?x", "@x"}
	scalar := func() *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: values[rng.Intn(len(values))]}
		switch rng.Intn(6) {
		case 0:
			n.Tag = ""
		case 1:
			n.Style = yaml.DoubleQuotedStyle
		case 2:
			n.Style = yaml.SingleQuotedStyle
		}
		return n
	}
	newValue := func(i int) *yaml.Node {
		switch rng.Intn(5) {
		case 0:
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("new_%d", i)},
				scalar(),
			}}
		case 1:
			return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{scalar()}}
		case 2:
			return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{
				{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: values[rng.Intn(len(values))]}, scalar(),
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("new_%d", i)}, scalar(),
				}},
			}}
		}
		return scalar()
	}
	for i, n := range nodes {
		if n.Kind == yaml.DocumentNode || rng.Intn(6) != 0 {
			continue
		}
		switch n.Kind {
		case yaml.ScalarNode:
			if rng.Intn(2) == 0 {
				n.Value = values[rng.Intn(len(values))]
				n.Tag, n.Style = "!!str", 0
			} else {
				n.Value += "x"
			}
		case yaml.MappingNode:
			switch op := rng.Intn(4); {
			case op == 0 || len(n.Content) < 2:
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("new_key_%d", i)}, newValue(i))
			case op == 1:
				k := rng.Intn(len(n.Content)/2) * 2
				n.Content = append(n.Content[:k:k], n.Content[k+2:]...)
			case op == 2:
				k := rng.Intn(len(n.Content)/2)*2 + 1
				if v := n.Content[k]; v.Kind == yaml.MappingNode && rng.Intn(3) == 0 {
					// A new mapping holding some of the original entries,
					// parsed key nodes included, in another order, as the
					// kaniko conversion writes a step's settings.
					fresh := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
					for _, e := range rng.Perm(len(v.Content) / 2) {
						if rng.Intn(4) != 0 {
							fresh.Content = append(fresh.Content, v.Content[2*e], v.Content[2*e+1])
						}
					}
					fresh.Content = append(fresh.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("new_key_%d", i)}, newValue(i))
					n.Content[k] = fresh
				} else if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
					fresh := &yaml.Node{Kind: v.Kind, Tag: v.Tag, Style: v.Style, Anchor: v.Anchor, Content: append([]*yaml.Node(nil), v.Content...)}
					fresh.Content = append(fresh.Content, newValue(i))
					if v.Kind == yaml.MappingNode {
						fresh.Content[len(fresh.Content)-1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("new_key_%d", i)}
						fresh.Content = append(fresh.Content, newValue(i))
					}
					n.Content[k] = fresh
				} else {
					n.Content[k] = newValue(i)
				}
			default:
				n.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("new_key_%d", i)}, newValue(i)}, n.Content...)
			}
		case yaml.SequenceNode:
			switch op := rng.Intn(4); {
			case op == 0 || len(n.Content) == 0:
				n.Content = append(n.Content, newValue(i))
			case op == 1:
				k := rng.Intn(len(n.Content))
				n.Content = append(n.Content[:k:k], n.Content[k+1:]...)
			case op == 2:
				k := rng.Intn(len(n.Content) + 1)
				n.Content = append(n.Content[:k:k], append([]*yaml.Node{newValue(i)}, n.Content[k:]...)...)
			default:
				k := rng.Intn(len(n.Content))
				if v := n.Content[k]; (v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode) && rng.Intn(2) == 0 {
					// A copy, edited, as transforms make them.
					fresh := &yaml.Node{Kind: v.Kind, Tag: v.Tag, Style: v.Style, Content: append([]*yaml.Node(nil), v.Content...)}
					drop := 1
					if v.Kind == yaml.MappingNode {
						drop = 2
					}
					if len(fresh.Content) >= drop && rng.Intn(2) == 0 {
						fresh.Content = fresh.Content[:len(fresh.Content)-drop]
					}
					fresh.Content = append(fresh.Content, newValue(i))
					if v.Kind == yaml.MappingNode {
						fresh.Content[len(fresh.Content)-1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("new_key_%d", i)}
						fresh.Content = append(fresh.Content, newValue(i))
					}
					n.Content[k] = fresh
				} else {
					n.Content[k] = newValue(i)
				}
			}
		}
	}
}

// TestSplice: edited documents keep the text of what was not edited.
func TestSplice(t *testing.T) {
	tests := []struct {
		name, input, want string
		edit              func(body *yaml.Node)
	}{
		{
			name:  "value replaced, comments and layout kept",
			input: "# head\nkind: pipeline # kind\n\nsteps:\n- name: a   # odd spacing\n  image: x\n# between\n- name: b\n  image: y\n\n# tail\n",
			want:  "# head\nkind: pipeline # kind\n\nsteps:\n- name: a   # odd spacing\n  image: x\n# between\n- name: b\n  image: z\n\n# tail\n",
			edit: func(body *yaml.Node) {
				body.Content[3].Content[1].Content[3] = &yaml.Node{Kind: yaml.ScalarNode, Value: "z"}
			},
		},
		{
			name:  "key appended after the last entry, before trailing comments",
			input: "a: 1\nb:\n  c: 2\n# tail\n",
			want:  "a: 1\nb:\n  c: 2\n  d: 3\n# tail\n",
			edit: func(body *yaml.Node) {
				b := body.Content[3]
				b.Content = append(b.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "d"}, &yaml.Node{Kind: yaml.ScalarNode, Value: "3"})
			},
		},
		{
			name:  "item inserted first, and an entry dropped",
			input: "steps:\n  - name: a\n    x: 1\n    y: 2\n",
			want:  "steps:\n  - new\n  - x: 1\n    y: 2\n",
			edit: func(body *yaml.Node) {
				seq := body.Content[1]
				seq.Content[0].Content = seq.Content[0].Content[2:]
				seq.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: "new"}}, seq.Content...)
			},
		},
		{
			name:  "a block scalar written before blank lines takes none of them",
			input: "a: 1\n\n\nb: 2\n",
			want:  "a: |+\n  x\n\nb: 2\n",
			edit: func(body *yaml.Node) {
				body.Content[1] = &yaml.Node{Kind: yaml.ScalarNode, Value: "x\n\n"}
			},
		},
		{
			name:  "backslashes doubled in re-encoded text only",
			input: "a: 'x\\\\y'\nb: 1\n",
			want:  "a: 'x\\\\y'\nb: '\\\\'\n",
			edit: func(body *yaml.Node) {
				body.Content[3] = &yaml.Node{Kind: yaml.ScalarNode, Value: `\`, Style: yaml.SingleQuotedStyle}
			},
		},
		{
			// The block scalar goes to yaml.v3's encoder and into place
			// after the direct writer's fragments: the entry inserted after
			// it starts no extra line.
			name:  "encoded and direct fragments in one mapping, in order",
			input: "s:\n  a: 1\n  b: 2\n  c: 3\n",
			want:  "s:\n  a: x\n  b: |-\n    y\n    z\n  n: w\n  c: v\n",
			edit: func(body *yaml.Node) {
				s := body.Content[1]
				s.Content[1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x"}
				s.Content[3] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "y\nz"}
				s.Content[5] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "v"}
				s.Content = append(s.Content[:4], append([]*yaml.Node{
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: "n"}, {Kind: yaml.ScalarNode, Tag: "!!str", Value: "w"},
				}, s.Content[4:]...)...)
			},
		},
		{
			name:  "a flow parent re-encodes the document",
			input: "a: {b: 1}   # c\n",
			want:  "a: {b: 2} # c\n",
			edit: func(body *yaml.Node) {
				body.Content[1].Content[1] = &yaml.Node{Kind: yaml.ScalarNode, Value: "2"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse([]byte(tt.input), testLimits)
			if err != nil {
				t.Fatal(err)
			}
			docs[0].BeginEdit()
			tt.edit(docs[0].Body())
			docs[0].Edited = true
			out, err := Encode(docs)
			if err != nil || string(out) != tt.want {
				t.Errorf("got %q, %v\nwant %q", out, err, tt.want)
			}
			if strings.Count(string(out), "\n") == 0 {
				t.Errorf("empty output")
			}
		})
	}
}

// TestRecordSame: a record tells every change of a node's own fields,
// whether they are kept in the record itself or aside.
func TestRecordSame(t *testing.T) {
	target := &yaml.Node{Kind: yaml.ScalarNode, Value: "t"}
	nodes := map[string]func() *yaml.Node{
		"plain string": func() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x"} },
		"quoted int": func() *yaml.Node {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1", Style: yaml.DoubleQuotedStyle}
		},
		"custom tag": func() *yaml.Node {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!env", Value: "x", Style: yaml.TaggedStyle}
		},
		"anchored map":   func() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Anchor: "a"} },
		"alias":          func() *yaml.Node { return &yaml.Node{Kind: yaml.AliasNode, Alias: target} },
		"wide kind":      func() *yaml.Node { return &yaml.Node{Kind: 0x100 | yaml.ScalarNode, Tag: "!!str", Value: "x"} },
		"wide style":     func() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x", Style: 0x100} },
		"untagged empty": func() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode} },
	}
	edits := map[string]func(n *yaml.Node){
		"value":  func(n *yaml.Node) { n.Value += "!" },
		"tag":    func(n *yaml.Node) { n.Tag = "!!other" },
		"kind":   func(n *yaml.Node) { n.Kind ^= 0x200 },
		"style":  func(n *yaml.Node) { n.Style ^= yaml.SingleQuotedStyle },
		"wide":   func(n *yaml.Node) { n.Style ^= 0x400 },
		"anchor": func(n *yaml.Node) { n.Anchor += "b" },
		"alias":  func(n *yaml.Node) { n.Alias = &yaml.Node{} },
	}
	for name, build := range nodes {
		rec := newRecord(1)
		n := build()
		rec.add(n, func(*yaml.Node) {})
		if !rec.nodes[0].same(n) {
			t.Errorf("%s: not the same as recorded, unedited", name)
		}
		for field, edit := range edits {
			n := build()
			rec := newRecord(1)
			rec.add(n, func(*yaml.Node) {})
			edit(n)
			if rec.nodes[0].same(n) {
				t.Errorf("%s: an edited %s is taken for the same", name, field)
			}
		}
	}
}

// TestRecordLayout: the record's document order, which the splicer
// walks by index, matches the tree: every subtree's size, every last
// child, and the nodes found by pointer are where it says.
func TestRecordLayout(t *testing.T) {
	docs, err := Parse([]byte("a: &x\n  b: [1, 2, {c: d}]\n  e: 'f'\ng: *x\nh:\n- - i\n  - 3\n- {}\n- true\n"), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	d := docs[0]
	d.BeginEdit()
	r := d.parsed
	next := int32(0)
	var walk func(n *yaml.Node) int32
	walk = func(n *yaml.Node) int32 {
		i := next
		next++
		if j, ok := r.index[n]; ok != indexed(n) || (ok && j != i) {
			t.Errorf("node %q (line %d): indexed %v at %d, want %v at %d", n.Value, n.Line, ok, j, indexed(n), i)
		}
		var kids []int32
		for _, c := range n.Content {
			kids = append(kids, walk(c))
		}
		// The rule the splicer steps by: a child's record follows its
		// previous sibling's subtree.
		for k := 1; k < len(kids); k++ {
			if kids[k] != kids[k-1]+r.nodes[kids[k-1]].size {
				t.Errorf("node %d: child %d at %d, not after its sibling's subtree", i, k, kids[k])
			}
		}
		if len(kids) > 0 && r.lastChild(i) != kids[len(kids)-1] {
			t.Errorf("node %d: last child %d, want %d", i, r.lastChild(i), kids[len(kids)-1])
		}
		if size := next - i; r.nodes[i].size != size {
			t.Errorf("node %d: size %d, want %d", i, r.nodes[i].size, size)
		}
		return i
	}
	walk(d.Root)
	if int(next) != len(r.nodes) {
		t.Errorf("%d records for %d nodes", len(r.nodes), next)
	}
}
