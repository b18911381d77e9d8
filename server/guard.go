package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	httpsignatures "github.com/99designs/httpsignatures-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/semaphore"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

// Fallbacks for a zero Options. The config package sets the real
// defaults; these exist so that a zero value fails safe (bounded body,
// bounded replay window) instead of meaning "no limit".
const (
	defaultMaxBodyBytes = 1 << 20
	defaultMaxClockSkew = 5 * time.Minute
	defaultQueueTimeout = 20 * time.Second
)

// What one request holds while it is read and converted, as measured by
// bench.BenchmarkWorkingSet (go test ./bench -bench WorkingSet), peak
// heap above idle over the body, worst of nine runs each: 57× for a
// 0.9 MB config of 36 000 docker settings and 27 000 env vars (52 MB
// held; 65× before its kept settings kept their text), 55× for 2 000
// steps (234 KB), 45× for 12 000 build args from env, 9× for a typical
// config padded to 1 MiB with comments; small configs hold a fixed
// ~0.1-2.4 MB (typical 120 KB, 200 steps 2.4 MB). workFactor and
// workOverhead cover every one of them, the largest by an eighth.
const (
	workFactor   = 64
	workOverhead = 1 << 20
)

// WorkingSet is the memory a request with a body of n bytes is admitted
// for: what its conversion is measured to hold at most.
func WorkingSet(n int64) int64 { return workOverhead + workFactor*n }

// What drone-go's plugin client sends (plugin/internal/client): it signs
// with this key id and algorithm, and sets Digest to "SHA-256=" followed
// by the standard, padded base64 of the body's SHA-256. We accept exactly
// that and nothing looser: no other algorithm names, letter cases or
// encodings, so there is one form to reason about.
const (
	keyID        = "hmac-key"
	digestPrefix = "SHA-256="
)

// Options configures Guard.
type Options struct {
	Secret       string           // shared HMAC secret
	MaxBodyBytes int64            // default 1 MiB at the config level
	MaxClockSkew time.Duration    // default 5m
	Now          func() time.Time // nil = time.Now; for tests

	// MemoryBudget is how many bytes the requests being read and
	// converted may hold at once, each counted as WorkingSet of its
	// body; 0 = 2 × WorkingSet(MaxBodyBytes). A request that would go
	// past it waits up to QueueTimeout for room, then answers 503.
	MemoryBudget int64
	// Memory, when set, is a budget of MemoryBudget bytes shared with
	// other work in the process (the webhook, under serve), so that the
	// process as a whole stays within it; nil = the guard's own.
	Memory       *semaphore.Weighted
	QueueTimeout time.Duration // default 20s
	// Deadline, when set, bounds a request from its arrival: its wait
	// for memory and everything after it (the conversion's own deadline
	// then ends no later), so that the time in the queue counts against
	// the answer Drone waits for. 0 = no deadline of the guard's.
	Deadline time.Duration

	// Metrics, when set, counts answers by status code and panics.
	Metrics *metrics.Metrics
	// Gatherer, when set, is served on GET /metrics.
	Gatherer prometheus.Gatherer
}

// Guard closes the gaps that drone-go's converter.Handler leaves open: it
// never ties the signed Digest header to the body (so a captured request
// can carry any body), never looks at how old Date is (so a captured
// request replays forever), and reads the body without a size limit.
//
// Status codes: every failure to prove that the request is authentic and
// fresh (signature missing, malformed or wrong; signed headers not
// covering date and digest; Date outside the skew window; Digest missing,
// malformed or not matching the body) answers 401 Unauthorized, because
// to the caller they all mean "this does not prove it came from your
// Drone server just now". A body larger than MaxBodyBytes answers 413, and
// one that breaks off mid-read answers 400. An empty secret answers 500 to
// everything: HMAC with an empty key is a signature anyone can forge, so
// we fail closed.
//
// The body is read only after the headers are authenticated, so an
// unauthenticated caller cannot make us buffer anything, and only once
// the request is admitted by the memory budget: its declared
// Content-Length (MaxBodyBytes when it declares none) times what a
// conversion is measured to hold per body byte (WorkingSet), taken
// before the first byte is read and given back when the answer is
// written. Requests past the budget wait up to QueueTimeout, then answer
// 503 with Retry-After; so the memory of everything admitted stays
// within MemoryBudget whatever the number of callers.
func Guard(next http.Handler, opts Options, log logrus.FieldLogger) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = defaultMaxBodyBytes
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = defaultMaxClockSkew
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = 2 * WorkingSet(opts.MaxBodyBytes)
	}
	if opts.QueueTimeout <= 0 {
		opts.QueueTimeout = defaultQueueTimeout
	}
	if log == nil {
		l := logrus.New()
		l.Out = io.Discard
		log = l
	}
	memory := opts.Memory
	if memory == nil {
		memory = semaphore.NewWeighted(opts.MemoryBudget)
	}
	return &guard{next: next, opts: opts, log: log, memory: memory}
}

