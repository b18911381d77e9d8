package admission

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	admissionv1 "k8s.io/api/admission/v1"
)

// MaxReviewBytes bounds an AdmissionReview body (the API server's own
// request limit is 3 MiB).
const MaxReviewBytes = 4 << 20

// Handler serves AdmissionReviews at any path: POST, JSON. A request
// it cannot read is answered 400; every review it can read is allowed,
// with a patch for the pods it mutates.
func Handler(o Options, log logrus.FieldLogger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxReviewBytes+1))
		if err != nil || len(body) > MaxReviewBytes {
			http.Error(w, "body unreadable or too large", http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil {
			http.Error(w, "not an AdmissionReview: "+err.Error(), http.StatusBadRequest)
			return
		}
		out, report, err := ReviewResponse(&review, o)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
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
	c.cert, c.stamp = &pair, stamp
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= c.Interval {
		if err := c.reload(now); err != nil && c.Log != nil {
			c.Log.WithError(err).Error("webhook certificate reload failed; serving the previous one")
		}
	}
	if c.cert == nil {
		return nil, fmt.Errorf("no webhook certificate loaded")
	}
	return c.cert, nil
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
