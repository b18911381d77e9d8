package yamldoc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
)

var testLimits = Limits{MaxDocuments: 200, MaxDepth: 64, MaxExpandedNodes: 10000, AliasRatio: 10}

func TestSplit(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		chunks  []string
		ignored string
	}{
		{name: "single", input: "a: 1\n", chunks: []string{"a: 1\n"}},
		{name: "leading marker", input: "---\na: 1\n", chunks: []string{"---\na: 1\n"}},
		{name: "two documents", input: "a: 1\n---\nb: 2\n", chunks: []string{"a: 1\n", "---\nb: 2\n"}},
		{name: "no final newline", input: "a: 1\n---\nb: 2", chunks: []string{"a: 1\n", "---\nb: 2"}},
		{name: "crlf", input: "a: 1\r\n---\r\nb: 2\r\n", chunks: []string{"a: 1\r\n", "---\r\nb: 2\r\n"}},
		{name: "marker with comment", input: "a: 1\n--- # two\nb: 2\n", chunks: []string{"a: 1\n", "--- # two\nb: 2\n"}},
		// Drone splits at any line starting with "---", as runner-go's
		// manifest.ParseRaw does, not only at YAML's markers.
		{name: "any dashes line separates", input: "a: 1\n----\nb: 2\n", chunks: []string{"a: 1\n", "----\nb: 2\n"}},
		{name: "indented dashes are content", input: "a: |\n  ---\n  text\n", chunks: []string{"a: |\n  ---\n  text\n"}},
		// ... ends the config for Drone: the rest is ignored.
		{name: "end marker ends the config", input: "a: 1\n...\n---\nb: 2\n", chunks: []string{"a: 1\n"}, ignored: "...\n---\nb: 2\n"},
		{name: "empty", input: "", chunks: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, ignored := split([]byte(tt.input))
			var got []string
			for _, c := range chunks {
				got = append(got, string(c))
			}
			if strings.Join(got, "|") != strings.Join(tt.chunks, "|") || len(got) != len(tt.chunks) || string(ignored) != tt.ignored {
				t.Errorf("split(%q) = %q, %q; want %q, %q", tt.input, got, ignored, tt.chunks, tt.ignored)
			}
		})
	}
}

