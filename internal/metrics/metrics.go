// Package metrics holds the service's Prometheus metrics. They are
// registered on a registry the caller owns, so tests and several servers
// in one process do not collide on a global one.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the service's metrics.
type Metrics struct {
	// Requests counts HTTP answers by status code.
	Requests *prometheus.CounterVec
	// Conversions counts conversion results: converted, unchanged,
	// shadow, refused (hostile config), failed (cannot run on ECI), busy.
	Conversions *prometheus.CounterVec
	// Duration is the time one conversion takes, queueing excluded.
	Duration prometheus.Histogram
	// Transforms counts pipelines each transform changed.
	Transforms *prometheus.CounterVec
	// Panics counts requests that ended in a recovered panic.
	Panics prometheus.Counter
	// OperatorNotes counts the report's notes for the operator by the
	// setting they name: how often a setting would have helped.
	OperatorNotes *prometheus.CounterVec
	// LookupFailures counts registry lookups that failed (the
	// conversion went on without their facts). No label: hosts come from
	// configs, which anyone who can push writes.
	LookupFailures prometheus.Counter
	// Kept counts Docker pipelines left on the Docker runner because
	// they cannot move to ECI (DRONE_ECI_MIGRATE_UNMOVABLE=keep).
	Kept prometheus.Counter
}

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "http_requests_total",
			Help: "HTTP requests by status code.",
		}, []string{"code"}),
		Conversions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "conversions_total",
			Help: "Conversions by result: converted, unchanged, shadow, refused, failed, busy.",
		}, []string{"result"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "drone_convert_eci", Name: "conversion_duration_seconds",
			Help: "Time one conversion takes, queueing excluded.",
			// Conversions take tens of microseconds to a few milliseconds.
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14),
		}),
		Transforms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "transforms_applied_total",
			Help: "Pipelines each transform changed.",
		}, []string{"transform"}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "panics_total",
			Help: "Requests that ended in a recovered panic (a bug: see the logs).",
		}),
		OperatorNotes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "operator_notes_total",
			Help: "Notes for the operator (in the log) by the setting that would help.",
		}, []string{"setting"}),
		LookupFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "registry_lookup_failures_total",
			Help: "Registry lookups that failed; the log names image, registry and reason.",
		}),
		Kept: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "migrations_kept_total",
			Help: "Docker pipelines kept on the Docker runner because they cannot move to ECI (see the log's warning).",
		}),
	}
	reg.MustRegister(m.Requests, m.Conversions, m.Duration, m.Transforms, m.Panics, m.OperatorNotes, m.LookupFailures, m.Kept)
	return m
}
