package admission

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

func quietLog() *logrus.Logger {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return log
}

func reviewOf(t *testing.T, raw []byte) []byte {
	t.Helper()
	b, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnreadableReviews: each request the webhook cannot read answers
// 400 with its reason (no UID to answer with; the API server applies
// failurePolicy), and a readable review of an unreadable pod is allowed
// with a warning.
func TestUnreadableReviews(t *testing.T) {
	h := Handler(testOptions(), DefaultLimits(), nil, quietLog())
	tests := []struct {
		name   string
		body   []byte
		length int64 // declared Content-Length; 0 = len(body), -1 = none
		code   int
		reason string // in the body
	}{
		{"malformed JSON", []byte("{"), 0, http.StatusBadRequest, "not an AdmissionReview"},
		{"empty body", nil, 0, http.StatusBadRequest, "empty body"},
		{"review without a request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 0, http.StatusBadRequest, "without a request"},
		{"declared over the limit", []byte("{}"), MaxReviewBytes + 1, http.StatusBadRequest, "over the 4194304-byte limit"},
		{"sent over the limit without a length", bytes.Repeat([]byte(" "), MaxReviewBytes+1), -1, http.StatusBadRequest, "over the 4194304-byte limit"},
		{"unreadable pod: allowed with a warning", reviewOf(t, []byte(`{"spec":7}`)), 0, http.StatusOK, `"allowed":true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(tt.body))
			switch {
			case tt.length < 0:
				req.ContentLength = -1
			case tt.length > 0:
				req.ContentLength = tt.length
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.reason) {
				t.Errorf("got %d %q, want %d containing %q", rec.Code, rec.Body.String(), tt.code, tt.reason)
			}
			if tt.code == http.StatusOK && !strings.Contains(rec.Body.String(), "pod unreadable") {
				t.Errorf("no warning for the unreadable pod: %s", rec.Body.String())
			}
		})
	}
}

// blockingBody is a request body that blocks its reader until released,
// so a review can be held in flight.
type blockingBody struct {
	release chan struct{}
	r       io.Reader
}

func (b *blockingBody) Read(p []byte) (int, error) {
	<-b.release
	return b.r.Read(p)
}

// TestReviewLimits: past MaxConcurrent reviews, or past the memory
// budget, a review waits QueueTimeout and answers 503 with Retry-After;
// once the one in flight is answered, the next is served.
func TestReviewLimits(t *testing.T) {
	body := reviewOf(t, []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`))
	for _, tc := range []struct {
		name   string
		limits Limits
		reason string
		series string // the refusal's reason label
	}{
		{"concurrency", Limits{MaxConcurrent: 1, MemoryBudget: 1 << 30, QueueTimeout: 50 * time.Millisecond}, "reviews in flight", metrics.RefusedBusySlots},
		{"memory", Limits{MaxConcurrent: 8, MemoryBudget: ReviewWorkingSet(int64(len(body))), QueueTimeout: 50 * time.Millisecond}, "memory budget", metrics.RefusedBusyMemory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.NewWebhook(prometheus.NewRegistry(), func() time.Time { return time.Time{} })
			h := Handler(testOptions(), tc.limits, m, quietLog())
			held := &blockingBody{release: make(chan struct{}), r: bytes.NewReader(body)}
			first := httptest.NewRequest(http.MethodPost, "/mutate", held)
			first.ContentLength = int64(len(body))
			done := make(chan int)
			go func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, first)
				done <- rec.Code
			}()
			// The first review holds its slot and memory while its body
			// is read; wait until the second would have to queue.
			var rec *httptest.ResponseRecorder
			for range 100 {
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body)))
				if rec.Code == http.StatusServiceUnavailable {
					break
				}
			}
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), tc.reason) {
				t.Errorf("second review: %d %q, want 503 with Retry-After naming %q", rec.Code, rec.Body.String(), tc.reason)
			}
			for _, reason := range []string{metrics.RefusedBusySlots, metrics.RefusedBusyMemory} {
				want := 0.0
				if reason == tc.series {
					want = 1
				}
				if got := testutil.ToFloat64(m.Refusals.WithLabelValues("503", reason)); got != want {
					t.Errorf("refusals{code=503,reason=%s} = %v, want %v", reason, got, want)
				}
			}
			close(held.release)
			if code := <-done; code != http.StatusOK {
				t.Errorf("first review: %d", code)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body)))
			if rec.Code != http.StatusOK {
				t.Errorf("after the first: %d %s", rec.Code, rec.Body.String())
			}
		})
	}
}
