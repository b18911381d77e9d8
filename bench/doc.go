// Package bench holds the service's benchmarks: each config through the
// full signed HTTP path, the plugin alone, drone-go's bare handler (the
// floor), drone-runner-kube's own parse + lint + compile, and a bare
// yaml.v3 decode, so every figure has its baselines in the same run;
// the webhook's answer and the mutate-pod preview at 100, 10 000 and
// 50 000 env vars against a skipped pod's decode; and what a conversion
// or a review holds as a multiple of its body (peak-live/body), the
// figures the memory budgets count by.
// Run: go test ./bench -run '^$' -bench . -benchmem
//
// Behind the load tag: TestLoad (latency at a fixed rate), and
// TestLoadMemory and TestLoadWebhookMemory, which run the built binary
// as the chart runs it and check its peak RSS against the chart's limit.
// Run: go test -tags load -run TestLoad -v ./bench
package bench
