package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/buildkite/yaml"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// corpusPinsConfig is the default configuration with the corpus pin
// table and DRONE_ECI_FLOATING_TAGS=fail: what an operator who pinned
// the images their configs use would run.
func corpusPinsConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	pins, err := os.ReadFile("../testdata/images/corpus_pins.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(pins), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cfg.Images.Pins = append(cfg.Images.Pins, line)
		}
	}
	cfg.Images.FloatingTags = "fail"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// refusalReason reduces a refusal to the field or rule it names, for
// the tally (the full message is logged).
var refusalReasons = []struct {
	pattern *regexp.Regexp
	reason  string
}{
	{regexp.MustCompile(`platform\.arch`), "platform.arch not amd64 (ECI specs are amd64)"},
	{regexp.MustCompile(`platform\.os`), "platform.os not linux"},
	{regexp.MustCompile(`: node \{`), "node routes the pipeline to other runners"},
	{regexp.MustCompile(`needs a Docker daemon`), "a step still needs a Docker daemon (docker CLI, DOCKER_HOST or the socket)"},
	{regexp.MustCompile(`privileged: true`), "privileged step or service"},
	{regexp.MustCompile(`plugins/heroku`), "plugins/heroku (no kaniko counterpart)"},
	{regexp.MustCompile(`network_mode`), "network_mode"},
	{regexp.MustCompile(`devices`), "devices"},
	{regexp.MustCompile(`extra_hosts`), "extra_hosts"},
	{regexp.MustCompile(`reachable by that name`), "service name not a DNS-1123 name"},
	{regexp.MustCompile(`user "`), "user is a name, not a number"},
	{regexp.MustCompile(`exceed ECI's limit`), "more than 20 containers or volumes"},
	{regexp.MustCompile(`floats`), "floating image without a pin"},
	{regexp.MustCompile(`step "[^"]*": setting "`), "a docker plugin setting kaniko cannot take as written"},
}

func refusalReason(msg string) string {
	for _, r := range refusalReasons {
		if r.pattern.MatchString(msg) {
			return r.reason
		}
	}
	return "other: " + msg
}

// TestMigrateCorpus migrates every Docker-runner pipeline (type docker,
// or untyped) of ../shared/corpus/public on its own, with the corpus pin
// table and floating images refused, and compiles each result with
// drone-runner-kube's own compiler and engine for an untrusted and a
// trusted repo. A pipeline counts as running on ECI when its pod, in
// both, selects and tolerates the virtual node, has no privileged
// container and no hostPath volume, runs only pinned images, carries a
// valid sizing annotation and fits ECI's 20 containers and 20 volumes.
// Every other pipeline must be kept on the Docker runner, unchanged
// (DRONE_ECI_MIGRATE_UNMOVABLE=keep), with a reason naming it. The
// figure is docs/authors.md's (section "Migrating Docker
// pipelines"), which the test checks.
func TestMigrateCorpus(t *testing.T) {
	files := corpustest.Require(t)
	cfg := corpusPinsConfig(t)
	conv := plugin.NewConverter(cfg)
	limits := yamldoc.Limits{MaxDocuments: 1000, MaxDepth: 1000, MaxExpandedNodes: 1 << 20, AliasRatio: 100}
	total, passed := 0, 0
	reasons := map[string]int{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := yamldoc.Parse(data, limits)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, doc := range docs {
			var h struct {
				Kind string `yaml:"kind"`
				Type string `yaml:"type"`
				Name string `yaml:"name"`
			}
			if doc.Root == nil || yaml.Unmarshal(doc.Raw, &h) != nil || h.Kind != "pipeline" || (h.Type != "docker" && h.Type != "") {
				continue
			}
			total++
			where := fmt.Sprintf("%s document %d (pipeline %q)", filepath.Base(file), doc.Number, h.Name)
			result, err := conv.Convert(plugin.Input{Config: doc.Raw, Repo: "octo/hello-world", MigrateDocker: true})
			outcome := "refused"
			for _, o := range result.Outcomes {
				if err == nil && o.Kept {
					// DRONE_ECI_MIGRATE_UNMOVABLE=keep: left to the Docker
					// runner, byte for byte.
					if result.Config != nil {
						t.Errorf("%s: kept on the Docker runner, but its config changed", where)
					}
					err, outcome = errors.New(o.Reason), "kept"
				}
			}
			if err != nil {
				if !strings.Contains(err.Error(), fmt.Sprintf("pipeline %q", h.Name)) {
					t.Errorf("%s: refusal does not name the pipeline: %v", where, err)
				}
				reasons[refusalReason(err.Error())]++
				t.Logf("%s: %s: %v", where, outcome, err)
				continue
			}
			if result.Config == nil {
				t.Errorf("%s: neither converted nor refused", where)
				continue
			}
			if failures := eciChecks(result.Config, h.Name); len(failures) > 0 {
				for _, f := range failures {
					t.Errorf("%s: converted, but %s", where, f)
				}
				continue
			}
			passed++
		}
	}
	var lines []string
	for reason, n := range reasons {
		lines = append(lines, fmt.Sprintf("%3d  %s", n, reason))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(lines)))
	t.Logf("%d of %d Docker pipelines run on ECI; refusals:\n%s", passed, total, strings.Join(lines, "\n"))
	if total == 0 {
		t.Fatal("no Docker pipeline in the corpus")
	}
	readme, err := os.ReadFile("../docs/authors.md")
	if err != nil {
		t.Fatal(err)
	}
	if claim := fmt.Sprintf("%d of the %d Docker pipelines", passed, total); !strings.Contains(string(readme), claim) {
		t.Errorf("docs/authors.md does not state the measured figure %q", claim)
	}
}

