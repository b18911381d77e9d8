package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
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
	// Logins are the registry logins the build may use, sorted
	// "host user:password" ("host ecr-token" for the ECR token).
	Logins []string
	Key    string // the GCR/GAR service account key, as used
	// SkipUnused: only the stages the target needs are built.
	SkipUnused bool
	// Region is the AWS region of the ECR repository creation, when
	// create_repository is set.
	Region string
}

func (b build) String() string {
	if b.Skipped {
		return "skipped"
	}
	return fmt.Sprintf("dockerfile=%s context=%s destinations=%v build_args=%v target=%q labels=%v logins=%v key=%q skip_unused_stages=%v region=%q", b.Dockerfile, b.Context, b.Destinations, b.BuildArgs, b.Target, b.Labels, b.Logins, b.Key, b.SkipUnused, b.Region)
}

// tagsFile is the .tags file every build's workspace holds: both
// plugins read it when no tag setting is given (urfave/cli FilePath,
// M:138-143, kaniko-docker main.go 70-75), and drone-docker ignores it
// under auto_tag where the kaniko plugins fail on it (kaniko.go 159-161).
var tagsFile = []string{"1.0", "beta"}

// registryHost is the host part of a registry or login key.
func registryHost(r string) string {
	r = strings.TrimPrefix(strings.TrimPrefix(r, "https://"), "http://")
	host, _, _ := strings.Cut(r, "/")
	return host
}

// configLogins reads the logins of a docker config.json.
func configLogins(data []byte) []string {
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if json.Unmarshal(data, &cfg) != nil {
		return []string{"unreadable config " + string(data)}
	}
	var out []string
	for host, a := range cfg.Auths {
		userPass, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			userPass = []byte("undecodable " + a.Auth)
		}
		out = append(out, registryHost(host)+" "+string(userPass))
	}
	return out
}

// dockerLogins models drone-docker's logins (D:174-227): the config
// setting's file, then the base-image login, then the push login when a
// password is set (docker login, which overwrites a host's entry).
func dockerLogins(registry, user, password, config string, e env) []string {
	logins := map[string]string{}
	if config != "" {
		for _, l := range configLogins([]byte(config)) {
			host, up, _ := strings.Cut(l, " ")
			logins[host] = up
		}
	}
	if base := e.str("", "PLUGIN_DOCKER_REGISTRY", "PLUGIN_BASE_IMAGE_REGISTRY", "DOCKER_BASE_IMAGE_REGISTRY"); base != "" { // M:246-260
		logins[registryHost(base)] = e.str("", "PLUGIN_DOCKER_USERNAME", "PLUGIN_BASE_IMAGE_USERNAME", "DOCKER_BASE_IMAGE_USERNAME") + ":" + e.str("", "PLUGIN_DOCKER_PASSWORD", "PLUGIN_BASE_IMAGE_PASSWORD", "DOCKER_BASE_IMAGE_PASSWORD")
	}
	if password != "" {
		logins[registryHost(registry)] = user + ":" + password
	}
	var out []string
	for host, up := range logins {
		out = append(out, host+" "+up)
	}
	return out
}

