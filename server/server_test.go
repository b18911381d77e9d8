package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	httpsignatures "github.com/99designs/httpsignatures-go"
	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/drone-convert-eci/drone-convert-eci/server"
)

const secret = "correct horse battery staple"

// fakePlugin answers by the config it is sent, so one server covers the
// three outcomes drone-go's handler distinguishes, and counts calls so a
// test can prove a refused request never reached it.
type fakePlugin struct {
	mu    sync.Mutex
	calls int
}

func (p *fakePlugin) Convert(_ context.Context, req *converter.Request) (*drone.Config, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	switch req.Config.Data {
	case "convert-me":
		return &drone.Config{Data: "converted"}, nil
	case "leave-me":
		return nil, nil
	case "fail-me":
		return nil, errors.New(`pipeline "build": step "publish" needs a Docker daemon`)
	}
	return nil, errors.New("fake plugin: unexpected input " + req.Config.Data)
}

func (p *fakePlugin) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func start(t *testing.T, opts server.Options) (*httptest.Server, *fakePlugin, *test.Hook) {
	t.Helper()
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	plugin := &fakePlugin{}
	srv := httptest.NewServer(server.Handler(plugin, opts, log))
	t.Cleanup(srv.Close)
	return srv, plugin, hook
}

func requestBody(t *testing.T, data string) []byte {
	t.Helper()
	b, err := json.Marshal(&converter.Request{
		Build:  drone.Build{Event: "push", Target: "main"},
		Config: drone.Config{Data: data},
		Repo:   drone.Repo{Slug: "octocat/hello-world"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// padTo grows a JSON body to exactly n bytes with trailing whitespace,
// which json.Unmarshal ignores, so size boundaries can be hit exactly.
func padTo(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	if len(b) > n {
		t.Fatalf("body is already %d bytes, more than %d", len(b), n)
	}
	return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
}

func clientDigest(b []byte) string {
	s := sha256.Sum256(b)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(s[:])
}

// clientHeaders is the signed header list of drone-go v1.7.1's
// plugin/internal/client.
var clientHeaders = []string{"accept", "accept-encoding", "content-type", "date", "digest"}

// craft describes a hand-made request; its zero value is exactly what
// drone-go's client sends, so each case changes one thing.
type craft struct {
	body          []byte                    // body that is signed (its Digest); default a "convert-me" request
	sendBody      []byte                    // body actually sent, when it differs from body
	digest        string                    // Digest header; default the client's form for body
	noDigest      bool                      // omit the Digest header
	date          string                    // Date header; default now, in the client's format
	secret        string                    // signing secret; default the server's
	headers       []string                  // signed headers; default clientHeaders
	algorithm     *httpsignatures.Algorithm // default hmac-sha256
	keyID         string                    // default "hmac-key"
	signature     string                    // raw Signature header, replacing the computed one
	unsigned      bool                      // send no signature at all
	authorization bool                      // sign into "Authorization: Signature ..." instead of "Signature"
	chunked       bool                      // send without Content-Length
	path          string                    // default "/"
}

func (c craft) request(t *testing.T, base string, now time.Time) *http.Request {
	t.Helper()
	if c.body == nil {
		c.body = requestBody(t, "convert-me")
	}
	if c.sendBody == nil {
		c.sendBody = c.body
	}
	if c.digest == "" {
		c.digest = clientDigest(c.body)
	}
	if c.date == "" {
		c.date = now.UTC().Format(http.TimeFormat)
	}
	if c.secret == "" {
		c.secret = secret
	}
	if c.headers == nil {
		c.headers = clientHeaders
	}
	if c.algorithm == nil {
		c.algorithm = httpsignatures.AlgorithmHmacSha256
	}
	if c.keyID == "" {
		c.keyID = "hmac-key"
	}
	var body io.Reader = bytes.NewReader(c.sendBody)
	if c.chunked {
		body = io.MultiReader(body)
	}
	req, err := http.NewRequest(http.MethodPost, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Accept", converter.V1)
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Content-Type", "application/json")
	if !c.noDigest {
		req.Header.Set("Digest", c.digest)
	}
	req.Header.Set("Date", c.date)
	switch {
	case c.unsigned:
	case c.signature != "":
		req.Header.Set("Signature", c.signature)
	default:
		signer := httpsignatures.NewSigner(c.algorithm, c.headers...)
		sign := signer.SignRequest
		if c.authorization {
			sign = signer.AuthRequest
		}
		if err := sign(c.keyID, c.secret, req); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

func TestGuardOnTheWire(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	const limit = 4096
	opts := server.Options{
		Secret:       secret,
		MaxBodyBytes: limit,
		MaxClockSkew: 5 * time.Minute,
		Now:          func() time.Time { return now },
	}
	other := requestBody(t, "leave-me")
	good := requestBody(t, "convert-me")
	hexSum := sha256.Sum256(good)

	tests := []struct {
		name   string
		craft  craft
		code   int
		reason string // expected in the response body, and in the debug log on refusal
	}{
		{name: "crafted like drone-go's client", code: http.StatusOK, reason: "converted"},
		{name: "date 4 minutes old", craft: craft{date: now.Add(-4 * time.Minute).Format(http.TimeFormat)}, code: http.StatusOK, reason: "converted"},
		{name: "date 4 minutes ahead", craft: craft{date: now.Add(4 * time.Minute).Format(http.TimeFormat)}, code: http.StatusOK, reason: "converted"},
		{name: "body exactly at the limit", craft: craft{body: padTo(t, good, limit)}, code: http.StatusOK, reason: "converted"},
		{name: "chunked body under the limit", craft: craft{chunked: true}, code: http.StatusOK, reason: "converted"},
		{name: "signature in Authorization header", craft: craft{authorization: true}, code: http.StatusOK, reason: "converted"},

		{name: "missing signature", craft: craft{unsigned: true}, code: http.StatusUnauthorized, reason: "missing http signature"},
		{name: "malformed signature", craft: craft{signature: `keyId="hmac-key",algorithm="hmac-sha256",headers="date digest"`}, code: http.StatusUnauthorized, reason: "malformed http signature"},
		{name: "unknown algorithm", craft: craft{signature: `keyId="hmac-key",algorithm="rsa-sha256",headers="date digest",signature="AAAA"`}, code: http.StatusUnauthorized, reason: "malformed http signature"},
		{name: "wrong secret", craft: craft{secret: "not the secret"}, code: http.StatusUnauthorized, reason: "invalid http signature"},
		{name: "hmac-sha1", craft: craft{algorithm: httpsignatures.AlgorithmHmacSha1}, code: http.StatusUnauthorized, reason: "must be hmac-sha256"},
		{name: "wrong key id", craft: craft{keyID: "other-key"}, code: http.StatusUnauthorized, reason: "key id must be"},
		{name: "signed headers omit digest", craft: craft{headers: []string{"accept", "accept-encoding", "content-type", "date"}}, code: http.StatusUnauthorized, reason: "must cover the date and digest"},
		{name: "signed headers omit date", craft: craft{headers: []string{"digest"}}, code: http.StatusUnauthorized, reason: "must cover the date and digest"},
		{name: "signed digest header absent", craft: craft{noDigest: true, signature: signedButDigestAbsent}, code: http.StatusUnauthorized, reason: `signed header "digest" is missing`},
		{name: "tampered body, original Digest", craft: craft{sendBody: other}, code: http.StatusUnauthorized, reason: "Digest header does not match"},
		{name: "Digest of other bytes", craft: craft{digest: clientDigest(other)}, code: http.StatusUnauthorized, reason: "Digest header does not match"},
		{name: "Digest algorithm in lower case", craft: craft{digest: "sha-256=" + clientDigest(good)[len("SHA-256="):]}, code: http.StatusUnauthorized, reason: "Digest header does not match"},
		{name: "Digest in hex", craft: craft{digest: "SHA-256=" + hex.EncodeToString(hexSum[:])}, code: http.StatusUnauthorized, reason: "Digest header does not match"},
		{name: "Digest with a second algorithm", craft: craft{digest: clientDigest(good) + ",SHA-512=AAAA"}, code: http.StatusUnauthorized, reason: "Digest header does not match"},
		{name: "stale date", craft: craft{date: now.Add(-6 * time.Minute).Format(http.TimeFormat)}, code: http.StatusUnauthorized, reason: "Date header is 6m0s away"},
		{name: "future date", craft: craft{date: now.Add(6 * time.Minute).Format(http.TimeFormat)}, code: http.StatusUnauthorized, reason: "Date header is 6m0s away"},
		{name: "malformed date", craft: craft{date: now.Format(time.RFC3339)}, code: http.StatusUnauthorized, reason: "malformed Date header"},
		{name: "body over the limit", craft: craft{body: padTo(t, good, limit+1)}, code: http.StatusRequestEntityTooLarge, reason: "larger than 4096 bytes"},
		{name: "chunked body over the limit", craft: craft{body: padTo(t, good, 4*limit), chunked: true}, code: http.StatusRequestEntityTooLarge, reason: "larger than 4096 bytes"},
		{name: "unsigned POST to /healthz", craft: craft{unsigned: true, path: "/healthz"}, code: http.StatusUnauthorized, reason: "missing http signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, plugin, hook := start(t, opts)
			req := tt.craft.request(t, srv.URL, now)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)

			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, tt.code, body)
			}
			if !strings.Contains(string(body), tt.reason) {
				t.Errorf("body %q does not contain %q", body, tt.reason)
			}
			if tt.code == http.StatusOK {
				if got := plugin.Calls(); got != 1 {
					t.Errorf("plugin called %d times, want 1", got)
				}
				return
			}
			if got := plugin.Calls(); got != 0 {
				t.Errorf("plugin called %d times on a refused request", got)
			}
			if strings.Count(strings.TrimSpace(string(body)), "\n") != 0 {
				t.Errorf("reason is not one line: %q", body)
			}
			if tt.code == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without a WWW-Authenticate challenge")
			}
			if !logged(hook, tt.reason) {
				t.Errorf("no debug log entry containing %q", tt.reason)
			}
		})
	}
}

// signedButDigestAbsent claims to cover a Digest header the request does
// not carry; the library's signer refuses to produce that, so it is
// written by hand with an arbitrary signature value.
const signedButDigestAbsent = `keyId="hmac-key",algorithm="hmac-sha256",headers="accept accept-encoding content-type date digest",signature="AAAA"`

func logged(hook *test.Hook, reason string) bool {
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.DebugLevel && strings.Contains(e.Message, reason) {
			return true
		}
	}
	return false
}

// The success paths go through drone-go's own client, the one the Drone
// server uses, so what is tested is what Drone will see.
func TestRealClient(t *testing.T) {
	srv, plugin, _ := start(t, server.Options{Secret: secret, MaxBodyBytes: 1 << 20, MaxClockSkew: 5 * time.Minute})
	client := converter.Client(srv.URL, secret, false)
	ctx := context.Background()
	in := func(data string) *converter.Request {
		return &converter.Request{Config: drone.Config{Data: data}, Repo: drone.Repo{Slug: "octocat/hello-world"}}
	}

	t.Run("converted", func(t *testing.T) {
		cfg, err := client.Convert(ctx, in("convert-me"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Data != "converted" {
			t.Errorf("data %q, want %q", cfg.Data, "converted")
		}
	})

	// On 204 the client returns no error and a non-nil, empty config,
	// not nil: Drone treats empty data as "keep the original".
	t.Run("nil config is 204", func(t *testing.T) {
		cfg, err := client.Convert(ctx, in("leave-me"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg == nil || cfg.Data != "" {
			t.Errorf("got %#v, want an empty non-nil config", cfg)
		}
	})

	t.Run("plugin error", func(t *testing.T) {
		_, err := client.Convert(ctx, in("fail-me"))
		var derr *drone.Error
		if !errors.As(err, &derr) {
			t.Fatalf("error %v (%T), want *drone.Error", err, err)
		}
		if derr.Code != http.StatusNotFound || !strings.Contains(derr.Message, `step "publish" needs a Docker daemon`) {
			t.Errorf("got %d %q", derr.Code, derr.Message)
		}
	})

	if got := plugin.Calls(); got != 3 {
		t.Errorf("plugin called %d times, want 3", got)
	}

	t.Run("wrong secret", func(t *testing.T) {
		before := plugin.Calls()
		_, err := converter.Client(srv.URL, "not the secret", false).Convert(ctx, in("convert-me"))
		var derr *drone.Error
		if !errors.As(err, &derr) || derr.Code != http.StatusUnauthorized {
			t.Fatalf("error %v, want a 401 *drone.Error", err)
		}
		if plugin.Calls() != before {
			t.Error("plugin called with a wrong secret")
		}
	})
}

func TestRealClientBodyLimit(t *testing.T) {
	srv, plugin, _ := start(t, server.Options{Secret: secret, MaxBodyBytes: 1024})
	_, err := converter.Client(srv.URL, secret, false).Convert(context.Background(),
		&converter.Request{Config: drone.Config{Data: strings.Repeat("x", 2048)}})
	var derr *drone.Error
	if !errors.As(err, &derr) || derr.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("error %v, want a 413 *drone.Error", err)
	}
	if plugin.Calls() != 0 {
		t.Error("plugin called with an oversized body")
	}
}

func TestHealthz(t *testing.T) {
	srv, plugin, _ := start(t, server.Options{Secret: secret})
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, srv.URL+"/healthz", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s /healthz: status %d", method, res.StatusCode)
		}
		if method == http.MethodGet && string(body) != "ok" {
			t.Errorf("GET /healthz: body %q, want %q", body, "ok")
		}
	}
	if plugin.Calls() != 0 {
		t.Error("health check reached the plugin")
	}
}

// Guard on its own: the next handler must see exactly the bytes that were
// signed, with a matching length.
func TestGuardRestoresBody(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	body := requestBody(t, "convert-me")
	var got []byte
	var gotLen int64
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		gotLen = r.ContentLength
	})
	h := server.Guard(next, server.Options{Secret: secret, Now: func() time.Time { return now }}, nil)
	req := craft{body: body, chunked: true}.request(t, "http://example.invalid", now)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !bytes.Equal(got, body) || gotLen != int64(len(body)) {
		t.Errorf("next saw %d bytes (ContentLength %d), want %d", len(got), gotLen, len(body))
	}
}

