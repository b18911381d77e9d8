package yamldoc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	buildkite "github.com/buildkite/yaml"
	"github.com/drone/envsubst"
	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
)

// addSeeds seeds a fuzz target with every golden input and public
// corpus config.
func addSeeds(f *testing.F) {
	f.Helper()
	files, _ := filepath.Glob("../../testdata/convert/*.yml")
	for _, file := range append(files, corpustest.Files(f)...) {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
}

// FuzzRoundTrip: whatever the input, Parse never panics; a config it
// accepts comes back byte for byte when untouched, and re-encoded it
// parses again into as many documents.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(2*time.Second, func() { panic(fmt.Sprintf("hang on %q", data)) })
		defer watchdog.Stop()
		docs, err := Parse(data, testLimits)
		if err != nil {
			return
		}
		for _, d := range docs {
			// Parse's walk finds what a walk of the tree alone finds.
			if d.Root != nil && (d.DuplicateKey() != duplicateKey(d.Root) || d.nodes != countNodes(d.Root)) {
				t.Fatalf("document %d: Parse found duplicate %v and %d nodes, the tree has %v and %d\n%q", d.Number, d.DuplicateKey(), d.nodes, duplicateKey(d.Root), countNodes(d.Root), data)
			}
		}
		out, err := Encode(docs)
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("untouched round trip changed the config: %v\n%q\n%q", err, data, out)
		}
		// Only mappings are ever edited (pipelines are mappings); yaml.v3
		// cannot re-encode every odd scalar document it parses.
		for _, d := range docs {
			d.Edited = d.Body() != nil && d.Body().Kind == yaml.MappingNode
		}
		out, err = Encode(docs)
		if err != nil {
			return // yaml.v3 refuses to encode some trees it parsed; reported as an error, not a panic
		}
		again, err := Parse(out, Limits{MaxDocuments: 1 << 20, MaxDepth: 1 << 20, MaxExpandedNodes: 1 << 30, AliasRatio: 1})
		if err != nil {
			t.Fatalf("re-encoded config does not parse: %v\n%q\n%q", err, data, out)
		}
		if count(again) != count(docs) {
			t.Fatalf("re-encoded config has %d documents, want %d\n%q\n%q", count(again), count(docs), data, out)
		}
		// Each re-encoded document means to Drone's YAML library what the
		// original meant.
		for i, d := range docs {
			// Explicit tags (yaml.v3 forgets a bare "!") and empty keys are
			// read differently by yaml.v3 and YAML 1.1 libraries; pipelines
			// have neither.
			if !d.Edited || exotic(d.Root) || bytes.Contains(d.Raw, []byte("!")) || substitutedFlowScalar(d) || blankIndentedLine.Match(d.Raw) || lineEndEscape.Match(d.Raw) || !utf8.Valid(d.Raw) {
				continue
			}
			// As the runner reads it: envsubst over the text, then
			// buildkite/yaml.
			rawBefore, errBefore := envsubst.Eval(string(droneBody(d.Raw)), func(string) string { return "x" })
			rawAfter, errAfter := envsubst.Eval(string(droneBody(again[i].Raw)), func(string) string { return "x" })
			if errBefore != nil {
				continue
			}
			if errAfter != nil {
				t.Fatalf("document %d: envsubst refuses the re-encoded text: %v\n%q\n%q", d.Number, errAfter, d.Raw, again[i].Raw)
			}
			var before, after any
			errBefore = buildkite.Unmarshal([]byte(rawBefore), &before)
			errAfter = buildkite.Unmarshal([]byte(rawAfter), &after)
			if errBefore != nil {
				continue
			}
			if errAfter != nil || !reflect.DeepEqual(before, after) {
				t.Fatalf("document %d changed meaning (%v):\n%q\n%q", d.Number, errAfter, d.Raw, again[i].Raw)
			}
		}
	})
}

func count(docs []*Document) int {
	n := 0
	for _, d := range docs {
		if d.Number > 0 {
			n++
		}
	}
	return n
}

func exotic(n *yaml.Node) bool {
	if n.Style&yaml.TaggedStyle != 0 {
		return true
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind != yaml.ScalarNode || k.Value == "" || strings.ContainsAny(k.Value, "\r\n") || k.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				return true
			}
		}
	}
	for _, c := range n.Content {
		if exotic(c) {
			return true
		}
	}
	return false
}

// substitutedFlowScalar: a substitution inside a quoted or plain scalar
// that spans lines may end a line in blanks, which YAML's line folding
// then trims; re-encoding may fold the scalar elsewhere. The tree cannot
// tell a folded scalar from one written on one line (both hold spaces),
// so every such scalar in a document with a substitution is skipped.
// blankIndentedLine: yaml.v3 and YAML 1.1 libraries disagree on how a
// block scalar's leading lines of spaces set its indentation.
var blankIndentedLine = regexp.MustCompile(`(?m)^[ \t]+\r?$`)

// lineEndEscape: a backslash ending a line inside a double-quoted
// scalar escapes the line break, and envsubst may have halved it first;
// the tree no longer knows where the original broke its lines.
var lineEndEscape = regexp.MustCompile(`\\\r?\n`)

func substitutedFlowScalar(d *Document) bool {
	return bytes.Contains(d.Raw, []byte("${")) && multiLineFlowScalar(d.Root)
}

func multiLineFlowScalar(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 && strings.Contains(n.Value, " ") {
		return true
	}
	for _, c := range n.Content {
		if multiLineFlowScalar(c) {
			return true
		}
	}
	return false
}

// droneBody is a document's text as Drone parses it: without its
// separator line.
func droneBody(raw []byte) []byte {
	return raw[len(separatorLine(raw)):]
}

func countNodes(n *yaml.Node) int {
	c := 1
	for _, child := range n.Content {
		c += countNodes(child)
	}
	return c
}
