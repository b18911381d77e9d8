package command

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/drone-convert-eci/drone-convert-eci/admission"
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
)

// serve with the webhook on, stopped by a real SIGTERM: /readyz passes
// while both listeners answer, fails as soon as the signal arrives,
// both listeners keep answering through DRONE_ECI_SHUTDOWN_DRAIN, and
// serve exits 0. (The draining itself, with requests in flight, is
// tested in internal/lifecycle.)
func TestServeShutsDownWithoutAGap(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir)
	convertAddr, hookAddr := freePort(t), freePort(t)
	const drain = 1500 * time.Millisecond
	for k, v := range map[string]string{
		"DRONE_SECRET": "s3cret", "DRONE_BIND": convertAddr,
		"DRONE_ECI_WEBHOOK_ENABLED": "true", "DRONE_ECI_WEBHOOK_BIND": hookAddr,
		"DRONE_ECI_WEBHOOK_TLS_CERT": filepath.Join(dir, "tls.crt"), "DRONE_ECI_WEBHOOK_TLS_KEY": filepath.Join(dir, "tls.key"),
		"DRONE_ECI_SHUTDOWN_DRAIN": drain.String(),
	} {
		t.Setenv(k, v)
	}
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() { exited <- serve(nil, &stderr) }()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	status := func(url string) int {
		res, err := client.Get(url)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	readyz, hookHealth := "http://"+convertAddr+"/readyz", "https://"+hookAddr+"/healthz"
	for deadline := time.Now().Add(5 * time.Second); status(readyz) != http.StatusOK; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %s", stderr.String())
		}
	}
	signalled := time.Now()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for status(readyz) != http.StatusServiceUnavailable {
		if time.Since(signalled) > drain/2 {
			t.Fatal("readiness still passes after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for time.Since(signalled) < drain-500*time.Millisecond {
		if code := status("http://" + convertAddr + "/healthz"); code != http.StatusOK {
			t.Fatalf("conversion listener answered %d during the drain", code)
		}
		if code := status(hookHealth); code != http.StatusOK {
			t.Fatalf("webhook listener answered %d during the drain", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if took := time.Since(signalled); took < drain {
			t.Errorf("exited %s after SIGTERM, inside the %s drain", took, drain)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeCert writes a self-signed pair for 127.0.0.1 valid for an hour
// and returns its NotAfter.
func writeCert(t *testing.T, dir string) time.Time {
	t.Helper()
	notAfter := time.Now().Add(time.Hour)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "webhook"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return notAfter
}

// The webhook's readiness check fails when its listener is gone.
func TestWebhookReadinessCheck(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir)
	cfg := config.Default()
	cfg.Webhook.Bind = "127.0.0.1:0"
	cfg.Webhook.TLSCert, cfg.Webhook.TLSKey = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	log := logrus.New()
	log.Out = io.Discard
	hook, err := newWebhook(cfg, admission.DefaultLimits(), prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hook.HTTP.ServeTLS(hook.Listener, "", "") }()
	check := webhookAnswers(hook.Listener.Addr())
	if err := check(context.Background()); err != nil {
		t.Fatalf("serving webhook: %v", err)
	}
	hook.HTTP.Close()
	if err := check(context.Background()); err == nil {
		t.Fatal("closed webhook listener passes readiness")
	}
}

// Self-managed webhook TLS, as serve wires it: the webhook is not ready
// while the Secret the chart renders is empty; once the background task
// (the only replica, so the Lease holder) has issued the certificate,
// readiness passes and the API server's view (the patched caBundle, the
// Service's DNS name) verifies the served chain.
func TestSelfManagedWebhookTLS(t *testing.T) {
	client := fake.NewSimpleClientset(
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "drone", Name: "dce-webhook-tls"},
			// As the chart renders it: Opaque, no data.
			Type: corev1.SecretTypeOpaque,
		},
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "dce"},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "pods.drone-convert-eci.io"}},
		},
	)
	cfg := config.Default()
	cfg.Namespace = "drone"
	cfg.Webhook.Bind = "127.0.0.1:0"
	cfg.Webhook.TLSMode, cfg.Webhook.CertSecret, cfg.Webhook.Configuration, cfg.Webhook.Service = config.TLSSelfManaged, "dce-webhook-tls", "dce", "dce"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.Out = io.Discard
	certs, background, err := selfManagedTLS(cfg, client, log)
	if err != nil {
		t.Fatal(err)
	}
	registry := prometheus.NewRegistry()
	hook, err := listenWebhook(cfg, admission.DefaultLimits(), registry, log, certs, background)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hook.HTTP.ServeTLS(hook.Listener, "", "") }()
	defer hook.HTTP.Close()
	check := webhookAnswers(hook.Listener.Addr())
	if err := check(context.Background()); err == nil {
		t.Fatal("ready with no certificate issued")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go hook.Background(ctx)
	for check(ctx) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("no certificate served within 30 s")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if hook.Certs.NotAfter().Before(time.Now().Add(300 * 24 * time.Hour)) {
		t.Errorf("served certificate expires %s; want the default year", hook.Certs.NotAfter())
	}
	// The expiry metric follows the self-managed certificate.
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	expiry := -1.0
	for _, f := range families {
		if f.GetName() == "drone_convert_eci_webhook_certificate_expiry_timestamp_seconds" {
			expiry = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if want := float64(hook.Certs.NotAfter().Unix()); expiry != want {
		t.Errorf("certificate expiry metric %v, want %v", expiry, want)
	}
	mwc, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "dce", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mwc.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("caBundle not patched")
	}
	conn, err := tls.Dial("tcp", hook.Listener.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "dce.drone.svc", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("the API server's handshake: %v", err)
	}
	conn.Close()
}

// The conversion server's read deadline runs from a request's first
// byte, and the guard reads the body only once memory is free: a body
// read after a wait as long as DRONE_ECI_QUEUE_TIMEOUT must still have
// time (a 880 KB body queued 1.5 s behind a 1 s ReadTimeout answered 400
// "cannot read request body: i/o timeout").
func TestReadTimeoutOutlastsTheQueue(t *testing.T) {
	for _, queue := range []time.Duration{config.Default().QueueTimeout, 40 * time.Second, 2 * time.Minute} {
		cfg := config.Default()
		cfg.QueueTimeout = queue
		wait := min(queue, cfg.ConvertTimeout) // the guard's deadline ends the wait
		if left := readTimeout(cfg) - wait; left < 10*time.Second {
			t.Errorf("DRONE_ECI_QUEUE_TIMEOUT %s: a request admitted at the end of its wait has %s to send its body, want 10s", queue, left)
		}
	}
	if got := readTimeout(config.Default()); got != 30*time.Second {
		t.Errorf("read timeout at the defaults: %s, want the 30s it was", got)
	}
	// A slow sender holds its memory while it sends: no longer than the
	// wait can last.
	cfg := config.Default()
	cfg.QueueTimeout = time.Hour
	if got := readTimeout(cfg); got > cfg.ConvertTimeout+10*time.Second {
		t.Errorf("DRONE_ECI_QUEUE_TIMEOUT 1h: read timeout %s, want no more than DRONE_ECI_CONVERT_TIMEOUT + 10s", got)
	}
}