// eciChecks compiles a converted config for an untrusted and a trusted
// repo and returns every ECI requirement the named pipeline's pod or
// spec breaks.
func eciChecks(converted []byte, pipeline string) []string {
	cfg := config.Default()
	var out []string
	for _, trusted := range []bool{false, true} {
		results, err := runnertest.Compile(converted, runnertest.Options{Trusted: trusted})
		if err != nil {
			out = append(out, fmt.Sprintf("the runner refuses it (trusted=%v): %v", trusted, err))
			continue
		}
		var r *runnertest.Result
		for i := range results {
			if results[i].Pipeline == pipeline {
				r = &results[i]
			}
		}
		if r == nil {
			out = append(out, fmt.Sprintf("the runner compiled no pipeline %q (trusted=%v)", pipeline, trusted))
			continue
		}
		fail := func(format string, args ...any) {
			out = append(out, fmt.Sprintf("(trusted=%v) ", trusted)+fmt.Sprintf(format, args...))
		}
		pod := r.Pod
		for k, v := range cfg.NodeSelector {
			if pod.Spec.NodeSelector[k] != v {
				fail("node selector %v lacks %s=%s", pod.Spec.NodeSelector, k, v)
			}
		}
		if !tolerates(pod.Spec.Tolerations, cfg.TolerationKey, cfg.TolerationEffect) {
			fail("pod does not tolerate %s", cfg.TolerationKey)
		}
		for _, step := range r.Spec.Steps {
			if step.Privileged {
				fail("step %q is privileged", step.Name)
			}
			if step.Name != "clone" && floating(step.Image) {
				fail("step %q runs floating image %s", step.Name, step.Image)
			}
		}
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
				fail("container %q is privileged", c.Name)
			}
		}
		for _, v := range pod.Spec.Volumes {
			if v.HostPath != nil {
				fail("volume %q is a hostPath", v.Name)
			}
		}
		if n := len(pod.Spec.Containers); n > transform.MaxContainers {
			fail("%d containers", n)
		}
		if n := len(pod.Spec.Volumes); n > transform.MaxVolumes {
			fail("%d volumes", n)
		}
		specs, ok := pod.Annotations[transform.AnnotationUseSpecs]
		if !ok {
			fail("no %s annotation", transform.AnnotationUseSpecs)
		}
		for _, e := range strings.Split(specs, ",") {
			if s, ok := transform.ParseSpec(strings.TrimSpace(e)); !ok || !s.Valid() {
				fail("%s entry %q is not a valid ECI spec", transform.AnnotationUseSpecs, e)
			}
		}
	}
	return out
}
