package command

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/semaphore"

	"github.com/drone-convert-eci/drone-convert-eci/admission"
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/lifecycle"
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
	registry := processRegistry()
	m := metrics.New(registry)
	budget := cfg.MemoryBudget
	if need := server.WorkingSet(cfg.MaxBodyBytes); budget == 0 {
		budget = 2 * need
	} else if budget < need {
		log.Errorf("DRONE_ECI_MEMORY_BUDGET: %d bytes is less than one conversion of a DRONE_ECI_MAX_BODY_BYTES body holds (%d); raise it or lower DRONE_ECI_MAX_BODY_BYTES", cfg.MemoryBudget, need)
		return exitUsage
	}
	// One budget for the whole process: with the webhook on, its reviews
	// take from the same memory as the conversions.
	memory := semaphore.NewWeighted(budget)
	envOpts, collect, err := envSecrets(cfg, metrics.NewEnvSecrets(registry), log)
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
		MemoryBudget: budget,
		Memory:       memory,
		QueueTimeout: cfg.QueueTimeout,
		// The wait for memory counts against the conversion's deadline,
		// as DRONE_ECI_CONVERT_TIMEOUT says: queue and conversion
		// together answer within it, so within Drone's minute.
		Deadline: cfg.ConvertTimeout,
		Metrics:  m,
		Gatherer: registry,
	}, log)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout(cfg),
		// Drone gives a conversion one minute (DRONE_CONVERT_TIMEOUT); the
		// conversion's own deadline is shorter, so this only catches a
		// client that stops reading.
		WriteTimeout: cfg.ConvertTimeout + 10*time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	listener, err := net.Listen("tcp", bind)
	if err != nil {
		log.WithError(err).Error("DRONE_BIND")
		return exitRefused
	}
	servers := []lifecycle.Server{{Name: "conversion", HTTP: srv, Listener: listener}}
	var checks []func(context.Context) error
	// Tasks running for the process's lifetime, from the stop signal's
	// context.
	var background []func(context.Context)
	if cfg.Webhook.Enabled {
		limits := admission.DefaultLimits()
		limits.MemoryBudget, limits.Memory = budget, memory
		// Its metrics join the converter's, on the conversion port's
		// /metrics.
		hook, err := newWebhook(cfg, limits, registry, log)
		if err != nil {
			listener.Close()
			log.Error(err)
			return exitUsage
		}
		servers = append(servers, hook.Server)
		checks = append(checks, webhookAnswers(hook.Listener.Addr()))
		if hook.Background != nil {
			background = append(background, hook.Background)
		}
	}
	// Readiness covers both listeners: the Service sends Drone and the
	// API server to the same pods.
	ready := lifecycle.NewReadiness(checks...)
	for _, s := range servers {
		s.HTTP.Handler = ready.Handler(s.HTTP.Handler)
	}

	// Registered before anything listens, so no SIGTERM is missed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopBackground := startBackground(ctx, append(background, collect)...)
	defer stopBackground(backgroundStopLimit)
	log.WithFields(logrus.Fields{
		"bind":    bind,
		"enabled": cfg.Enabled,
		"shadow":  cfg.Shadow,
	}).Info("drone-convert-eci listening")
	if err := lifecycle.Run(ctx, log, ready, cfg.ShutdownDrain, cfg.ShutdownGrace, servers...); err != nil {
		log.WithError(err).Error("server stopped")
		return exitRefused
	}
	return exitOK
}

// processRegistry is a registry with the Go runtime's and the process's
// metrics, for the service's own to join.
// readTimeout bounds reading a whole request, from its first byte. The
// guard admits a request by memory before it reads the body, so the
// deadline must outlast the longest wait for memory
// (DRONE_ECI_QUEUE_TIMEOUT, cut short by DRONE_ECI_CONVERT_TIMEOUT, which
// runs from the arrival) and leave time to read the body after it: a
// fixed 30 s left a request queued past it a 400 ("cannot read request
// body: i/o timeout") for a body larger than the server's read buffer.
// 30 s at the defaults, as before.
func readTimeout(cfg config.Config) time.Duration {
	return min(cfg.QueueTimeout, cfg.ConvertTimeout) + 10*time.Second
}

func processRegistry() *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return registry
}

// loadSettings is what every long-running subcommand starts with: no
// arguments, the configuration from the environment, and the logger it
// asks for. ok is false when the caller should exit with exitUsage; the
// reason has been written.
func loadSettings(name string, args []string, stderr io.Writer) (config.Config, *logrus.Logger, bool) {
	if len(args) > 0 {
		usageError(stderr, name, "takes no arguments (settings come from DRONE_* variables)")
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
