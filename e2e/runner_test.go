package e2e

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

const corpusDir = "../../shared/corpus/public"

// convertedConfig is one config before and after conversion, with the
// pipelines the conversion rewrote.
type convertedConfig struct {
	Name      string
	Input     []byte
	Output    []byte
	Converted map[string]bool // pipeline names
	// Custom marks testdata cases whose settings or pipeline choose
	// their own scheduling, so the default selector is not expected.
	Custom bool
	// TrustedOnly marks testdata cases converted for a trusted repo
	// (a "trusted" line in NAME.args): their output may use what the
	// runner allows trusted repos only (secret volumes).
	TrustedOnly bool
	// Corpus marks configs from ../shared's corpus rather than testdata.
	Corpus bool
	// Baseline, for configs with migrated Docker pipelines, is the input
	// migrated and converted with env files off: the runner-compilable
	// "before" that the env transform must not change the meaning of
	// (drone-runner-kube cannot compile the Docker pipeline itself).
	Baseline []byte
	// Reports holds each converted pipeline's whole report, where the
	// conversion ran here: the pod's annotation is cut at 4 KiB.
	Reports map[string]string
}

var convertedLine = regexp.MustCompile(`^# document \d+, pipeline "(.*)": converted$`)

// convertedConfigs returns every converted output the project knows:
// each testdata/convert golden whose result is "converted", and every
// public corpus file converted with every kubernetes pipeline opted in
// and every Docker pipeline migrated (--opt-in --migrate-docker).
// A corpus file the converter refuses is reported by
// TestCorpusRefusalsAreClear, not here.
func convertedConfigs(t *testing.T) []convertedConfig {
	t.Helper()
	var out []convertedConfig
	goldens, _ := filepath.Glob("../testdata/convert/*.golden")
	for _, golden := range goldens {
		data, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("# result: converted\n")) {
			continue
		}
		header, output, ok := bytes.Cut(data, []byte("# --- output ---\n"))
		if !ok {
			t.Fatalf("%s: no output marker", golden)
		}
		name := strings.TrimSuffix(filepath.Base(golden), ".golden")
		input, err := os.ReadFile(strings.TrimSuffix(golden, ".golden") + ".yml")
		if err != nil {
			t.Fatal(err)
		}
		c := convertedConfig{Name: "testdata/" + name, Input: input, Output: output, Converted: map[string]bool{}}
		scanner := bufio.NewScanner(bytes.NewReader(header))
		for scanner.Scan() {
			if m := convertedLine.FindStringSubmatch(scanner.Text()); m != nil {
				c.Converted[m[1]] = true
			}
		}
		_, err = os.Stat(strings.TrimSuffix(golden, ".golden") + ".args")
		c.Custom = err == nil || bytes.Contains(input, []byte("node_selector:")) || bytes.Contains(input, []byte("node_name:"))
		if args, err := os.ReadFile(strings.TrimSuffix(golden, ".golden") + ".args"); err == nil {
			c.TrustedOnly = bytes.HasPrefix(args, []byte("trusted\n")) || bytes.Contains(args, []byte("\ntrusted\n"))
			if strings.HasPrefix(name, "migrate_") {
				c.Baseline = migratedBaseline(t, input, string(args))
			}
		}
		out = append(out, c)
	}
	for _, file := range corpusFiles(t) {
		input, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		result, err := plugin.NewConverter(config.Default()).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true, MigrateDocker: true})
		if err != nil || result.Config == nil {
			continue
		}
		c := convertedConfig{Name: "corpus/" + filepath.Base(file), Input: input, Output: result.Config, Converted: map[string]bool{}, Reports: map[string]string{}}
		if hasDockerPipeline(t, input) {
			c.Baseline = migratedBaseline(t, input, "")
		}
		for _, o := range result.Outcomes {
			if o.Converted {
				c.Converted[o.Pipeline] = true
				c.Reports[o.Pipeline] = o.Report.String()
			}
		}
		c.Custom = bytes.Contains(input, []byte("node_selector:"))
		out = append(out, c)
	}
	out = append(out, remoteDockerConverted(t)...)
	if len(out) == 0 {
		t.Fatal("no converted configs found")
	}
	return out
}