func TestParseNumbersDocuments(t *testing.T) {
	docs, err := Parse([]byte("# only a comment\n---\na: 1\n---\n---\nb: 2\n"), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int
	for _, d := range docs {
		numbers = append(numbers, d.Number)
	}
	// Comment-only and empty chunks are kept for their bytes but are not
	// documents a user would count.
	if want := []int{0, 1, 0, 2}; !equalInts(numbers, want) {
		t.Errorf("numbers %v, want %v", numbers, want)
	}
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name, input, want string
		limits            Limits
	}{
		{"invalid yaml line is a line of the file", "a: 1\n---\nb: [\n", "document 2: invalid YAML: yaml: line 3", testLimits},
		// yaml.v3 names the line where the scalar before the tab began.
		{"a tab's line is the tab's", "a: 1\n---\nsteps:\n- name: a\n\timage: x\n", "document 2: invalid YAML: yaml: line 5: found a tab character", testLimits},
		{"a tab in a list's indentation", "steps:\n- commands:\n  - echo\n\t- x\n", "invalid YAML: yaml: line 4: found a tab character", testLimits},
		{"depth", "a: [[[[1]]]]\n", "nesting depth 5 exceeds the limit of 4", Limits{MaxDocuments: 9, MaxDepth: 4, MaxExpandedNodes: 100, AliasRatio: 1}},
		{"documents", "a: 1\n---\nb: 1\n---\nc: 1\n", "more than 2 YAML documents", Limits{MaxDocuments: 2, MaxDepth: 9, MaxExpandedNodes: 100, AliasRatio: 1}},
		{"empty documents count", "a: 1\n---\n---\n---\n", "more than 2 YAML documents, this service's limit: 1 of the first 2 are empty or comments only, and those count too", Limits{MaxDocuments: 2, MaxDepth: 9, MaxExpandedNodes: 100, AliasRatio: 1}},
		{"comment-only documents count", "# a\n---\n# b\n---\n# c\n", "more than 2 YAML documents, this service's limit: 2 of the first 2 are empty or comments only", Limits{MaxDocuments: 2, MaxDepth: 9, MaxExpandedNodes: 100, AliasRatio: 1}},
		{"100 000 empty documents", strings.Repeat("---\n", 100000), "200 of the first 200 are empty", testLimits},
		{"aliases", "a: &a [1,2,3,4,5,6,7,8,9]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n", "aliases expand the config to more than 200 nodes", Limits{MaxDocuments: 9, MaxDepth: 9, MaxExpandedNodes: 200, AliasRatio: 2}},
		{"aliases add depth", "a: &a [[[1]]]\nb: [[[*a]]]\n", "nesting depth 7 exceeds the limit of 6", Limits{MaxDocuments: 9, MaxDepth: 6, MaxExpandedNodes: 100, AliasRatio: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input), tt.limits)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestParseEmptyDocumentsAtTheLimit: empty documents count, but up to
// the limit a config with them parses as before.
func TestParseEmptyDocumentsAtTheLimit(t *testing.T) {
	limits := Limits{MaxDocuments: 3, MaxDepth: 9, MaxExpandedNodes: 100, AliasRatio: 1}
	docs, err := Parse([]byte("# header\n---\na: 1\n---\n"), limits)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 || docs[1].Number != 1 {
		t.Errorf("got %d documents, the second numbered %d; want 3, numbered 1", len(docs), docs[1].Number)
	}
}

// TestCorpusRoundTrip: every public config parses within the default
// limits and comes back byte for byte when nothing is edited; edited, it
// re-encodes to YAML that parses again.
func TestCorpusRoundTrip(t *testing.T) {
	for _, file := range corpustest.Require(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := Parse(data, testLimits)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		out, _ := Encode(docs)
		if !bytes.Equal(out, data) {
			t.Errorf("%s: untouched round trip changed the bytes", filepath.Base(file))
		}
		for _, d := range docs {
			d.Edited = d.Root != nil
		}
		out, err = Encode(docs)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(file), err)
		}
		again, err := Parse(out, testLimits)
		if err != nil || len(again) != len(docs) {
			t.Errorf("%s: re-encoded config: %d documents, %v", filepath.Base(file), len(again), err)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestEncodeKeepsMeaning: what yaml.v3's encoder would print with another
// meaning is fixed before encoding.
func TestEncodeKeepsMeaning(t *testing.T) {
	tests := []struct{ input, want string }{
		{"volumes: [{name: cache, temp: }]\n", "volumes: [{name: cache, temp: null}]\n"},
		{"a: &a {x: 1}\nb:\n  <<: *a\n  y: 2\n", "a: &a {x: 1}\nb:\n  <<: *a\n  y: 2\n"},
		{"temp:\n", "temp:\n"},
		// A literal block with a trailing space cannot stay a block; the
		// backslash in the value is doubled (escaped: four) for Drone's
		// envsubst, which halves "\\\\": Drone reads "echo a \\ \n  b\n".
		{"c: |\n  echo a \\ \n    b\n", "c: \"echo a \\\\\\\\ \\n  b\\n\"\n"},
	}
	for _, tt := range tests {
		docs, err := Parse([]byte(tt.input), testLimits)
		if err != nil {
			t.Fatal(err)
		}
		docs[0].Edited = true
		out, err := Encode(docs)
		if err != nil || string(out) != tt.want {
			t.Errorf("Encode(%q) = %q, %v; want %q", tt.input, out, err, tt.want)
		}
	}
}

// wideMapping is a document of one mapping with n keys, the key at
// dupAt (when 0 < dupAt < n) written again as key 0.
func wideMapping(n, dupAt int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		k := i
		if i == dupAt {
			k = 0
		}
		fmt.Fprintf(&b, "k%d: v\n", k)
	}
	return []byte(b.String())
}

// TestDuplicateKeyWide: a mapping too wide for the pairwise search
// finds the same first duplicate by a set, merge keys not counted.
func TestDuplicateKeyWide(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want int // line of the duplicate, 0 for none
	}{
		{"none", wideMapping(100, -1), 0},
		{"late duplicate", wideMapping(100, 70), 71},
		{"merge keys repeat", append([]byte("a: &a {x: 1}\nb: &b {y: 1}\nm:\n  <<: *a\n  <<: *b\n"), indent(wideMapping(40, -1))...), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse(tt.data, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			got := docs[0].DuplicateKey()
			if (got == nil) != (tt.want == 0) || (got != nil && got.Line != tt.want) {
				t.Errorf("duplicate %v, want line %d", got, tt.want)
			}
		})
	}
}

func indent(text []byte) []byte {
	return []byte("  " + strings.ReplaceAll(strings.TrimSuffix(string(text), "\n"), "\n", "\n  ") + "\n")
}

// BenchmarkParseWide: Parse of one mapping of 90 000 keys (900 KB)
// against a bare decode of it. Pairwise duplicate search made Parse
// take 13 s here; it should stay within a small multiple of the decode.
func BenchmarkParseWide(b *testing.B) {
	data := wideMapping(90000, -1)
	limits := Limits{MaxDocuments: 1, MaxDepth: 100, MaxExpandedNodes: 1 << 20, AliasRatio: 10}
	b.Run("parse", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Parse(data, limits); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var n yaml.Node
			if err := yaml.Unmarshal(data, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
}
