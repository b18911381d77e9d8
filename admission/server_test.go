package admission

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// writePair writes a self-signed certificate for 127.0.0.1 with serial
// n and its key; the files are replaced as a whole, as cert-manager and
// the kubelet do.
func writePair(t *testing.T, dir string, n int64) {
	t.Helper()
	writePairUntil(t, dir, n, time.Now().Add(time.Hour))
}

// writePairUntil is writePair for a certificate valid until notAfter.
func writePairUntil(t *testing.T, dir string, n int64, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: "webhook"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IPAddresses: nil, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServer(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, 1)
	certs := &CertReloader{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), Interval: 0}
	if err := certs.Load(); err != nil {
		t.Fatal(err)
	}
	// writePair's certificate lasts an hour from now.
	if na := time.Until(certs.NotAfter()); na <= 0 || na > time.Hour {
		t.Errorf("NotAfter %s: not the loaded certificate's", certs.NotAfter())
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	// The webhook command's own setup: GetCertificate, nothing else.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: Handler(testOptions(), DefaultLimits(), nil, log), TLSConfig: &tls.Config{GetCertificate: certs.GetCertificate}}
	go func() { _ = server.ServeTLS(ln, "", "") }()
	defer server.Close()
	srv := struct{ URL string }{"https://" + ln.Addr().String()}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

	post := func(review *admissionv1.AdmissionReview) (*admissionv1.AdmissionReview, int64) {
		body, _ := json.Marshal(review)
		resp, err := client.Post(srv.URL+"/mutate", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		var out admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return &out, resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	pod := runnerPod(commandStep("a", 99))
	raw, _ := json.Marshal(pod)
	review := &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &admissionv1.AdmissionRequest{UID: "x", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	}
	out, serial := post(review)
	if out.Kind != "AdmissionReview" || out.APIVersion != "admission.k8s.io/v1" || !out.Response.Allowed || len(out.Response.Patch) == 0 || serial != 1 {
		t.Fatalf("response kind %q allowed %v patch %d bytes, serial %d", out.Kind, out.Response.Allowed, len(out.Response.Patch), serial)
	}
	// Not ours: allowed, no patch.
	pod.Labels = nil
	review.Request.Object.Raw, _ = json.Marshal(pod)
	if out, _ := post(review); !out.Response.Allowed || out.Response.Patch != nil {
		t.Fatalf("not ours: %+v", out.Response)
	}
	// The certificate is replaced: new connections get the new one.
	writePair(t, dir, 2)
	client.CloseIdleConnections()
	if _, serial := post(review); serial != 2 {
		t.Errorf("serial %d after the files changed, want 2", serial)
	}
	// A broken pair keeps the last good one.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	certs.Log = log
	client.CloseIdleConnections()
	if _, serial := post(review); serial != 2 {
		t.Errorf("serial %d after a broken key, want 2", serial)
	}
	// Not a review.
	resp, err := client.Get(srv.URL + "/mutate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}