// remoteDockerConverted is every corpus config whose conversion a
// remote Docker daemon changes (DRONE_ECI_DOCKER_HOST with certificates
// from Drone secrets, env files on), so that every ECI check runs on
// those outputs too.
func remoteDockerConverted(t *testing.T) []convertedConfig {
	t.Helper()
	cfg := remoteDockerConfig(false)
	cfg.EnvFiles = config.Default().EnvFiles
	var out []convertedConfig
	for _, file := range corpusFiles(t) {
		input, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		in := plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true}
		result, err := plugin.NewConverter(cfg).Convert(in)
		if err != nil || result.Config == nil {
			continue
		}
		if plain, err := plugin.NewConverter(config.Default()).Convert(in); err == nil && bytes.Equal(plain.Config, result.Config) {
			continue
		}
		// The env transform's "before" is the same conversion with env
		// files off: the remote daemon's variables are new on purpose.
		baseline, err := plugin.NewConverter(remoteDockerConfig(false)).Convert(in)
		if err != nil {
			t.Fatalf("%s: baseline: %v", file, err)
		}
		c := convertedConfig{Name: "corpus-remote-docker/" + filepath.Base(file), Input: input, Output: result.Config, Converted: map[string]bool{}, Baseline: baseline.Config}
		for _, o := range result.Outcomes {
			if o.Converted {
				c.Converted[o.Pipeline] = true
			}
		}
		c.Custom = bytes.Contains(input, []byte("node_selector:"))
		out = append(out, c)
	}
	return out
}

// migratedBaseline converts input the way the golden args (or the
// corpus run) do, with every Docker pipeline migrated, but with env
// files off.
func migratedBaseline(t *testing.T, input []byte, args string) []byte {
	t.Helper()
	cfg := config.Default()
	cfg.EnvFiles.When = "never"
	for _, line := range strings.Split(args, "\n") {
		if label, ok := strings.CutPrefix(line, "runner-label: "); ok {
			k, v, _ := strings.Cut(label, ":")
			if cfg.MigrateRunnerLabels == nil {
				cfg.MigrateRunnerLabels = map[string]string{}
			}
			cfg.MigrateRunnerLabels[k] = v
		}
	}
	result, err := plugin.NewConverter(cfg).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true, MigrateDocker: true})
	if err != nil {
		t.Fatalf("baseline: %v", err)
	}
	if result.Config == nil {
		return input
	}
	return result.Config
}

// hasDockerPipeline reports whether the config has a pipeline the
// Docker runner takes (type docker, or untyped).
func hasDockerPipeline(t *testing.T, config []byte) bool {
	t.Helper()
	for _, doc := range bytes.Split(config, []byte("\n---")) {
		var h struct {
			Kind, Type string
		}
		if yaml.Unmarshal(doc, &h) == nil && h.Kind == "pipeline" && (h.Type == "docker" || h.Type == "") {
			return true
		}
	}
	return false
}

func corpusFiles(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*"))
	var configs []string
	for _, f := range files {
		if filepath.Ext(f) != ".tsv" {
			configs = append(configs, f)
		}
	}
	if len(configs) == 0 {
		t.Fatalf("no corpus in %s: ../shared must be beside the checkout", corpusDir)
	}
	return configs
}

