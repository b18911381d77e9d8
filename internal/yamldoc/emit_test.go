package yamldoc

import (
	"reflect"
	"testing"
	"unicode/utf8"

	buildkite "github.com/buildkite/yaml"
	"github.com/drone/envsubst"
	"gopkg.in/yaml.v3"
)

// FuzzSimpleScalar: whatever the scalar, when the direct writer takes
// it, buildkite/yaml and yaml.v3 read back from its text what they read
// from yaml.v3's encoding of the same node.
func FuzzSimpleScalar(f *testing.F) {
	for _, v := range []string{"x", "yes", "On", "true", "NULL", "~", "1:30", "8-16Gi", "0755", "12", "1e3", ".inf", "a'b", `a"b`,
		"é → ü", "key: v", " lead", "trail ", "a\tb", "<<", "-", "a#b", "a #b", "\u2028", "\u0085", "10.0.0.5", "2001-12-14t21:59:43.10-05:00",
		"PRICE='$$5';export PRICE;__dce=1", "0x1F", "0o17", "0b101", "1_000", "+12", "-", "? x", "a: b", "[a]", "{a}", "&a", "*a", "!a", "%a", "@a", "`a"} {
		f.Add(v, uint8(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, v string, tagSel, styleSel uint8) {
		tags := []string{"!!str", "", "!!int", "!!bool", "!!float", "!!null"}
		styles := []yaml.Style{0, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle}
		value := &yaml.Node{Kind: yaml.ScalarNode, Tag: tags[int(tagSel)%len(tags)], Style: styles[int(styleSel)%len(styles)], Value: v}
		entry := []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: "k"}, value}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{
			{Kind: yaml.MappingNode, Tag: "!!map", Content: entry},
			value,
		}}
		for _, n := range []*yaml.Node{wrap(yaml.MappingNode, entry), seq, wrap(yaml.MappingNode, []*yaml.Node{value, {Kind: yaml.ScalarNode, Tag: "!!str", Value: "v"}})} {
			direct, ok := appendSimple(nil, n, nil)
			if !ok {
				continue
			}
			encoded, err := yaml.Marshal(n)
			if err != nil {
				continue
			}
			var a, b any
			errA := buildkite.Unmarshal(direct, &a)
			errB := buildkite.Unmarshal(encoded, &b)
			if errB == nil && (errA != nil || !reflect.DeepEqual(a, b)) {
				t.Fatalf("buildkite/yaml reads %q as %#v (%v), yaml.v3's %q as %#v", direct, a, errA, encoded, b)
			}
			errA = yaml.Unmarshal(direct, &a)
			errB = yaml.Unmarshal(encoded, &b)
			if errB == nil && (errA != nil || !reflect.DeepEqual(a, b)) {
				t.Fatalf("yaml.v3 reads %q as %#v (%v), its own %q as %#v", direct, a, errA, encoded, b)
			}
		}
	})
}

// FuzzPrintableLine: the ASCII fast path of printableLine answers as
// decoding every rune did.
func FuzzPrintableLine(f *testing.F) {
	for _, v := range []string{"", "abc", "a\tb", "\x7f", "é → ü", "\u2028", "\u0085", "\ufeff", "\ufffd", "\xff", "a\xc3", "\U0001F600", "\x1f"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		want := true
		for _, r := range v {
			switch {
			case r >= 0x20 && r <= 0x7e:
			case r == utf8.RuneError:
				want = false
			case r >= 0xa0 && r <= 0xd7ff && r != 0x2028 && r != 0x2029:
			case r >= 0xe000 && r <= 0xfffd && r != 0xfeff:
			case r >= 0x10000 && r <= 0x10ffff:
			default:
				want = false
			}
		}
		if got := printableLine(v); got != want {
			t.Fatalf("printableLine(%q) = %v, want %v", v, got, want)
		}
	})
}

// FuzzSimpleFlow: when the direct writer takes a mapping value's flow
// sequence, yaml.v3 and buildkite/yaml read from its text what they read
// from yaml.v3's encoding, also after the runner's substitution.
func FuzzSimpleFlow(f *testing.F) {
	for _, v := range []string{"latest", "${DRONE_COMMIT_SHA:0:8}", "${X}", "a,b", "a]", "{a}", "yes", "null", "1.0", "v1.0", "a:b", "a b", "a #b", "é", `a"b`, "-a", ".a", "/a/b", "$X"} {
		f.Add(v, "latest", uint8(0), uint8(1), ", ] x")
	}
	f.Fuzz(func(t *testing.T, v1, v2 string, style1, style2 uint8, subst string) {
		styles := []yaml.Style{0, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle}
		item := func(v string, st uint8) *yaml.Node {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: styles[int(st)%len(styles)], Value: v}
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle, Content: []*yaml.Node{item(v1, style1), item(v2, style2)}}
		entry := []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: "tags"}, seq}
		outer := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map", Content: entry}}}
		for _, n := range []*yaml.Node{wrap(yaml.MappingNode, entry), outer} {
			direct, ok := appendSimple(nil, n, nil)
			if !ok {
				continue
			}
			encoded, err := yaml.Marshal(n)
			if err != nil {
				continue
			}
			for _, sub := range []bool{false, true} {
				a, b := string(direct), string(encoded)
				if sub {
					fn := func(string) string { return subst }
					var errA, errB error
					a, errA = envsubst.Eval(a, fn)
					b, errB = envsubst.Eval(b, fn)
					if (errA == nil) != (errB == nil) {
						t.Fatalf("substitution of %q: %v, of yaml.v3's %q: %v", direct, errA, encoded, errB)
					}
					if errB != nil {
						continue
					}
				}
				var x, y any
				errX := buildkite.Unmarshal([]byte(a), &x)
				errY := buildkite.Unmarshal([]byte(b), &y)
				if errY == nil && (errX != nil || !reflect.DeepEqual(x, y)) {
					t.Fatalf("buildkite/yaml reads %q as %#v (%v), yaml.v3's %q as %#v", a, x, errX, b, y)
				}
				errX = yaml.Unmarshal([]byte(a), &x)
				errY = yaml.Unmarshal([]byte(b), &y)
				if errY == nil && (errX != nil || !reflect.DeepEqual(x, y)) {
					t.Fatalf("yaml.v3 reads %q as %#v (%v), its own %q as %#v", a, x, errX, b, y)
				}
			}
		}
	})
}
