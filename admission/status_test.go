package admission

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

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

// Without a loader image, the plugin containers a pod would have had
// wrapped for the live status are named once for the pod (one line of
// the report, one warning), not once each; with DRONE_ECI_WEBHOOK_LIVE_STATUS
// off, nothing is wrapped or said. A plugin over the budget without a
// loader image is still its own problem: its env does not fit.
func TestStatusWithoutLoader(t *testing.T) {
	e := map[string]Entrypoint{
		"notify": {Image: "plugins/slack:1.4.1", Entrypoint: []string{"/bin/drone-slack"}},
		"s3":     {Image: "plugins/s3:1", Entrypoint: []string{"/bin/drone-s3"}},
		"big":    {Image: "plugins/s3:1", Entrypoint: []string{"/bin/drone-s3"}},
	}
	pod := withEntrypoints(runnerPod(cloneContainer(40), commandStep("test", 40), pluginStep("notify", 40), pluginStep("s3", 40), pluginStep("big", 95)), e)
	pod.Annotations["k8s.aliyun.com/eci-use-specs"] = "2-4Gi"
	review := func(o Options) (*corev1.Pod, Report, []string) {
		t.Helper()
		raw, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		req := &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}
		resp, r := Review(req, o)
		out, _ := Mutate(pod, o)
		return out, r, resp.Warnings
	}

	o := testOptions()
	o.LoaderImage = ""
	out, r, warnings := review(o)
	if !slices.Equal(r.NoLoader, []string{"c-notify", "c-s3"}) {
		t.Errorf("NoLoader = %q", r.NoLoader)
	}
	if len(out.Spec.InitContainers) != 0 || len(out.Spec.Containers[2].Command) != 0 {
		t.Errorf("wrapped without a loader image: init %d, notify %q", len(out.Spec.InitContainers), out.Spec.Containers[2].Command)
	}
	var status []string
	for _, w := range warnings {
		if strings.Contains(w, "live build status") {
			status = append(status, w)
		}
	}
	if len(status) != 1 || !strings.Contains(status[0], "c-notify, c-s3") || !strings.Contains(status[0], "DRONE_ECI_WEBHOOK_LIVE_STATUS=false") {
		t.Errorf("status warnings %q, want one for the pod", status)
	}
	if len(warnings) != 2 || len(r.Problems()) != 1 || r.Problems()[0].Step != "big" {
		t.Errorf("warnings %q, problems %+v: want the status one and the one of the plugin over the budget", warnings, r.Problems())
	}
	if !strings.Contains(out.Annotations[ReportAnnotation], "kept: c-notify, c-s3: no live build status") {
		t.Errorf("report annotation %q", out.Annotations[ReportAnnotation])
	}

	o.LiveStatus = false
	out, r, warnings = review(o)
	if len(r.NoLoader) != 0 || len(warnings) != 1 || len(out.Spec.InitContainers) != 0 {
		t.Errorf("live status off without a loader image: NoLoader %q, warnings %q", r.NoLoader, warnings)
	}
	o.LoaderImage = "drone-convert-eci:test"
	out, r, _ = review(o)
	if len(r.NoLoader) != 0 || slices.ContainsFunc(r.Containers, func(c ContainerReport) bool { return c.Status }) ||
		len(out.Spec.Containers[2].Command) != 0 || len(out.Spec.Containers[4].Command) == 0 {
		t.Errorf("live status off: %s; notify %q, big %q", r, out.Spec.Containers[2].Command, out.Spec.Containers[4].Command)
	}
}
