package plugin

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildkite/yaml"
	"github.com/drone/envsubst"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// addSeeds seeds a fuzz target with every golden input and public
// corpus config.
func addSeeds(f *testing.F) {
	f.Helper()
	for _, pattern := range []string{"../testdata/convert/*.yml", "../../shared/corpus/public/*.y*ml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
}

// FuzzConvert: whatever the config, conversion never panics; a converted
// config parses, converting it again changes nothing, and no document,
// step name or secret reference is lost.
func FuzzConvert(f *testing.F) {
	addSeeds(f)
	// Half the inputs (by their length's parity) go through a service
	// with a remote Docker daemon configured, so its rewrites are
	// fuzzed too.
	remoteCfg := config.Default()
	remoteCfg.DockerHost = "tcp://dockerd.fuzz:2376"
	remoteCfg.DockerTLSFromSecrets = map[string]string{"ca": "ca", "cert": "cert", "key": "key"}
	if err := remoteCfg.Validate(); err != nil {
		f.Fatal(err)
	}
	plain, remote := NewConverter(config.Default()), NewConverter(remoteCfg)
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("conversion hangs on %q", data)) })
		defer watchdog.Stop()
		conv := plain
		if len(data)%2 == 1 {
			conv = remote
		}
		in := Input{Config: data, Repo: "octo/fuzz", OptInAll: true}
		first, err := conv.Convert(in)
		if err != nil || first.Config == nil {
			return
		}
		before, after := inventory(t, data), inventory(t, first.Config)
		if before.unreadable {
			// The runner's envsubst refuses the original: Drone cannot run
			// it either way, so what the runner would read is no oracle.
			before.steps, before.services, before.secrets = nil, nil, nil
		}
		if before.documents != after.documents {
			t.Fatalf("documents: %d before, %d after\n%q\n%q", before.documents, after.documents, data, first.Config)
		}
		for _, name := range before.steps {
			if !slices.Contains(after.steps, name) {
				t.Fatalf("step %q lost\n%q\n%q", name, data, first.Config)
			}
		}
		for _, name := range before.services {
			if !slices.Contains(after.services, name) && !reported(first, name) {
				t.Fatalf("service %q dropped without a word in the report\n%q\n%q", name, data, first.Config)
			}
		}
		for _, name := range before.secrets {
			if !slices.Contains(after.secrets, name) {
				t.Fatalf("secret reference %q lost\n%q\n%q", name, data, first.Config)
			}
		}
		in.Config = first.Config
		second, err := conv.Convert(in)
		if err != nil {
			t.Fatalf("converting the output fails: %v\n%q", err, first.Config)
		}
		if second.Config != nil && !bytes.Equal(second.Config, first.Config) {
			t.Fatalf("converting twice differs from once\n%q\n%q", first.Config, second.Config)
		}
	})
}

type contents struct {
	documents int
	steps     []string // "pipeline/step"
	services  []string // "pipeline/service"
	secrets   []string
	// unreadable: the runner's envsubst refuses some document.
	unreadable bool
}

// inventory reads a config the way Drone does (buildkite/yaml) and lists
// what must survive a conversion.
func inventory(t *testing.T, data []byte) contents {
	t.Helper()
	docs, err := yamldoc.Parse(data, NewConverter(config.Default()).limits)
	if err != nil {
		t.Fatalf("does not parse: %v\n%q", err, data)
	}
	var c contents
	for _, doc := range docs {
		if doc.Number == 0 {
			continue
		}
		c.documents++
		// As the runner reads it: envsubst over the text first (the
		// converter writes some scalars for that), then buildkite/yaml.
		text, err := envsubst.Eval(string(doc.Raw), func(name string) string { return name })
		if err != nil {
			c.unreadable = true
			text = string(doc.Raw)
		}
		raw := []byte(text)
		var pipeline struct {
			Name     string
			Steps    []struct{ Name string }
			Services []struct{ Name string }
		}
		_ = yaml.Unmarshal(raw, &pipeline) // not every document is a pipeline
		for _, s := range pipeline.Steps {
			c.steps = append(c.steps, pipeline.Name+"/"+s.Name)
		}
		for _, s := range pipeline.Services {
			c.services = append(c.services, pipeline.Name+"/"+s.Name)
		}
		var tree any
		if yaml.Unmarshal(raw, &tree) == nil {
			c.secrets = append(c.secrets, secretRefs(tree)...)
		}
	}
	return c
}

func secretRefs(v any) []string {
	var refs []string
	switch v := v.(type) {
	case map[any]any:
		// A secret reference is a mapping holding from_secret alone.
		if name, ok := v["from_secret"]; ok && len(v) == 1 {
			return []string{fmt.Sprint(name)}
		}
		for _, child := range v {
			refs = append(refs, secretRefs(child)...)
		}
	case []any:
		for _, child := range v {
			refs = append(refs, secretRefs(child)...)
		}
	}
	return refs
}

// reported says whether the conversion's report names the service
// ("pipeline/service"): a Docker daemon service is dropped on purpose
// once nothing needs it, and the report must say so.
func reported(r Result, service string) bool {
	pipeline, name, _ := strings.Cut(service, "/")
	for _, o := range r.Outcomes {
		if o.Pipeline != pipeline {
			continue
		}
		for _, line := range append(o.Report.Changes, o.Report.Warnings...) {
			if strings.Contains(line, fmt.Sprintf("service %q", name)) {
				return true
			}
		}
	}
	return false
}
