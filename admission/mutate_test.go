package admission

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
)

func testOptions() Options {
	o := DefaultOptions()
	o.LoaderImage = "drone-convert-eci:test"
	return o
}

// runnerEnv is n plain env vars shaped like the runner's: some CI_*
// aliases, DRONE_* variables and YAML values.
func runnerEnv(step string, n int) []corev1.EnvVar {
	env := []corev1.EnvVar{{Name: "DRONE_STEP_NAME", Value: step}}
	for i := 0; len(env) < n; i++ {
		switch i % 3 {
		case 0:
			env = append(env, corev1.EnvVar{Name: fmt.Sprintf("CI_VAR_%02d", i), Value: fmt.Sprintf("ci %d", i)})
		case 1:
			env = append(env, corev1.EnvVar{Name: fmt.Sprintf("DRONE_VAR_%02d", i), Value: fmt.Sprintf("drone's\n%d", i)})
		default:
			env = append(env, corev1.EnvVar{Name: fmt.Sprintf("YAML_%02d", i), Value: "$x%"})
		}
	}
	return env
}

func droneSecretRef(name string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pod"}, Key: name}}}
}

func runnerPod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "drone-abc", Namespace: "default", Labels: map[string]string{"io.drone": "true"}, Annotations: map[string]string{"io.drone": "true"}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"type": "virtual-kubelet"},
			Containers:   containers,
			Volumes:      []corev1.Volume{{Name: "ws", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

func commandStep(name string, n int) corev1.Container {
	return corev1.Container{Name: "c-" + name, Image: "drone/placeholder:1", Command: []string{"/bin/sh", "-c"}, Args: []string{runnerScript}, Env: runnerEnv(name, n)}
}

func pluginStep(name string, n int) corev1.Container {
	return corev1.Container{Name: "c-" + name, Image: "drone/placeholder:1", Env: runnerEnv(name, n)}
}

// cloneContainer is shaped like the runner's: no DRONE_STEP_NAME.
func cloneContainer(n int) corev1.Container {
	c := pluginStep("", n+1)
	c.Env = c.Env[1:]
	return c
}

func withEntrypoints(p *corev1.Pod, e map[string]Entrypoint) *corev1.Pod {
	b, _ := json.Marshal(e)
	p.Annotations[EntrypointsAnnotation] = string(b)
	return p
}

func TestMutate(t *testing.T) {
	kaniko := map[string]Entrypoint{"publish": {Image: "plugins/kaniko:1.13.9", Entrypoint: []string{"/kaniko/kaniko-docker"}}}
	redis := map[string]Entrypoint{"redis": {Image: "redis:7", Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"redis-server"}, Shell: true}}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		opts     func(*Options)
		skipped  string
		moved    map[string]int // container → vars moved
		problems map[string]string
		init     bool
	}{
		{name: "not drone", pod: func() *corev1.Pod { p := runnerPod(commandStep("a", 99)); delete(p.Labels, "io.drone"); return p }(), skipped: "io.drone=true"},
		{name: "not the virtual node", pod: func() *corev1.Pod { p := runnerPod(commandStep("a", 99)); p.Spec.NodeSelector = nil; return p }(), skipped: "virtual node"},
		{name: "already mutated", pod: func() *corev1.Pod {
			p := runnerPod(commandStep("a", 99))
			p.Annotations[ReportAnnotation] = "x"
			return p
		}(), skipped: "already"},
		{name: "within budget", pod: runnerPod(commandStep("a", 92), pluginStep("b", 92)), moved: map[string]int{}},
		{name: "command step", pod: runnerPod(commandStep("a", 99), commandStep("b", 93)), moved: map[string]int{"c-a": 7, "c-b": 1}},
		{name: "plugin step with entrypoint", pod: withEntrypoints(runnerPod(commandStep("a", 90), pluginStep("publish", 111)), kaniko), moved: map[string]int{"c-publish": 19}, init: true},
		{name: "plugin step without entrypoint", pod: runnerPod(pluginStep("publish", 95)), problems: map[string]string{"c-publish": "recorded no entrypoint"}},
		{name: "no loader image", pod: withEntrypoints(runnerPod(pluginStep("publish", 95)), kaniko), opts: func(o *Options) { o.LoaderImage = "" }, problems: map[string]string{"c-publish": "no loader image"}},
		{name: "clone container", pod: withEntrypoints(runnerPod(cloneContainer(95)), map[string]Entrypoint{"clone": {Entrypoint: []string{"/usr/local/bin/clone"}}}), moved: map[string]int{"c-": 3}, init: true},
		{name: "service through the shell", pod: withEntrypoints(runnerPod(pluginStep("redis", 95)), redis), moved: map[string]int{"c-redis": 3}},
		{name: "service through the shell, no loader image needed", pod: withEntrypoints(runnerPod(pluginStep("redis", 95)), redis), opts: func(o *Options) { o.LoaderImage = "" }, moved: map[string]int{"c-redis": 3}},
		{name: "unknown command", pod: func() *corev1.Pod {
			c := commandStep("a", 95)
			c.Command = []string{"/bin/bash", "-c"}
			return runnerPod(c)
		}(), problems: map[string]string{"c-a": "does not know"}},
		{name: "too many containers", pod: func() *corev1.Pod {
			var cs []corev1.Container
			for i := 0; i < 19; i++ {
				cs = append(cs, commandStep(fmt.Sprint(i), 10))
			}
			cs = append(cs, pluginStep("publish", 95))
			return withEntrypoints(runnerPod(cs...), kaniko)
		}(), problems: map[string]string{"c-publish": "21 containers"}},
		{name: "secrets stay", pod: func() *corev1.Pod {
			c := commandStep("a", 3)
			for i := 0; i < 95; i++ {
				c.Env = append(c.Env, droneSecretRef(fmt.Sprint("S", i)))
			}
			return runnerPod(c)
		}(), problems: map[string]string{"c-a": "only 2 of its env vars can move"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			before := tc.pod.DeepCopy()
			out, r := Mutate(tc.pod, o)
			if !equalPods(before, tc.pod) {
				t.Fatal("Mutate modified its input")
			}
			if tc.skipped != "" {
				if !strings.Contains(r.Skipped, tc.skipped) || !equalPods(out, tc.pod) {
					t.Fatalf("skipped = %q, want %q and no change", r.Skipped, tc.skipped)
				}
				return
			}
			for _, c := range r.Containers {
				if want, ok := tc.problems[c.Container]; ok {
					if !strings.Contains(c.Problem, want) {
						t.Errorf("%s: problem %q, want %q", c.Container, c.Problem, want)
					}
					continue
				}
				if c.Problem != "" || len(c.Moved) != tc.moved[c.Container] || c.After != o.Budget {
					t.Errorf("%s: moved %d (%s), after %d; want %d", c.Container, len(c.Moved), c.Problem, c.After, tc.moved[c.Container])
				}
			}
			checkMutated(t, tc.pod, out, r, o)
			if got := len(out.Spec.InitContainers) == 1; got != tc.init {
				t.Errorf("init container added: %v, want %v", got, tc.init)
			}
			// Idempotent: a mutated pod is left alone.
			if again, r2 := Mutate(out, o); len(r.Containers) > 0 && (!equalPods(again, out) || r2.Skipped == "") {
				t.Error("mutating twice changed the pod")
			}
		})
	}
}

