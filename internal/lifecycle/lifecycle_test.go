package lifecycle

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// A real SIGTERM to this process, caught as serve catches it: readiness
// fails at once, both listeners (plain HTTP and TLS) go on answering new
// connections for the whole drain period, and the requests in flight
// when the signal came are all answered before Run returns nil.
func TestSIGTERMDrainsWithoutAGap(t *testing.T) {
	// Generous margins: the machine running the tests may be busy.
	const drain, slow = 1500 * time.Millisecond, 2000 * time.Millisecond
	release := make(chan struct{})
	slowHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
			time.Sleep(slow)
		}
		_, _ = io.WriteString(w, "answered")
	})
	ready := NewReadiness()
	convert := Server{Name: "conversion", HTTP: &http.Server{Handler: ready.Handler(slowHandler)}, Listener: listen(t)}
	cert := selfSigned(t)
	hook := Server{Name: "webhook", HTTP: &http.Server{Handler: slowHandler, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}, Listener: listen(t), TLS: true}
	convertURL := "http://" + convert.Listener.Addr().String()
	hookURL := "https://" + hook.Listener.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	// A new connection per request, as a client that has not yet seen
	// the endpoint change would open.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}

	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	log := logrus.New()
	log.Out = io.Discard
	done := make(chan error, 1)
	var returned time.Time
	go func() {
		err := Run(stop, log, ready, drain, 10*time.Second, convert, hook)
		returned = time.Now()
		done <- err
	}()

	if code := get(t, client, convertURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("readiness before SIGTERM: %d", code)
	}
	// Requests in flight across the signal, on both listeners.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for _, url := range []string{convertURL + "/slow", convertURL + "/slow", hookURL + "/slow", hookURL + "/slow"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Get(url)
			if err == nil {
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK && string(body) == "answered" {
					return
				}
				err = &unexpected{res.StatusCode, string(body)}
			}
			mu.Lock()
			failures = append(failures, url+": "+err.Error())
			mu.Unlock()
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them reach the handler

	signalled := time.Now()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	close(release)
	deadline := time.Now().Add(drain / 2)
	for get(t, client, convertURL+"/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("readiness still passes %s after SIGTERM", time.Since(signalled))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Until the drain period ends, new connections are still answered.
	for time.Since(signalled) < drain-500*time.Millisecond {
		for _, url := range []string{convertURL + "/fast", hookURL + "/fast"} {
			if code := get(t, client, url); code != http.StatusOK {
				t.Fatalf("%s answered %d %s after SIGTERM, inside the drain period", url, code, time.Since(signalled))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("in-flight requests not answered: %v", failures)
	}
	if took := returned.Sub(signalled); took < slow-100*time.Millisecond || took < drain {
		t.Errorf("Run returned %s after SIGTERM, before the drain (%s) and the in-flight requests (%s) were over", took, drain, slow)
	}
	// And now the listeners are closed.
	if _, err := client.Get(convertURL + "/fast"); err == nil {
		t.Error("the conversion listener still answers after Run returned")
	}
}

// A check that fails (the webhook listener not answering) fails readiness
// before any signal.
func TestReadinessRunsChecks(t *testing.T) {
	failing := NewReadiness(func(context.Context) error { return io.ErrUnexpectedEOF })
	if err := failing.Ready(context.Background()); err != io.ErrUnexpectedEOF {
		t.Fatalf("Ready = %v", err)
	}
	ok := NewReadiness(func(context.Context) error { return nil })
	if err := ok.Ready(context.Background()); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	ok.Drain()
	if err := ok.Ready(context.Background()); err == nil {
		t.Fatal("Ready after Drain = nil")
	}
}

// A listener that fails ends Run with its error.
func TestRunReturnsAListenerError(t *testing.T) {
	l := listen(t)
	l.Close()
	log := logrus.New()
	log.Out = io.Discard
	err := Run(context.Background(), log, NewReadiness(), time.Second, time.Second, Server{Name: "conversion", HTTP: &http.Server{}, Listener: l})
	if err == nil {
		t.Fatal("Run with a closed listener returned nil")
	}
}

type unexpected struct {
	code int
	body string
}

func (u *unexpected) Error() string { return http.StatusText(u.code) + " " + u.body }

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
