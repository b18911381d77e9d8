package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

// nonZero is every non-zero sample in reg, keyed as the text format
// writes it (histograms by their _count), so a test can require exactly
// the series it expects and no other.
func nonZero(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := f.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			var v float64
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			case m.Histogram != nil:
				name = f.GetName() + "_count"
				v = float64(m.GetHistogram().GetSampleCount())
			}
			if v != 0 {
				out[name] = v
			}
		}
	}
	return out
}

// failingBody fails the handler's read with an error that is not the
// size limit's (a client that went away).
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func reviewFor(t *testing.T, pod *corev1.Pod, op admissionv1.Operation) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: op, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReviewMetrics: each answer the handler gives counts under exactly
// one series, the one naming its outcome or its refusal's status and
// reason, and every POST is timed.
func TestReviewMetrics(t *testing.T) {
	const (
		reviews    = "drone_convert_eci_webhook_reviews_total"
		refusals   = "drone_convert_eci_webhook_refusals_total"
		duration   = "drone_convert_eci_webhook_review_duration_seconds_count"
		overBudget = "drone_convert_eci_webhook_containers_over_budget_total"
	)
	notOurs := runnerPod(commandStep("a", 99))
	delete(notOurs.Labels, "io.drone")
	tests := []struct {
		name    string
		method  string // POST unless set
		body    []byte
		length  int64 // declared Content-Length; 0 = len(body), -1 = none
		failing bool  // the body's read fails
		code    int
		want    map[string]float64
	}{
		{name: "mutated", body: reviewFor(t, runnerPod(commandStep("a", 99)), admissionv1.Create), code: 200,
			want: map[string]float64{reviews + `{outcome="mutated"}`: 1, duration: 1}},
		{name: "within the budget", body: reviewFor(t, runnerPod(commandStep("a", 92)), admissionv1.Create), code: 200,
			want: map[string]float64{reviews + `{outcome="unchanged"}`: 1, duration: 1}},
		{name: "mutated, two kept over the budget", body: reviewFor(t, runnerPod(commandStep("a", 99), pluginStep("publish", 95), pluginStep("deploy", 93)), admissionv1.Create), code: 200,
			want: map[string]float64{reviews + `{outcome="mutated"}`: 1, overBudget: 2, duration: 1}},
		{name: "only kept containers", body: reviewFor(t, runnerPod(pluginStep("publish", 95)), admissionv1.Create), code: 200,
			want: map[string]float64{reviews + `{outcome="unchanged"}`: 1, overBudget: 1, duration: 1}},
		{name: "not ours", body: reviewFor(t, notOurs, admissionv1.Create), code: 200,
			want: map[string]float64{reviews + `{outcome="skipped"}`: 1, duration: 1}},
		{name: "not a creation", body: reviewFor(t, runnerPod(commandStep("a", 99)), admissionv1.Update), code: 200,
			want: map[string]float64{reviews + `{outcome="skipped"}`: 1, duration: 1}},
		{name: "unreadable pod", body: reviewOf(t, []byte(`{"spec":7}`)), code: 200,
			want: map[string]float64{reviews + `{outcome="unreadable_pod"}`: 1, duration: 1}},
		{name: "declared over the limit", body: []byte("{}"), length: MaxReviewBytes + 1, code: 400,
			want: map[string]float64{refusals + `{code="400",reason="too_large"}`: 1, duration: 1}},
		{name: "sent over the limit", body: bytes.Repeat([]byte(" "), MaxReviewBytes+1), length: -1, code: 400,
			want: map[string]float64{refusals + `{code="400",reason="too_large"}`: 1, duration: 1}},
		{name: "body read fails", failing: true, code: 400,
			want: map[string]float64{refusals + `{code="400",reason="body_error"}`: 1, duration: 1}},
		{name: "empty", code: 400,
			want: map[string]float64{refusals + `{code="400",reason="empty"}`: 1, duration: 1}},
		{name: "malformed", body: []byte("{"), code: 400,
			want: map[string]float64{refusals + `{code="400",reason="malformed"}`: 1, duration: 1}},
		{name: "no request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), code: 400,
			want: map[string]float64{refusals + `{code="400",reason="no_request"}`: 1, duration: 1}},
		{name: "not a POST", method: http.MethodGet, code: 405,
			want: map[string]float64{refusals + `{code="405",reason="method"}`: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h := Handler(testOptions(), DefaultLimits(), metrics.NewWebhook(reg, func() time.Time { return time.Time{} }), quietLog())
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/mutate", bytes.NewReader(tt.body))
			if tt.failing {
				req = httptest.NewRequest(method, "/mutate", failingBody{})
				req.ContentLength = 100
			}
			switch {
			case tt.length < 0:
				req.ContentLength = -1
			case tt.length > 0:
				req.ContentLength = tt.length
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("answered %d %s, want %d", rec.Code, rec.Body, tt.code)
			}
			if got := nonZero(t, reg); !maps.Equal(got, tt.want) {
				t.Errorf("series:\n%s\nwant:\n%s", show(got), show(tt.want))
			}
		})
	}
}

func show(m map[string]float64) string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, fmt.Sprintf("  %s %g", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// Every outcome and refusal series exists at 0 before the first
// request, so that alerts on increase() see the first one.
func TestWebhookSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.NewWebhook(reg, func() time.Time { return time.Time{} })
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, f := range families {
		count[f.GetName()] = len(f.GetMetric())
	}
	for name, want := range map[string]int{
		"drone_convert_eci_webhook_reviews_total":                        5,
		"drone_convert_eci_webhook_refusals_total":                       8,
		"drone_convert_eci_webhook_containers_over_budget_total":         1,
		"drone_convert_eci_webhook_review_duration_seconds":              1,
		"drone_convert_eci_webhook_certificate_expiry_timestamp_seconds": 1,
	} {
		if count[name] != want {
			t.Errorf("%s: %d series, want %d", name, count[name], want)
		}
	}
}

// The expiry gauge follows the certificate the reloader serves: the
// first pair's NotAfter, the replacement's once the files change (read
// at the scrape, with no TLS handshake in between), and the last good
// one when the new files are broken.
func TestCertificateExpiryGauge(t *testing.T) {
	dir := t.TempDir()
	first := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	second := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	certs := &CertReloader{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), Interval: 0, Log: quietLog()}
	reg := prometheus.NewRegistry()
	metrics.NewWebhook(reg, certs.NotAfter)
	const gauge = "drone_convert_eci_webhook_certificate_expiry_timestamp_seconds"
	expiry := func() float64 { return nonZero(t, reg)[gauge] }

	if got := expiry(); got != 0 {
		t.Errorf("no certificate yet: %v, want 0", got)
	}
	writePairUntil(t, dir, 1, first)
	if err := certs.Load(); err != nil {
		t.Fatal(err)
	}
	if got := expiry(); got != float64(first.Unix()) {
		t.Errorf("first certificate: %v, want %d", got, first.Unix())
	}
	writePairUntil(t, dir, 2, second)
	if got := expiry(); got != float64(second.Unix()) {
		t.Errorf("after the files were replaced: %v, want %d", got, second.Unix())
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := expiry(); got != float64(second.Unix()) {
		t.Errorf("after a broken key: %v, want the last good %d", got, second.Unix())
	}
}
