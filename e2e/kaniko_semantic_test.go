package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/drone-runners/drone-runner-kube/engine"
	"github.com/drone/runner-go/pipeline/runtime"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// The semantic test: for each kaniko golden case, what the docker plugin
// would build and push is compared with what the kaniko plugin will.
//
// Kaniko side: the real plugins (drone/drone-kaniko v1.13.9, pinned in
// tools/kaniko) run with exactly the environment drone-runner-kube's
// compiler gives the converted step, inside a throwaway root
// (unshare -r --root) whose /kaniko/executor is a stand-in recording its
// arguments. Docker side: drone-plugins/drone-docker is not served by the
// module proxy, so dockerBuild below models its settings parsing from
// its v21.3.4 sources, line by line, fed with the environment the runner
// gives the original step.

// build is what one build produces that a user pulls and runs.
type build struct {
	Skipped      bool // no build at all (auto_tag off tags/default branch)
	Dockerfile   string
	Context      string
	Destinations []string // sorted; empty when nothing is pushed
	BuildArgs    []string // sorted NAME=value
	Target       string
	Labels       []string // sorted; the docker plugin's automatic labels excluded
}

func (b build) String() string {
	if b.Skipped {
		return "skipped"
	}
	return fmt.Sprintf("dockerfile=%s context=%s destinations=%v build_args=%v target=%q labels=%v", b.Dockerfile, b.Context, b.Destinations, b.BuildArgs, b.Target, b.Labels)
}

// env reads the way urfave/cli v1 reads an EnvVar list: the first
// variable that is set wins.
type env map[string]string

func (e env) get(names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := e[n]; ok {
			return v, true
		}
	}
	return "", false
}

func (e env) str(def string, names ...string) string {
	if v, ok := e.get(names...); ok {
		return v
	}
	return def
}

