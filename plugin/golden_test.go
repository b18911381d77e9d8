package plugin

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

const goldenDir = "../testdata/convert"

// goldenCase is one testdata/convert/NAME.yml input, with NAME.args
// holding the request and settings ("repo: octo/x", "repos: octo/*",
// "deny: ...", "node-selector: k:v", "trusted", "protected",
// "convert-protected", "opt-in", "privileged-policy: drop-with-warning",
// "host-path-claim: /prefix:claim", "kaniko-cache-repo: {repo}-cache",
// "migrate-docker", "migrate-repos: octo/*", "migrate-unmovable: fail", "runner-label: k:v",
// "docker-host: tcp://h:2376", "docker-plain-tcp", "docker-tls-secret: s",
// "docker-tls-from-secrets: ca:a,cert:b,key:c"), and
// NAME.golden the expected summary
// and output.
type goldenCase struct {
	name  string
	input Input
	cfg   config.Config
}

func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs in %s: %v", goldenDir, err)
	}
	var cases []goldenCase
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yml")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c := goldenCase{name: name, input: Input{Config: data, Repo: "octo/hello-world"}, cfg: config.Default()}
		if args, err := os.ReadFile(filepath.Join(goldenDir, name+".args")); err == nil {
			applyArgs(t, &c, args)
		}
		cases = append(cases, c)
	}
	return cases
}

func applyArgs(t *testing.T, c *goldenCase, args []byte) {
	t.Helper()
	scanner := bufio.NewScanner(bytes.NewReader(args))
	for scanner.Scan() {
		key, value, _ := strings.Cut(scanner.Text(), ": ")
		switch key {
		case "repo":
			c.input.Repo = value
		case "repos":
			c.cfg.Repos = append(c.cfg.Repos, value)
		case "deny":
			c.cfg.DenyRepos = append(c.cfg.DenyRepos, value)
		case "node-selector":
			k, v, _ := strings.Cut(value, ":")
			c.cfg.NodeSelector = map[string]string{k: v}
		case "trusted":
			c.input.Trusted = true
		case "protected":
			c.input.Protected = true
		case "convert-protected":
			c.cfg.ConvertProtected = true
		case "opt-in":
			c.input.OptInAll = true
		case "event", "env-carrier", "env-when", "env-budget", "env-overhead", "env-namespace", "env-cluster":
			applyEnvArg(t, c, key, value) // env_golden_test.go
		case "pin", "floating-tags", "pull-always", "mirror", "cache-annotation", "step-cpu", "step-memory", "max-spec", "fallback-spec", "legacy-sizing", "extra-annotation":
			applyECIArg(t, c, key, value) // eci_golden_test.go
		case "privileged-policy":
			c.cfg.PrivilegedPolicy = value
		case "host-path-claim":
			prefix, claim, _ := strings.Cut(value, ":")
			if c.cfg.HostPathClaims == nil {
				c.cfg.HostPathClaims = map[string]string{}
			}
			c.cfg.HostPathClaims[prefix] = claim
		case "kaniko-cache-repo":
			c.cfg.KanikoCacheRepo = value
		case "docker-host":
			c.cfg.DockerHost = value
		case "docker-plain-tcp":
			c.cfg.DockerPlainTCP = true
		case "docker-tls-secret":
			c.cfg.DockerTLSSecret = value
		case "docker-tls-from-secrets":
			c.cfg.DockerTLSFromSecrets = map[string]string{}
			for _, kv := range strings.Split(value, ",") {
				k, v, _ := strings.Cut(kv, ":")
				c.cfg.DockerTLSFromSecrets[k] = v
			}
		case "migrate-docker":
			c.input.MigrateDocker = true
		case "migrate-unmovable":
			c.cfg.MigrateUnmovable = value
		case "migrate-repos":
			c.cfg.MigrateDockerRepos = append(c.cfg.MigrateDockerRepos, value)
		case "runner-label":
			k, v, _ := strings.Cut(value, ":")
			if c.cfg.MigrateRunnerLabels == nil {
				c.cfg.MigrateRunnerLabels = map[string]string{}
			}
			c.cfg.MigrateRunnerLabels[k] = v
		default:
			t.Fatalf("%s.args: unknown line %q", c.name, scanner.Text())
		}
	}
}

// render is what a golden file holds: the summary as comments, then the
// config Drone would receive, or the error it would show.
func render(result Result, err error) []byte {
	var b bytes.Buffer
	if err != nil {
		b.WriteString("# result: error\n")
		b.WriteString(err.Error())
		b.WriteString("\n")
		var notes bytes.Buffer
		WriteRefusalNotes(&notes, err)
		for _, line := range strings.Split(strings.TrimSpace(notes.String()), "\n") {
			if line != "" {
				b.WriteString("# " + line + "\n")
			}
		}
		return b.Bytes()
	}
	if result.Config == nil {
		b.WriteString("# result: unchanged (Drone gets 204 and keeps its config)\n")
	} else {
		b.WriteString("# result: converted\n")
	}
	var summary bytes.Buffer
	result.WriteSummary(&summary)
	for _, line := range strings.Split(strings.TrimSpace(summary.String()), "\n") {
		b.WriteString("# " + line + "\n")
	}
	if result.Config != nil {
		b.WriteString("# --- output ---\n")
		b.Write(result.Config)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			conv := withEnvStore(c.name, NewConverter(c.cfg))
			result, err := conv.Convert(c.input)
			got := render(result, err)
			golden := filepath.Join(goldenDir, c.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, readErr := os.ReadFile(golden)
			if readErr != nil {
				t.Fatalf("%v (run go test ./plugin -update to create it)", readErr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n--- got ---\n%s\n--- want ---\n%s", golden, got, want)
			}
			if err != nil || result.Config == nil {
				return
			}
			// Converting the output again must change nothing: Drone
			// converts every build twice and may replay cached answers.
			again := c.input
			again.Config = result.Config
			second, err := conv.Convert(again)
			if err != nil {
				t.Fatalf("second conversion: %v", err)
			}
			if second.Config != nil && !bytes.Equal(second.Config, result.Config) {
				t.Errorf("second conversion changed the output:\n%s", second.Config)
			}
			// Documents nobody converted keep their bytes.
			assertUntouchedDocumentsIdentical(t, c.input.Config, result)
		})
	}
}

func assertUntouchedDocumentsIdentical(t *testing.T, input []byte, result Result) {
	t.Helper()
	converted := map[int]bool{}
	for _, o := range result.Outcomes {
		if o.Converted {
			converted[o.Document] = true
		}
	}
	limits := NewConverter(config.Default()).limits
	before, err := yamldoc.Parse(input, limits)
	if err != nil {
		t.Fatal(err)
	}
	after, err := yamldoc.Parse(result.Config, limits)
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	if len(before) != len(after) {
		t.Fatalf("output has %d chunks, input %d", len(after), len(before))
	}
	for i := range before {
		if converted[before[i].Number] {
			continue
		}
		if !bytes.Equal(before[i].Raw, after[i].Raw) {
			t.Errorf("document %d was not converted but changed:\n%q\n%q", before[i].Number, before[i].Raw, after[i].Raw)
		}
	}
}