type guard struct {
	next   http.Handler
	opts   Options
	log    logrus.FieldLogger
	memory *semaphore.Weighted // bytes of MemoryBudget free; FIFO, so a big request is not starved by small ones
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.opts.Secret == "" {
		g.log.WithFields(requestFields(r)).Error("guard: refusing request: no shared secret configured")
		http.Error(w, "server misconfigured: no shared secret", http.StatusInternalServerError)
		return
	}
	if reason := g.authenticate(r); reason != "" {
		g.refuse(w, r, http.StatusUnauthorized, reason)
		return
	}

	if g.opts.Deadline > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), g.opts.Deadline)
		defer cancel()
		r = r.WithContext(ctx)
	}

	tooLargeReason := fmt.Sprintf("request body larger than %d bytes", g.opts.MaxBodyBytes)
	// A declared length settles it without reading; chunked bodies are
	// caught by MaxBytesReader, which also makes the server close the
	// connection instead of draining the rest.
	if r.ContentLength > g.opts.MaxBodyBytes {
		g.refuse(w, r, http.StatusRequestEntityTooLarge, tooLargeReason)
		return
	}
	// Without a Content-Length the body may be as large as allowed; what
	// it did not use is given back once it is read.
	declared := r.ContentLength
	if declared < 0 {
		declared = g.opts.MaxBodyBytes
	}
	cost := WorkingSet(declared)
	if cost > g.opts.MemoryBudget {
		g.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"a request body of %d bytes is converted with up to %d bytes of memory, more than the whole DRONE_ECI_MEMORY_BUDGET of %d", declared, cost, g.opts.MemoryBudget))
		return
	}
	if !g.admit(w, r, cost) {
		return
	}
	defer func() { g.memory.Release(cost) }()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
	if r.ContentLength < 0 && err == nil {
		used := WorkingSet(int64(len(body)))
		g.memory.Release(cost - used)
		cost = used
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			g.refuse(w, r, http.StatusRequestEntityTooLarge, tooLargeReason)
			return
		}
		g.refuse(w, r, http.StatusBadRequest, "cannot read request body: "+err.Error())
		return
	}

	// The signature only proves the Digest header is genuine; this is what
	// proves the body is the one that was signed.
	want := digestPrefix + base64.StdEncoding.EncodeToString(sha256Sum(body))
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Digest")), []byte(want)) != 1 {
		g.refuse(w, r, http.StatusUnauthorized, "Digest header does not match the request body")
		return
	}

	// A config written densely (a long flow list of one-letter items)
	// makes more YAML nodes per byte than the body-based charge covers:
	// it is charged for its nodes before anything parses it.
	if need := WorkingSetOf(body); need > cost {
		if need > g.opts.MemoryBudget {
			g.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"the config is written densely: about %d YAML nodes in %d bytes, which a conversion holds as up to %d bytes of memory, more than the whole DRONE_ECI_MEMORY_BUDGET of %d; write long lists in block style, one item a line",
				estimatedNodes(body), len(body), need, g.opts.MemoryBudget))
			return
		}
		// Give back what was taken and queue for the whole of it:
		// holding part while waiting for more could leave two dense
		// requests each waiting for the other's share.
		g.memory.Release(cost)
		cost = 0
		if !g.admit(w, r, need) {
			return
		}
		cost = need
	}

	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	g.next.ServeHTTP(w, r)
}

