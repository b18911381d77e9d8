// Package server is the service's HTTP surface: a health check, and the
// Drone conversion endpoint behind a guard that authenticates each
// request before anything reads its body.
package server

import (
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/drone/drone-go/plugin/converter"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
	"github.com/drone-convert-eci/drone-convert-eci/internal/reqid"
)

// Handler returns the service's whole HTTP surface. GET (or HEAD)
// /healthz answers 200 "ok" without a signature; everything else is the
// conversion endpoint.
//
// Deliberately not an http.ServeMux: the Drone server posts to whatever
// path the operator configured, and its client does not follow
// redirects, so the mux's path-cleaning redirects would turn an odd
// endpoint URL into a failed build.
func Handler(plugin converter.Plugin, opts Options, log *logrus.Logger) http.Handler {
	if log == nil {
		// A nil *logrus.Logger would be a non-nil interface in both
		// handlers below and panic on first use.
		log = logrus.New()
		log.Out = io.Discard
	}
	// drone-go's handler checks the signature again; harmless, and it
	// keeps that check even if the guard is ever misconfigured.
	convert := Guard(converter.Handler(plugin, opts.Secret, log), opts, log)
	var metricsHandler http.Handler
	if opts.Gatherer != nil {
		metricsHandler = promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})
	}
	routes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch {
			case r.URL.Path == "/healthz":
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = w.Write([]byte("ok"))
				return
			case r.URL.Path == "/metrics" && metricsHandler != nil:
				metricsHandler.ServeHTTP(w, r)
				return
			}
		}
		convert.ServeHTTP(w, r)
	})
	return observe(routes, opts.Metrics, log)
}

// observe gives each request an ID (the caller's X-Request-Id when it
// sends one), counts answers by status code, and turns a panic anywhere
// below into a 500 for that request alone: net/http would otherwise drop
// the connection, which Drone reports as an unexplained network error.
func observe(next http.Handler, m *metrics.Metrics, log logrus.FieldLogger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = reqid.New()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(reqid.With(r.Context(), id))
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.WithField("request_id", id).Errorf("panic while serving %s %s: %v\n%s", r.Method, r.URL.Path, v, debug.Stack())
				if m != nil {
					m.Panics.Inc()
				}
				if !rec.wrote {
					rec.code = http.StatusInternalServerError
					http.Error(w, fmt.Sprintf("drone-convert-eci: internal error (request %s); the config was not converted, please report this", id), http.StatusInternalServerError)
				}
			}
			if m != nil {
				m.Requests.WithLabelValues(strconv.Itoa(rec.code)).Inc()
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status code written, for the metrics.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}
