// Package config holds the service's settings, read once from the
// environment and shared by the server and the dry-run CLI so both
// convert exactly the same way.
package config

import (
	"fmt"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// LocalDryRunSecret is the well-known secret used only when the operator
// explicitly asks for local dry-run mode; it is public on purpose, so the
// server then listens on loopback only.
const LocalDryRunSecret = "local-dry-run-not-a-secret"

// DRONE_ECI_MIGRATE_UNMOVABLE values.
const (
	MigrateKeep = "keep"
	MigrateFail = "fail"
)

// Config is every setting of the service. Field tags name the
// environment variable; defaults are the values a stock ACK virtual node
// and a stock Drone server need.
type Config struct {
	Bind      string `envconfig:"DRONE_BIND"`
	Secret    string `envconfig:"DRONE_SECRET"`
	Debug     bool   `envconfig:"DRONE_DEBUG"`
	LogFormat string `envconfig:"DRONE_LOG_FORMAT"`
	// LocalDryRun lets the server start without a secret, with a public
	// one, bound to loopback: for trying the service on a laptop only.
	LocalDryRun bool `envconfig:"DRONE_ECI_LOCAL_DRY_RUN"`

	// Enabled is the global switch: false answers 204 to everything
	// (hostile-input limits still apply).
	Enabled bool `envconfig:"DRONE_ECI_ENABLED"`
	// Shadow converts and logs what would change, then answers 204.
	Shadow bool `envconfig:"DRONE_ECI_SHADOW"`

	OptInAnnotation  string   `envconfig:"DRONE_ECI_OPT_IN_ANNOTATION"`
	Repos            []string `envconfig:"DRONE_ECI_REPOS"`
	DenyRepos        []string `envconfig:"DRONE_ECI_DENY_REPOS"`
	ConvertProtected bool     `envconfig:"DRONE_ECI_CONVERT_PROTECTED"`
	// MigrateDockerRepos are repo globs whose Docker-runner pipelines
	// (type docker, or untyped) are rewritten into kubernetes pipelines
	// and converted (they have no metadata to opt in with).
	MigrateDockerRepos []string `envconfig:"DRONE_ECI_MIGRATE_DOCKER_REPOS"`
	// MigrateRunnerLabels are the ECI runner's DRONE_RUNNER_LABELS: a
	// migrated pipeline's node must equal them (Drone matches exactly).
	MigrateRunnerLabels map[string]string `envconfig:"DRONE_ECI_MIGRATE_RUNNER_LABELS"`
	// MigrateUnmovable is what happens to a Docker pipeline that cannot
	// move to ECI: "keep" leaves it to the Docker runner, unchanged and
	// warned about, while the config's other pipelines move; "fail"
	// fails the whole config's conversion, for teams with no Docker
	// runners left.
	MigrateUnmovable string `envconfig:"DRONE_ECI_MIGRATE_UNMOVABLE"`

	NodeSelector       map[string]string `envconfig:"DRONE_ECI_NODE_SELECTOR"`
	TolerationKey      string            `envconfig:"DRONE_ECI_TOLERATION_KEY"`
	TolerationOperator string            `envconfig:"DRONE_ECI_TOLERATION_OPERATOR"`
	TolerationValue    string            `envconfig:"DRONE_ECI_TOLERATION_VALUE"`
	TolerationEffect   string            `envconfig:"DRONE_ECI_TOLERATION_EFFECT"`

	// Kaniko images replacing each docker plugin flavour, with a tag or
	// digest (ECI image caches only hit pinned references).
	KanikoImage    string `envconfig:"DRONE_ECI_KANIKO_IMAGE"`
	KanikoECRImage string `envconfig:"DRONE_ECI_KANIKO_ECR_IMAGE"`
	KanikoGCRImage string `envconfig:"DRONE_ECI_KANIKO_GCR_IMAGE"`
	KanikoGARImage string `envconfig:"DRONE_ECI_KANIKO_GAR_IMAGE"`
	KanikoACRImage string `envconfig:"DRONE_ECI_KANIKO_ACR_IMAGE"`
	// KanikoCacheRepo is the layer cache repository set on steps that
	// used cache_from; "{repo}" stands for the step's repository. Empty
	// leaves kaniko's default (<repo>/cache).
	KanikoCacheRepo string `envconfig:"DRONE_ECI_KANIKO_CACHE_REPO"`
	// HostPathClaims maps host path prefixes to PVC claim names (NAS
	// mounted through PVCs), used for trusted repos only.
	HostPathClaims map[string]string `envconfig:"DRONE_ECI_HOST_PATH_CLAIMS"`
	// PrivilegedPolicy is what happens to a privileged step or service
	// that still needs a Docker daemon: "fail" or "drop-with-warning".
	PrivilegedPolicy string `envconfig:"DRONE_ECI_PRIVILEGED_POLICY"`

	MaxBodyBytes     int64         `envconfig:"DRONE_ECI_MAX_BODY_BYTES"`
	MaxClockSkew     time.Duration `envconfig:"DRONE_ECI_MAX_CLOCK_SKEW"`
	MaxDocuments     int           `envconfig:"DRONE_ECI_MAX_DOCUMENTS"`
	MaxDepth         int           `envconfig:"DRONE_ECI_MAX_DEPTH"`
	MaxExpandedNodes int           `envconfig:"DRONE_ECI_MAX_EXPANDED_NODES"`
	AliasRatio       int           `envconfig:"DRONE_ECI_MAX_ALIAS_RATIO"`

	MaxConcurrent        int           `envconfig:"DRONE_ECI_MAX_CONCURRENT"`
	MaxConcurrentPerRepo int           `envconfig:"DRONE_ECI_MAX_CONCURRENT_PER_REPO"`
	QueueTimeout         time.Duration `envconfig:"DRONE_ECI_QUEUE_TIMEOUT"`
	// MemoryBudget is the memory, in bytes, the requests being read and
	// converted may hold at once, each counted at its measured working
	// set (server.WorkingSet); 0 = room for two of the largest.
	MemoryBudget int64 `envconfig:"DRONE_ECI_MEMORY_BUDGET"`

	EnvFiles
	// ConvertTimeout bounds one request from its arrival: queueing (for
	// memory, then for a slot), conversion and any Kubernetes API calls;
	// Drone itself gives up after a minute
	// (DRONE_CONVERT_TIMEOUT), so the default answers before that.
	ConvertTimeout time.Duration `envconfig:"DRONE_ECI_CONVERT_TIMEOUT"`
	// ShutdownDrain is how long the listeners keep serving after SIGTERM
	// with readiness failing, while the pod's removal from the Service's
	// endpoints reaches kube-proxy, the API server and the Drone server.
	ShutdownDrain time.Duration `envconfig:"DRONE_ECI_SHUTDOWN_DRAIN"`
	// ShutdownGrace is how long, after the drain, in-flight requests may
	// take to finish; at least ConvertTimeout, so none is cut off.
	ShutdownGrace time.Duration `envconfig:"DRONE_ECI_SHUTDOWN_GRACE"`
	// Namespace is the one the service runs in, where its Leases (and
	// the webhook's certificate Secret) live; empty: its service
	// account's namespace.
	Namespace string `envconfig:"DRONE_ECI_NAMESPACE"`

	Sizing
	Images
	Registry
	Webhook
	RemoteDocker
}

// Default is the configuration with every default applied and nothing
// read from the environment; tests and benchmarks start from it. The
// defaults live here rather than in struct tags so that both paths share
// them (envconfig leaves a field alone when its variable is unset).
func Default() Config {
	return Config{
		Bind:                 ":3000",
		LogFormat:            "text",
		Enabled:              true,
		OptInAnnotation:      "drone-convert-eci/enabled",
		NodeSelector:         map[string]string{"type": "virtual-kubelet"},
		TolerationKey:        "virtual-kubelet.io/provider",
		TolerationOperator:   "Exists",
		TolerationEffect:     "NoSchedule",
		KanikoImage:          "plugins/kaniko:1.13.9",
		KanikoECRImage:       "plugins/kaniko-ecr:1.13.9",
		KanikoGCRImage:       "plugins/kaniko-gcr:1.13.9",
		KanikoGARImage:       "plugins/kaniko-gar:1.13.9",
		KanikoACRImage:       "plugins/kaniko-acr:1.13.9",
		PrivilegedPolicy:     "fail",
		MigrateUnmovable:     MigrateKeep,
		MaxBodyBytes:         1 << 20,
		MaxClockSkew:         5 * time.Minute,
		MaxDocuments:         200,
		MaxDepth:             64,
		MaxExpandedNodes:     10000,
		AliasRatio:           10,
		MaxConcurrent:        4 * runtime.GOMAXPROCS(0),
		MaxConcurrentPerRepo: 2,
		QueueTimeout:         20 * time.Second,
		EnvFiles:             defaultEnvFiles(),
		ConvertTimeout:       45 * time.Second,
		ShutdownDrain:        10 * time.Second,
		ShutdownGrace:        50 * time.Second,
		Sizing:               defaultSizing(),
		Images:               defaultImages(),
		Registry:             defaultRegistry(),
		Webhook:              defaultWebhook(),
	}
}

// Load reads the environment over the defaults, applies the command
// line's overrides, and validates the result.
func Load(overrides ...func(*Config)) (Config, error) {
	cfg := Default()
	if err := envconfig.Process("", &cfg); err != nil {
		return Config{}, fmt.Errorf("reading configuration: %w", err)
	}
	for _, o := range overrides {
		o(&cfg)
	}
	if err := cfg.Images.loadPinsFile(); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate names the variable behind every setting it refuses, so an
// operator can fix a bad deployment from the log line alone.
func (c Config) Validate() error {
	switch strings.ToLower(c.LogFormat) {
	case "text", "json":
	default:
		return fmt.Errorf("DRONE_LOG_FORMAT: %q is neither text nor json", c.LogFormat)
	}
	if c.OptInAnnotation == "" {
		return fmt.Errorf("DRONE_ECI_OPT_IN_ANNOTATION: must not be empty")
	}
	for _, list := range []struct {
		name  string
		globs []string
	}{{"DRONE_ECI_REPOS", c.Repos}, {"DRONE_ECI_DENY_REPOS", c.DenyRepos}, {"DRONE_ECI_MIGRATE_DOCKER_REPOS", c.MigrateDockerRepos}} {
		for _, g := range list.globs {
			if _, err := path.Match(g, "x/y"); err != nil {
				return fmt.Errorf("%s: bad pattern %q: %w", list.name, g, err)
			}
		}
	}
	switch c.MigrateUnmovable {
	case MigrateKeep, MigrateFail:
	default:
		return fmt.Errorf("DRONE_ECI_MIGRATE_UNMOVABLE: %q is neither %s nor %s", c.MigrateUnmovable, MigrateKeep, MigrateFail)
	}
	switch c.TolerationOperator {
	case "Exists":
		if c.TolerationValue != "" {
			return fmt.Errorf("DRONE_ECI_TOLERATION_VALUE: must be empty when DRONE_ECI_TOLERATION_OPERATOR is Exists")
		}
	case "Equal":
	default:
		return fmt.Errorf("DRONE_ECI_TOLERATION_OPERATOR: %q is neither Exists nor Equal", c.TolerationOperator)
	}
	switch c.TolerationEffect {
	case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		return fmt.Errorf("DRONE_ECI_TOLERATION_EFFECT: %q is not a taint effect", c.TolerationEffect)
	}
	if err := c.validateKaniko(); err != nil {
		return err
	}
	for _, v := range []struct {
		name  string
		value int64
	}{
		{"DRONE_ECI_MAX_BODY_BYTES", c.MaxBodyBytes},
		{"DRONE_ECI_MAX_DOCUMENTS", int64(c.MaxDocuments)},
		{"DRONE_ECI_MAX_DEPTH", int64(c.MaxDepth)},
		{"DRONE_ECI_MAX_EXPANDED_NODES", int64(c.MaxExpandedNodes)},
		{"DRONE_ECI_MAX_ALIAS_RATIO", int64(c.AliasRatio)},
		{"DRONE_ECI_MAX_CONCURRENT_PER_REPO", int64(c.MaxConcurrentPerRepo)},
	} {
		if v.value <= 0 {
			return fmt.Errorf("%s: must be positive, got %d", v.name, v.value)
		}
	}
	if c.MemoryBudget < 0 {
		return fmt.Errorf("DRONE_ECI_MEMORY_BUDGET: must be 0 (automatic) or positive, got %d", c.MemoryBudget)
	}
	if c.MaxConcurrent <= 0 {
		return fmt.Errorf("DRONE_ECI_MAX_CONCURRENT: must be positive, got %d", c.MaxConcurrent)
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"DRONE_ECI_QUEUE_TIMEOUT", c.QueueTimeout},
		{"DRONE_ECI_CONVERT_TIMEOUT", c.ConvertTimeout},
		{"DRONE_ECI_SHUTDOWN_GRACE", c.ShutdownGrace},
	} {
		if d.value <= 0 {
			return fmt.Errorf("%s: must be positive, got %s", d.name, d.value)
		}
	}
	if c.ShutdownDrain < 0 {
		return fmt.Errorf("DRONE_ECI_SHUTDOWN_DRAIN: must not be negative, got %s", c.ShutdownDrain)
	}
	if c.ShutdownGrace < c.ConvertTimeout {
		return fmt.Errorf("DRONE_ECI_SHUTDOWN_GRACE: %s is shorter than DRONE_ECI_CONVERT_TIMEOUT (%s), so a rollout would cut conversions off; make it at least as long", c.ShutdownGrace, c.ConvertTimeout)
	}
	if c.MaxClockSkew <= 0 {
		return fmt.Errorf("DRONE_ECI_MAX_CLOCK_SKEW: must be positive, got %s", c.MaxClockSkew)
	}
	if err := c.EnvFiles.validate(); err != nil {
		return err
	}
	if err := c.Sizing.validate(); err != nil {
		return err
	}
	if err := c.Webhook.validate(); err != nil {
		return err
	}
	if err := c.RemoteDocker.validate(); err != nil {
		return err
	}
	if err := c.Registry.validate(); err != nil {
		return err
	}
	if c.Registry.Lookup && c.Registry.Timeout*2 > c.ConvertTimeout {
		// Lookups wait inside the conversion's own deadline; past half
		// of it a slow registry would leave too little for the rest.
		return fmt.Errorf("DRONE_ECI_REGISTRY_TIMEOUT: %s is more than half of DRONE_ECI_CONVERT_TIMEOUT (%s)", c.Registry.Timeout, c.ConvertTimeout)
	}
	return c.Images.validate()
}

// ServeSecret returns the secret the server verifies signatures with and
// the address to bind. It refuses to go on without a secret unless local
// dry-run mode was asked for, in which case the public dry-run secret is
// used and the bind address is forced onto loopback.
func (c Config) ServeSecret() (secret, bind string, err error) {
	if c.Secret != "" {
		return c.Secret, c.Bind, nil
	}
	if !c.LocalDryRun {
		return "", "", fmt.Errorf("DRONE_SECRET: missing; set it to the secret the Drone server signs requests with (its DRONE_CONVERT_PLUGIN_SECRET), or set DRONE_ECI_LOCAL_DRY_RUN=true to try the service on loopback with a public secret")
	}
	port := c.Bind
	if i := strings.LastIndex(port, ":"); i >= 0 {
		port = port[i+1:]
	}
	return LocalDryRunSecret, "127.0.0.1:" + port, nil
}
