package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	httpsignatures "github.com/99designs/httpsignatures-go"
	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"github.com/sirupsen/logrus"
	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/server"
)

const secret = "bench-secret"

// input is one config to measure.
type input struct {
	name string
	data []byte
}

func typical(tb testing.TB) []byte {
	data, err := os.ReadFile("../testdata/bench/typical.yml")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// manySteps is an opted-in pipeline of n serial command steps. ECI takes
// at most 20 containers a pod, so sizing (which enforces that) is
// switched off: the benchmark measures how conversion cost grows with
// steps, not the refusal.
func manySteps(n int) []byte {
	var b strings.Builder
	b.WriteString("kind: pipeline\ntype: kubernetes\nname: big\nmetadata:\n  annotations:\n    drone-convert-eci/enabled: \"true\"\n    drone-convert-eci/disable: sizing\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- name: step-%d\n  image: golang:1.22\n  environment:\n    STEP: \"%d\"\n  commands:\n  - go test ./pkg/%d/...\n", i, i, i)
	}
	return []byte(b.String())
}

// nearLimit is the typical pipeline padded with comments until the
// signed request is just under the default 1 MiB body limit.
func nearLimit(tb testing.TB) []byte {
	base := typical(tb)
	limit := int(config.Default().MaxBodyBytes)
	line := "# " + strings.Repeat("padding ", 12) + "\n"
	body, _ := json.Marshal(request(base))
	// JSON spells the newline as two bytes; nothing else in line escapes.
	lines := (limit - 512 - len(body)) / (len(line) + 1)
	data := append(base, strings.Repeat(line, lines)...)
	if body, _ := json.Marshal(request(data)); len(body) > limit {
		tb.Fatalf("padded request is %d bytes, over the %d limit", len(body), limit)
	}
	return data
}

// wide is an opted-in pipeline just under the body limit whose size is
// in the width of its mappings: a docker step with 36 000 settings (each
// kept as written, with a warning) and a step with 27 000 env vars.
// Searching such mappings entry by entry made a conversion take seconds.
func wide(tb testing.TB) []byte {
	var b strings.Builder
	b.WriteString("kind: pipeline\ntype: kubernetes\nname: wide\nmetadata:\n  annotations:\n    drone-convert-eci/enabled: \"true\"\nsteps:\n- name: build\n  image: plugins/docker\n  settings:\n    repo: octo/wide\n")
	for i := 0; i < 36000; i++ {
		fmt.Fprintf(&b, "    k%d: v\n", i)
	}
	b.WriteString("- name: test\n  image: golang:1.22\n  commands: [go test]\n  environment:\n")
	for i := 0; i < 27000; i++ {
		fmt.Fprintf(&b, "    E%d: v\n", i)
	}
	data := []byte(b.String())
	if body, _ := json.Marshal(request(data)); len(body) > int(config.Default().MaxBodyBytes) {
		tb.Fatalf("wide request is %d bytes, over the %d limit", len(body), config.Default().MaxBodyBytes)
	}
	return data
}

// argsFromEnv is an opted-in docker step just under the body limit with
// 12 000 build args, 12 000 build_args_from_env names and 12 000 env
// vars: drone-docker's prefix test of every name against every build
// arg, done pairwise, and the env looked up by scan made it take a
// minute.
func argsFromEnv(tb testing.TB) []byte {
	var b strings.Builder
	b.WriteString("kind: pipeline\ntype: kubernetes\nname: args\nmetadata:\n  annotations:\n    drone-convert-eci/enabled: \"true\"\nsteps:\n- name: build\n  image: plugins/docker\n  settings:\n    repo: octo/args\n    build_args:\n")
	for i := 0; i < 12000; i++ {
		fmt.Fprintf(&b, "    - ARG_%d=x\n", i)
	}
	b.WriteString("    build_args_from_env:\n")
	for i := 0; i < 12000; i++ {
		fmt.Fprintf(&b, "    - var_%d\n", i)
	}
	b.WriteString("  environment:\n")
	for i := 0; i < 12000; i++ {
		fmt.Fprintf(&b, "    var_%d: v\n", i)
	}
	data := []byte(b.String())
	if body, _ := json.Marshal(request(data)); len(body) > int(config.Default().MaxBodyBytes) {
		tb.Fatalf("build args request is %d bytes, over the %d limit", len(body), config.Default().MaxBodyBytes)
	}
	return data
}

