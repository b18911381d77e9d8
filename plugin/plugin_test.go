package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/logline"
	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

func convertRequest(t *testing.T, file, slug string) *converter.Request {
	t.Helper()
	data, err := os.ReadFile("../testdata/convert/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return &converter.Request{
		Build:  drone.Build{Number: 1, Event: "push"},
		Config: drone.Config{Data: string(data)},
		Repo:   drone.Repo{Slug: slug},
	}
}

func TestPluginModes(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*config.Config)
		file      string
		protected bool
		converted bool
		err       string
		log       string // substring of some log message
		operator  string // the setting of an operator note in the log
	}{
		{name: "converts", file: "opted_in.yml", converted: true, log: "pipeline converted"},
		{name: "unchanged answers nil", file: "not_opted.yml"},
		{name: "switched off", setup: func(c *config.Config) { c.Enabled = false }, file: "opted_in.yml", log: "switched off", operator: "DRONE_ECI_ENABLED"},
		{name: "limits apply when switched off", setup: func(c *config.Config) { c.Enabled = false }, file: "alias_bomb.yml", err: "aliases expand", log: "config refused", operator: "DRONE_ECI_MAX_EXPANDED_NODES"},
		{name: "shadow logs the diff and answers nil", setup: func(c *config.Config) { c.Shadow = true }, file: "opted_in.yml", log: "shadow mode"},
		{name: "protected is left alone and says why", file: "opted_in.yml", protected: true, log: "is protected", operator: "DRONE_ECI_CONVERT_PROTECTED"},
		{name: "errors reach the user prefixed", file: "bad_tolerations.yml", err: "drone-convert-eci: document 1: pipeline \"bad\": tolerations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			if tt.setup != nil {
				tt.setup(&cfg)
			}
			log, hook := test.NewNullLogger()
			log.SetLevel(logrus.DebugLevel)
			req := convertRequest(t, tt.file, "octo/hello")
			req.Repo.Protected = tt.protected
			got, err := New(cfg, log).Convert(context.Background(), req)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tt.converted {
				t.Errorf("converted = %v, want %v", got != nil, tt.converted)
			}
			if tt.log != "" && !logged(hook, tt.log) {
				t.Errorf("no log entry containing %q", tt.log)
			}
			if err != nil && strings.Contains(err.Error(), "DRONE_ECI_") {
				t.Errorf("the author's error names a setting of the service: %v", err)
			}
			if tt.operator != "" && !loggedNote(hook, tt.operator) {
				t.Errorf("no operator note about %s in the log", tt.operator)
			}
			if tt.name == "shadow logs the diff and answers nil" {
				diff, _ := hook.LastEntry().Data["diff"].(string)
				if !strings.Contains(diff, "+node_selector:") {
					t.Errorf("shadow diff lacks the added selector:\n%s", diff)
				}
			}
		})
	}
}

func loggedNote(hook *test.Hook, setting string) bool {
	for _, e := range hook.AllEntries() {
		if strings.HasPrefix(e.Message, "operator: ") && e.Data["setting"] == setting {
			return true
		}
	}
	return false
}