// HMAC with an empty key is forgeable by anyone, so a guard without a
// secret must refuse everything, even requests "signed" with that key.
func TestGuardWithoutSecretFailsClosed(t *testing.T) {
	now := time.Now()
	called := false
	h := server.Guard(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }),
		server.Options{}, nil)
	req := craft{}.request(t, "http://example.invalid", now)
	// Re-sign with the empty key the guard would otherwise accept.
	req.Header.Del("Signature")
	if err := httpsignatures.NewSigner(httpsignatures.AlgorithmHmacSha256, clientHeaders...).SignRequest("hmac-key", "", req); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || called {
		t.Errorf("status %d, next called %v; want 500 and not called", rec.Code, called)
	}
}

// TestGuardMemoryBudget: a request is admitted for WorkingSet of its
// declared body before anything reads it; past the budget it waits
// QueueTimeout and answers 503 with Retry-After, a body that alone
// exceeds the budget answers 413, a body without Content-Length is
// admitted at MaxBodyBytes and gives back what it did not use, and
// every admitted request's memory is given back when it is answered.
func TestGuardMemoryBudget(t *testing.T) {
	now := time.Now()
	body := requestBody(t, "convert-me")
	size := int64(len(body))
	const maxBody = 64 << 10
	// A held request stays in the handler, holding its memory, until
	// the test releases it.
	entered, hold := make(chan struct{}), make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Hold") != "" {
			entered <- struct{}{}
			<-hold
		}
	})
	serve := func(h http.Handler, c craft, held bool) *httptest.ResponseRecorder {
		req := c.request(t, "http://example.invalid", now)
		if held {
			req.Header.Set("X-Test-Hold", "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	background := func(h http.Handler, c craft) <-chan *httptest.ResponseRecorder {
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- serve(h, c, true) }()
		<-entered
		return done
	}
	opts := func(budget int64) server.Options {
		return server.Options{Secret: secret, MaxBodyBytes: maxBody, MemoryBudget: budget, QueueTimeout: 50 * time.Millisecond}
	}

	t.Run("past the budget: 503, then admitted once memory is back", func(t *testing.T) {
		h := server.Guard(next, opts(server.WorkingSet(size)), nil)
		first := background(h, craft{body: body})
		rec := serve(h, craft{body: body}, false)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			!strings.Contains(rec.Body.String(), "DRONE_ECI_MEMORY_BUDGET") {
			t.Errorf("second request: %d %q (Retry-After %q), want 503 naming DRONE_ECI_MEMORY_BUDGET", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
		}
		hold <- struct{}{}
		if rec := <-first; rec.Code != http.StatusOK {
			t.Errorf("first request: %d %s", rec.Code, rec.Body)
		}
		if rec := serve(h, craft{body: body}, false); rec.Code != http.StatusOK {
			t.Errorf("after the first was answered: %d %s, want 200", rec.Code, rec.Body)
		}
	})

	t.Run("the deadline counts the wait: 503 naming it, and what follows ends by it", func(t *testing.T) {
		o := opts(server.WorkingSet(size))
		o.QueueTimeout, o.Deadline = time.Hour, 50*time.Millisecond
		var left time.Duration
		h := server.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d, ok := r.Context().Deadline(); ok {
				left = time.Until(d)
			}
			next.ServeHTTP(w, r)
		}), o, nil)
		first := background(h, craft{body: body})
		start := time.Now()
		rec := serve(h, craft{body: body}, false)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "DRONE_ECI_CONVERT_TIMEOUT") || time.Since(start) > 10*time.Second {
			t.Errorf("second request: %d %q after %s, want 503 naming DRONE_ECI_CONVERT_TIMEOUT at its deadline", rec.Code, rec.Body, time.Since(start))
		}
		hold <- struct{}{}
		if rec := <-first; rec.Code != http.StatusOK {
			t.Errorf("first request: %d %s", rec.Code, rec.Body)
		}
		if left <= 0 || left > o.Deadline {
			t.Errorf("the handler after the guard had %s left, want a deadline within %s of arrival", left, o.Deadline)
		}
	})

	t.Run("larger than the whole budget: 413", func(t *testing.T) {
		h := server.Guard(next, opts(server.WorkingSet(size)-1), nil)
		rec := serve(h, craft{body: body}, false)
		if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "DRONE_ECI_MEMORY_BUDGET") {
			t.Errorf("got %d %q, want 413 naming DRONE_ECI_MEMORY_BUDGET", rec.Code, rec.Body)
		}
	})

	// A flow list of one-letter items: as many YAML nodes as bytes/2.
	dense := requestBody(t, "kind: pipeline\nsteps:\n- name: a\n  commands: ["+strings.Repeat("a,", 30000)+"a]\n")
	if server.WorkingSetOf(dense) <= server.WorkingSet(int64(len(dense))) {
		t.Fatal("the dense body is not charged for its nodes")
	}
	if server.WorkingSetOf(body) != server.WorkingSet(size) {
		t.Fatal("a plain body is charged for its nodes")
	}

	t.Run("written densely, past the whole budget: 413 saying so", func(t *testing.T) {
		h := server.Guard(next, opts(server.WorkingSetOf(dense)-1), nil)
		rec := serve(h, craft{body: dense}, false)
		if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "written densely") || !strings.Contains(rec.Body.String(), "DRONE_ECI_MEMORY_BUDGET") {
			t.Errorf("got %d %q, want 413 saying the config is dense, naming DRONE_ECI_MEMORY_BUDGET", rec.Code, rec.Body)
		}
	})

	t.Run("written densely: charged for its nodes while it converts", func(t *testing.T) {
		// Room for the dense one alone, or for the plain one beside a
		// body-based charge of the dense one, not for both as charged.
		h := server.Guard(next, opts(server.WorkingSetOf(dense)), nil)
		if server.WorkingSet(size)+server.WorkingSet(int64(len(dense))) > server.WorkingSetOf(dense) {
			t.Fatal("test sizes do not show the node charge")
		}
		first := background(h, craft{body: body})
		if rec := serve(h, craft{body: dense}, false); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("dense request beside a plain one: %d %s, want 503", rec.Code, rec.Body)
		}
		hold <- struct{}{}
		<-first
		held := background(h, craft{body: dense})
		if rec := serve(h, craft{body: body}, false); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("plain request beside the dense one: %d %s, want 503", rec.Code, rec.Body)
		}
		hold <- struct{}{}
		if rec := <-held; rec.Code != http.StatusOK {
			t.Errorf("dense request alone: %d %s, want 200", rec.Code, rec.Body)
		}
		if rec := serve(h, craft{body: body}, false); rec.Code != http.StatusOK {
			t.Errorf("after the dense one was answered: %d %s, want 200 (its memory given back)", rec.Code, rec.Body)
		}
	})

	t.Run("without Content-Length: admitted at the body limit, the rest given back", func(t *testing.T) {
		// Room for one body of maxBody, or for two of this size, not for
		// a maxBody one and another.
		h := server.Guard(next, opts(server.WorkingSet(maxBody)), nil)
		if 2*server.WorkingSet(size) > server.WorkingSet(maxBody) {
			t.Fatal("test sizes do not show the give-back")
		}
		first := background(h, craft{body: body, chunked: true})
		if rec := serve(h, craft{body: body}, false); rec.Code != http.StatusOK {
			t.Errorf("second request beside a chunked one: %d %s, want 200", rec.Code, rec.Body)
		}
		hold <- struct{}{}
		if rec := <-first; rec.Code != http.StatusOK {
			t.Errorf("chunked request: %d %s", rec.Code, rec.Body)
		}
	})
}
