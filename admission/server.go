package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sync/semaphore"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

// MaxReviewBytes bounds an AdmissionReview body (the API server's own
// request limit is 3 MiB).
const MaxReviewBytes = 4 << 20

// What one review holds while it is read, decoded, mutated, diffed and
// answered, measured by bench.BenchmarkWebhook (peak-live/body): 17.4×
// the review at 10 000 and 50 000 env vars (a 3.3 MB review held 58 MB),
// 19× at 100 (128 KB). reviewFactor rounds the worst up and
// reviewOverhead covers a small review's fixed cost.
const (
	reviewFactor   = 20
	reviewOverhead = 256 << 10
)

// ReviewWorkingSet is the memory a review of n bytes is admitted for.
func ReviewWorkingSet(n int64) int64 { return reviewOverhead + reviewFactor*n }

// Limits bound the webhook's work: reviews mutated at once, the memory
// they may hold together (each counted at ReviewWorkingSet of its
// Content-Length, or of MaxReviewBytes when it sends none, before its
// body is read; a review larger than the whole budget waits for all of
// it), and how long a review waits for both before it is answered 503.
type Limits struct {
	MaxConcurrent int
	MemoryBudget  int64
	// Memory, when set, is a budget of MemoryBudget bytes shared with
	// other work in the process (serve's conversions), so that the
	// process as a whole stays within it; nil = the webhook's own.
	Memory       *semaphore.Weighted
	QueueTimeout time.Duration
}

// DefaultLimits admit the largest review alone, or many small ones, and
// wait well within the chart's webhook timeoutSeconds (5 s), so that the
// API server gets the 503 (and applies failurePolicy) rather than a
// timeout.
func DefaultLimits() Limits {
	return Limits{MaxConcurrent: 4, MemoryBudget: ReviewWorkingSet(MaxReviewBytes), QueueTimeout: 2 * time.Second}
}

// Handler serves AdmissionReviews at any path: POST, JSON.
//
// Every review it can read is answered 200 and allowed, with a patch for
// the pods it mutates and a warning for a pod it cannot read. A request
// it cannot read (a body over MaxReviewBytes, an empty or broken body,
// JSON that is not an AdmissionReview, a review without a request) is
// answered 400 with the reason: it carries no request UID to answer
// with, and the API server refuses an answer whose UID is not the
// request's, so an "allowed" answer would be a failure all the same,
// only one that hides the reason. A review past the Limits waits for
// room, then is answered 503. For both, the API server applies the
// webhook's failurePolicy: the chart's Ignore admits the pod untouched.
//
// m counts every answer (reviews by outcome, refusals by status and
// reason) and its time; nil counts nothing.
func Handler(o Options, l Limits, m *metrics.Webhook, log logrus.FieldLogger) http.Handler {
	d := DefaultLimits()
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = d.MaxConcurrent
	}
	if l.MemoryBudget <= 0 {
		l.MemoryBudget = d.MemoryBudget
	}
	if l.QueueTimeout <= 0 {
		l.QueueTimeout = d.QueueTimeout
	}
	slots := semaphore.NewWeighted(int64(l.MaxConcurrent))
	memory := l.Memory
	if memory == nil {
		memory = semaphore.NewWeighted(l.MemoryBudget)
	}
	refuse := func(w http.ResponseWriter, code int, label, reason string) {
		m.Refused(code, label)
		log.WithField("status", code).Warnf("admission: review refused: %s", reason)
		http.Error(w, "drone-convert-eci admission: "+reason, code)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			m.Refused(http.StatusMethodNotAllowed, metrics.RefusedMethod)
			http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
			return
		}
		defer m.Observe(time.Now())
		if r.ContentLength > MaxReviewBytes {
			refuse(w, http.StatusBadRequest, metrics.RefusedTooLarge, fmt.Sprintf("review body of %d bytes, over the %d-byte limit", r.ContentLength, MaxReviewBytes))
			return
		}
		declared := r.ContentLength
		if declared < 0 {
			declared = MaxReviewBytes
		}
		cost := ReviewWorkingSet(declared)
		wait, cancel := context.WithTimeout(r.Context(), l.QueueTimeout)
		defer cancel()
		if err := slots.Acquire(wait, 1); err != nil {
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, metrics.RefusedBusySlots, fmt.Sprintf("busy: %d reviews in flight, no slot within %s", l.MaxConcurrent, l.QueueTimeout))
			return
		}
		defer slots.Release(1)
		if err := memory.Acquire(wait, min(cost, l.MemoryBudget)); err != nil {
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, metrics.RefusedBusyMemory, fmt.Sprintf("busy: the reviews in flight hold the webhook's memory budget of %d bytes; %d more were not free within %s", l.MemoryBudget, cost, l.QueueTimeout))
			return
		}
		defer memory.Release(min(cost, l.MemoryBudget))

		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReviewBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				refuse(w, http.StatusBadRequest, metrics.RefusedTooLarge, fmt.Sprintf("review body over the %d-byte limit", MaxReviewBytes))
				return
			}
			refuse(w, http.StatusBadRequest, metrics.RefusedBodyError, "review body unreadable: "+err.Error())
			return
		}
		if len(body) == 0 {
			refuse(w, http.StatusBadRequest, metrics.RefusedEmpty, "empty body: POST an AdmissionReview")
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil {
			refuse(w, http.StatusBadRequest, metrics.RefusedMalformed, "not an AdmissionReview: "+err.Error())
			return
		}
		body = nil // the decoded review holds what is needed; let the collector have the bytes
		out, report, err := ReviewResponse(&review, o)
		if err != nil {
			refuse(w, http.StatusBadRequest, metrics.RefusedNoRequest, err.Error())
			return
		}
		req := review.Request
		entry := log.WithFields(logrus.Fields{"uid": req.UID, "namespace": req.Namespace, "name": req.Name})
		switch {
		case report.Skipped != "":
			entry.Debugf("admission: left alone: %s", report.Skipped)
		case len(report.Containers) > 0:
			for _, p := range report.Problems() {
				entry.Warnf("admission: %s", p.Warning(o.Budget))
			}
			if report.Changed() {
				entry.Infof("admission: %s", report.String())
			}
		}
		overBudget := 0
		for _, c := range report.Problems() {
			if !c.Status {
				overBudget++
			}
		}
		m.Reviewed(report.Outcome, overBudget)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}

