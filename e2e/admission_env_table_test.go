package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/drone-convert-eci/drone-convert-eci/admission"
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/shelltest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// envTable is issue 17's table, as entries of a runner container's env
// (in this order, which the kubelet's expansion follows): what the
// kubelet expands, what a shell treats specially, and bytes an env
// file must carry exactly.
var envTable = []corev1.EnvVar{
	{Name: "T_DOLLARS", Value: "Escape $$ in Makefile"},
	{Name: "T_PASSWORD", Value: "pa$$word"},
	{Name: "T_NEWLINE", Value: "one\ntwo\n"},
	{Name: "T_REF", Value: "$(T_NEWLINE)!"},
	{Name: "T_ESCAPED_REF", Value: "$$(KUBERNETES_SERVICE_HOST)"},
	{Name: "T_LINK", Value: "$(KUBERNETES_SERVICE_HOST)"},
	{Name: "T_UNDEFINED", Value: "$(NOT_DEFINED_ANYWHERE)"},
	{Name: "T_TRAILING", Value: "cost 5$"},
	{Name: "T_CR", Value: "carriage\rreturn\r"},
	{Name: "T_TAB", Value: "a\tb"},
	{Name: "T_BACKSLASHES", Value: `C:\path\to\n and \\ \0101`},
	{Name: "T_QUOTES", Value: `it's "quoted"`},
	{Name: "T_PERCENT", Value: "100%"},
	{Name: "T_PRINTF", Value: "%b %s %d %% %"},
	{Name: "T_BACKTICKS", Value: "`id` $(id) ${HOME}"},
	{Name: "T_NON_ASCII", Value: "héllo 文 🚀"},
	{Name: "T_NOT_ASCII_AFTER_DOLLAR", Value: "$é"},
	{Name: "T_INVALID_UTF8", Value: "bad \xff\xfe bytes"},
	{Name: "T_EMPTY", Value: ""},
	{Name: "T_BIG", Value: strings.Repeat("0123456789abcdef", 100<<10/16)},
	{Name: "_", Value: "underscore"},
	{Name: "A1", Value: "a one"},
	{Name: "lower", Value: "lower case"},
	{Name: "UID", Value: "1000"},
	{Name: "EUID", Value: "1000"},
	{Name: "BASH_VERSINFO", Value: "5"},
	{Name: "GROUPS", Value: "staff"},
	{Name: "OPTERR", Value: "0"},
	{Name: "SHLVL", Value: "7"},
	{Name: "__dce", Value: "a user's"},
	{Name: "__dcl", Value: "a user's too"},
}