// TestOperatorNotesCounted: a conversion's notes for the operator are
// counted by the setting they name.
func TestOperatorNotesCounted(t *testing.T) {
	cfg := config.Default()
	cfg.Enabled = false
	m := metrics.New(prometheus.NewRegistry())
	log, _ := test.NewNullLogger()
	p := New(cfg, log, WithMetrics(m))
	for i := 0; i < 2; i++ {
		if _, err := p.Convert(context.Background(), convertRequest(t, "opted_in.yml", "octo/hello")); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(m.OperatorNotes.WithLabelValues("DRONE_ECI_ENABLED")); got != 2 {
		t.Errorf("operator notes about DRONE_ECI_ENABLED counted %v times, want 2", got)
	}
}

func logged(hook *test.Hook, text string) bool {
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}

// TestGatePerRepo: a repo holding all its slots queues behind itself and
// gives up after the timeout, while another repo goes straight through.
func TestGatePerRepo(t *testing.T) {
	g := newGate(8, 2, 50*time.Millisecond)
	var releases []func()
	for i := 0; i < 2; i++ {
		release, err := g.enter(context.Background(), "octo/busy")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	if _, err := g.enter(context.Background(), "octo/busy"); err == nil || !strings.Contains(err.Error(), "octo/busy") {
		t.Fatalf("third conversion of one repo: got %v, want a timeout naming the repo", err)
	}
	release, err := g.enter(context.Background(), "octo/other")
	if err != nil {
		t.Fatalf("another repo must not wait: %v", err)
	}
	release()
	for _, r := range releases {
		r()
	}
	if len(g.repos) != 0 {
		t.Errorf("gate keeps %d idle repo entries", len(g.repos))
	}
}

// TestGateNamesWhatEndedTheWait: the operator's note names the queue
// timeout when it ended the wait for a slot, and the request's deadline
// when that came first, with the time actually waited.
func TestGateNamesWhatEndedTheWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		queue    time.Duration
		deadline time.Duration
		want     string
	}{
		{"queue timeout", 30 * time.Millisecond, time.Hour, "(DRONE_ECI_QUEUE_TIMEOUT)"},
		{"request deadline", time.Hour, 30 * time.Millisecond, "DRONE_ECI_CONVERT_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(1, 4, tc.queue)
			release, err := g.enter(context.Background(), "a/a")
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()
			_, err = g.enter(ctx, "b/b")
			notes := transform.OperatorNotes(err)
			if err == nil || len(notes) != 1 || !strings.Contains(notes[0].Text, tc.want) || strings.Contains(notes[0].Text, " 1h0m0s") {
				t.Errorf("err %v, notes %v: want one naming %s with the time waited", err, notes, tc.want)
			}
		})
	}
}