// CertReloader serves the certificate and key files, re-reading them
// when either file's modification time or size changes (cert-manager
// and kubelet Secret projection replace them in place), checked at most
// once per Interval. A failed reload keeps the last good pair and logs.
type CertReloader struct {
	CertFile, KeyFile string
	Interval          time.Duration
	Log               logrus.FieldLogger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
}

// Load reads the pair once; call it at start so a bad pair fails fast.
func (c *CertReloader) Load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reload(time.Now())
}

func (c *CertReloader) reload(now time.Time) error {
	c.checked = now
	stamp, err := fileStamp(c.CertFile, c.KeyFile)
	if err != nil {
		return err
	}
	if stamp == c.stamp && c.cert != nil {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return fmt.Errorf("webhook certificate %s / key %s: %w", c.CertFile, c.KeyFile, err)
	}
	if pair.Leaf == nil {
		// Go fills Leaf unless GODEBUG x509keypairleaf=0; NotAfter needs it.
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("webhook certificate %s: %w", c.CertFile, err)
		}
	}
	c.cert, c.stamp = &pair, stamp
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh()
	if c.cert == nil {
		return nil, fmt.Errorf("no webhook certificate loaded")
	}
	return c.cert, nil
}

// NotAfter is the expiry of the certificate served now (zero when none
// is loaded). It checks the files as GetCertificate does, so that a
// metrics scrape sees a replaced certificate even while no API server
// calls.
func (c *CertReloader) NotAfter() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh()
	if c.cert == nil || c.cert.Leaf == nil {
		return time.Time{}
	}
	return c.cert.Leaf.NotAfter
}

// refresh reloads the pair once Interval has passed since the last
// check; c.mu is held.
func (c *CertReloader) refresh() {
	if now := time.Now(); now.Sub(c.checked) >= c.Interval {
		if err := c.reload(now); err != nil && c.Log != nil {
			c.Log.WithError(err).Error("webhook certificate reload failed; serving the previous one")
		}
	}
}

func fileStamp(paths ...string) (string, error) {
	var b bytes.Buffer
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d:%d;", p, info.ModTime().UnixNano(), info.Size())
	}
	return b.String(), nil
}