// TestAdmissionEnvTable: the table in the env of a command step and of
// a plugin step of a runner pod, with a budget that makes the webhook
// move all it can. Through the AdmissionReview (JSON: invalid UTF-8
// arrives as U+FFFD, as at the API server), the command step's shell,
// under each shell, and the plugin's entrypoint (/usr/bin/env behind the
// static loader) see exactly what the original container's kubelet env
// gives them.
func TestAdmissionEnvTable(t *testing.T) {
	shells := shelltest.All(t)
	if len(shells) == 0 {
		t.Skip("none of dash, bash, busybox installed")
	}
	res := compileOne(t, "kind: pipeline\ntype: kubernetes\nname: table\nsteps:\n- name: test\n  image: alpine:3.20\n  commands: [\"true\"]\n- name: notify\n  image: plugins/slack:1.4.1\n  settings: {webhook: x}\n")
	pod := res.Pod.DeepCopy()
	for i := range pod.Spec.Containers {
		if stepName(pod.Spec.Containers[i]) == "test" || stepName(pod.Spec.Containers[i]) == "notify" {
			pod.Spec.Containers[i].Env = append(pod.Spec.Containers[i].Env, envTable...)
		}
	}
	// As the API server holds it (JSON).
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	var wire corev1.Pod
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}

	// The lowest budget the webhook meets moves everything it may.
	o := admission.DefaultOptions()
	o.LoaderImage = "drone-convert-eci:test"
	var mutated *corev1.Pod
	var rep admission.Report
	for o.Budget = 0; o.Budget < 400; o.Budget++ {
		mutated, rep, _ = review(t, &wire, o)
		if len(rep.Containers) > 0 && len(rep.Problems()) == 0 {
			break
		}
	}
	if len(rep.Problems()) > 0 || len(rep.Containers) < 2 {
		t.Fatalf("the webhook did not move all it may from both containers: %s", rep)
	}
	// One budget for all: the plugin's PLUGIN_WEBHOOK takes the place of
	// the last name in order, lower, in its container.
	mustMove := []string{"T_DOLLARS", "T_PASSWORD", "T_REF", "T_ESCAPED_REF", "T_UNDEFINED", "T_TRAILING", "T_CR", "T_BACKSLASHES", "T_PRINTF",
		"T_BACKTICKS", "T_NON_ASCII", "T_INVALID_UTF8", "T_EMPTY", "T_BIG", "A1"}
	mustStay := []string{"T_NEWLINE", "T_LINK", "T_NOT_ASCII_AFTER_DOLLAR", "_", "UID", "EUID", "BASH_VERSINFO", "GROUPS", "OPTERR", "SHLVL", "__dce", "__dcl", "PATH"}
	for _, c := range rep.Containers {
		if c.Step != "test" && c.Step != "notify" {
			continue
		}
		for _, name := range mustMove {
			if !slices.Contains(c.Moved, name) {
				t.Errorf("%s: %s not moved", c.Step, name)
			}
		}
		for _, name := range mustStay {
			if slices.Contains(c.Moved, name) {
				t.Errorf("%s: %s moved", c.Step, name)
			}
		}
	}

	files := map[string]string{envfile.DownwardFile: downwardFile(mutated.Annotations)}
	workdir := t.TempDir()
	loader := buildStaticLoader(t)
	for i := range mutated.Spec.Containers {
		after, before := &mutated.Spec.Containers[i], &wire.Spec.Containers[i]
		switch stepName(*before) {
		case "test":
			for _, sh := range shells {
				envA, setA := stepVariables(t, sh, workdir, after, res.Secret, files)
				envB, setB := stepVariables(t, sh, workdir, before, res.Secret, nil)
				if envA != envB {
					t.Errorf("%s: command step: environment differs\n%s", sh.Name, lineDiff(envB, envA))
				}
				if setA != setB {
					t.Errorf("%s: command step: shell variables differ\n%s", sh.Name, lineDiff(setB, setA))
				}
			}
		case "notify":
			env := containerEnv(after, res.Secret)
			args := argv(after, env)
			dash := slices.Index(args, "--")
			if dash < 0 || args[0] != admission.LoaderPath {
				t.Fatalf("plugin step: not on the static loader: %q", args)
			}
			downward := filepath.Join(t.TempDir(), "env")
			if err := os.WriteFile(downward, []byte(files[envfile.DownwardFile]), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(loader, "run", "--key", args[3], "--file", downward, "--", "/usr/bin/env", "-0")
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("static loader: %v: %s", err, stderr.String())
			}
			got := sortedNUL(string(out))
			want := sortedNUL(strings.Join(containerEnv(before, res.Secret), "\x00"))
			if got != want {
				t.Errorf("plugin step: /usr/bin/env behind the static loader sees a different environment\n%s", lineDiff(want, got))
			}
		}
	}
}

func stepName(c corev1.Container) string {
	for _, e := range c.Env {
		if e.Name == "DRONE_STEP_NAME" {
			return e.Value
		}
	}
	return ""
}

// buildStaticLoader builds cmd/eci-env-loader.
func buildStaticLoader(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "eci-env-loader")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/eci-env-loader")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build eci-env-loader: %v\n%s", err, b)
	}
	return out
}

