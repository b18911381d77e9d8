package plugin

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildkite/yaml"
	"github.com/drone/envsubst"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// addSeeds seeds a fuzz target with every golden input and public
// corpus config.
func addSeeds(f *testing.F) {
	f.Helper()
	files, _ := filepath.Glob("../testdata/convert/*.yml")
	for _, file := range append(files, corpustest.Files(f)...) {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
}

// FuzzConvert: whatever the config, conversion never panics; a converted
// config parses, converting it again changes nothing, and no document,
// step name, secret reference, volume or volume mount is lost (a
// service, volume or mount may go only with a line in the report that
// names it).
//
// Every input goes through all the transforms (half the inputs, by
// their length's parity, with a remote Docker daemon configured, so its
// rewrites are fuzzed too), and through one transform alone, chosen by
// the input's checksum, so that each transform's output is checked on
// its own as well as after the others'. The transforms alone run with
// the remote daemon configured, so kaniko's local-daemon path is checked
// only with all the others.
func FuzzConvert(f *testing.F) {
	addSeeds(f)
	remoteCfg := config.Default()
	remoteCfg.DockerHost = "tcp://dockerd.fuzz:2376"
	remoteCfg.DockerTLSFromSecrets = map[string]string{"ca": "ca", "cert": "cert", "key": "key"}
	if err := remoteCfg.Validate(); err != nil {
		f.Fatal(err)
	}
	plain, remote := NewConverter(config.Default()), NewConverter(remoteCfg)
	var alone []*Converter
	for i := range remote.transforms {
		one := NewConverter(remoteCfg)
		one.transforms = one.transforms[i : i+1]
		alone = append(alone, one)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("conversion hangs on %q", data)) })
		defer watchdog.Stop()
		all := plain
		if len(data)%2 == 1 {
			all = remote
		}
		checkConversion(t, all, data, "all transforms")
		one := alone[crc32.ChecksumIEEE(data)%uint32(len(alone))]
		checkConversion(t, one, data, one.transforms[0].Name()+" alone")
	})
}

func checkConversion(t *testing.T, conv *Converter, data []byte, which string) {
	t.Helper()
	in := Input{Config: data, Repo: "octo/fuzz", OptInAll: true}
	first, err := conv.Convert(in)
	if err != nil || first.Config == nil {
		return
	}
	before, after := inventory(t, data), inventory(t, first.Config)
	if before.unreadable {
		// The runner's envsubst refuses the original: Drone cannot run
		// it either way, so what the runner would read is no oracle.
		before = contents{documents: before.documents}
	}
	if before.documents != after.documents {
		t.Fatalf("%s: documents: %d before, %d after\n%q\n%q", which, before.documents, after.documents, data, first.Config)
	}
	for _, name := range before.steps {
		if !slices.Contains(after.steps, name) {
			t.Fatalf("%s: step %q lost\n%q\n%q", which, name, data, first.Config)
		}
	}
	for _, name := range before.services {
		if !slices.Contains(after.services, name) && !reported(first, name, "service %q") {
			t.Fatalf("%s: service %q dropped without a word in the report\n%q\n%q", which, name, data, first.Config)
		}
	}
	for _, name := range before.volumes {
		if !slices.Contains(after.volumes, name) && !reported(first, name, "volume %q") {
			t.Fatalf("%s: volume %q dropped without a word in the report\n%q\n%q", which, name, data, first.Config)
		}
	}
	for _, mount := range before.mounts {
		// pipeline/container/volume: the report names the container and
		// the volume, or the container went as a whole (a dropped
		// service). A volume's own removal does not excuse it: a volume
		// goes because nothing mounts it any more.
		container, volume := mount[:strings.LastIndex(mount, sep)], mount[strings.LastIndex(mount, sep)+1:]
		if !slices.Contains(after.mounts, mount) && !reportedMount(first, container, volume) &&
			!reported(first, container, "service %q") {
			t.Fatalf("%s: mount of volume %q in %q lost without a word in the report\n%q\n%q", which, volume, container, data, first.Config)
		}
	}
	for _, name := range before.secrets {
		if !slices.Contains(after.secrets, name) {
			t.Fatalf("%s: secret reference %q lost\n%q\n%q", which, name, data, first.Config)
		}
	}
	in.Config = first.Config
	second, err := conv.Convert(in)
	if err != nil {
		t.Fatalf("%s: converting the output fails: %v\n%q", which, err, first.Config)
	}
	if second.Config != nil && !bytes.Equal(second.Config, first.Config) {
		t.Fatalf("%s: converting twice differs from once\n%q\n%q", which, first.Config, second.Config)
	}
}

// sep joins names in an inventory: a name holds it only when written
// with a "\0" escape.
const sep = "\x00"

type contents struct {
	documents int
	steps     []string // pipeline, sep, step
	services  []string // pipeline, sep, service
	secrets   []string
	volumes   []string // pipeline, sep, volume
	mounts    []string // pipeline, sep, step or service, sep, volume
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
		type container struct {
			Name    string
			Volumes []struct{ Name string }
		}
		var pipeline struct {
			Name     string
			Steps    []container
			Services []container
			Volumes  []struct{ Name string }
		}
		_ = yaml.Unmarshal(raw, &pipeline) // not every document is a pipeline
		for _, s := range pipeline.Steps {
			c.steps = append(c.steps, pipeline.Name+sep+s.Name)
			for _, v := range s.Volumes {
				c.mounts = append(c.mounts, pipeline.Name+sep+s.Name+sep+v.Name)
			}
		}
		for _, s := range pipeline.Services {
			c.services = append(c.services, pipeline.Name+sep+s.Name)
			for _, v := range s.Volumes {
				c.mounts = append(c.mounts, pipeline.Name+sep+s.Name+sep+v.Name)
			}
		}
		for _, v := range pipeline.Volumes {
			c.volumes = append(c.volumes, pipeline.Name+sep+v.Name)
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

// reported says whether the conversion's report names what (pipeline,
// sep, name) in the form given: a Docker daemon service, or a
// volume nothing mounts any more, is dropped on purpose, and the report
// must say so.
func reported(r Result, what, form string) bool {
	pipeline, name, _ := strings.Cut(what, sep)
	return reportHas(r, pipeline, fmt.Sprintf(form, name))
}

// reportedMount says whether the report names a container's removed
// mount of volume: "step "x": Docker daemon mount of volume a, b removed".
func reportedMount(r Result, container, volume string) bool {
	pipeline, name, _ := strings.Cut(container, sep)
	for _, o := range r.Outcomes {
		if o.Pipeline != pipeline {
			continue
		}
		for _, line := range append(o.Report.Changes, o.Report.Warnings...) {
			// `step "x": Docker daemon mount of volume a, b removed...`
			prefix := fmt.Sprintf("%q: Docker daemon mount of volume ", name)
			_, list, ok := strings.Cut(line, prefix)
			if !ok {
				continue
			}
			list, _, _ = strings.Cut(list, " removed")
			if slices.Contains(strings.Split(list, ", "), volume) {
				return true
			}
		}
	}
	return false
}

func reportHas(r Result, pipeline, text string) bool {
	for _, o := range r.Outcomes {
		if o.Pipeline != pipeline {
			continue
		}
		for _, line := range append(o.Report.Changes, o.Report.Warnings...) {
			if strings.Contains(line, text) {
				return true
			}
		}
	}
	return false
}
