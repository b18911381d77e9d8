package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/shelltest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// downwardFile is the runner's downward-API file as the kubelet writes
// it: one key="value" line per annotation, keys sorted, values Go-quoted
// (%q), no newline after the last line (kubernetes pkg/fieldpath
// FormatMap).
func downwardFile(annotations map[string]string) string {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%v=%q\n", k, annotations[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// serviceLinks are the variables the kubelet derives from the services
// a pod may see (pkg/kubelet/envvars FromServices): the API server's
// "kubernetes" service, which every namespace sees.
var serviceLinks = [][2]string{
	{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}, {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
	{"KUBERNETES_PORT", "tcp://10.96.0.1:443"}, {"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"},
	{"KUBERNETES_PORT_443_TCP_PROTO", "tcp"}, {"KUBERNETES_PORT_443_TCP_PORT", "443"}, {"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"},
}

// containerEnv is the environment the kubelet gives the container
// (makeEnvironmentVariables): entries in order, secret refs resolved
// from the pod's Secret (optional refs to missing keys are left out),
// the node name, each plain value expanded against the entries before
// it and the service links (kubeExpand), a later entry of the same
// name winning; then the service links the container does not define.
func containerEnv(c *corev1.Container, secret *corev1.Secret) []string {
	links := map[string]string{}
	for _, l := range serviceLinks {
		links[l[0]] = l[1]
	}
	values := map[string]string{}
	var order []string
	for _, e := range c.Env {
		value := e.Value
		switch {
		case e.ValueFrom == nil:
			value = kubeExpandWith(value, func(name string) (string, bool) {
				if v, ok := values[name]; ok {
					return v, true
				}
				v, ok := links[name]
				return v, ok
			})
		case e.ValueFrom.SecretKeyRef != nil:
			v, ok := secret.StringData[e.ValueFrom.SecretKeyRef.Key]
			if !ok {
				continue
			}
			value = v
		case e.ValueFrom.FieldRef != nil:
			value = "virtual-kubelet-node"
		}
		if _, ok := values[e.Name]; !ok {
			order = append(order, e.Name)
		}
		values[e.Name] = value
	}
	env := make([]string, 0, len(order)+len(serviceLinks))
	for _, name := range order {
		env = append(env, name+"="+values[name])
	}
	for _, l := range serviceLinks {
		if _, ok := values[l[0]]; !ok {
			env = append(env, l[0]+"="+l[1])
		}
	}
	return env
}

// sortedEnv is c with its env sorted by name. The runner orders a
// container's env as a Go map iterates, so a value that refers to
// another entry reads it in some pods and not in others; comparing two
// compilations needs one order for both.
func sortedEnv(c *corev1.Container) *corev1.Container {
	c = c.DeepCopy()
	sort.SliceStable(c.Env, func(i, j int) bool { return c.Env[i].Name < c.Env[j].Name })
	return c
}

// stepVariables runs the step's container command with a real shell
// as /bin/sh (sh: dash, bash started as sh or busybox ash)
// exactly as the runner starts it (entrypoint, args, env from the
// compiled pod), with the user's commands replaced by a dump of what
// the shell then holds: the environment its commands inherit (env -0)
// and its own variables (set). Only the part of the runner's script
// before the first user command runs: the preamble, and the loader when
// there is one. files are materialised first and their paths
// substituted in the script.
func stepVariables(t *testing.T, sh shelltest.Shell, workdir string, c *corev1.Container, secret *corev1.Secret, files map[string]string) (environ, shellVars string) {
	t.Helper()
	dir := t.TempDir()
	env := containerEnv(c, secret)
	// Materialise the files; their paths are substituted in the script
	// and in the container's command and args.
	var paths []string
	for path, content := range files {
		local := filepath.Join(dir, strings.ReplaceAll(strings.Trim(path, "/"), "/", "_"))
		if err := os.WriteFile(local, []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path, local)
	}
	localPaths := strings.NewReplacer(paths...)
	for i, kv := range env {
		if !strings.HasPrefix(kv, "DRONE_SCRIPT=") {
			continue
		}
		script := strings.TrimPrefix(kv, "DRONE_SCRIPT=")
		cut := strings.Index(script, "\necho + ")
		if i := strings.Index(script, "\n"+envfile.LoaderMark); i >= 0 {
			// The loader ran first: keep through its line.
			cut = i + 1 + strings.Index(script[i+1:], "\n")
		}
		if cut < 0 {
			t.Fatalf("no user command in the script:\n%s", script)
		}
		script = localPaths.Replace(script[:cut])
		script += fmt.Sprintf("\nenv -0 > %s/env.dump\nset > %s/set.dump\n", dir, dir)
		env[i] = "DRONE_SCRIPT=" + script
	}
	if len(c.Command) == 0 {
		t.Fatalf("container %s has no command: not a command step", c.Name)
	}
	argv := append(slices.Clone(c.Command), c.Args...)
	for i := range argv {
		argv[i] = localPaths.Replace(kubeExpand(argv[i], env))
	}
	argv = sh.Command(argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = workdir // the same for both runs: PWD is a variable too
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("%s: step script failed: %v\nstdout:\n%s\nstderr:\n%s\nscript:\n%s\nfiles: %q", sh.Name, err, out, stderr.String(), scriptOf(cmd.Env), files)
	}
	e, err := os.ReadFile(filepath.Join(dir, "env.dump"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.ReadFile(filepath.Join(dir, "set.dump"))
	if err != nil {
		t.Fatal(err)
	}
	// PPID is the only variable that differs between two runs of the
	// same shell.
	var kept []string
	for _, line := range strings.Split(string(s), "\n") {
		if !strings.HasPrefix(line, "PPID=") {
			kept = append(kept, line)
		}
	}
	return sortedNUL(string(e)), strings.Join(kept, "\n")
}

// kubeExpand expands $(VAR) references in a container's command or
// args as the kubelet does, against the container's final env.
func kubeExpand(s string, env []string) string {
	values := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		values[k] = v
	}
	return kubeExpandWith(s, func(name string) (string, bool) { v, ok := values[name]; return v, ok })
}

// kubeExpandWith is the kubelet's expansion (kubernetes
// third_party/forked/golang/expansion), written here apart from
// internal/kubeexpand so that the tests do not check the project
// against itself: "$$" is "$", "$(NAME)" is NAME's value when lookup
// knows it and stays as written otherwise, NAME running to the first
// ")"; any other "$" is itself.
func kubeExpandWith(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func sortedNUL(s string) string {
	entries := strings.Split(strings.TrimSuffix(s, "\x00"), "\x00")
	sort.Strings(entries)
	return strings.Join(entries, "\n---\n")
}

// liveFailure is the runner's status annotations after a failed step
// (engine/const.go statusesWhiteList).
var liveFailure = map[string]string{
	"DRONE_BUILD_STATUS": "failure", "DRONE_BUILD_FINISHED": "1735689700",
	"DRONE_STAGE_STATUS": "failure", "DRONE_STAGE_FINISHED": "1735689700",
}

// TestEnvFilesEquivalence: for every converted config the project knows
// (testdata goldens and the public corpus), on push, pull request and
// tag builds of an untrusted repo, each command step's shell sees the
// same variables, names and exact values, before and after conversion,
// with the env file materialised the way the kubelet writes it and the
// container's env built as the kubelet builds it, under dash, bash
// started as sh and busybox ash.
func TestEnvFilesEquivalence(t *testing.T) {
	if len(liveFailure) != len(envfile.StatusKeys) {
		t.Fatal("liveFailure does not hold every status key")
	}
	shells := shelltest.All(t)
	if len(shells) == 0 {
		t.Skip("none of dash, bash, busybox installed")
	}
	secrets := map[string]string{"token": "s3cr3t\nwith newline", "key": "k"}
	steps := 0
	loaded := 0
	workdir := t.TempDir()
	for _, c := range convertedConfigs(t) {
		t.Run(c.Name, func(t *testing.T) {
			if c.TrustedOnly && !strings.HasPrefix(c.Name, "testdata/env_") {
				// Converted for a trusted repo with settings of their own
				// (kaniko_host_claim drops DOCKER_HOST with the Docker
				// daemon, on purpose and reported): the original is not
				// the right baseline for the env transform.
				t.Skip("trusted-only case of another transform")
			}
			for _, event := range []string{runnertest.EventPush, runnertest.EventPullRequest, runnertest.EventTag} {
				opts := runnertest.Options{Event: event, Secrets: secrets, Trusted: c.TrustedOnly}
				baseline := c.Input
				if c.Baseline != nil {
					baseline = c.Baseline
				}
				before, err := runnertest.Compile(baseline, opts)
				if err != nil {
					t.Logf("%s: original does not compile: %v", event, err)
					continue
				}
				after, err := runnertest.Compile(c.Output, opts)
				if err != nil {
					t.Fatalf("%s: converted config does not compile: %v", event, err)
				}
				for _, a := range after {
					if !c.Converted[a.Pipeline] {
						continue
					}
					var b *runnertest.Result
					for i := range before {
						if before[i].Pipeline == a.Pipeline {
							b = &before[i]
						}
					}
					if b == nil {
						t.Fatalf("pipeline %q missing before conversion", a.Pipeline)
					}
					// The runner's live status, as it writes it when it
					// starts a step after a failure: a command step's
					// loader (either carrier) must not set it, the step
					// sees its env's value as before (docs/operators.md "Known
					// issues").
					annotations := maps.Clone(a.Pod.Annotations)
					if annotations == nil {
						annotations = map[string]string{}
					}
					for k, v := range liveFailure {
						annotations[k] = v
					}
					files := map[string]string{"/run/drone/env": downwardFile(annotations)}
					for path, data := range envSecretFiles(t, c) {
						files[path] = data
					}
					for _, s := range a.Spec.Steps {
						ca, _ := a.Container(s.Name)
						cb, sb := b.Container(s.Name)
						if ca == nil || cb == nil || sb == nil || len(cb.Command) == 0 || len(ca.Command) == 0 {
							continue
						}
						steps++
						under := shells[:1] // a step without a loader runs as before
						if strings.Contains(runnertest.Env(ca, "DRONE_SCRIPT").Value, envfile.LoaderMark) {
							loaded++
							under = shellsFor(shells, !strings.HasPrefix(c.Name, "testdata/"), event)
						}
						for _, sh := range under {
							envA, setA := stepVariables(t, sh, workdir, sortedEnv(ca), a.Secret, files)
							envB, setB := stepVariables(t, sh, workdir, sortedEnv(cb), b.Secret, nil)
							// The pod's random names differ between two
							// compilations; compare through normalisation.
							envA = renameRandom(envA, &a, b)
							setA = renameRandom(setA, &a, b)
							if envA != envB {
								t.Errorf("%s, %s: pipeline %q step %q: environment differs\n%s", sh.Name, event, a.Pipeline, s.Name, lineDiff(envB, envA))
							}
							if setA != setB {
								t.Errorf("%s, %s: pipeline %q step %q: shell variables differ\n%s", sh.Name, event, a.Pipeline, s.Name, lineDiff(setB, setA))
							}
						}
					}
				}
			}
		})
	}
	t.Logf("%d command steps compared, %d of them loading an env file", steps, loaded)
	if loaded == 0 {
		t.Error("no step loaded an env file: the test proves nothing")
	}
}

// shellsFor are the shells a step runs under in the e2e env tests:
// every one for the project's own testdata, which holds the edge cases,
// and for the corpus on push builds; the first present (dash, Debian's
// /bin/sh) alone for the corpus on pull requests and tags, whose extra
// runner variables are plain values. It keeps CI within its time.
func shellsFor(shells []shelltest.Shell, corpus bool, event string) []shelltest.Shell {
	if !corpus || event == runnertest.EventPush || len(shells) == 0 {
		return shells
	}
	return shells[:1]
}

// renameRandom maps the converted pod's random names (pod, workspace
// volume) to the original's, so the dumps compare.
func renameRandom(s string, a, b *runnertest.Result) string {
	pairs := []string{a.Pod.Name, b.Pod.Name}
	for i := range a.Spec.Volumes {
		if i < len(b.Spec.Volumes) && a.Spec.Volumes[i].EmptyDir != nil && b.Spec.Volumes[i].EmptyDir != nil {
			pairs = append(pairs, a.Spec.Volumes[i].EmptyDir.ID, b.Spec.Volumes[i].EmptyDir.ID)
		}
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func lineDiff(want, got string) string {
	w := map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		w[l] = true
	}
	g := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		g[l] = true
	}
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			fmt.Fprintf(&b, "- %q\n", l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			fmt.Fprintf(&b, "+ %q\n", l)
		}
	}
	return b.String()
}

func scriptOf(env []string) string {
	for _, kv := range env {
		if s, ok := strings.CutPrefix(kv, "DRONE_SCRIPT="); ok {
			return s
		}
	}
	return ""
}

// envSecretFiles are the env files of the secret carrier, at their
// mount paths, for a testdata case converted for a trusted repo with a
// Secret store (env_secret_*): the case is converted again with a
// recording store, and must give the same output.
func envSecretFiles(t *testing.T, c convertedConfig) map[string]string {
	t.Helper()
	if !c.TrustedOnly || !bytes.Contains(c.Output, []byte("secret_name: "+transform.EnvSecretPrefix)) {
		return nil
	}
	cfg := config.Default()
	cfg.EnvFiles.When = transform.EnvAlways
	store := &recordingStore{}
	result, err := plugin.NewConverter(cfg).WithSecretStore(store).Convert(plugin.Input{Config: c.Input, Repo: "octo/hello-world", Trusted: true})
	if err != nil || !bytes.Equal(result.Config, c.Output) {
		t.Fatalf("%s: converting again with a store does not give the golden output (%v)", c.Name, err)
	}
	files := map[string]string{}
	for name, data := range store.data {
		id := strings.TrimPrefix(name, transform.EnvSecretPrefix)
		files[transform.EnvMountRoot+"/"+id+"/"+transform.EnvSecretKey] = string(data[transform.EnvSecretKey])
	}
	return files
}

type recordingStore struct{ data map[string]map[string][]byte }

func (r *recordingStore) Ensure(_ context.Context, _, name string, data map[string][]byte) error {
	if r.data == nil {
		r.data = map[string]map[string][]byte{}
	}
	r.data[name] = data
	return nil
}

// TestEnvCountsMatchRunnerPod: on the pod drone-runner-kube builds for
// every converted config (untrusted, push, no netrc, no runner globals),
// each step's container carries exactly the env vars the report counts
// for it, minus the configured overhead the test runner does not add.
// The counts before and after conversion are the runner's, not guesses.
func TestEnvCountsMatchRunnerPod(t *testing.T) {
	overhead := config.Default().EnvFiles.Overhead
	// The author's report gives a step's count when it changed (env
	// files on, no webhook); kept containers are the operator's notes.
	line := regexp.MustCompile(`env: (?:step|service) "([^"]*)" (?:\d+ → (\d+) env vars)()`)
	checked, exact := 0, 0
	for _, c := range convertedConfigs(t) {
		args, _ := os.ReadFile("../testdata/convert/" + strings.TrimPrefix(c.Name, "testdata/") + ".args")
		if c.TrustedOnly || bytes.Contains(args, []byte("event: ")) || bytes.Contains(args, []byte("env-overhead: ")) {
			continue // counted for another build than this one
		}
		results, err := runnertest.Compile(c.Output, runnertest.Options{})
		if err != nil {
			continue // reported by TestRunnerSchedulesOnVirtualNode
		}
		for _, r := range results {
			if !c.Converted[r.Pipeline] {
				continue
			}
			report := r.Pod.Annotations["drone-convert-eci/report"]
			for _, m := range line.FindAllStringSubmatch(report, -1) {
				want := m[2] + m[3]
				container, _ := r.Container(m[1])
				if container == nil {
					continue // a step the runner skips, or a duplicate name
				}
				n, _ := strconv.Atoi(want)
				switch got := len(container.Env) + overhead; {
				case got > n:
					t.Errorf("%s: pipeline %q step %q: the report counts %d env vars (with overhead %d), the runner's pod has more: %d", c.Name, r.Pipeline, m[1], n, overhead, len(container.Env))
				case got == n:
					exact++
				default:
					// Values substituted to nothing on this event (say
					// ${DRONE_TAG} on a push) are dropped by the runner.
					t.Logf("%s: pipeline %q step %q: report %d, pod %d+%d", c.Name, r.Pipeline, m[1], n, len(container.Env), overhead)
				}
				checked++
			}
		}
	}
	t.Logf("%d step counts checked against the runner's pod, %d exactly equal", checked, exact)
	if checked == 0 {
		t.Error("no report counts found")
	}
}