func equalPods(a, b *corev1.Pod) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// checkMutated: every changed container fits; what moved is exactly
// what is missing from its env, with the same values, in the file its
// loader reads; everything else is untouched.
func checkMutated(t *testing.T, in, out *corev1.Pod, r Report, o Options) {
	t.Helper()
	for i, c := range out.Spec.Containers {
		orig := in.Spec.Containers[i]
		var rep *ContainerReport
		for j := range r.Containers {
			if r.Containers[j].Container == c.Name {
				rep = &r.Containers[j]
			}
		}
		if rep == nil || rep.Problem != "" {
			if !slices.EqualFunc(c.Env, orig.Env, func(a, b corev1.EnvVar) bool { return a.Name == b.Name && a.Value == b.Value }) || !slices.Equal(c.Command, orig.Command) {
				t.Errorf("%s: changed without being reported", c.Name)
			}
			continue
		}
		if len(c.Env) > o.Budget {
			t.Errorf("%s: %d env vars", c.Name, len(c.Env))
		}
		script, ok := out.Annotations[rep.Key]
		if !ok {
			t.Fatalf("%s: annotation %s missing", c.Name, rep.Key)
		}
		vars, err := envfile.ParseAnnotationScript(script)
		if err != nil {
			t.Fatal(err)
		}
		file := map[string]string{}
		for _, v := range vars {
			file[v.Name] = v.Value
		}
		kept := map[string]bool{}
		for _, e := range c.Env {
			kept[e.Name] = true
		}
		for _, e := range orig.Env {
			if kept[e.Name] == (file[e.Name] != "" || hasVar(vars, e.Name)) {
				t.Errorf("%s: %s is in the env %v and in the file %v", c.Name, e.Name, kept[e.Name], hasVar(vars, e.Name))
			}
			if hasVar(vars, e.Name) && (e.ValueFrom != nil || file[e.Name] != e.Value) {
				t.Errorf("%s: %s moved with value %q, was %q", c.Name, e.Name, file[e.Name], e.Value)
			}
		}
		if !strings.Contains(strings.Join(append(c.Command, c.Args...), " "), rep.Key) {
			t.Errorf("%s: its command does not load %s", c.Name, rep.Key)
		}
	}
}

