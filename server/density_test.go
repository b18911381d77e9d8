package server

import (
	"encoding/json"
	"strings"
	"testing"
)

// The estimate counts the nodes of the shapes that are dense, as the
// config arrives (a JSON string), and never fewer than yaml.v3 makes.
func TestEstimatedNodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		atLeast,
		atMost int64
	}{
		{"flow list", "[" + strings.Repeat("a,", 999) + "a]", 1000, 1001},
		{"flow mappings", "[" + strings.Repeat("{a: b},", 99) + "{a: b}]", 300, 500},
		{"block list", strings.Repeat("- a\n", 1000), 1000, 1000},
		{"block mappings in a list", strings.Repeat("- a: b\n", 1000), 3000, 3000},
		{"mapping with block values", "steps:\n  x:\n", 4, 4},
		{"dashes and colons inside words are not indicators", "image: drone-convert-eci:1.2-3\n# ------\n", 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]string{"data": tc.config})
			if err != nil {
				t.Fatal(err)
			}
			// The JSON object itself adds a brace and a colon.
			got := estimatedNodes(body) - 1
			if got < tc.atLeast || got > tc.atMost {
				t.Errorf("%d nodes estimated, want %d to %d", got, tc.atLeast, tc.atMost)
			}
		})
	}
}