func (e env) list(def []string, names ...string) []string {
	v, ok := e.get(names...)
	if !ok {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (e env) boolean(def bool, names ...string) bool {
	v, ok := e.get(names...)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def
	}
	return b
}

// dockerBuild models drone-docker v21.3.4. Source lines: cmd/drone-docker/main.go
// (M), docker.go (D), tags.go (T), cmd/drone-{ecr,gcr,gar,acr}/main.go (E, G, R, A).
func dockerBuild(flavour string, e env) (build, error) {
	repo := e.str("", "PLUGIN_REPO")         // M:206-208
	registry := e.str("", "PLUGIN_REGISTRY") // E:39 G:81 R:88 A:61
	switch flavour {
	case "ecr":
		if registry == "" {
			return build{}, fmt.Errorf("ECR registry comes from the AWS account (E:74-76)")
		}
		if !strings.HasPrefix(repo, registry) { // E:82-84
			repo = registry + "/" + repo
		}
	case "gcr", "gar", "acr":
		if registry == "" {
			switch flavour {
			case "gcr":
				registry = "gcr.io" // G:82-84
			case "gar":
				registry = e.str("", "PLUGIN_LOCATION") + "-docker.pkg.dev" // R:89-91
			case "acr":
				registry = "azurecr.io" // A:80-82
			}
		}
		if !strings.HasPrefix(repo, registry) { // G:86-88 R:93-95 A:121-123
			repo = strings.TrimSuffix(registry, "/") + "/" + repo
		}
	}
	b := build{
		Dockerfile: e.str("Dockerfile", "PLUGIN_DOCKERFILE"), // M:126-129
		Context:    e.str(".", "PLUGIN_CONTEXT"),             // M:132-135
		Target:     e.str("", "PLUGIN_TARGET"),               // M:181-183
	}
	tags := e.list([]string{"latest"}, "PLUGIN_TAG", "PLUGIN_TAGS") // M:138-143
	if e.boolean(false, "PLUGIN_DEFAULT_TAGS", "PLUGIN_AUTO_TAG") { // M:145-148, 448
		ref, branch := e["DRONE_COMMIT_REF"], e["DRONE_REPO_BRANCH"]
		if !strings.HasPrefix(ref, "refs/tags/") && strings.TrimPrefix(ref, "refs/heads/") != branch { // T UseDefaultTag
			return build{Skipped: true}, nil // M:462-464: "skipping automated docker build", exit 0
		}
		var err error
		if tags, err = defaultTagSuffix(ref, e.str("", "PLUGIN_DEFAULT_SUFFIX", "PLUGIN_AUTO_TAG_SUFFIX")); err != nil {
			return build{}, err
		}
	}
	if !e.boolean(false, "PLUGIN_DRY_RUN", "PLUGIN_NO_PUSH") { // M:38-40; D:290 push only when not dry run
		for _, t := range tags {
			b.Destinations = append(b.Destinations, repo+":"+t) // D:688, 697
		}
	}
	// D:478-491: build_args_from_env add NAME=value and UPPER=value when the
	// variable is set (addProxyValue), then --build-arg for each arg.
	args := e.list(nil, "PLUGIN_BUILD_ARGS") // M:155-157
	for _, name := range e.list(nil, "PLUGIN_BUILD_ARGS_FROM_ENV") {
		v := e[name]
		if v == "" {
			v = e[strings.ToUpper(name)]
		}
		if v != "" {
			args = append(args, name+"="+v, strings.ToUpper(name)+"="+v)
		}
	}
	b.BuildArgs = dedupe(args)
	b.Labels = e.list(nil, "PLUGIN_CUSTOM_LABELS") // M:211-213, D:537-541 (auto labels are metadata, excluded)
	slices.Sort(b.Destinations)
	slices.Sort(b.Labels)
	return b, nil
}

// defaultTagSuffix is tags.go DefaultTagSuffix for plain vX.Y.Z tags.
func defaultTagSuffix(ref, suffix string) ([]string, error) {
	tags := []string{"latest"}
	if strings.HasPrefix(ref, "refs/tags/") {
		v := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/tags/"), "v")
		parts := strings.Split(v, ".")
		if len(parts) != 3 || strings.ContainsAny(v, "-+") {
			return nil, fmt.Errorf("model covers plain X.Y.Z tags only, got %s", ref)
		}
		if parts[0] == "0" {
			tags = []string{parts[0] + "." + parts[1], v}
		} else {
			tags = []string{parts[0], parts[0] + "." + parts[1], v}
		}
	}
	if suffix != "" {
		for i, t := range tags {
			if t == "latest" {
				tags[i] = suffix
			} else {
				tags[i] = t + "-" + suffix
			}
		}
	}
	return tags, nil
}

func dedupe(args []string) []string {
	out := slices.Clone(args)
	slices.Sort(out)
	return slices.Compact(out)
}

var (
	kanikoOnce sync.Once
	kanikoDir  string
	kanikoErr  error
)

// kanikoPlugins builds drone-kaniko's five plugins and the stand-in
// executor, statically, once per test process.
func kanikoPlugins(t *testing.T) string {
	t.Helper()
	kanikoOnce.Do(func() {
		dir, err := filepath.Abs("../bin/kaniko")
		if err != nil {
			kanikoErr = err
			return
		}
		for _, f := range []string{"docker", "ecr", "gcr", "gar", "acr"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "kaniko-"+f), "github.com/drone/drone-kaniko/cmd/kaniko-"+f)
			cmd.Dir = "../tools/kaniko"
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				kanikoErr = fmt.Errorf("building kaniko-%s: %v\n%s", f, err, out)
				return
			}
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "executor"), "./executor")
		cmd.Dir = "../tools/kaniko"
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			kanikoErr = fmt.Errorf("building the stand-in executor: %v\n%s", err, out)
			return
		}
		kanikoDir = dir
	})
	if kanikoErr != nil {
		t.Fatal(kanikoErr)
	}
	return kanikoDir
}

