package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
	yamlv3 "gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
)

var schemaFile = filepath.Join(chartDir, "values.schema.json")

// durationPattern is what time.ParseDuration accepts (and "0").
const durationPattern = `^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$`

// settingSchema is the JSON schema of one env setting, from the Go type
// envconfig decodes it into; null leaves the service's default.
func settingSchema(t *testing.T, name, goType string) map[string]any {
	t.Helper()
	switch goType {
	case "string":
		return map[string]any{"type": []any{"string", "null"}}
	case "bool":
		return map[string]any{"type": []any{"boolean", "null"}}
	case "int", "int64":
		return map[string]any{"type": []any{"integer", "null"}}
	case "time.Duration":
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "string", "pattern": durationPattern},
			map[string]any{"const": 0.0},
			map[string]any{"type": "null"},
		}}
	case "[]string":
		// A YAML list (joined with commas by the chart) or the
		// comma-separated string itself.
		return map[string]any{"type": []any{"array", "string", "null"}, "items": map[string]any{"type": "string"}}
	case "map[string]string":
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": map[string]any{"type": []any{"string", "number", "boolean"}}}
	}
	t.Fatalf("setting %s has Go type %s, which values.schema.json has no rule for", name, goType)
	return nil
}

// TestValuesSchema keeps the schema's env properties in step with
// internal/config (go test ./deploy -update rewrites them) and checks
// that the schema, which Helm applies on every install and in these
// tests' renders, accepts the chart's values.
func TestValuesSchema(t *testing.T) {
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 0, ' ', 0)
	cfg := config.Default()
	if err := envconfig.Usagef("", &cfg, tw, "{{range .}}{{.Key}} {{.Field.Type}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	want := map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		name, goType, _ := strings.Cut(line, " ")
		if name == "DRONE_SECRET" {
			continue // from secret.*, never env
		}
		want[name] = settingSchema(t, name, goType)
	}
	env := schema["properties"].(map[string]any)["env"].(map[string]any)
	if *update {
		env["properties"] = want
		out, err := json.MarshalIndent(schema, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		out = bytes.ReplaceAll(out, []byte(`\u0026`), []byte("&"))
		if err := os.WriteFile(schemaFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Compare through JSON, so float/int spellings agree.
	var got map[string]any
	b, _ := json.Marshal(env["properties"])
	_ = json.Unmarshal(b, &got)
	b, _ = json.Marshal(want)
	var wantJSON map[string]any
	_ = json.Unmarshal(b, &wantJSON)
	for name, w := range wantJSON {
		if !reflect.DeepEqual(got[name], w) {
			t.Errorf("%s: env.%s is %v, want %v (run go test ./deploy -update)", schemaFile, name, got[name], w)
		}
	}
	for name := range got {
		if _, ok := wantJSON[name]; !ok {
			t.Errorf("%s: env.%s is not a setting of internal/config", schemaFile, name)
		}
	}
	if env["additionalProperties"] != false || schema["additionalProperties"] != false {
		t.Error("the schema must refuse unknown keys, at the top and under env")
	}
}

// TestValuesParseStrictly parses the chart's values files with a parser
// that refuses duplicate keys: Helm's keeps the last, so editing the
// first of two would silently do nothing.
func TestValuesParseStrictly(t *testing.T) {
	for _, f := range []string{filepath.Join(chartDir, "values.yaml"), fullValues} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yamlv3.Unmarshal(data, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The parser does refuse them.
	var v map[string]any
	if err := yamlv3.Unmarshal([]byte("env:\n  A: 1\n  A: 2\n"), &v); err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Fatalf("duplicate key accepted: %v", err)
	}
}
