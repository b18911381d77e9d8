package plugin

import (
	"context"
	"strconv"
	"sync"
	"testing"
)

// memoryStore is a SecretStore that keeps Secrets in memory, for golden
// cases with "env-cluster" (the client-go store is tested against
// client-go's fake clientset in internal/kube).
type memoryStore struct {
	mu      sync.Mutex
	secrets map[string]map[string][]byte // namespace/name
}

func (m *memoryStore) Ensure(_ context.Context, namespace, name string, data map[string][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets == nil {
		m.secrets = map[string]map[string][]byte{}
	}
	m.secrets[namespace+"/"+name] = data
	return nil
}

var (
	envStoresMu sync.Mutex
	envStores   = map[string]*memoryStore{}
)

// applyEnvArg reads the env transform's .args lines: "event: tag",
// "env-carrier: secret", "env-when: always", "env-budget: 100",
// "env-overhead: 0", "env-namespace: ci", "env-cluster" (a Secret store
// is attached).
func applyEnvArg(t *testing.T, c *goldenCase, key, value string) {
	t.Helper()
	number := func() int {
		n, err := strconv.Atoi(value)
		if err != nil {
			t.Fatalf("%s.args: %s: %v", c.name, key, err)
		}
		return n
	}
	switch key {
	case "event":
		c.input.Event = value
	case "env-carrier":
		c.cfg.EnvFiles.Carrier = value
	case "env-when":
		c.cfg.EnvFiles.When = value
	case "env-budget":
		c.cfg.EnvFiles.Budget = number()
	case "env-overhead":
		c.cfg.EnvFiles.Overhead = number()
	case "env-namespace":
		c.cfg.EnvFiles.Namespace = value
	case "env-cluster":
		envStoresMu.Lock()
		envStores[c.name] = &memoryStore{}
		envStoresMu.Unlock()
	}
}

// withEnvStore attaches the case's memory store, if it asked for one.
func withEnvStore(name string, c *Converter) *Converter {
	envStoresMu.Lock()
	defer envStoresMu.Unlock()
	if s, ok := envStores[name]; ok {
		return c.WithSecretStore(s)
	}
	return c
}
