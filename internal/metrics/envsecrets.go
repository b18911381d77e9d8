package metrics

import "github.com/prometheus/client_golang/prometheus"

// EnvSecrets are the env Secret collector's metrics (internal/kube
// Collector); only the replica holding the collector's Lease moves them.
type EnvSecrets struct {
	// Deleted counts env Secrets collected.
	Deleted prometheus.Counter
	// Errors counts collections of one namespace that failed.
	Errors prometheus.Counter
	// IndexBytes is each namespace's index size as stored, against
	// etcd's 1.5 MiB.
	IndexBytes *prometheus.GaugeVec
}

// NewEnvSecrets creates the collector's metrics and registers them on reg.
func NewEnvSecrets(reg prometheus.Registerer) *EnvSecrets {
	m := &EnvSecrets{
		Deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "env_secrets_deleted_total",
			Help: "Env Secrets deleted after DRONE_ECI_ENV_SECRET_RETENTION unused.",
		}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "env_secret_collection_errors_total",
			Help: "Env Secret collections of one namespace that failed; the log says why.",
		}),
		IndexBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "drone_convert_eci", Name: "env_secret_index_bytes",
			Help: "Size of each namespace's env Secret index (ConfigMap drone-convert-eci-env-index) as etcd stores it, estimated; new env Secrets fail there past 1572864.",
		}, []string{"namespace"}),
	}
	reg.MustRegister(m.Deleted, m.Errors, m.IndexBytes)
	return m
}
