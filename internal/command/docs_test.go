package command

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestDocumentedOutputs: the converted pipelines README.md and
// docs/operators.md show are what the dry-run CLI prints today, line for
// line (a line the page cuts short with "…'" must start the real one;
// the README leaves out the input's leading comment). A copy that is
// not checked drifts with every transform that lands.
func TestDocumentedOutputs(t *testing.T) {
	tests := []struct {
		page, after string
		args        []string
	}{
		{page: "../../README.md", after: "## What a converted pipeline looks like", args: []string{"convert", "../../testdata/convert/opted_in.yml"}},
		{page: "../../docs/operators.md", after: "It prints this", args: []string{"convert", "--repo", "acme/app", "../../deploy/examples/pipeline.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.page, func(t *testing.T) {
			t.Setenv("DRONE_SECRET", "")
			doc := fencedBlockAfter(t, tt.page, tt.after)
			var stdout, stderr bytes.Buffer
			if code := Run(tt.args, nil, &stdout, &stderr); code != exitOK {
				t.Fatalf("%v: exit %d:\n%s", tt.args, code, stderr.String())
			}
			got := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
			for len(got) > 0 && strings.HasPrefix(got[0], "#") {
				got = got[1:]
			}
			want := strings.Split(strings.TrimRight(doc, "\n"), "\n")
			if len(got) != len(want) {
				t.Fatalf("%s shows %d lines after %q, the CLI prints %d:\n%s", tt.page, len(want), tt.after, len(got), strings.Join(got, "\n"))
			}
			for i := range want {
				if prefix, cut := strings.CutSuffix(want[i], "…'"); cut && strings.HasPrefix(got[i], prefix) {
					continue
				}
				if want[i] != got[i] {
					t.Errorf("%s, line %d of the block after %q:\n page: %s\n CLI:  %s", tt.page, i+1, tt.after, want[i], got[i])
				}
			}
		})
	}
}

// fencedBlockAfter is the body of the first fenced code block after the
// first line of page that contains marker.
func fencedBlockAfter(t *testing.T, page, marker string) string {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), marker)
	if !ok {
		t.Fatalf("%s has no %q", page, marker)
	}
	_, rest, ok = strings.Cut(rest, "\n```")
	if ok {
		_, rest, ok = strings.Cut(rest, "\n") // the fence's info string
	}
	if ok {
		rest, _, ok = strings.Cut(rest, "```")
	}
	if !ok {
		t.Fatalf("%s has no fenced block after %q", page, marker)
	}
	return rest
}