// kanikoBuild runs the real kaniko plugin with the step's env in a
// throwaway root and reads what it asked the executor to do.
func kanikoBuild(t *testing.T, bin, flavour string, e env, dockerfile string) (build, error) {
	root := t.TempDir()
	for _, d := range []string{"kaniko", "ws", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d, filepath.Dir(dockerfile)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(bin, "kaniko-"+flavour), filepath.Join(root, "plugin"))
	copyFile(t, filepath.Join(bin, "executor"), filepath.Join(root, "kaniko", "executor"))
	// exec opens /dev/null for the executor's stdin: an empty file will do.
	if err := os.WriteFile(filepath.Join(root, "dev", "null"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ws", dockerfile), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-r", "--root="+root, "--wd=/ws", "/plugin")
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return build{}, fmt.Errorf("kaniko-%s: %v\n%s", flavour, err, out)
	}
	argsText, err := os.ReadFile(filepath.Join(root, "executor-args"))
	if err != nil {
		return build{Skipped: true}, nil
	}
	envText, _ := os.ReadFile(filepath.Join(root, "executor-env"))
	execEnv := env{}
	for _, line := range strings.Split(string(envText), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			execEnv[k] = v
		}
	}
	var b build
	noPush := false
	lines := strings.Split(strings.TrimSpace(string(argsText)), "\n")
	for i := 0; i < len(lines); i++ {
		arg := lines[i]
		switch {
		case strings.HasPrefix(arg, "--dockerfile="):
			b.Dockerfile = strings.TrimPrefix(arg, "--dockerfile=")
		case strings.HasPrefix(arg, "--context=dir://"):
			b.Context = strings.TrimPrefix(arg, "--context=dir://")
		case strings.HasPrefix(arg, "--destination="):
			b.Destinations = append(b.Destinations, strings.TrimPrefix(arg, "--destination="))
		case arg == "--build-arg" && i+1 < len(lines):
			i++
			a := lines[i]
			if !strings.Contains(a, "=") { // the executor reads a bare arg from its environment
				a += "=" + execEnv[a]
			}
			b.BuildArgs = append(b.BuildArgs, a)
		case strings.HasPrefix(arg, "--target="):
			b.Target = strings.TrimPrefix(arg, "--target=")
		case strings.HasPrefix(arg, "--label="):
			b.Labels = append(b.Labels, strings.TrimPrefix(arg, "--label="))
		case arg == "--no-push":
			noPush = true
		}
	}
	if noPush {
		b.Destinations = nil
	}
	b.BuildArgs = dedupe(b.BuildArgs)
	slices.Sort(b.Destinations)
	slices.Sort(b.Labels)
	return b, nil
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// stepEnv is the environment the runner gives a step: plain env plus
// one value per from_secret (the secret's name, as a stand-in value).
func stepEnv(s *engine.Step) env {
	e := env{}
	for k, v := range s.Envs {
		e[k] = v
	}
	for _, sec := range s.Secrets {
		e[sec.Env] = "secret:" + sec.Name
	}
	return e
}

func TestKanikoBuildsWhatDockerBuilt(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not available")
	}
	bin := kanikoPlugins(t)
	files, _ := filepath.Glob("../testdata/convert/kaniko_*.yml")
	compared := 0
	for _, file := range files {
		input, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.PrivilegedPolicy = config.PrivilegedDrop // compare every docker step, even in refused cases' neighbours
		result, err := plugin.NewConverter(cfg).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", Trusted: true, OptInAll: true})
		if err != nil || result.Config == nil {
			continue
		}
		for _, event := range []string{runnertest.EventPush, runnertest.EventTag} {
			before, err := runnertest.Compile(input, runnertest.Options{Trusted: true, Event: event})
			if err != nil {
				t.Errorf("%s: original: %v", file, err)
				continue
			}
			after, err := runnertest.Compile(result.Config, runnertest.Options{Trusted: true, Event: event})
			if err != nil {
				t.Errorf("%s: converted: %v", file, err)
				continue
			}
			for i, r := range before {
				for _, old := range r.Spec.Steps {
					flavour, ok := dockerFlavour(old.Image)
					if !ok {
						continue
					}
					var conv *engine.Step
					for _, s := range after[i].Spec.Steps {
						if s.Name == old.Name {
							conv = s
						}
					}
					name := fmt.Sprintf("%s/%s/%s/%s", filepath.Base(file), r.Pipeline, old.Name, event)
					t.Run(name, func(t *testing.T) {
						want, err := dockerBuild(flavour, stepEnv(old))
						if err != nil {
							t.Skipf("docker side not modelled: %v", err)
						}
						if old.RunPolicy == runtime.RunNever {
							want = build{Skipped: true} // the step's own when-condition
						}
						if conv == nil {
							t.Fatalf("converted step missing")
						}
						// A when-condition the conversion added skips the step where the docker plugin skipped the build.
						var got build
						if conv.RunPolicy == runtime.RunNever {
							got = build{Skipped: true}
						} else {
							got, err = kanikoBuild(t, bin, flavour, stepEnv(conv), want.Dockerfile)
							if err != nil {
								if flavour != "docker" {
									t.Skipf("kaniko-%s needs the cloud to authenticate here: %v", flavour, err)
								}
								t.Fatal(err)
							}
						}
						compared++
						if got.String() != want.String() {
							t.Errorf("builds differ\ndocker: %s\nkaniko: %s", want, got)
						}
					})
				}
			}
		}
	}
	if compared == 0 {
		t.Fatal("nothing compared")
	}
	t.Logf("compared %d docker plugin steps with their kaniko conversion", compared)
}

func dockerFlavour(image string) (string, bool) {
	if !isDockerPlugin(image) {
		return "", false
	}
	s := image
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s = s[:i]
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "docker.io/"), "index.docker.io/")
	f := strings.TrimPrefix(s, "plugins/")
	return f, f != "heroku"
}
