package plugin

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// authorLines is everything a conversion tells the pipeline author: the
// refusal Drone shows, each pipeline's report (its pod annotation) and
// why a pipeline or the config was left alone.
func authorLines(result Result, err error) []string {
	if err != nil {
		return []string{err.Error()}
	}
	lines := []string{result.Skipped}
	for _, o := range result.Outcomes {
		lines = append(lines, o.Reason)
		lines = append(lines, o.Report.Changes...)
		lines = append(lines, o.Report.Warnings...)
	}
	return lines
}

// operatorNotes is everything a conversion tells the operator.
func operatorNotes(result Result, err error) []transform.OperatorNote {
	if err != nil {
		return transform.OperatorNotes(err)
	}
	notes := append([]transform.OperatorNote(nil), result.Operator...)
	for _, o := range result.Outcomes {
		notes = append(notes, o.Report.Operator...)
	}
	return notes
}

// checkReaders: no author line names a setting of the service, and
// every operator note names one the service reads.
func checkReaders(t *testing.T, name string, result Result, err error) {
	t.Helper()
	settings := map[string]bool{}
	for _, s := range config.Settings() {
		settings[s.Name] = true
	}
	for _, line := range authorLines(result, err) {
		if strings.Contains(line, "DRONE_ECI_") {
			t.Errorf("%s: an author's line names a setting of the service: %s", name, line)
		}
	}
	for _, n := range operatorNotes(result, err) {
		if !settings[n.Setting] || n.Text == "" {
			t.Errorf("%s: operator note %q names no setting the service reads", name, n)
		}
	}
}

// countLine is a container's env var count in an author's line.
var countLine = regexp.MustCompile(`\d+ env vars`)

// TestReportReaders: on every golden case, the author's lines name no
// setting and the operator's notes name real ones; with the admission
// webhook on (as the chart deploys it), no author line counts a
// container's env vars (mostly the runner's, which the webhook moves)
// and no note asks for the webhook.
func TestReportReaders(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		result, err := withEnvStore(c.name, NewConverter(c.cfg)).Convert(c.input)
		checkReaders(t, c.name, result, err)

		cfg := c.cfg
		cfg.Webhook.Enabled = true
		result, err = withEnvStore(c.name, NewConverter(cfg)).Convert(c.input)
		checkReaders(t, c.name+" (webhook)", result, err)
		for _, line := range authorLines(result, err) {
			if countLine.MatchString(line) {
				t.Errorf("%s (webhook): an author's line counts env vars: %s", c.name, line)
			}
		}
		for _, n := range operatorNotes(result, err) {
			if n.Setting == "DRONE_ECI_WEBHOOK_ENABLED" {
				t.Errorf("%s (webhook): a note asks for the webhook that is on: %s", c.name, n)
			}
		}
	}
}

// TestCorpusReportReaders is TestReportReaders over the public corpus,
// converted with the settings that make the service say the most.
func TestCorpusReportReaders(t *testing.T) {
	files := corpustest.Require(t)
	remote := config.Default()
	remote.DockerHost = "tcp://dockerd.ci.internal:2376"
	remote.DockerTLSSecret = "docker-client-tls"
	strict := config.Default()
	strict.Images.FloatingTags = "fail"
	strict.Sizing.MaxSpec = "1-2Gi"
	drop := config.Default()
	drop.PrivilegedPolicy = "drop-with-warning"
	drop.KanikoCacheRepo = "{repo}-cache"
	always := config.Default()
	always.EnvFiles.When = "always"
	configs := map[string]config.Config{"default": config.Default(), "remote docker": remote, "strict": strict, "drop": drop, "env always": always}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for name, cfg := range configs {
			for _, trusted := range []bool{false, true} {
				result, err := NewConverter(cfg).Convert(Input{Config: data, Repo: "octo/hello-world", OptInAll: true, MigrateDocker: true, Trusted: trusted, DryRun: true})
				checkReaders(t, file+" ("+name+")", result, err)
			}
		}
	}
}

// TestShortReport: the annotation is the report whole when it fits, else
// its start cut where a character starts with the note that it was cut;
// Head writes exactly the start of String.
func TestShortReport(t *testing.T) {
	many := transform.Report{}
	for i := range 3000 {
		many.Warn("step %q: setting k%d kept as written: plugins/docker does not read it", "bûild", i)
	}
	many.Changed("step %q: plugins/docker → plugins/kaniko", "bûild")
	tests := []struct {
		name   string
		report transform.Report
	}{
		{"empty", transform.Report{}},
		{"changes only", transform.Report{Changes: []string{"a", "b"}}},
		{"warnings only", transform.Report{Warnings: []string{"w"}}},
		{"both", transform.Report{Changes: []string{"a"}, Warnings: []string{"w1", "w2"}}},
		{"long, multi-byte", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole := tt.report.String()
			for _, max := range []int{-1, 0, 1, 9, 10, len(whole) - 1, len(whole), len(whole) + 1, 4000, 4096} {
				got, all := tt.report.Head(max)
				want := whole
				if max >= 0 && max < len(whole) {
					want = whole[:max]
				}
				if got != want || all != (max < 0 || max >= len(whole)) {
					t.Errorf("Head(%d) = %q…, %v; want %q…, %v", max, cut(got), all, cut(want), !all)
				}
			}
			short := shortReport(tt.report)
			if len(whole) <= maxReportAnnotation {
				if short != whole {
					t.Errorf("shortReport = %q, want the whole report", cut(short))
				}
				return
			}
			const more = " … (cut; drone-convert-eci convert prints the whole report)"
			head, ok := strings.CutSuffix(short, more)
			if !ok || !strings.HasPrefix(whole, head) || len(short) > maxReportAnnotation || len(head) < maxReportAnnotation-len(more)-3 || !utf8.ValidString(head) {
				t.Errorf("shortReport = %d bytes ending %q: not the report's start cut at a character with the note", len(short), short[max(0, len(short)-80):])
			}
		})
	}
}

func cut(s string) string { return s[:min(len(s), 60)] }
