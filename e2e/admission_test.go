package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/reference"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drone-convert-eci/drone-convert-eci/admission"
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/shelltest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// admissionConfigs converts every testdata input and corpus file with
// every kubernetes pipeline opted in, for an untrusted repo, with the
// converter recording entrypoints for the webhook.
func admissionConfigs(t *testing.T) []convertedConfig {
	t.Helper()
	cfg := config.Default()
	cfg.Webhook.RecordEntrypoints = true
	inputs, _ := filepath.Glob("../testdata/convert/*.yml")
	own := len(inputs)
	inputs = append(inputs, corpusFiles(t)...)
	var out []convertedConfig
	for i, file := range inputs {
		input, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		result, err := plugin.NewConverter(cfg).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true})
		if err != nil || result.Config == nil {
			continue
		}
		c := convertedConfig{Name: filepath.Base(file), Input: input, Output: result.Config, Converted: map[string]bool{}, Corpus: i >= own}
		for _, o := range result.Outcomes {
			if o.Converted {
				c.Converted[o.Pipeline] = true
			}
		}
		out = append(out, c)
	}
	return out
}

// review sends pod to the webhook as the API server would and applies
// the answer's JSON patch with an independent JSON-patch library; the
// result must decode strictly as a v1.Pod.
func review(t *testing.T, pod *corev1.Pod, o admission.Options) (*corev1.Pod, admission.Report, []byte) {
	t.Helper()
	pod = pod.DeepCopy()
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	in := &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("req-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: pod.Namespace,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	// Through JSON both ways, as on the wire.
	wire, _ := json.Marshal(in)
	var got admissionv1.AdmissionReview
	if err := json.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	resp, r, err := admission.ReviewResponse(&got, o)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Response.Allowed || resp.Response.UID != "req-1" {
		t.Fatalf("not allowed: %+v", resp.Response)
	}
	patched := raw
	if len(resp.Response.Patch) > 0 {
		if *resp.Response.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch type %v", *resp.Response.PatchType)
		}
		patch, err := jsonpatch.DecodePatch(resp.Response.Patch)
		if err != nil {
			t.Fatal(err)
		}
		if patched, err = patch.Apply(raw); err != nil {
			t.Fatal(err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(patched))
	dec.DisallowUnknownFields()
	var out corev1.Pod
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("the patched pod does not decode strictly: %v", err)
	}
	return &out, r, resp.Response.Patch
}

// podProblems are the named checks a mutated pod must pass.
func podProblems(pod *corev1.Pod) []string {
	var problems []string
	names := map[string]bool{}
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		if names[c.Name] {
			problems = append(problems, "unique container names: "+c.Name+" twice")
		}
		names[c.Name] = true
	}
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if volumes[v.Name] {
			problems = append(problems, "unique volume names: "+v.Name+" twice")
		}
		volumes[v.Name] = true
	}
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				problems = append(problems, fmt.Sprintf("every mount has a volume: %s mounts %s", c.Name, m.Name))
			}
			if paths[m.MountPath] {
				problems = append(problems, fmt.Sprintf("unique mount paths: %s mounts %s twice", c.Name, m.MountPath))
			}
			paths[m.MountPath] = true
		}
	}
	size := 0
	for k, v := range pod.Annotations {
		size += len(k) + len(v)
	}
	if size > 256<<10 {
		problems = append(problems, fmt.Sprintf("annotations under 256 KiB: %d bytes", size))
	}
	return problems
}