func hasVar(vars []envfile.Var, name string) bool {
	return slices.ContainsFunc(vars, func(v envfile.Var) bool { return v.Name == name })
}

// A service whose image has a shell runs sh -c 'LOADER; STATUS; exec
// "$0" "$@"' ENTRYPOINT CMD (STATUS: the runner's live status, as the
// static loader sets it), or ENTRYPOINT and its own args (a YAML command); the
// table's words are escaped for the kubelet's $(VAR) expansion, the
// container's own args are not.
func TestMutateServiceShell(t *testing.T) {
	e := map[string]Entrypoint{"db": {Image: "postgres:16", Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"postgres", "$x"}, Shell: true}}
	for _, tc := range []struct {
		args, want []string
	}{
		{nil, []string{"docker-entrypoint.sh", "postgres", "$$x"}},
		{[]string{"postgres", "-c", "$(HOME)"}, []string{"docker-entrypoint.sh", "postgres", "-c", "$(HOME)"}},
	} {
		c := pluginStep("db", 95)
		c.Args = tc.args
		out, r := Mutate(withEntrypoints(runnerPod(c), e), testOptions())
		got := out.Spec.Containers[0]
		if r.Containers[0].Loader != "shell" || len(out.Spec.InitContainers) != 0 || len(out.Spec.Volumes) != len(runnerPod().Spec.Volumes) {
			t.Fatalf("%+v, init %v", r, out.Spec.InitContainers)
		}
		if !slices.Equal(got.Command, []string{"/bin/sh", "-c"}) || len(got.Args) < 1 || !slices.Equal(got.Args[1:], tc.want) {
			t.Errorf("command %q args %q, want /bin/sh -c SCRIPT %q", got.Command, got.Args, tc.want)
		}
		if got.Args[0] != escape(envfile.AnnotationLoader(r.Containers[0].Key)+"\n"+envfile.StatusLoader()+"\n"+`exec "$0" "$@"`) {
			t.Errorf("script %q", got.Args[0])
		}
	}
}

// The move order: CI_* first, then DRONE_*, then the rest; repeated
// names and names a value refers to as $(VAR) never move; a value
// holding a reference moves expanded.
func TestMoveOrder(t *testing.T) {
	c := corev1.Container{Env: []corev1.EnvVar{
		{Name: "ZED", Value: "z"}, {Name: "DRONE_B", Value: "b"}, {Name: "CI_B", Value: "b"}, {Name: "CI_A", Value: "a"},
		{Name: "DRONE_A", Value: "a"}, {Name: "DUP", Value: "1"}, {Name: "DUP", Value: "2"}, {Name: "REF", Value: "$(ZED)"},
		{Name: "HOME", Value: "/root"}, {Name: "PATH", Value: "/bin"}, {Name: "MY-VAR", Value: "x"}, droneSecretRef("SECRET"),
	}}
	vars, why := movable(&c, 5)
	if why != "" {
		t.Fatal(why)
	}
	want := []envfile.Var{{Name: "CI_A", Value: "a"}, {Name: "CI_B", Value: "b"}, {Name: "DRONE_A", Value: "a"}, {Name: "DRONE_B", Value: "b"}, {Name: "REF", Value: "z"}}
	if !slices.Equal(vars, want) {
		t.Errorf("moved %q, want %q", vars, want)
	}
	if _, why := movable(&c, 6); why == "" {
		t.Error("ZED is referenced as $(ZED): only 5 may move")
	}
}

