// Package lifecycle runs the service's HTTP listeners and stops them
// without dropping a request: on the stop signal readiness fails first,
// every listener keeps serving while the endpoint change reaches every
// kube-proxy, API server and Drone server, and only then do the
// listeners close, waiting for what is in flight.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Server is one listener and the server answering on it.
type Server struct {
	Name     string
	HTTP     *http.Server
	Listener net.Listener
	// TLS serves with HTTP.TLSConfig (its GetCertificate or Certificates).
	TLS bool
}

// Readiness is what GET /readyz answers: 503 once draining has begun
// or while any check fails, 200 otherwise.
type Readiness struct {
	draining atomic.Bool
	checks   []func(context.Context) error
}

// NewReadiness returns a readiness that also runs checks (e.g. that the
// webhook listener answers) on every probe.
func NewReadiness(checks ...func(context.Context) error) *Readiness {
	return &Readiness{checks: checks}
}

// Drain makes every later probe fail.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Ready is nil when the process should receive traffic.
func (r *Readiness) Ready(ctx context.Context) error {
	if r.draining.Load() {
		return errors.New("shutting down")
	}
	for _, check := range r.checks {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Handler answers GET and HEAD /readyz itself and passes every other
// request to next.
func (r *Readiness) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/readyz" || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
			next.ServeHTTP(w, req)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := r.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
}

// Run serves every server until stop ends or one of them fails. On stop
// it fails readiness, keeps every listener serving for drain (endpoint
// removal reaches clients only after a few seconds; a connection they
// open meanwhile must still be answered), then shuts every server down,
// giving in-flight requests grace to finish. It returns the first
// serving or shutdown error, nil after a clean stop.
func Run(stop context.Context, log logrus.FieldLogger, ready *Readiness, drain, grace time.Duration, servers ...Server) error {
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			var err error
			if s.TLS {
				err = s.HTTP.ServeTLS(s.Listener, "", "")
			} else {
				err = s.HTTP.Serve(s.Listener)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s listener %s: %w", s.Name, s.Listener.Addr(), err)
			}
		}()
	}
	select {
	case err := <-errs:
		shutdown(log, grace, servers)
		return err
	case <-stop.Done():
	}
	ready.Drain()
	// Answers now ask clients to reconnect, so a kept-alive connection
	// moves to another replica as soon as the client sees the new
	// endpoints instead of staying here until the listener closes.
	for _, s := range servers {
		s.HTTP.SetKeepAlivesEnabled(false)
	}
	log.Infof("shutting down: readiness fails now; serving on for %s while endpoints update, then waiting up to %s for in-flight requests", drain, grace)
	select {
	case err := <-errs:
		shutdown(log, grace, servers)
		return err
	case <-time.After(drain):
	}
	return shutdown(log, grace, servers)
}

// shutdown stops every server at once, within one grace period.
func shutdown(log logrus.FieldLogger, grace time.Duration, servers []Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.HTTP.Shutdown(ctx); err != nil {
				errs[i] = fmt.Errorf("%s shutdown: %w", s.Name, err)
				log.WithError(err).Errorf("%s: requests still in flight after %s", s.Name, grace)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