// TestAdmissionLiveStatus: a plugin built on godotenv v1.5.1 (the
// stand-in cmd/eci-env-loader/internal/godotenvplugin: Overload of the
// runner's file, then DRONE_BUILD_STATUS), started through the command
// the webhook gives a container in a converted runner pod, with the
// downward-API file in the kubelet's format holding the pod's
// annotations and the runner's status keys at "failure", prints
// "failure": a plugin step with its env within the budget (wrapped for
// the status alone) and over it (variables moved), the clone over it
// (static loader), and a service whose image has a shell over it (the
// shell loader, under dash, bash started as sh and busybox ash). A
// service with a shell within the budget is left as it is.
func TestAdmissionLiveStatus(t *testing.T) {
	res := compileOne(t, "kind: pipeline\ntype: kubernetes\nname: status\nsteps:\n- name: test\n  image: alpine:3.20\n  commands: [\"false\"]\n- name: notify\n  image: plugins/slack:1.4.1\n  settings: {webhook: x}\n  when: {status: [success, failure]}\nservices:\n- name: cache\n  image: redis:7\n")
	loader := buildStaticLoader(t)
	standin := filepath.Join(t.TempDir(), "plugin")
	build := exec.Command("go", "build", "-o", standin, "../cmd/eci-env-loader/internal/godotenvplugin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build plugin: %v\n%s", err, out)
	}
	shells := shelltest.All(t)
	// run starts argv with the container's env and returns what the
	// stand-in printed.
	run := func(name string, env, argv []string) string {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v: %s", name, err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		name   string
		budget int
	}{{"within the budget", 200}, {"over the budget", 60}} {
		o := admission.DefaultOptions()
		o.LoaderImage = "drone-convert-eci:test"
		o.Budget = c.budget
		mutated, rep, _ := review(t, res.Pod, o)
		// The runner, when it starts a step, writes the live status
		// as annotations; the kubelet rewrites the file.
		annotations := map[string]string{}
		for k, v := range mutated.Annotations {
			annotations[k] = v
		}
		for _, k := range envfile.StatusKeys {
			annotations[k] = "failure"
		}
		downward := filepath.Join(t.TempDir(), "env")
		if err := os.WriteFile(downward, []byte(downwardFile(annotations)), 0o644); err != nil {
			t.Fatal(err)
		}
		checked := map[string]bool{}
		for i := range mutated.Spec.Containers {
			container, before := &mutated.Spec.Containers[i], &res.Pod.Spec.Containers[i]
			step := stepName(*container)
			if i == 0 {
				step = admission.CloneStep
			}
			env := containerEnv(container, res.Secret)
			// Alone, on the same file, the stand-in sees the pod's
			// creation status.
			if got := run(step+" alone", env, []string{standin, downward}); got == "DRONE_BUILD_STATUS=failure" {
				t.Fatalf("%s: the plugin alone read the live status: the test proves nothing", c.name)
			}
			args := argv(container, env)
			switch {
			case step == "test":
				continue // a command step sees what it saw before
			case step == "cache" && c.budget > len(before.Env):
				if !slices.Equal(container.Command, before.Command) || !slices.Equal(container.Args, before.Args) {
					t.Errorf("%s: a service with a shell within the budget was wrapped: %q %q", c.name, container.Command, container.Args)
				}
				checked[step] = true
				continue
			case step == "cache":
				// sh -c 'LOADER; STATUS; exec "$0" "$@"' ENTRYPOINT CMD,
				// the stand-in in place of the image's entrypoint.
				if len(args) < 4 || args[0] != "/bin/sh" || args[1] != "-c" {
					t.Fatalf("%s: the service is not on the shell loader: %q (%s)", c.name, args, rep)
				}
				args = append(slices.Clone(args[:4]), downward)
				args[2] = strings.ReplaceAll(args[2], envfile.DownwardFile, downward)
				args[3] = standin
				for _, sh := range shells {
					if got := run(sh.Name+" "+step, env, sh.Command(args)); got != "DRONE_BUILD_STATUS=failure" {
						t.Errorf("%s, %s: the service printed %q", c.name, sh.Name, got)
					}
				}
				checked[step] = len(shells) > 0
				continue
			case step == admission.CloneStep && c.budget > len(before.Env):
				continue // the clone reads no status: left as it is
			}
			dash := slices.Index(args, "--")
			if len(args) == 0 || args[0] != admission.LoaderPath || dash < 0 {
				t.Fatalf("%s: %s is not on the static loader: %q (%s)", c.name, step, args, rep)
			}
			// The loader and the plugin read the file at its test path;
			// the plugin stands in for the recorded entrypoint.
			static := append(append([]string{loader}, args[1:dash]...), "--file", downward, "--", standin, downward)
			if got := run(step, env, static); got != "DRONE_BUILD_STATUS=failure" {
				t.Errorf("%s: %s printed %q (%s)", c.name, step, got, rep)
			}
			checked[step] = true
		}
		want := []string{"cache", "notify"}
		if c.budget < 100 {
			want = append(want, admission.CloneStep)
		}
		for _, step := range want {
			if !checked[step] {
				t.Errorf("%s: %s not checked", c.name, step)
			}
		}
	}
}

// compileOne converts a one-pipeline config with entrypoints recorded
// and compiles it with drone-runner-kube for a push.
func compileOne(t *testing.T, yml string) runnertest.Result {
	t.Helper()
	cfg := config.Default()
	cfg.Webhook.RecordEntrypoints = true
	result, err := plugin.NewConverter(cfg).Convert(plugin.Input{Config: []byte(yml), Repo: "octo/hello-world", OptInAll: true})
	if err != nil {
		t.Fatal(err)
	}
	results, err := runnertest.Compile(result.Config, runnertest.Options{})
	if err != nil || len(results) != 1 {
		t.Fatalf("compile: %v", err)
	}
	return results[0]
}
