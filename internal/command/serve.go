package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/logline"
	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/server"
)

func serve(args []string, stderr io.Writer) int {
	cfg, log, ok := loadSettings("serve", args, stderr)
	if !ok {
		return exitUsage
	}
	secret, bind, err := cfg.ServeSecret()
	if err != nil {
		log.Error(err)
		return exitUsage
	}
	if cfg.LocalDryRun && cfg.Secret == "" {
		log.Warnf("LOCAL DRY-RUN MODE: signatures are checked against the public secret %q and the server listens on %s only; never use this mode with a real Drone server", config.LocalDryRunSecret, bind)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(registry)
	if need := server.WorkingSet(cfg.MaxBodyBytes); cfg.MemoryBudget != 0 && cfg.MemoryBudget < need {
		log.Errorf("DRONE_ECI_MEMORY_BUDGET: %d bytes is less than one conversion of a DRONE_ECI_MAX_BODY_BYTES body holds (%d); raise it or lower DRONE_ECI_MAX_BODY_BYTES", cfg.MemoryBudget, need)
		return exitUsage
	}
	envOpts, collect, err := envSecrets(cfg, log)
	if err != nil {
		log.Error(err)
		return exitUsage
	}
	opts := append([]plugin.Option{plugin.WithMetrics(m)}, envOpts...)
	resolver, err := imageResolver(cfg, log)
	if err != nil {
		log.Error(err)
		return exitUsage
	}
	if resolver != nil {
		opts = append(opts, plugin.WithImageResolver(resolver))
	}
	handler := server.Handler(plugin.New(cfg, log, opts...), server.Options{
		Secret:       secret,
		MaxBodyBytes: cfg.MaxBodyBytes,
		MaxClockSkew: cfg.MaxClockSkew,
		MemoryBudget: cfg.MemoryBudget,
		QueueTimeout: cfg.QueueTimeout,
		Metrics:      m,
		Gatherer:     registry,
	}, log)
	srv := &http.Server{
		Addr:              bind,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Drone gives a conversion one minute (DRONE_CONVERT_TIMEOUT); the
		// conversion's own deadline is shorter, so this only catches a
		// client that stops reading.
		WriteTimeout: cfg.ConvertTimeout + 10*time.Second,
		IdleTimeout:  2 * time.Minute,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if collect != nil {
		go collect(ctx)
	}
	errs := make(chan error, 2)
	go func() { errs <- srv.ListenAndServe() }()
	var hook *http.Server
	if cfg.Webhook.Enabled {
		var hookErrs <-chan error
		if hook, hookErrs, err = startWebhook(cfg, log); err != nil {
			log.Error(err)
			return exitUsage
		}
		go func() { errs <- <-hookErrs }()
	}
	log.WithFields(logrus.Fields{
		"bind":    bind,
		"enabled": cfg.Enabled,
		"shadow":  cfg.Shadow,
	}).Info("drone-convert-eci listening")
	select {
	case err := <-errs:
		log.WithError(err).Error("server stopped")
		return exitRefused
	case <-ctx.Done():
	}
	// Drain in-flight conversions: a build whose conversion is cut off
	// fails with a network error.
	log.Infof("shutting down; draining in-flight requests for up to %s", cfg.ShutdownGrace)
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if hook != nil {
		if err := hook.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("webhook shutdown")
		}
	}
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.WithError(err).Error("shutdown")
		return exitRefused
	}
	return exitOK
}

// loadSettings is what every long-running subcommand starts with: no
// arguments, the configuration from the environment, and the logger it
// asks for. ok is false when the caller should exit with exitUsage; the
// reason has been written.
func loadSettings(name string, args []string, stderr io.Writer) (config.Config, *logrus.Logger, bool) {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "%s takes no arguments (settings come from DRONE_* variables)\n%s", name, usageMessage)
		return config.Config{}, nil, false
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(stderr, "drone-convert-eci:", err)
		return config.Config{}, nil, false
	}
	return cfg, newLogger(cfg, stderr), true
}

func newLogger(cfg config.Config, out io.Writer) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(out)
	var format logrus.Formatter = &logrus.TextFormatter{}
	if strings.EqualFold(cfg.LogFormat, "json") {
		format = &logrus.JSONFormatter{}
	}
	log.SetFormatter(logline.Bounded(format))
	if cfg.Debug {
		log.SetLevel(logrus.DebugLevel)
	}
	return log
}
