package yamldoc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// addSeeds seeds a fuzz target with every golden input and public
// corpus config.
func addSeeds(f *testing.F) {
	f.Helper()
	for _, pattern := range []string{"../../testdata/convert/*.yml", "../../../shared/corpus/public/*.y*ml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
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