// admit waits for cost bytes of the memory budget, up to QueueTimeout or
// the request's deadline, and answers 503 when they are not free in
// time. The caller releases them.
func (g *guard) admit(w http.ResponseWriter, r *http.Request, cost int64) bool {
	wait, cancel := context.WithTimeout(r.Context(), g.opts.QueueTimeout)
	err := g.memory.Acquire(wait, cost)
	cancel()
	if err == nil {
		return true
	}
	w.Header().Set("Retry-After", "1")
	if g.opts.Deadline > 0 && r.Context().Err() == context.DeadlineExceeded {
		g.refuse(w, r, http.StatusServiceUnavailable, fmt.Sprintf(
			"the converter is busy: the conversions in flight hold its whole memory budget (DRONE_ECI_MEMORY_BUDGET, %d bytes) and %d more bytes were not free within the request's deadline of %s (DRONE_ECI_CONVERT_TIMEOUT)",
			g.opts.MemoryBudget, cost, g.opts.Deadline))
		return false
	}
	g.refuse(w, r, http.StatusServiceUnavailable, fmt.Sprintf(
		"the converter is busy: the conversions in flight hold its whole memory budget (DRONE_ECI_MEMORY_BUDGET, %d bytes) and %d more bytes were not free within %s (DRONE_ECI_QUEUE_TIMEOUT)",
		g.opts.MemoryBudget, cost, g.opts.QueueTimeout))
	return false
}

// authenticate checks everything that can be checked from the headers
// alone and returns why the request is refused, or "" to go on. Messages
// name the problem but never echo secrets or expected signatures.
func (g *guard) authenticate(r *http.Request) string {
	sig, err := httpsignatures.FromRequest(r)
	if errors.Is(err, httpsignatures.ErrorNoSignatureHeader) {
		return "missing http signature"
	}
	if err != nil {
		return "malformed http signature: " + err.Error()
	}
	if sig.Algorithm != httpsignatures.AlgorithmHmacSha256 {
		return "http signature algorithm must be hmac-sha256"
	}
	if sig.KeyID != keyID {
		return fmt.Sprintf("http signature key id must be %q", keyID)
	}
	// drone-go's handler only insists on "date"; without "digest" in the
	// signed list the body is not bound to the signature at all.
	if !covers(sig.Headers, "date") || !covers(sig.Headers, "digest") {
		return "http signature must cover the date and digest headers"
	}
	// Checked before IsValid only to give a clearer reason than
	// "invalid signature" when a signed header is simply absent.
	for _, h := range sig.Headers {
		if h != httpsignatures.RequestTarget && r.Header.Get(h) == "" {
			return fmt.Sprintf("signed header %q is missing", h)
		}
	}
	if !sig.IsValid(g.opts.Secret, r) {
		return "invalid http signature (is the shared secret the same on both sides?)"
	}

	// Header.Get returns the first value, which is also the one the
	// signature was computed over, so what we check is what was signed.
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return "malformed Date header"
	}
	now := g.opts.Now()
	if skew := now.Sub(date); skew > g.opts.MaxClockSkew || skew < -g.opts.MaxClockSkew {
		return fmt.Sprintf("Date header is %s away from server time, more than the allowed %s (replayed request, or clocks out of sync?)",
			skew.Round(time.Second).Abs(), g.opts.MaxClockSkew)
	}
	return ""
}

func (g *guard) refuse(w http.ResponseWriter, r *http.Request, code int, reason string) {
	// Logged before the response is written so that the entry exists by
	// the time the caller sees the answer.
	g.log.WithFields(requestFields(r)).WithField("status", code).Debugf("guard: refused request: %s", reason)
	if code == http.StatusUnauthorized {
		// RFC 9110 requires a challenge with 401; this one names the
		// scheme draft-cavage-http-signatures defines and what we need signed.
		w.Header().Set("WWW-Authenticate", `Signature realm="drone-convert-eci",headers="date digest"`)
	}
	http.Error(w, reason, code)
}

func requestFields(r *http.Request) logrus.Fields {
	return logrus.Fields{"remote": r.RemoteAddr, "method": r.Method, "path": r.URL.Path}
}

func covers(list httpsignatures.HeaderList, name string) bool {
	for _, h := range list {
		if h == name {
			return true
		}
	}
	return false
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
