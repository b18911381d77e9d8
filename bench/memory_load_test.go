//go:build load

package bench

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
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/go-units"
	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"gopkg.in/yaml.v3"
)

// TestLoadMemory runs the real binary as the chart runs it (GOMAXPROCS=1
// as its CPU limit of 1 gives, the chart's GOMEMLIMIT and every other
// setting at its default) and sends it 64 concurrent near-limit
// env-heavy configs, 3 from each client, over loopback with drone-go's
// client. The server's peak RSS (VmHWM of its process, so the clients'
// own memory does not count) must stay under the chart's memory limit;
// more than half of the requests must be converted, and every other one
// answered a clean 503 that says why: the memory budget was not free
// within the queue's wait, or within the request's deadline.
//
//	go test -tags load -run TestLoadMemory -v ./bench
func TestLoadMemory(t *testing.T) {
	limit, env := chartMemory(t)
	addr := freeLoopback(t)
	cmd := startServer(t, env, "DRONE_BIND="+addr)
	waitHealthy(t, "http://"+addr)

	configs := [][]byte{wide(t), argsFromEnv(t)}
	const clients, each = 64, 3
	// Most are served: one core converts such a config in about 0.2 s,
	// so the 64th in line waits about 13 s, within the default
	// DRONE_ECI_QUEUE_TIMEOUT.
	const minServed = clients*each/2 + 1
	var (
		mu                   sync.Mutex
		served, busy, failed int
		firstFailure         error
	)
	client := converter.Client("http://"+addr, secret, false)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				req := request(configs[(c+i)%len(configs)])
				req.Repo.Slug = fmt.Sprintf("octo/repo-%d", c)
				res, err := client.Convert(context.Background(), req)
				var derr *drone.Error
				mu.Lock()
				switch {
				case err == nil && res != nil && res.Data != "":
					served++
				case errors.As(err, &derr) && derr.Code == http.StatusServiceUnavailable && cleanBusy(derr.Message):
					busy++
				default:
					failed++
					if firstFailure == nil {
						firstFailure = fmt.Errorf("answer %v, error %v", res, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	peak := processPeakRSS(t, cmd.Process.Pid)
	t.Logf("%d requests in %s: %d converted (at least %d wanted), %d answered 503 (memory budget), %d failed; server peak RSS %s, chart limit %s (GOMEMLIMIT %s)",
		clients*each, time.Since(start).Round(time.Millisecond), served, minServed, busy, failed,
		units.BytesSize(float64(peak)), units.BytesSize(float64(limit)), env["GOMEMLIMIT"])
	if failed > 0 {
		t.Errorf("%d requests neither converted nor a clean 503; first: %v", failed, firstFailure)
	}
	if peak >= limit {
		t.Errorf("server peak RSS %d bytes, at or over the chart's memory limit %d", peak, limit)
	}
	if served < minServed {
		t.Errorf("%d of %d requests converted, want more than half (%d)", served, clients*each, minServed)
	}
}

// cleanBusy reports whether a 503's message gives its reason: the memory
// budget, and the wait it was not free within (the queue's, or the
// request's deadline).
func cleanBusy(msg string) bool {
	return strings.Contains(msg, "the converter is busy") && strings.Contains(msg, "DRONE_ECI_MEMORY_BUDGET") &&
		(strings.Contains(msg, "DRONE_ECI_QUEUE_TIMEOUT") || strings.Contains(msg, "DRONE_ECI_CONVERT_TIMEOUT"))
}

// startServer builds the binary and runs serve as the chart does:
// GOMAXPROCS=1 (its CPU limit of 1), its GOMEMLIMIT and memory budget,
// every other setting at its default, plus extra.
func startServer(t *testing.T, env map[string]string, extra ...string) *exec.Cmd {
	bin := filepath.Join(t.TempDir(), "drone-convert-eci")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "DRONE_SECRET="+secret)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, extra...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestLoadWebhookMemory runs serve with the webhook on, as the chart does
// with webhook.enabled, and sends it 8 concurrent reviews of a pod whose
// container has 50 000 env vars (3.3 MB each), 2 from each client, over
// TLS on loopback. The server's peak RSS must stay under the chart's
// memory limit; every review is answered with a patch or a clean 503.
//
//	go test -tags load -run TestLoadWebhookMemory -v ./bench
func TestLoadWebhookMemory(t *testing.T) {
	limit, env := chartMemory(t)
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	addr, hookAddr := freeLoopback(t), freeLoopback(t)
	cmd := startServer(t, env, "DRONE_BIND="+addr, "DRONE_ECI_WEBHOOK_ENABLED=true",
		"DRONE_ECI_WEBHOOK_BIND="+hookAddr, "DRONE_ECI_WEBHOOK_TLS_CERT="+certFile, "DRONE_ECI_WEBHOOK_TLS_KEY="+keyFile,
		"DRONE_ECI_WEBHOOK_LOADER_IMAGE=drone-convert-eci:load")
	waitHealthy(t, "http://"+addr)

	body := reviewBody(t, runnerPod(50000, true))
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	const clients, each = 8, 2
	var (
		mu                    sync.Mutex
		patched, busy, failed int
		firstFailure          string
	)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				res, err := client.Post("https://"+hookAddr+"/mutate", "application/json", bytes.NewReader(body))
				var out []byte
				if err == nil {
					out, _ = io.ReadAll(res.Body)
					res.Body.Close()
				}
				mu.Lock()
				switch {
				case err == nil && res.StatusCode == http.StatusOK && bytes.Contains(out, []byte(`"patch":`)):
					patched++
				case err == nil && res.StatusCode == http.StatusServiceUnavailable && bytes.Contains(out, []byte("busy")):
					busy++
				default:
					failed++
					if firstFailure == "" {
						firstFailure = fmt.Sprintf("%v %v %.200s", err, res, out)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	peak := processPeakRSS(t, cmd.Process.Pid)
	t.Logf("%d reviews of %d bytes in %s: %d patched, %d answered 503, %d failed; server peak RSS %s, chart limit %s",
		clients*each, len(body), time.Since(start).Round(time.Millisecond), patched, busy, failed,
		units.BytesSize(float64(peak)), units.BytesSize(float64(limit)))
	if failed > 0 {
		t.Errorf("%d reviews neither patched nor a clean 503; first: %s", failed, firstFailure)
	}
	if peak >= limit {
		t.Errorf("server peak RSS %d bytes, at or over the chart's memory limit %d", peak, limit)
	}
	if patched == 0 {
		t.Error("no review was patched")
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// chartMemory reads the chart's default memory limit and the env it
// gives the server.
func chartMemory(t *testing.T) (int64, map[string]string) {
	data, err := os.ReadFile("../deploy/helm/drone-convert-eci/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Walked, not decoded whole: only three values matter here.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var values struct {
		Resources struct {
			Limits struct {
				Memory string `yaml:"memory"`
			} `yaml:"limits"`
		}
	}
	env := map[string]string{}
	top := root.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		switch top[i].Value {
		case "resources":
			if err := top[i+1].Decode(&values.Resources); err != nil {
				t.Fatal(err)
			}
		case "goMemLimit":
			if v := top[i+1]; v.Tag != "!!null" {
				env["GOMEMLIMIT"] = v.Value
			}
		case "env":
			pairs := top[i+1].Content
			for j := 0; j+1 < len(pairs); j += 2 {
				if k := pairs[j].Value; k == "DRONE_ECI_MEMORY_BUDGET" {
					if v := pairs[j+1]; v.Tag != "!!null" {
						env[k] = v.Value
					}
				}
			}
		}
	}
	limit, err := units.RAMInBytes(strings.TrimSuffix(values.Resources.Limits.Memory, "i"))
	if err != nil || limit <= 0 {
		t.Fatalf("chart memory limit %q: %v", values.Resources.Limits.Memory, err)
	}
	return limit, env
}

func freeLoopback(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHealthy(t *testing.T, base string) {
	for range 100 {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server did not answer /healthz within 5s")
}

// processPeakRSS is another process's high-water resident set (VmHWM).
func processPeakRSS(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
