package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"
)

// names records the metric names of every collector registered on it.
type names []string

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (n *names) Register(c prometheus.Collector) error {
	descs := make(chan *prometheus.Desc)
	go func() { c.Describe(descs); close(descs) }()
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			*n = append(*n, m[1])
		}
	}
	return nil
}

func (n *names) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = n.Register(c)
	}
}

func (n *names) Unregister(prometheus.Collector) bool { return false }

// healthSection is docs/operators.md's "Health and metrics" section.
func healthSection(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Health and metrics\n")
	if !ok {
		t.Fatal(`docs/operators.md has no "## Health and metrics" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// The operators' metrics table has a row for every metric the service
// registers, and the section (table and example alerts) names no
// metric it does not.
func TestMetricsDocumented(t *testing.T) {
	var registered names
	New(&registered)
	NewWebhook(&registered, time.Now)
	NewEnvSecrets(&registered)
	section := healthSection(t)

	for _, name := range registered {
		if !strings.Contains(section, "\n| `"+name+"` |") {
			t.Errorf("docs/operators.md, Health and metrics: no table row for %s", name)
		}
	}
	mentioned := regexp.MustCompile(`drone_convert_eci_[a-z_]+`).FindAllString(section, -1)
	for _, name := range mentioned {
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !slices.Contains(registered, name) && !slices.Contains(registered, base) {
			t.Errorf("docs/operators.md, Health and metrics: %s is not a metric the service registers", name)
		}
	}
}

// exampleRule is the example PrometheusRule in docs/operators.md's
// "Health and metrics".
func exampleRule(t *testing.T) string {
	t.Helper()
	_, block, ok := strings.Cut(healthSection(t), "```yaml\n")
	if !ok {
		t.Fatal("docs/operators.md, Health and metrics: no example PrometheusRule")
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

// The example PrometheusRule is YAML a cluster accepts the shape of:
// every rule an alert with an expression.
func TestExampleAlertsParse(t *testing.T) {
	block := exampleRule(t)
	var rule struct {
		APIVersion string `json:"apiVersion"`
		Kind       string
		Metadata   struct {
			Name, Namespace string
			Labels          map[string]string
		}
		Spec struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Alert, Expr, For string
					Labels           map[string]string
					Annotations      map[string]string
				}
			}
		}
	}
	if err := yaml.UnmarshalStrict([]byte(block), &rule, yaml.DisallowUnknownFields); err != nil {
		t.Fatalf("example PrometheusRule: %v", err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" || len(rule.Spec.Groups) == 0 {
		t.Fatalf("example: %s %s, %d groups", rule.APIVersion, rule.Kind, len(rule.Spec.Groups))
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("example rule %+v: want alert, expr, a severity and a summary", r)
			}
			if _, err := time.ParseDuration(r.For); r.For != "" && err != nil {
				t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
			}
		}
	}
}

// The example alerts, checked and run by Prometheus's own promtool
// against testdata/alerts_test.yml: nothing fires for a healthy
// webhook, and each alert fires, with its summary, when its failure
// happens (.ci/run installs Debian's prometheus package for promtool).
func TestExampleAlertsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus): the example alerts are not evaluated")
	}
	var rule struct {
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(exampleRule(t)), &rule); err != nil {
		t.Fatal(err)
	}
	groups, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	scenarios, err := os.ReadFile("testdata/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"rules.yml": groups, "alerts_test.yml": scenarios} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
