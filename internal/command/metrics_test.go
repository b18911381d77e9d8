package command

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// webhookSeries is the exposition the webhook's metrics should show
// after one mutated pod, one pod that is not the runner's and one
// malformed request, with a certificate valid until notAfter.
func webhookSeries(notAfter time.Time) string {
	return fmt.Sprintf(`# HELP drone_convert_eci_webhook_reviews_total Admission reviews answered, by outcome: mutated, unchanged, skipped, unreadable_pod, failed.
# TYPE drone_convert_eci_webhook_reviews_total counter
drone_convert_eci_webhook_reviews_total{outcome="failed"} 0
drone_convert_eci_webhook_reviews_total{outcome="mutated"} 1
drone_convert_eci_webhook_reviews_total{outcome="skipped"} 1
drone_convert_eci_webhook_reviews_total{outcome="unchanged"} 0
drone_convert_eci_webhook_reviews_total{outcome="unreadable_pod"} 0
# HELP drone_convert_eci_webhook_refusals_total Requests the webhook refused, by status code and reason; the API server applied failurePolicy to each.
# TYPE drone_convert_eci_webhook_refusals_total counter
drone_convert_eci_webhook_refusals_total{code="400",reason="body_error"} 0
drone_convert_eci_webhook_refusals_total{code="400",reason="empty"} 0
drone_convert_eci_webhook_refusals_total{code="400",reason="malformed"} 1
drone_convert_eci_webhook_refusals_total{code="400",reason="no_request"} 0
drone_convert_eci_webhook_refusals_total{code="400",reason="too_large"} 0
drone_convert_eci_webhook_refusals_total{code="405",reason="method"} 0
drone_convert_eci_webhook_refusals_total{code="503",reason="busy_memory"} 0
drone_convert_eci_webhook_refusals_total{code="503",reason="busy_slots"} 0
# HELP drone_convert_eci_webhook_containers_over_budget_total Containers the webhook left over the env budget; ECI refuses them (the log names pod and reason).
# TYPE drone_convert_eci_webhook_containers_over_budget_total counter
drone_convert_eci_webhook_containers_over_budget_total 0
# HELP drone_convert_eci_webhook_certificate_expiry_timestamp_seconds NotAfter of the certificate the webhook serves, in Unix seconds (0 while none is loaded).
# TYPE drone_convert_eci_webhook_certificate_expiry_timestamp_seconds gauge
drone_convert_eci_webhook_certificate_expiry_timestamp_seconds %d
`, notAfter.Unix())
}

var webhookSeriesNames = []string{
	"drone_convert_eci_webhook_reviews_total",
	"drone_convert_eci_webhook_refusals_total",
	"drone_convert_eci_webhook_containers_over_budget_total",
	"drone_convert_eci_webhook_certificate_expiry_timestamp_seconds",
}

// sendReviews posts to the webhook what webhookSeries counts: the
// runner's own pod for a tag build (mutated), the same pod without the
// runner's label (skipped), and a body that is not JSON (400).
func sendReviews(t *testing.T, client *http.Client, hookURL string) {
	t.Helper()
	ours := runnerTagPod(t)
	notOurs := ours.DeepCopy()
	notOurs.Labels = nil
	post := func(body []byte) (int, string) {
		res, err := client.Post(hookURL+"/mutate", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name  string
		body  []byte
		code  int
		patch bool
	}{
		{"runner pod", review(t, ours), http.StatusOK, true},
		{"not the runner's", review(t, notOurs), http.StatusOK, false},
		{"not JSON", []byte("{"), http.StatusBadRequest, false},
	} {
		code, body := post(tc.body)
		if code != tc.code || strings.Contains(body, `"patch"`) != tc.patch {
			t.Fatalf("%s: answered %d %s, want %d with patch %v", tc.name, code, body, tc.code, tc.patch)
		}
	}
}

func review(t *testing.T, pod any) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "e2e", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Namespace: "default", Name: "drone-e2e", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runUntilReady starts a long-running subcommand and waits until
// readyURL answers 200; the returned func stops it with a real SIGTERM
// and requires exit 0.
func runUntilReady(t *testing.T, client *http.Client, run func(io.Writer) int, readyURL string) (stop func()) {
	t.Helper()
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() { exited <- run(&stderr) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := client.Get(readyURL); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-exited:
			t.Fatalf("exited %d before it was ready: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready at %s: %s", readyURL, stderr.String())
		}
	}
	return func() {
		t.Helper()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-exited:
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("did not exit after SIGTERM")
		}
	}
}

