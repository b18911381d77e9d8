// Package bench holds the service's benchmarks: each config through the
// full signed HTTP path, the plugin alone, drone-go's bare handler (the
// floor), drone-runner-kube's own parse + lint + compile, and a bare
// yaml.v3 decode, so every figure has its baselines in the same run.
// Run: go test ./bench -run '^$' -bench . -benchmem
package bench
