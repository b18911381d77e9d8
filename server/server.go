// Package server is the service's HTTP surface: a health check, and the
// Drone conversion endpoint behind a guard that authenticates each
// request before anything reads its body.
package server

import (
	"io"
	"net/http"

	"github.com/drone/drone-go/plugin/converter"
	"github.com/sirupsen/logrus"
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok"))
			return
		}
		convert.ServeHTTP(w, r)
	})
}