// compileBoth compiles the converted config with drone-runner-kube's own
// compiler for an untrusted and a trusted repo and calls check on every
// converted pipeline. A config the runner rejects after conversion is a
// bug of ours unless the runner rejected the original the same way.
func compileBoth(t *testing.T, c convertedConfig, check func(t *testing.T, trusted bool, r runnertest.Result)) {
	t.Helper()
	for _, trusted := range []bool{false, true} {
		if c.TrustedOnly && !trusted {
			continue
		}
		results, err := runnertest.Compile(c.Output, runnertest.Options{Trusted: trusted})
		if err != nil {
			if _, origErr := runnertest.Compile(c.Input, runnertest.Options{Trusted: trusted}); origErr == nil {
				t.Errorf("%s (trusted=%v): the runner rejects the converted config but accepted the original: %v", c.Name, trusted, err)
			} else {
				t.Logf("%s (trusted=%v): the runner rejects the original too: %v", c.Name, trusted, origErr)
			}
			continue
		}
		seen := 0
		for _, r := range results {
			if !c.Converted[r.Pipeline] {
				continue
			}
			seen++
			check(t, trusted, r)
		}
		if seen != len(c.Converted) {
			t.Errorf("%s (trusted=%v): %d converted pipelines, the runner compiled %d of them", c.Name, trusted, len(c.Converted), seen)
		}
	}
}

// TestRunnerSchedulesOnVirtualNode: every converted pipeline compiles
// with the real runner, and its pod selects and tolerates the virtual
// node.
func TestRunnerSchedulesOnVirtualNode(t *testing.T) {
	cfg := config.Default()
	for _, c := range convertedConfigs(t) {
		t.Run(c.Name, func(t *testing.T) {
			compileBoth(t, c, func(t *testing.T, trusted bool, r runnertest.Result) {
				pod := r.Pod
				if !tolerates(pod.Spec.Tolerations, cfg.TolerationKey, cfg.TolerationEffect) {
					t.Errorf("pipeline %q (trusted=%v): pod does not tolerate %s: %+v", r.Pipeline, trusted, cfg.TolerationKey, pod.Spec.Tolerations)
				}
				if c.Custom {
					if len(pod.Spec.NodeSelector) == 0 && pod.Spec.NodeName == "" {
						t.Errorf("pipeline %q: pod has neither node selector nor node name", r.Pipeline)
					}
					return
				}
				for k, v := range cfg.NodeSelector {
					if pod.Spec.NodeSelector[k] != v {
						t.Errorf("pipeline %q (trusted=%v): pod node selector %v lacks %s=%s", r.Pipeline, trusted, pod.Spec.NodeSelector, k, v)
					}
				}
			})
		})
	}
}

// TestCorpusRefusalsAreClear: a corpus config the converter refuses gets
// an error that names the document.
func TestCorpusRefusalsAreClear(t *testing.T) {
	for _, file := range corpusFiles(t) {
		input, _ := os.ReadFile(file)
		_, err := plugin.NewConverter(config.Default()).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true, MigrateDocker: true})
		if err != nil {
			if !strings.Contains(err.Error(), "document ") {
				t.Errorf("%s: refusal does not name the document: %v", filepath.Base(file), err)
			}
			t.Logf("%s: refused: %v", filepath.Base(file), err)
		}
	}
}

func tolerates(list []corev1.Toleration, key string, effect string) bool {
	for _, tol := range list {
		if (tol.Key == key || (tol.Key == "" && tol.Operator == corev1.TolerationOpExists)) &&
			(tol.Effect == "" || string(tol.Effect) == effect) {
			return true
		}
	}
	return false
}

// TestNoLineTheRunnerCannotRead: runner-go reads a config line by line
// with a 64 KiB buffer and silently drops everything after a longer
// line, so no converted output may have one the input did not.
func TestNoLineTheRunnerCannotRead(t *testing.T) {
	for _, c := range convertedConfigs(t) {
		for _, line := range bytes.Split(c.Output, []byte("\n")) {
			if len(line) >= 64<<10 && !bytes.Contains(c.Input, line) {
				t.Errorf("%s: the conversion wrote a %d-byte line", c.Name, len(line))
			}
		}
	}
}