// TestAdmissionRunnerPods: the pods drone-runner-kube's engine creates
// for push, pull request and tag builds of every converted testdata and
// corpus config go through the webhook as AdmissionReviews. Every
// container ends within the budget (or is reported as kept, which only
// services and steps the converter could not record may be); the pod
// passes the named checks; each command step's shell, run with a real
// /bin/sh, sees exactly the variables it saw before; each container on
// the static loader, run for real in a root laid out like its image,
// execs with exactly the original environment; and under the
// placeholder image every mutated container sleeps as before.
func TestAdmissionRunnerPods(t *testing.T) {
	shells := shelltest.All(t)
	if len(shells) == 0 {
		t.Skip("none of dash, bash, busybox installed")
	}
	o := admission.DefaultOptions()
	o.LoaderImage = "drone-convert-eci:test"
	secrets := map[string]string{"token": "s3cr3t\nwith newline", "docker_password": "p'w\"d", "docker_username": "u"}
	tools := admissionTools(t)
	dumper := buildDumper(t)
	workdir := t.TempDir()
	stats := map[string]int{}
	keptImages := map[string]int{}
	placeholderRuns := map[string]int{}
	for _, c := range admissionConfigs(t) {
		t.Run(c.Name, func(t *testing.T) {
			for _, event := range []string{runnertest.EventPush, runnertest.EventPullRequest, runnertest.EventTag} {
				results, err := runnertest.Compile(c.Output, runnertest.Options{Event: event, Secrets: secrets, Message: hostileMessage})
				if err != nil {
					continue // refused by the runner: the sizing and runner tests report it
				}
				for _, res := range results {
					if !c.Converted[res.Pipeline] {
						continue
					}
					stats["pods"]++
					mutated, rep, patch := review(t, res.Pod, o)
					if rep.Skipped != "" {
						// Not the webhook's (another node selector, say).
						if len(patch) != 0 {
							t.Errorf("%s %s: skipped (%s) with a patch", event, res.Pipeline, rep.Skipped)
						}
						stats["pods not ours"]++
						continue
					}
					if again, _, patch := review(t, mutated, o); len(patch) != 0 || !slices.EqualFunc(again.Spec.Containers, mutated.Spec.Containers, func(a, b corev1.Container) bool { return a.Name == b.Name && len(a.Env) == len(b.Env) }) {
						t.Errorf("%s %s: a second admission changed the pod", event, res.Pipeline)
					}
					for _, p := range podProblems(mutated) {
						t.Errorf("%s %s: %s", event, res.Pipeline, p)
					}
					kept := map[string]string{}
					for _, k := range rep.Problems() {
						kept[k.Container] = k.Problem
					}
					files := map[string]string{envfile.DownwardFile: downwardFile(mutated.Annotations)}
					for i := range mutated.Spec.Containers {
						after, before := &mutated.Spec.Containers[i], &res.Pod.Spec.Containers[i]
						step := stepOf(res, before)
						if len(after.Env) > o.Budget {
							if kept[after.Name] == "" {
								t.Errorf("%s %s %s: %d env vars and not reported", event, res.Pipeline, step.Name, len(after.Env))
							}
							if len(before.Command) > 0 || inTable(step.Image) {
								t.Errorf("%s %s step %q: a command step or one whose image is in the built-in entrypoint table kept over the budget: %s", event, res.Pipeline, step.Name, kept[after.Name])
							}
							stats["kept over budget"]++
							keptImages[familiar(step.Image)]++
							t.Logf("%s %s %q (%s): kept: %s", event, res.Pipeline, step.Name, step.Image, kept[after.Name])
							continue
						}
						if len(after.Env) == len(before.Env) && slices.Equal(after.Command, before.Command) {
							continue
						}
						if len(after.Env) == len(before.Env) {
							// Within the budget, on the static loader for
							// the live status (ECI's annotation keys).
							stats["wrapped for the live status"]++
						}
						stats["mutated containers"]++
						kind := "static"
						switch {
						case len(before.Command) > 0:
							kind = "shell"
							stats["shell loader"]++
							for _, sh := range shellsFor(shells, c.Corpus, event) {
								envA, setA := stepVariables(t, sh, workdir, after, res.Secret, files)
								envB, setB := stepVariables(t, sh, workdir, before, res.Secret, map[string]string{envfile.DownwardFile: downwardFile(res.Pod.Annotations)})
								if envA != envB {
									t.Errorf("%s, %s %s step %q: environment differs\n%s", sh.Name, event, res.Pipeline, step.Name, lineDiff(envB, envA))
								}
								if setA != setB {
									t.Errorf("%s, %s %s step %q: shell variables differ\n%s", sh.Name, event, res.Pipeline, step.Name, lineDiff(setB, setA))
								}
							}
						case slices.Equal(after.Command, []string{"/bin/sh", "-c"}):
							// A service (ENTRYPOINT + CMD) through the
							// shell loader, run with a real /bin/sh.
							kind = "service"
							stats["service shell loader"]++
							want := sortedNUL(strings.Join(containerEnv(before, res.Secret), "\x00"))
							for _, sh := range shellsFor(shells, c.Corpus, event) {
								got := serviceEnv(t, sh, workdir, dumper, after, res.Secret, files)
								if got != want {
									t.Errorf("%s, %s %s service %q: the entrypoint's environment differs\n%s", sh.Name, event, res.Pipeline, step.Name, lineDiff(want, got))
								}
							}
						default:
							stats["static loader"]++
							if tools == nil {
								continue
							}
							got := tools.runStatic(t, after, res.Secret, files[envfile.DownwardFile])
							want := sortedNUL(strings.Join(containerEnv(before, res.Secret), "\x00"))
							if got != want {
								t.Errorf("%s %s step %q: the entrypoint's environment differs\n%s", event, res.Pipeline, step.Name, lineDiff(want, got))
							}
						}
						if tools != nil && placeholderRuns[kind] < 3 {
							placeholderRuns[kind]++
							if err := tools.placeholderSleeps(after, res.Secret, files[envfile.DownwardFile]); err != nil {
								t.Errorf("%s %s step %q under the placeholder image: %v", event, res.Pipeline, step.Name, err)
							}
						}
					}
				}
			}
		})
	}
	t.Logf("%v; placeholder phase run for %v; kept over budget by image: %v", stats, placeholderRuns, keptImages)
	// What stays over the budget is only what the table leaves out:
	// images not verified from their Dockerfile (sspringett/nvdmirror,
	// private registries) and steps without commands on a non-plugin
	// image (golang).
	for image := range keptImages {
		if !slices.Contains(uncoveredImages, image) {
			t.Errorf("%s kept over the budget: not an image docs/how-it-works.md lists as uncovered", image)
		}
	}
	if stats["shell loader"] == 0 || stats["static loader"] == 0 || stats["service shell loader"] == 0 {
		t.Error("no container used the shell loader, the static loader or the service shell loader: the test proves nothing")
	}
	if tools != nil && (placeholderRuns["shell"] == 0 || placeholderRuns["static"] == 0 || placeholderRuns["service"] == 0) {
		t.Error("the placeholder phase was not run for every loader")
	}
}

