package command

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drone-convert-eci/drone-convert-eci/internal/lifecycle"
)

// newOpsServer is the standalone webhook's plain HTTP listener on bind
// (DRONE_BIND): GET /healthz and /metrics here, /readyz once the caller
// wraps it in its Readiness. They are the paths serve answers on the
// same port, so probes and a ServiceMonitor are the same whichever
// command runs, and Prometheus scrapes without the webhook's CA.
func newOpsServer(bind string, gatherer prometheus.Gatherer) (lifecycle.Server, error) {
	scrape := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET /healthz, /readyz or /metrics", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/healthz":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok"))
		case "/metrics":
			scrape.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	listener, err := net.Listen("tcp", bind)
	if err != nil {
		return lifecycle.Server{}, fmt.Errorf("DRONE_BIND (the webhook's health and metrics port): %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return lifecycle.Server{Name: "health and metrics", HTTP: srv, Listener: listener}, nil
}