func inputs(tb testing.TB) []input {
	return []input{
		{"typical-10-steps", typical(tb)},
		{"200-steps", manySteps(200)},
		{"near-1MiB", nearLimit(tb)},
		{"wide-1MiB", wide(tb)},
		{"build-args-from-env", argsFromEnv(tb)},
	}
}

func request(data []byte) *converter.Request {
	return &converter.Request{
		Build:  drone.Build{Number: 1, Event: "push", Ref: "refs/heads/main"},
		Config: drone.Config{Data: string(data)},
		Repo:   drone.Repo{Slug: "octo/bench", Namespace: "octo", Name: "bench"},
	}
}

// signed builds what drone-go's client sends: body, Digest, Date and an
// HMAC signature over them.
func signed(tb testing.TB, data []byte) (body []byte, header http.Header) {
	body, err := json.Marshal(request(data))
	if err != nil {
		tb.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://bench/", nil)
	sum := sha256.Sum256(body)
	req.Header.Set("Accept", converter.V1)
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
	signer := httpsignatures.NewSigner(httpsignatures.AlgorithmHmacSha256, "accept", "accept-encoding", "content-type", "date", "digest")
	if err := signer.SignRequest("hmac-key", secret, req); err != nil {
		tb.Fatal(err)
	}
	return body, req.Header
}

func serve(b *testing.B, handler http.Handler, body []byte, header http.Header, want int) {
	b.Helper()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header = header
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}

// reportCPU reports the process's CPU time (user and system, the
// collector's included) per operation from now until the returned
// function runs, as cpu-ns/op. On a machine shared with other work,
// wall time per operation swings with what else runs; the CPU time a
// conversion takes much less, and at GOMAXPROCS=1 (as the chart runs
// the server) it is the time it holds the one core.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

type nilPlugin struct{}

func (nilPlugin) Convert(context.Context, *converter.Request) (*drone.Config, error) {
	return nil, nil
}

func quietLogger() *logrus.Logger {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return log
}

// BenchmarkConvert measures, per input: (a) the full signed HTTP path,
// (b) the plugin alone, (c) the floor, drone-go's handler with a plugin
// that answers nil, (d) drone-runner-kube's own parse + lint + compile,
// (e) a bare yaml.v3 decode of every document.
func BenchmarkConvert(b *testing.B) {
	cfg := config.Default()
	log := quietLogger()
	full := server.Handler(plugin.New(cfg, log), server.Options{Secret: secret, MaxBodyBytes: cfg.MaxBodyBytes, MaxClockSkew: time.Hour}, log)
	floor := converter.Handler(nilPlugin{}, secret, log)
	conv := plugin.NewConverter(cfg)
	for _, in := range inputs(b) {
		body, header := signed(b, in.data)
		b.Run(in.name+"/a-http", func(b *testing.B) { serve(b, full, body, header, http.StatusOK) })
		b.Run(in.name+"/b-plugin", func(b *testing.B) { benchPlugin(b, conv, in.data) })
		b.Run(in.name+"/c-floor", func(b *testing.B) { serve(b, floor, body, header, http.StatusNoContent) })
		b.Run(in.name+"/d-runner", func(b *testing.B) { benchRunner(b, in.data) })
		b.Run(in.name+"/e-decode", func(b *testing.B) { benchDecode(b, in.data) })
	}
}

// BenchmarkCorpus runs (b), (d) and (e) over every public config, with
// every kubernetes pipeline opted in.
func BenchmarkCorpus(b *testing.B) {
	files := corpustest.Require(b)
	conv := plugin.NewConverter(config.Default())
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		name := filepath.Base(file)
		b.Run(name+"/b-plugin", func(b *testing.B) { benchPluginOptIn(b, conv, data) })
		b.Run(name+"/d-runner", func(b *testing.B) { benchRunner(b, data) })
		b.Run(name+"/e-decode", func(b *testing.B) { benchDecode(b, data) })
	}
}

func benchPlugin(b *testing.B, conv *plugin.Converter, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		if _, err := conv.Convert(plugin.Input{Config: data, Repo: "octo/bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPluginOptIn(b *testing.B, conv *plugin.Converter, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		// Refusals are results too (a corpus file may not run on ECI).
		_, _ = conv.Convert(plugin.Input{Config: data, Repo: "octo/bench", OptInAll: true})
	}
}

func benchRunner(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		// The runner may refuse a config (untrusted privileged steps);
		// its work until then is what is measured.
		_, _ = runnertest.Compile(data, runnertest.Options{Trusted: true, SpecOnly: true})
	}
}

func benchDecode(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var node yaml.Node
			if err := dec.Decode(&node); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
