package admission

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
)

// On a pod whose annotations godotenv v1.5 cannot read (ECI's keys),
// every plugin container within the budget goes on the static loader
// with an empty env file, so that the loader sets the runner's live
// status; command steps, the clone and images with a shell stay as
// they are; a plugin whose entrypoint is unknown is named. Without
// such keys nothing changes.
func TestStatusWrap(t *testing.T) {
	e := map[string]Entrypoint{
		"notify": {Image: "plugins/slack:1.4.1", Entrypoint: []string{"/bin/drone-slack"}},
		"db":     {Image: "postgres:16", Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"postgres"}, Shell: true},
		"clone":  {Image: "drone/git", Entrypoint: []string{"/usr/local/bin/clone"}},
	}
	pod := func(eci bool) *corev1.Pod {
		p := withEntrypoints(runnerPod(cloneContainer(40), pluginStep("db", 40), commandStep("test", 40), pluginStep("notify", 40), pluginStep("unknown", 40)), e)
		if eci {
			p.Annotations["k8s.aliyun.com/eci-use-specs"] = "2-4Gi"
		}
		return p
	}
	if godotenvUnreadable(pod(false).Annotations) || !godotenvUnreadable(pod(true).Annotations) {
		t.Fatal("godotenvUnreadable: wrong for io.drone / k8s.aliyun.com keys")
	}

	out, r := Mutate(pod(false), testOptions())
	if len(r.Containers) != 0 || len(out.Spec.InitContainers) != 0 {
		t.Errorf("a pod godotenv reads was changed: %s", r)
	}

	in := pod(true)
	out, r = Mutate(in, testOptions())
	notify, unknown := out.Spec.Containers[3], out.Spec.Containers[4]
	if !slices.Equal(notify.Command, []string{LoaderPath, "run", "--key", envfile.Key(envfile.AnnotationScript(nil)), "--", "/bin/drone-slack"}) {
		t.Errorf("notify: command %q", notify.Command)
	}
	if !slices.Equal(notify.Env, in.Spec.Containers[3].Env) {
		t.Error("notify: env changed")
	}
	if out.Annotations[envfile.Key(envfile.AnnotationScript(nil))] != envfile.AnnotationScript(nil) {
		t.Error("the empty env file's annotation is missing")
	}
	if len(out.Spec.InitContainers) != 1 || len(out.Spec.Volumes) != 2 {
		t.Errorf("init containers %d, volumes %d: want the loader's", len(out.Spec.InitContainers), len(out.Spec.Volumes))
	}
	for i, name := range []string{"clone", "db", "test"} {
		if !slices.Equal(out.Spec.Containers[i].Command, in.Spec.Containers[i].Command) || !slices.Equal(out.Spec.Containers[i].Args, in.Spec.Containers[i].Args) {
			t.Errorf("%s: wrapped: %q %q", name, out.Spec.Containers[i].Command, out.Spec.Containers[i].Args)
		}
	}
	if len(unknown.Command) != 0 {
		t.Errorf("unknown: wrapped without an entrypoint: %q", unknown.Command)
	}
	problems := r.Problems()
	if len(problems) != 1 || problems[0].Step != "unknown" || !problems[0].Status ||
		!strings.Contains(problems[0].Warning(92), "live build status") || !strings.Contains(r.String(), "wrapped: c-notify (step \"notify\")") {
		t.Errorf("report %s, problems %+v", r, problems)
	}
	if again, r2 := Mutate(out, testOptions()); r2.Skipped == "" || len(again.Spec.InitContainers) != 1 {
		t.Errorf("a second admission: %+v", r2)
	}

	// ECI's 20 containers: a full pod keeps its plugins as they are,
	// named.
	full := pod(true)
	o := testOptions()
	o.MaxContainers = len(full.Spec.Containers)
	out, r = Mutate(full, o)
	if len(out.Spec.InitContainers) != 0 || len(out.Spec.Containers[3].Command) != 0 || len(r.Problems()) != 2 {
		t.Errorf("a full pod: init %d, notify %q, problems %+v", len(out.Spec.InitContainers), out.Spec.Containers[3].Command, r.Problems())
	}
}