// A value moves as the kubelet expands it in the container's order
// (issue 17), or stays when the pod alone does not say what that is.
func TestMovedValuesExpanded(t *testing.T) {
	env := []corev1.EnvVar{
		{Name: "DRONE_COMMIT_MESSAGE", Value: "Escape $$ in Makefile"},
		{Name: "PASSWORD", Value: "pa$$word"},
		{Name: "A", Value: "x"},
		{Name: "B", Value: "$(A)-y"},
		{Name: "ESCAPED", Value: "$$(A)"},
		{Name: "LINK", Value: "$(KUBERNETES_SERVICE_HOST)"},
		droneSecretRef("TOKEN"),
		{Name: "FROM_SECRET", Value: "Bearer $(TOKEN)"},
		{Name: "EARLY", Value: "$(LATER)"},
		{Name: "LATER", Value: "l"},
		{Name: "NOT_ASCII", Value: "$é"},
		{Name: "TRAILING", Value: "5$"},
		{Name: "SHELL_SYNTAX", Value: "$(date) ${HOME} `id`"},
	}
	want := map[string]string{
		"DRONE_COMMIT_MESSAGE": "Escape $ in Makefile", "PASSWORD": "pa$word", "B": "x-y", "ESCAPED": "$(A)",
		"EARLY": "$(LATER)", "TRAILING": "5$", "SHELL_SYNTAX": "$(date) ${HOME} `id`",
	}
	for _, open := range []bool{false, true} {
		c := corev1.Container{Env: env}
		if open {
			// Names from an envFrom source could meet any reference.
			c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
			want = map[string]string{"DRONE_COMMIT_MESSAGE": "Escape $ in Makefile", "PASSWORD": "pa$word", "B": "x-y", "ESCAPED": "$(A)", "TRAILING": "5$"}
		}
		vars, why := movable(&c, len(want))
		if why != "" {
			t.Fatalf("envFrom %v: %s", open, why)
		}
		got := map[string]string{}
		for _, v := range vars {
			got[v.Name] = v.Value
		}
		if !maps.Equal(got, want) {
			t.Errorf("envFrom %v: moved %q, want %q", open, got, want)
		}
		if _, why := movable(&c, len(want)+1); why == "" {
			t.Errorf("envFrom %v: more than %d moved", open, len(want))
		}
	}
}

// Review: pods that are not ours get an empty patch; ours get a JSON
// patch that a second, independent JSON-patch library applies to the
// request's object, giving exactly Mutate's pod.
func TestReview(t *testing.T) {
	o := testOptions()
	kaniko := map[string]Entrypoint{"publish": {Image: "plugins/kaniko:1.13.9", Entrypoint: []string{"/kaniko/kaniko-docker"}}}
	ours := withEntrypoints(runnerPod(commandStep("a", 99), pluginStep("publish", 111)), kaniko)
	notOurs := ours.DeepCopy()
	notOurs.Labels = nil
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		patch bool
	}{{"ours", ours, true}, {"not ours", notOurs, false}} {
		raw, _ := json.Marshal(tc.pod)
		req := &admissionv1.AdmissionRequest{UID: "u1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}
		resp, _ := Review(req, o)
		if !resp.Allowed || resp.UID != "u1" {
			t.Fatalf("%s: not allowed: %+v", tc.name, resp)
		}
		if (len(resp.Patch) > 0) != tc.patch {
			t.Fatalf("%s: patch %s", tc.name, resp.Patch)
		}
		if !tc.patch {
			continue
		}
		patch, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatal(err)
		}
		patched, err := patch.Apply(raw)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Mutate(tc.pod, o)
		var got corev1.Pod
		if err := json.Unmarshal(patched, &got); err != nil {
			t.Fatal(err)
		}
		if !equalPods(&got, want) {
			t.Errorf("%s: the patched pod is not Mutate's", tc.name)
		}
	}
	// Other operations and kinds are allowed untouched.
	for _, req := range []*admissionv1.AdmissionRequest{
		{Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Update},
		{Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Secret"}, Operation: admissionv1.Create},
		{Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte("{")}},
	} {
		if resp, _ := Review(req, o); !resp.Allowed || resp.Patch != nil {
			t.Errorf("%v: %+v", req, resp)
		}
	}
}

