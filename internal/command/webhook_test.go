package command

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// mutate-pod on the Pod drone-runner-kube creates for a tag build of a
// converted kaniko pipeline, given as YAML (as `drone-runner-kube
// compile --spec` prints it) and as JSON.
func TestMutatePod(t *testing.T) {
	t.Setenv("DRONE_ECI_WEBHOOK_LOADER_IMAGE", "drone-convert-eci:test")
	t.Setenv("DRONE_ECI_WEBHOOK_LOADER_PULL_SECRET", "loader-pull")
	pod := runnerTagPod(t)
	asJSON, _ := json.Marshal(pod)
	asYAML, _ := yaml.Marshal(pod)
	notOurs := pod.DeepCopy()
	notOurs.Labels = nil
	notOursYAML, _ := yaml.Marshal(notOurs)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"pod.json": asJSON, "pod.yaml": asYAML, "other.yaml": notOursYAML} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := Run([]string{"mutate-pod", path}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr.String())
		}
		var out corev1.Pod
		if err := yaml.UnmarshalStrict(stdout.Bytes(), &out); err != nil {
			t.Fatalf("%s: output is not a Pod: %v", name, err)
		}
		if name == "other.yaml" {
			want, _ := yaml.Marshal(notOurs)
			got, _ := yaml.Marshal(&out)
			if !bytes.Equal(got, want) || !strings.Contains(stderr.String(), "skipped: not a Drone runner pod") {
				t.Errorf("a pod that is not ours changed, or was not reported: %s", stderr.String())
			}
			continue
		}
		for _, c := range out.Spec.Containers {
			if len(c.Env) > 92 {
				t.Errorf("%s: container %s has %d env vars", name, c.Name, len(c.Env))
			}
		}
		if n := len(out.Spec.ImagePullSecrets); n == 0 || out.Spec.ImagePullSecrets[n-1].Name != "loader-pull" {
			t.Errorf("%s: imagePullSecrets %v, want the loader's pull secret", name, out.Spec.ImagePullSecrets)
		}
		if len(out.Spec.InitContainers) != 1 || !strings.Contains(stderr.String(), "(static loader)") || !strings.Contains(stderr.String(), "(shell loader)") {
			t.Errorf("%s: report:\n%s", name, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"mutate-pod", "-"}, strings.NewReader("kind: Secret\n"), &stdout, &stderr); code == 0 {
		t.Error("a Secret is not a Pod")
	}
}

// runnerTagPod is the Pod drone-runner-kube creates for a tag build of
// a converted kaniko pipeline: containers over the env budget, with
// their entrypoints recorded, so the webhook mutates it.
func runnerTagPod(t *testing.T) *corev1.Pod {
	t.Helper()
	cfg := config.Default()
	cfg.Webhook.RecordEntrypoints = true
	input, err := os.ReadFile("../../testdata/convert/kaniko_docker_basic.yml")
	if err != nil {
		t.Fatal(err)
	}
	converted, err := plugin.NewConverter(cfg).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true})
	if err != nil {
		t.Fatal(err)
	}
	results, err := runnertest.Compile(converted.Config, runnertest.Options{Event: runnertest.EventTag})
	if err != nil || len(results) != 1 {
		t.Fatalf("%d results, %v", len(results), err)
	}
	pod := results[0].Pod.DeepCopy()
	pod.APIVersion, pod.Kind = "v1", "Pod"
	return pod
}

// Self-managed webhook TLS started outside a cluster names the settings
// that reach one, not only client-go's missing in-cluster variables.
func TestSelfManagedTLSOutsideACluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	cfg := config.Default()
	cfg.Webhook.TLSMode = config.TLSSelfManaged
	cfg.Webhook.CertSecret, cfg.Webhook.Configuration, cfg.Webhook.Service = "s", "c", "svc"
	_, _, err := webhookTLS(cfg, logrus.New())
	if err == nil || !strings.Contains(err.Error(), "set DRONE_ECI_ENV_KUBECONFIG and DRONE_ECI_NAMESPACE") {
		t.Errorf("error %v, want one naming DRONE_ECI_ENV_KUBECONFIG and DRONE_ECI_NAMESPACE", err)
	}
}
