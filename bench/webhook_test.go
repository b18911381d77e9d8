package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/drone-convert-eci/drone-convert-eci/admission"
	"github.com/drone-convert-eci/drone-convert-eci/internal/command"
	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

// envSizes are the container env sizes the webhook benchmarks measure:
// a large real step, and two that only a hostile or broken pipeline
// makes (50 000 is a 3.8 MB review, under the body limit).
var envSizes = []int{100, 10000, 50000}

// runnerPod is a converted runner pod (label, virtual-kubelet selector)
// with one command step whose env has n plain variables, shaped like
// the runner's; ours=false is the same pod without the runner's label,
// which the webhook decodes and skips.
func runnerPod(n int, ours bool) *corev1.Pod {
	env := []corev1.EnvVar{{Name: "DRONE_STEP_NAME", Value: "test"}}
	for i := 1; i < n; i++ {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("VAR_%d", i), Value: fmt.Sprintf("value %d with $HOME and 'quotes'", i)})
	}
	labels := map[string]string{"io.drone": "true"}
	if !ours {
		labels = nil
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "drone-bench", Namespace: "default", Labels: labels},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"type": "virtual-kubelet"},
			Containers: []corev1.Container{{
				Name: "step-test", Image: "drone/placeholder:1",
				Command: []string{"/bin/sh", "-c"}, Args: []string{`echo "$DRONE_SCRIPT" | /bin/sh`},
				Env: env,
			}},
		},
	}
}

func reviewBody(tb testing.TB, pod *corev1.Pod) []byte {
	raw, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "bench", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Operation: admissionv1.Create, Namespace: "default", Name: pod.Name, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// BenchmarkWebhook measures the webhook's whole answer to a review (read,
// decode, mutate, patch, encode) at each env size, against the baseline
// of the same review for a pod it skips (read and decode only). Both
// must grow linearly: ns/op over the size ratio.
//
//	go test ./bench -run '^$' -bench Webhook -benchmem
func BenchmarkWebhook(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	o := admission.DefaultOptions()
	o.LoaderImage = "drone-convert-eci:bench"
	// With the metrics on, as the service serves it.
	m := metrics.NewWebhook(prometheus.NewRegistry(), func() time.Time { return time.Time{} })
	handler := admission.Handler(o, admission.DefaultLimits(), m, log)
	for _, n := range envSizes {
		for _, ours := range []bool{true, false} {
			name := fmt.Sprintf("%d-env/mutate", n)
			if !ours {
				name = fmt.Sprintf("%d-env/skip-baseline", n)
			}
			body := reviewBody(b, runnerPod(n, ours))
			serve := func(b *testing.B) {
				req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				var out admissionv1.AdmissionReview
				if ours {
					if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Response.Patch) == 0 {
						b.Fatalf("no patch for a pod over the budget (%v)", err)
					}
				}
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					serve(b)
				}
				// What admission.ReviewWorkingSet must cover, measured
				// apart from the timed loop (GOGC=5 slows the collector's
				// victim, not the figure above).
				b.StopTimer()
				old := debug.SetGCPercent(5)
				peak := peakHeap(func() { serve(b) })
				debug.SetGCPercent(old)
				b.ReportMetric(float64(peak)/float64(len(body)), "peak-live/body")
			})
		}
	}
}

// BenchmarkMutatePod is the same for the mutate-pod preview an operator
// runs, whose own decoding of the pod (YAML, strict) is part of it.
func BenchmarkMutatePod(b *testing.B) {
	dir := b.TempDir()
	for _, n := range envSizes {
		for _, ours := range []bool{true, false} {
			name := fmt.Sprintf("%d-env/mutate", n)
			if !ours {
				name = fmt.Sprintf("%d-env/skip-baseline", n)
			}
			raw, err := json.Marshal(runnerPod(n, ours))
			if err != nil {
				b.Fatal(err)
			}
			file := filepath.Join(dir, fmt.Sprintf("pod-%d-%v.json", n, ours))
			if err := os.WriteFile(file, raw, 0o600); err != nil {
				b.Fatal(err)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					var stderr bytes.Buffer
					if code := command.Run([]string{"mutate-pod", file}, nil, io.Discard, &stderr); code != 0 {
						b.Fatalf("mutate-pod exit %d: %s", code, stderr.String())
					}
				}
			})
		}
	}
}