func TestUnknownImagesDropLegacy(t *testing.T) {
	// A plugin container with no recorded entrypoint: the runner's
	// legacy aliases, CI itself, and padding to a given size.
	unknown := func(name string, n int) corev1.Container {
		env := []corev1.EnvVar{{Name: "DRONE_STEP_NAME", Value: name}, {Name: "CI", Value: "true"}}
		twins := map[string]bool{}
		for _, a := range LegacyAliases {
			env = append(env, corev1.EnvVar{Name: a, Value: "v-" + legacyTwin[a]})
			if !twins[legacyTwin[a]] {
				twins[legacyTwin[a]] = true
				env = append(env, corev1.EnvVar{Name: legacyTwin[a], Value: "v-" + legacyTwin[a]})
			}
		}
		for i := 0; len(env) < n; i++ {
			env = append(env, corev1.EnvVar{Name: fmt.Sprintf("DRONE_X_%03d", i), Value: "v"})
		}
		return corev1.Container{Name: "c-" + name, Image: "drone/placeholder:1", Env: env}
	}
	for _, tc := range []struct {
		name    string
		mode    string
		env     int
		dropped []string
		problem bool
		author  corev1.EnvVar // replaces the runner's alias of that name
	}{
		{name: "keep leaves it over the budget", mode: "keep", env: 95, problem: true},
		{name: "drop-legacy drops the fewest aliases", mode: "drop-legacy", env: 95, dropped: LegacyAliases[:3]},
		{name: "drop-legacy up to every alias", mode: "drop-legacy", env: 92 + len(LegacyAliases), dropped: LegacyAliases},
		{name: "drop-legacy keeps a container the aliases cannot save", mode: "drop-legacy", env: 93 + len(LegacyAliases), problem: true},
		{name: "an alias the author set differently is theirs", mode: "drop-legacy", env: 95, author: corev1.EnvVar{Name: "CI_BUILD_CREATED", Value: "mine"}, dropped: LegacyAliases[1:4]},
		{name: "an alias from a secret is theirs", mode: "drop-legacy", env: 95, author: droneSecretRef("CI_BUILD_EVENT"), dropped: []string{"CI_BUILD_CREATED", "CI_BUILD_FINISHED", "CI_BUILD_LINK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.UnknownImages = tc.mode
			ctr := unknown("scan", tc.env)
			for i := range ctr.Env {
				if tc.author.Name != "" && ctr.Env[i].Name == tc.author.Name {
					ctr.Env[i] = tc.author
				}
			}
			pod := runnerPod(ctr)
			out, r := Mutate(pod, o)
			if len(r.Containers) != 1 {
				t.Fatalf("report %+v", r)
			}
			c := r.Containers[0]
			if (c.Problem != "") != tc.problem || !slices.Equal(c.Dropped, tc.dropped) {
				t.Fatalf("problem %q dropped %v, want problem %v dropped %v", c.Problem, c.Dropped, tc.problem, tc.dropped)
			}
			env := out.Spec.Containers[0].Env
			if tc.problem {
				if len(env) != tc.env {
					t.Errorf("a kept container lost env vars: %d of %d", len(env), tc.env)
				}
				return
			}
			if len(env) != o.Budget {
				t.Errorf("%d env vars after dropping, want %d", len(env), o.Budget)
			}
			for _, e := range env {
				if slices.Contains(tc.dropped, e.Name) {
					t.Errorf("%s still set", e.Name)
				}
			}
			if !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == "CI" }) {
				t.Error("CI itself was dropped")
			}
			if len(out.Spec.InitContainers) != 0 || !slices.Equal(out.Spec.Containers[0].Command, pod.Spec.Containers[0].Command) {
				t.Error("dropping aliases changed what the container runs")
			}
			if !strings.Contains(r.String(), "dropped: c-scan (step \"scan\")") {
				t.Errorf("report does not name the container:\n%s", r.String())
			}
		})
	}
}

// The loader's pull secret goes with its init container, once, after
// the runner's own pull secrets; a pod that gets no loader gets none.
func TestLoaderPullSecret(t *testing.T) {
	kaniko := map[string]Entrypoint{"publish": {Image: "plugins/kaniko:1.13.9", Entrypoint: []string{"/kaniko/kaniko-docker"}}}
	for _, tc := range []struct {
		name     string
		secret   string
		existing []string
		static   bool
		want     []string
	}{
		{name: "added with the loader", secret: "acr", static: true, want: []string{"acr"}},
		{name: "after the runner's own", secret: "acr", existing: []string{"docker-auth"}, static: true, want: []string{"docker-auth", "acr"}},
		{name: "not twice", secret: "acr", existing: []string{"acr"}, static: true, want: []string{"acr"}},
		{name: "not without the loader", secret: "acr", existing: []string{"docker-auth"}, want: []string{"docker-auth"}},
		{name: "none configured", static: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.LoaderPullSecret = tc.secret
			step := commandStep("build", 100)
			if tc.static {
				step = pluginStep("publish", 100)
			}
			pod := withEntrypoints(runnerPod(step), kaniko)
			for _, name := range tc.existing {
				pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
			}
			out, _ := Mutate(pod, o)
			if got := len(out.Spec.InitContainers) == 1; got != tc.static {
				t.Fatalf("loader init container %v, want %v", got, tc.static)
			}
			var got []string
			for _, r := range out.Spec.ImagePullSecrets {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("imagePullSecrets %v, want %v", got, tc.want)
			}
			if len(pod.Spec.ImagePullSecrets) != len(tc.existing) {
				t.Error("the input pod was changed")
			}
		})
	}
}