// hostileMessage is the commit message of the builds the webhook sees:
// what the kubelet expands ("$$", "$(NAME)", a trailing "$") and what
// the env file must carry byte for byte. One line, without ": " or
// " #", so that configs which substitute it into YAML still parse.
const hostileMessage = "Escape $$ in Makefile, pa$$word $(HOME) $$(HOME) $(DRONE_BRANCH) 100% %b `id` 'q' \"dq\" back\\slash\ttab é 5$"

// uncoveredImages are the images of the testdata and corpus whose
// containers may stay over the budget (docs/how-it-works.md "Admission webhook").
var uncoveredImages = []string{"golang", "sspringett/nvdmirror"}

// inTable says whether image's repository is in the built-in
// entrypoint table.
func inTable(image string) bool {
	_, ok := transform.DefaultEntrypoints()[familiar(image)]
	return ok
}

func familiar(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(named)
}

func stepOf(r runnertest.Result, c *corev1.Container) struct{ Name, Image string } {
	for _, s := range r.Spec.Steps {
		if s.ID == c.Name {
			return struct{ Name, Image string }{s.Name, s.Image}
		}
	}
	return struct{ Name, Image string }{c.Name, ""}
}

// buildDumper builds the environment dumper that stands in for a
// step's or service's entrypoint: it writes its environment,
// NUL-separated, to stdout.
func buildDumper(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "dumper.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport (\n\t\"os\"\n\t\"strings\"\n)\n\nfunc main() { os.Stdout.WriteString(strings.Join(os.Environ(), \"\\x00\")) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "dumper"), src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build dumper: %v\n%s", err, b)
	}
	return filepath.Join(dir, "dumper")
}

