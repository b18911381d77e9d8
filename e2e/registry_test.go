package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/drone-convert-eci/drone-convert-eci/admission"
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/registry"
	"github.com/drone-convert-eci/drone-convert-eci/internal/registry/registrytest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// privateConfig is a company's pipeline on its own registry: plugin-
// style steps (no commands) on images no table knows, each with ten
// env vars, which the runner's own 93-99 push past ECI's 92, and a
// floating build image.
func privateConfig(host string) string {
	env := func() string {
		var b strings.Builder
		for i := range 10 {
			fmt.Fprintf(&b, "    SETTING_%d: value-%d\n", i, i)
		}
		return b.String()
	}
	return fmt.Sprintf(`kind: pipeline
type: kubernetes
name: private
metadata:
  annotations:
    drone-convert-eci/enabled: "true"
platform:
  arch: arm64
steps:
- name: build
  image: %[1]s/ci/python-dev:latest
  commands: [make]
- name: scan
  image: %[1]s/sec/trivy-client
  environment:
%[2]s- name: notify
  image: %[1]s/tools/notify:2
  environment:
%[2]s`, host, env())
}

func TestRegistryLookupsEndToEnd(t *testing.T) {
	reg := registrytest.Start(t, "ci", "s3cret")
	pythonDigest := reg.Push(t, "ci/python-dev:latest", registrytest.Image(t, "linux/arm64", nil, []string{"python3"}))
	trivyDigest := reg.PushIndex(t, "sec/trivy-client:latest", map[string]v1.Image{
		"linux/amd64": registrytest.Image(t, "linux/amd64", []string{"/usr/local/bin/trivy-amd64"}, []string{"client"}),
		"linux/arm64": registrytest.Image(t, "linux/arm64", []string{"/usr/local/bin/trivy"}, []string{"client"}),
	})
	reg.Push(t, "tools/notify:2", registrytest.Image(t, "linux/arm64", []string{"/bin/notify"}, nil))

	authFile := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))
	if err := os.WriteFile(authFile, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, auth)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Webhook.RecordEntrypoints = true
	cfg.Registry.Lookup = true
	cfg.Registry.AuthFile = authFile
	newResolver := func() *registry.Resolver {
		creds, err := registry.NewCredentials(authFile, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return registry.New(registry.Options{Timeout: time.Second, Keychains: creds.For})
	}
	input := []byte(privateConfig(reg.Host))
	o := admission.DefaultOptions()
	o.LoaderImage = "drone-convert-eci:test"

	// overBudget compiles the converted config with the runner, sends
	// each event's pod through the webhook, and names the containers
	// left over ECI's budget; it also checks the images the runner got.
	// images and argvs, when given, are what each step must run.
	overBudget := func(t *testing.T, output []byte, images, argvs map[string]string) []string {
		t.Helper()
		var over []string
		for _, event := range []string{runnertest.EventPush, runnertest.EventPullRequest, runnertest.EventTag} {
			results, err := runnertest.Compile(output, runnertest.Options{Event: event})
			if err != nil {
				t.Fatalf("%s: the runner refused the converted config: %v", event, err)
			}
			for _, res := range results {
				for _, s := range res.Spec.Steps {
					if want, ok := images[s.Name]; ok && s.Image != want {
						t.Errorf("%s: step %s runs %s, want %s", event, s.Name, s.Image, want)
					}
				}
				mutated, rep, _ := review(t, res.Pod, o)
				for _, p := range podProblems(mutated) {
					t.Errorf("%s: %s", event, p)
				}
				for i, c := range mutated.Spec.Containers {
					step := stepOf(res, &res.Pod.Spec.Containers[i])
					if want, ok := argvs[step.Name]; ok && len(c.Env) < len(res.Pod.Spec.Containers[i].Env) {
						if got := strings.Join(append(c.Command, c.Args...), " "); !strings.HasSuffix(got, want) {
							t.Errorf("%s: step %s runs %q, want it to end in the image's %q", event, step.Name, got, want)
						}
					}
					if len(res.Pod.Spec.Containers[i].Env) <= o.Budget {
						continue
					}
					if len(c.Env) > o.Budget {
						over = append(over, fmt.Sprintf("%s %s (%d env vars)", event, step.Name, len(c.Env)))
					}
				}
				t.Logf("%s: webhook: %s", event, rep.String())
			}
		}
		return over
	}

	t.Run("registry up", func(t *testing.T) {
		resolver := newResolver()
		result, err := plugin.NewConverter(cfg).WithResolver(resolver).Convert(plugin.Input{Config: input, Repo: "octo/private"})
		if err != nil {
			t.Fatal(err)
		}
		// Drone converts a build twice (trigger, then stage): the same
		// answer, from the caches.
		again, err := plugin.NewConverter(cfg).WithResolver(resolver).Convert(plugin.Input{Config: input, Repo: "octo/private"})
		if err != nil || string(again.Config) != string(result.Config) {
			t.Errorf("the second conversion differs (%v)", err)
		}
		out := string(result.Config)
		for _, want := range []string{
			// The arm64 image of the index, the index's own digest.
			`"scan":{"image":"` + reg.Host + `/sec/trivy-client:latest@` + trivyDigest + `","entrypoint":["/usr/local/bin/trivy"],"cmd":["client"]}`,
			`"notify":{"image":"` + reg.Host + `/tools/notify:2","entrypoint":["/bin/notify"]}`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("converted config lacks %s:\n%s", want, out)
			}
		}
		if len(result.Outcomes) != 1 || len(result.Outcomes[0].LookupFailures) != 0 {
			t.Errorf("outcomes %+v", result.Outcomes)
		}
		pinned := map[string]string{
			"build":  reg.Host + "/ci/python-dev:latest@" + pythonDigest,
			"scan":   reg.Host + "/sec/trivy-client:latest@" + trivyDigest,
			"notify": reg.Host + "/tools/notify:2",
		}
		argvs := map[string]string{"scan": "/usr/local/bin/trivy client", "notify": "/bin/notify"}
		if over := overBudget(t, result.Config, pinned, argvs); len(over) > 0 {
			t.Errorf("containers over the budget after admission: %v", over)
		}
	})

	t.Run("without lookups the same steps stay over the budget", func(t *testing.T) {
		off := cfg
		off.Registry.Lookup = false
		result, err := plugin.NewConverter(off).Convert(plugin.Input{Config: input, Repo: "octo/private"})
		if err != nil {
			t.Fatal(err)
		}
		if over := overBudget(t, result.Config, nil, nil); len(over) != 6 {
			t.Errorf("want scan and notify over the budget on every event (6), got %v", over)
		}
		// The last resort: the runner's legacy CI_* aliases dropped.
		o.UnknownImages = "drop-legacy"
		defer func() { o.UnknownImages = "keep" }()
		if over := overBudget(t, result.Config, nil, nil); len(over) != 0 {
			t.Errorf("with drop-legacy, still over the budget: %v", over)
		}
	})

	t.Run("registry stopped", func(t *testing.T) {
		reg.Close()
		start := time.Now()
		result, err := plugin.NewConverter(cfg).WithResolver(newResolver()).Convert(plugin.Input{Config: input, Repo: "octo/private"})
		if err != nil {
			t.Fatalf("a registry that is down failed the conversion: %v", err)
		}
		if elapsed := time.Since(start); elapsed > 30*time.Second {
			t.Errorf("the conversion took %s with a 1s registry deadline", elapsed)
		}
		report := result.Outcomes[0].Report.String()
		for _, want := range []string{
			"step build: image " + reg.Host + "/ci/python-dev:latest floats (tag latest); registry " + reg.Host + " could not resolve it (connection refused)",
			"step scan: image " + reg.Host + "/sec/trivy-client: entrypoint unknown (registry " + reg.Host + ": connection refused)",
		} {
			if !strings.Contains(report, want) {
				t.Errorf("report lacks %q:\n%s", want, report)
			}
		}
		if n := len(result.Outcomes[0].LookupFailures); n != 3 {
			t.Errorf("%d lookup failures, want 3: %v", n, result.Outcomes[0].LookupFailures)
		}
	})
}

// TestRegistryFailuresInTheSummary: the dry-run CLI's summary names
// each failed lookup for the operator.
func TestRegistryFailuresInTheSummary(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	reg.Close()
	cfg := config.Default()
	cfg.Registry.Lookup = true
	r := registry.New(registry.Options{Timeout: time.Second})
	result, err := plugin.NewConverter(cfg).WithResolver(r).Convert(plugin.Input{Config: []byte(privateConfig(reg.Host)), Repo: "octo/private"})
	if err != nil {
		t.Fatal(err)
	}
	var summary strings.Builder
	result.WriteSummary(&summary)
	want := "registry lookup failed: image " + reg.Host + "/ci/python-dev:latest: registry " + reg.Host + ": connection refused"
	if !strings.Contains(summary.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, summary.String())
	}
}