// nonEmpty reads a variable the way the wrappers' getenv does: the first
// non-empty one wins.
func (e env) nonEmpty(names ...string) string {
	for _, n := range names {
		if v := e[n]; v != "" {
			return v
		}
	}
	return ""
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
func dockerBuild(flavour, image string, e env) (build, error) {
	repo := e.str("", "PLUGIN_REPO")         // M:206-208
	registry := e.str("", "PLUGIN_REGISTRY") // E:39 G:81 R:88 A:61: the wrappers read PLUGIN_REGISTRY only
	// The login drone-docker reads (M:234-244), before the wrappers set
	// it: PLUGIN_* first, then DOCKER_*.
	loginRegistry := e.str("https://index.docker.io/v1/", "PLUGIN_REGISTRY", "DOCKER_REGISTRY")
	user := e.str("", "PLUGIN_USERNAME", "DOCKER_USERNAME")
	password := e.str("", "PLUGIN_PASSWORD", "DOCKER_PASSWORD")
	key, region := "", ""
	switch flavour {
	case "ecr":
		if registry == "" {
			return build{}, fmt.Errorf("ECR registry comes from the AWS account (E:74-76)")
		}
		if !strings.HasPrefix(repo, registry) { // E:82-84
			repo = registry + "/" + repo
		}
		// E:117-120: PLUGIN_REGISTRY and the ECR token's DOCKER_USERNAME/
		// PASSWORD, which PLUGIN_USERNAME/PASSWORD still win over (M:239-244).
		loginRegistry = registry
		// E:40, 53-55, 86-87: the repository is created in PLUGIN_REGION,
		// ECR_REGION or AWS_REGION, else us-east-1 (kaniko-ecr creates it
		// only when pushing).
		if e.nonEmpty("PLUGIN_CREATE_REPOSITORY", "ECR_CREATE_REPOSITORY") == "true" && !e.boolean(false, "PLUGIN_DRY_RUN", "PLUGIN_NO_PUSH") {
			region = e.nonEmpty("PLUGIN_REGION", "ECR_REGION", "AWS_REGION")
			if region == "" {
				region = "us-east-1"
			}
		}
		user = e.str("AWS", "PLUGIN_USERNAME")
		password = e.str("ecr-token", "PLUGIN_PASSWORD")
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
		loginRegistry = registry // G:104 R:111 A:126
		if flavour != "acr" {
			// G:65-72, 132-137 (R:75-82, 139-144): a key that base64-decodes
			// is used decoded; with a key the wrapper sets the login (G:98-101).
			key = e.nonEmpty("PLUGIN_JSON_KEY", "GCR_JSON_KEY", "GOOGLE_CREDENTIALS", "TOKEN")
			if decoded, err := base64.StdEncoding.DecodeString(key); err == nil {
				key = string(decoded)
			}
			if key != "" {
				user, password = e.str("", "PLUGIN_USERNAME"), e.str("", "PLUGIN_PASSWORD")
			}
		}
	}
	b := build{
		Dockerfile: e.str("Dockerfile", "PLUGIN_DOCKERFILE"), // M:126-129
		Context:    e.str(".", "PLUGIN_CONTEXT"),             // M:132-135
		Target:     e.str("", "PLUGIN_TARGET"),               // M:181-183
	}
	tags := e.list(tagsFile, "PLUGIN_TAG", "PLUGIN_TAGS")           // M:138-143: the variables, else the .tags file
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
	// D:256-257 then D:478-480: the proxy variables, then each
	// build_args_from_env name, through addProxyValue (D:621-632): the
	// first non-empty of NAME, UPPER and HARNESS_UPPER (D:638-656), added
	// as NAME=v and UPPER=v unless a build arg starts with one of the
	// three (D:659-669).
	args := e.list(nil, "PLUGIN_BUILD_ARGS") // M:155-157
	addValue := func(name string) {
		upper := strings.ToUpper(name)
		v := e.nonEmpty(name, upper, "HARNESS_"+upper)
		if v == "" {
			return
		}
		for _, a := range args {
			if strings.HasPrefix(a, name) || strings.HasPrefix(a, upper) || strings.HasPrefix(a, "HARNESS_"+upper) {
				return
			}
		}
		args = append(args, name+"="+v, upper+"="+v)
	}
	for _, name := range []string{"http_proxy", "https_proxy", "no_proxy"} {
		addValue(name)
	}
	for _, name := range e.list(nil, "PLUGIN_BUILD_ARGS_FROM_ENV") {
		addValue(name)
	}
	b.BuildArgs = dedupe(args)
	b.Logins = dockerLogins(loginRegistry, user, password, e.str("", "PLUGIN_CONFIG", "DOCKER_PLUGIN_CONFIG"), e)
	if flavour == "ecr" && e.str("", "PLUGIN_USERNAME") == "" {
		b.Logins = slices.DeleteFunc(b.Logins, func(l string) bool { return strings.HasPrefix(l, registryHost(registry)+" ") })
		b.Logins = append(b.Logins, registryHost(registry)+" ecr-token")
	}
	slices.Sort(b.Logins)
	b.Key = key
	b.Region = region
	b.SkipUnused = buildKit(image, e)
	b.Labels = e.list(nil, "PLUGIN_CUSTOM_LABELS") // M:211-213, D:537-541 (auto labels are metadata, excluded)
	slices.Sort(b.Destinations)
	slices.Sort(b.Labels)
	return b, nil
}

// buildKit: drone-docker v21 runs docker 28.1.1 (docker/docker/
// Dockerfile.linux.amd64 FROM docker:28.1.1-dind), whose docker build is
// BuildKit and builds only the stages the target needs; v20 runs docker
// 20.10 (FROM docker:20.10.14-dind), whose legacy builder builds them
// all. DOCKER_BUILDKIT chooses on either.
func buildKit(image string, e env) bool {
	if v, ok := e["DOCKER_BUILDKIT"]; ok {
		b, _ := strconv.ParseBool(v)
		return b
	}
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	tag := "latest"
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		tag = image[i+1:]
	}
	major, _, _ := strings.Cut(tag, ".")
	if n, err := strconv.Atoi(major); err == nil {
		return n >= 21
	}
	return true
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
	if err := os.WriteFile(filepath.Join(root, "ws", ".tags"), []byte(strings.Join(tagsFile, ",")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-r", "--root="+root, "--wd=/ws", "/plugin")
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var region <-chan string
	if flavour == "ecr" {
		// kaniko-ecr calls the ECR API to create the repository: a proxy
		// that answers no CONNECT tells which regional endpoint it chose
		// (the AWS SDK honours HTTPS_PROXY; the plugin ignores the failed
		// call when it is not an API error, kaniko-ecr main.go 681-684).
		var proxy string
		proxy, region = regionProxy(t)
		cmd.Env = append(cmd.Env, "HTTPS_PROXY="+proxy)
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
		case arg == "--skip-unused-stages":
			b.SkipUnused = true
		}
	}
	// The logins the executor finds: /kaniko/.docker/config.json first,
	// then its ECR helper for an ECR registry (kaniko pkg/creds/creds.go
	// 30-37); kaniko-gcr/-gar's key file (kaniko-gcr main.go 22, 465).
	if data, err := os.ReadFile(filepath.Join(root, "kaniko", ".docker", "config.json")); err == nil {
		b.Logins = configLogins(data)
	}
	if flavour == "ecr" {
		host := registryHost(e["PLUGIN_REGISTRY"])
		if !slices.ContainsFunc(b.Logins, func(l string) bool { return strings.HasPrefix(l, host+" ") }) {
			b.Logins = append(b.Logins, host+" ecr-token")
		}
	}
	slices.Sort(b.Logins)
	if key, err := os.ReadFile(filepath.Join(root, "kaniko", "config.json")); err == nil {
		b.Key = string(key)
	}
	if region != nil {
		select {
		case b.Region = <-region:
		default:
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

// regionProxy listens for one HTTPS proxy client and sends on the
// channel the AWS region of the first ECR endpoint it asks to CONNECT to,
// refusing every request.
func regionProxy(t *testing.T) (string, <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	regions := make(chan string, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			// CONNECT api.ecr.eu-west-1.amazonaws.com:443 HTTP/1.1
			if f := strings.Fields(line); len(f) > 1 && f[0] == "CONNECT" {
				host, _, _ := strings.Cut(f[1], ":")
				if r, ok := strings.CutPrefix(host, "api.ecr."); ok {
					select {
					case regions <- strings.TrimSuffix(r, ".amazonaws.com"):
					default:
					}
				}
			}
			fmt.Fprint(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			c.Close()
		}
	}()
	return "http://" + l.Addr().String(), regions
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
						want, err := dockerBuild(flavour, old.Image, stepEnv(old))
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
