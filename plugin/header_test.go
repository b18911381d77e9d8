package plugin

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/buildkite/yaml"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// FuzzHeader: reading the header from the subset agrees with decoding
// the whole document with buildkite/yaml, the way Drone reads it.
func FuzzHeader(f *testing.F) {
	addSeeds(f)
	f.Add([]byte("base: &b {kind: pipeline, type: kubernetes}\n<<: *b\nname: on\nmetadata: {annotations: {drone-convert-eci/enabled: yes}}\n"))
	f.Add([]byte("kind: pipeline\ntype: docker\n<<: {type: kubernetes}\nname: late\n"))
	limits := NewConverter(config.Default()).limits
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := yamldoc.Parse(data, limits)
		if err != nil {
			return
		}
		for _, doc := range docs {
			if doc.Root == nil {
				continue
			}
			// The runner reads the text after envsubst, which halves "\\";
			// the header is read as it does.
			var whole header
			if yaml.Unmarshal(halve(doc.Raw[len(separator(doc.Raw)):]), &whole) != nil {
				continue // Drone itself cannot read this document
			}
			var subset header
			if err := readHeader(doc, &subset); err != nil {
				t.Fatalf("document %d: Drone reads it, the subset does not: %v\n%q", doc.Number, err, doc.Raw)
			}
			if !reflect.DeepEqual(whole, subset) {
				t.Fatalf("document %d: header %+v, Drone reads %+v\n%q", doc.Number, subset, whole, doc.Raw)
			}
		}
	})
}

// separator is the document's separator line, which Drone drops.
func separator(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("---")) {
		return nil
	}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		return raw[:i+1]
	}
	return raw
}

// halve is drone/envsubst's backslash rule: "\\" becomes "\" and "\/"
// becomes "/", left to right.
func halve(text []byte) []byte {
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' && i+1 < len(text) && (text[i+1] == '\\' || text[i+1] == '/') {
			i++
		}
		out = append(out, text[i])
	}
	return out
}