// serviceEnv runs a service container on the shell loader (sh -c
// 'LOADER; STATUS; exec "$0" "$@"' ENTRYPOINT ARG...) with a real shell as
// /bin/sh, its ENTRYPOINT replaced by the dumper and the downward-API
// file materialised, and returns the environment the entrypoint was
// exec'd with, less what docs/how-it-works.md says the shell adds ("What a
// service's entrypoint sees that it did not before"): PWD, the working
// directory, under every shell; SHLVL, 0 under bash started as sh and 1
// under busybox ash; busybox's default PATH; each only when the
// original container had none.
func serviceEnv(t *testing.T, sh shelltest.Shell, workdir, dumper string, c *corev1.Container, secret *corev1.Secret, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for path, content := range files {
		local := filepath.Join(dir, strings.ReplaceAll(strings.Trim(path, "/"), "/", "_"))
		if err := os.WriteFile(local, []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path, local)
	}
	env := containerEnv(c, secret)
	args := argv(c, env)
	if len(args) < 4 || args[0] != "/bin/sh" || args[1] != "-c" {
		t.Fatalf("%s: not a service shell loader command: %q", c.Name, args)
	}
	args[2] = strings.NewReplacer(paths...).Replace(args[2])
	args[3] = dumper
	args = sh.Command(args)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = workdir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s, %s: %v: %s", sh.Name, c.Name, err, stderr.String())
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	added := map[string]string{"PWD": workdir}
	switch sh.Name {
	case "bash":
		added["SHLVL"] = "0"
	case "busybox":
		// And a default PATH: the test's container has none of its
		// image's (the runtime adds the image's ENV).
		added["SHLVL"] = "1"
		added["PATH"] = "/sbin:/usr/sbin:/bin:/usr/bin"
	}
	for name, value := range added {
		if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") }) {
			got = slices.DeleteFunc(got, func(kv string) bool { return kv == name+"="+value })
		}
	}
	return sortedNUL(strings.Join(got, "\x00"))
}

// admissionTools are the real programs the loader checks run: the
// static loader, an environment dumper standing in for the step's
// entrypoint, and drone-runner-kube's placeholder program. They run
// chrooted in roots laid out like the images, so they need root.
type tools struct{ loader, dumper, placeholder string }

func admissionTools(t *testing.T) *tools {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Log("not root: the static loader and placeholder phases are not run (chroot)")
		return nil
	}
	dir := t.TempDir()
	build := func(out string, args ...string) string {
		cmd := exec.Command("go", append([]string{"build", "-o", filepath.Join(dir, out)}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", out, err, b)
		}
		return filepath.Join(dir, out)
	}
	src := filepath.Join(dir, "dumper.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport (\n\t\"os\"\n\t\"strings\"\n)\n\nfunc main() { os.Stdout.WriteString(strings.Join(os.Environ(), \"\\x00\")) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	return &tools{
		loader:      build("eci-env-loader", "../cmd/eci-env-loader"),
		dumper:      build("dumper", src),
		placeholder: build("placeholder", filepath.Join(strings.TrimSpace(string(gomodcache)), "github.com/drone-runners/drone-runner-kube@v1.0.0-rc.5/docker/placeholder/main.go")),
	}
}

// root lays out a container's filesystem: the image's files, the
// loader's emptyDir and the downward-API file.
func (x *tools) root(t testing.TB, image map[string]string, downward string) string {
	root, err := os.MkdirTemp("", "root")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	files := map[string]string{admission.LoaderPath: x.loader, envfile.DownwardFile: ""}
	for k, v := range image {
		files[k] = v
	}
	for path, from := range files {
		data := []byte(downward)
		if from != "" {
			if data, err = os.ReadFile(from); err != nil {
				t.Fatal(err)
			}
		}
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func argv(c *corev1.Container, env []string) []string {
	out := append(slices.Clone(c.Command), c.Args...)
	for i := range out {
		out[i] = kubeExpand(out[i], env)
	}
	return out
}

// runStatic runs a static-loader container in a root holding its
// entrypoint (the dumper) and returns what the entrypoint saw.
func (x *tools) runStatic(t *testing.T, c *corev1.Container, secret *corev1.Secret, downward string) string {
	t.Helper()
	env := containerEnv(c, secret)
	args := argv(c, env)
	i := slices.Index(args, "--")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s: not a static loader command: %q", c.Name, args)
	}
	root := x.root(t, map[string]string{args[i+1]: x.dumper}, downward)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v: %s", c.Name, err, stderr.String())
	}
	return sortedNUL(string(out))
}

// placeholderSleeps runs the container's command in a root laid out
// like drone/placeholder:1 (/bin/sh the runner's sleeping placeholder)
// and checks it is still running a moment later, as the placeholder is.
func (x *tools) placeholderSleeps(c *corev1.Container, secret *corev1.Secret, downward string) error {
	env := containerEnv(c, secret)
	args := argv(c, env)
	root := x.root(&testing.T{}, map[string]string{"/bin/sh": x.placeholder}, downward)
	defer os.RemoveAll(root)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("exited (%v) instead of sleeping: %s", err, out.String())
	case <-time.After(700 * time.Millisecond):
		_ = cmd.Process.Kill()
		<-done
		return nil
	}
}