// serve with the webhook on, through its real listeners: reviews sent
// to the HTTPS port show on the conversion port's /metrics, beside the
// converter's own series, with the served certificate's expiry.
func TestServeWebhookMetrics(t *testing.T) {
	dir := t.TempDir()
	notAfter := writeCert(t, dir)
	convertAddr, hookAddr := freePort(t), freePort(t)
	for k, v := range map[string]string{
		"DRONE_SECRET": "s3cret", "DRONE_BIND": convertAddr,
		"DRONE_ECI_WEBHOOK_ENABLED": "true", "DRONE_ECI_WEBHOOK_BIND": hookAddr,
		"DRONE_ECI_WEBHOOK_TLS_CERT": filepath.Join(dir, "tls.crt"), "DRONE_ECI_WEBHOOK_TLS_KEY": filepath.Join(dir, "tls.key"),
		"DRONE_ECI_WEBHOOK_LOADER_IMAGE": "drone-convert-eci:test",
		"DRONE_ECI_SHUTDOWN_DRAIN":       "0s",
	} {
		t.Setenv(k, v)
	}
	client := testClient()
	stop := runUntilReady(t, client, func(stderr io.Writer) int { return serve(nil, stderr) }, "http://"+convertAddr+"/readyz")
	defer stop()

	sendReviews(t, client, "https://"+hookAddr)
	metricsURL := "http://" + convertAddr + "/metrics"
	if err := testutil.ScrapeAndCompare(metricsURL, strings.NewReader(webhookSeries(notAfter)), webhookSeriesNames...); err != nil {
		t.Error(err)
	}
	if n := scrapeValue(t, metricsURL, "drone_convert_eci_webhook_review_duration_seconds_count"); n != 3 {
		t.Errorf("review duration observed %v times, want 3", n)
	}
	if n := scrapeValue(t, metricsURL, "drone_convert_eci_panics_total"); n != 0 {
		t.Error("the converter's metrics are missing beside the webhook's")
	}
}

// The standalone webhook serves /healthz, /readyz and /metrics over
// plain HTTP on DRONE_BIND, as serve does on that port.
func TestWebhookCommandMetrics(t *testing.T) {
	dir := t.TempDir()
	notAfter := writeCert(t, dir)
	opsAddr, hookAddr := freePort(t), freePort(t)
	for k, v := range map[string]string{
		"DRONE_BIND": opsAddr, "DRONE_ECI_WEBHOOK_BIND": hookAddr,
		"DRONE_ECI_WEBHOOK_TLS_CERT": filepath.Join(dir, "tls.crt"), "DRONE_ECI_WEBHOOK_TLS_KEY": filepath.Join(dir, "tls.key"),
		"DRONE_ECI_WEBHOOK_LOADER_IMAGE": "drone-convert-eci:test",
		"DRONE_ECI_SHUTDOWN_DRAIN":       "0s",
	} {
		t.Setenv(k, v)
	}
	client := testClient()
	stop := runUntilReady(t, client, func(stderr io.Writer) int { return webhook(nil, stderr) }, "http://"+opsAddr+"/readyz")
	defer stop()

	res, err := client.Get("http://" + opsAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	sendReviews(t, client, "https://"+hookAddr)
	metricsURL := "http://" + opsAddr + "/metrics"
	if err := testutil.ScrapeAndCompare(metricsURL, strings.NewReader(webhookSeries(notAfter)), webhookSeriesNames...); err != nil {
		t.Error(err)
	}
	if n := scrapeValue(t, metricsURL, "go_goroutines"); n <= 0 {
		t.Error("no Go runtime metrics beside the webhook's")
	}
	for _, path := range []string{"/mutate", "/"} {
		res, err := client.Post("http://"+opsAddr+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s on the plain port: %d, want 405 (reviews go to the HTTPS port only)", path, res.StatusCode)
		}
	}
}

func testClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own self-signed certificate
}

// scrapeValue is the value of the unlabelled sample name on url, -1
// when there is none.
func scrapeValue(t *testing.T, url, name string) float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		var v float64
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}