// TestGateGlobal: when every global slot is taken, callers wait, and get
// in as soon as one is given back.
func TestGateGlobal(t *testing.T) {
	g := newGate(1, 4, time.Second)
	release, err := g.enter(context.Background(), "a/a")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	entered := make(chan struct{})
	go func() {
		defer wg.Done()
		r, err := g.enter(context.Background(), "b/b")
		if err != nil {
			t.Error(err)
			return
		}
		close(entered)
		r()
	}()
	select {
	case <-entered:
		t.Fatal("entered while the only global slot was taken")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	wg.Wait()
}

// TestPluginKeepsUnmovable: a Docker pipeline that cannot move stays for
// the Docker runner while the others convert, and the service says so in
// its log and metrics, the only places a Docker pipeline's report can go;
// with DRONE_ECI_MIGRATE_UNMOVABLE=fail it fails the config instead.
func TestPluginKeepsUnmovable(t *testing.T) {
	for _, policy := range []string{config.MigrateKeep, config.MigrateFail} {
		t.Run(policy, func(t *testing.T) {
			cfg := config.Default()
			cfg.MigrateDockerRepos = []string{"octo/*"}
			cfg.MigrateUnmovable = policy
			log, hook := test.NewNullLogger()
			m := metrics.New(prometheus.NewRegistry())
			got, err := New(cfg, log, WithMetrics(m)).Convert(context.Background(), convertRequest(t, "migrate_unmovable.yml", "octo/hello"))
			if policy == config.MigrateFail {
				if err == nil || !strings.Contains(err.Error(), `document 2: pipeline "windows": platform.os windows`) {
					t.Fatalf("got %v, want the Windows pipeline's refusal", err)
				}
				if n := testutil.ToFloat64(m.Kept); n != 0 {
					t.Errorf("migrations_kept_total = %v, want 0", n)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("got %v, %v; want the Linux pipelines converted", got, err)
			}
			if !strings.Contains(got.Data, "kind: pipeline\ntype: docker\nname: windows\n\nplatform:\n  os: windows\n") {
				t.Errorf("the Windows pipeline is not left as written:\n%s", got.Data)
			}
			var warned bool
			for _, e := range hook.AllEntries() {
				why, _ := e.Data["why"].(string)
				if e.Level == logrus.WarnLevel && strings.Contains(e.Message, "kept on the Docker runner") && e.Data["pipeline"] == "windows" && strings.Contains(why, "platform.os windows") {
					warned = true
				}
			}
			if !warned {
				t.Error("no warning naming the kept pipeline and why")
			}
			if n := testutil.ToFloat64(m.Kept); n != 1 {
				t.Errorf("migrations_kept_total = %v, want 1", n)
			}
		})
	}
}

// settingsHeavy is a converted pipeline whose report has one warning per
// setting: a docker plugin step with n settings it does not read.
func settingsHeavy(n int) string {
	var b strings.Builder
	b.WriteString("kind: pipeline\ntype: kubernetes\nname: build\nmetadata:\n  annotations:\n    drone-convert-eci/enabled: \"true\"\nsteps:\n- name: publish\n  image: plugins/docker\n  settings:\n    repo: octo/hello\n")
	for i := range n {
		fmt.Fprintf(&b, "    custom_setting_%d: value\n", i)
	}
	return b.String()
}

// TestLogLinesBounded converts (and shadow-converts) a config whose
// report is megabytes long through the service's formatters: every line
// stays under logline.MaxBytes, the report says how many warnings it
// left out, and the whole report is still in the result the CLI prints.
func TestLogLinesBounded(t *testing.T) {
	const settings = 20000
	data := settingsHeavy(settings)
	// What the CLI prints (WriteSummary) keeps every warning.
	result, err := NewConverter(config.Default()).Convert(Input{Config: []byte(data), Repo: "octo/hello", Event: "push"})
	if err != nil {
		t.Fatal(err)
	}
	var summary bytes.Buffer
	result.WriteSummary(&summary)
	if got := strings.Count(summary.String(), "kept as written"); got != settings {
		t.Errorf("CLI summary names %d unread settings, want %d", got, settings)
	}
	warnings := len(result.Outcomes[0].Report.Warnings)
	for _, format := range []string{"text", "json"} {
		for _, shadow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shadow=%v", format, shadow), func(t *testing.T) {
				var out bytes.Buffer
				log := logrus.New()
				log.SetOutput(&out)
				var f logrus.Formatter = &logrus.TextFormatter{DisableColors: true}
				if format == "json" {
					f = &logrus.JSONFormatter{}
				}
				log.SetFormatter(logline.Bounded(f))
				cfg := config.Default()
				cfg.Shadow = shadow
				_, err := New(cfg, log).Convert(context.Background(), &converter.Request{
					Build:  drone.Build{Number: 1, Event: "push"},
					Config: drone.Config{Data: data},
					Repo:   drone.Repo{Slug: "octo/hello"},
				})
				if err != nil {
					t.Fatal(err)
				}
				var report string
				for line := range bytes.Lines(out.Bytes()) {
					if len(line) > logline.MaxBytes {
						t.Errorf("log line of %d bytes (limit %d): %.200s", len(line), logline.MaxBytes, line)
					}
					if bytes.Contains(line, []byte("pipeline converted")) {
						report = string(line)
					}
				}
				if report == "" {
					t.Fatalf("no \"pipeline converted\" line in:\n%.2000s", out.String())
				}
				m := regexp.MustCompile(`… and (\d+) more`).FindStringSubmatch(report)
				if m == nil {
					t.Fatalf("report line does not count what it left out: %.300s", report)
				}
				// The first warnings are all about unread settings.
				shown := strings.Count(report, "kept as written")
				if left, _ := strconv.Atoi(m[1]); shown+left != warnings {
					t.Errorf("report shows %d warnings and says %d more, want %d in all", shown, left, warnings)
				}
			})
		}
	}
}
