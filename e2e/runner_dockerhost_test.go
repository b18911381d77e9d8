package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/corpustest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
)

// The remote daemon the corpus is converted with.
const (
	remoteDockerHost = "tcp://10.1.2.3:2376"
	remoteTLSSecret  = "docker-client-tls"
)

// remoteDockerConfig is the configuration of the corpus runs: env
// files off, so the daemon's variables stay in the compiled spec where
// this test reads them (the env tests cover the files on the same
// outputs through convertedConfigs).
func remoteDockerConfig(trusted bool) config.Config {
	cfg := config.Default()
	cfg.EnvFiles.When = "never"
	cfg.DockerHost = remoteDockerHost
	if trusted {
		cfg.DockerTLSSecret = remoteTLSSecret
	} else {
		cfg.DockerTLSFromSecrets = map[string]string{"ca": "docker_ca", "cert": "docker_cert", "key": "docker_key"}
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

// TestRemoteDockerCorpus converts every corpus config with a remote
// Docker daemon configured, compiles it with drone-runner-kube, and
// checks the pod: nothing privileged, no host path, and the daemon's
// variables in exactly the steps that used a daemon, judged from the
// original YAML by rules of this test's own.
func TestRemoteDockerCorpus(t *testing.T) {
	converted, withUsers := 0, map[string]bool{}
	for _, file := range corpustest.Require(t) {
		input, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, trusted := range []bool{false, true} {
			result, err := plugin.NewConverter(remoteDockerConfig(trusted)).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true, Trusted: trusted})
			if err != nil || result.Config == nil {
				continue
			}
			originals := originalPipelines(t, input)
			results, err := runnertest.Compile(result.Config, runnertest.Options{Trusted: trusted})
			if err != nil {
				if _, origErr := runnertest.Compile(input, runnertest.Options{Trusted: trusted}); origErr == nil {
					t.Errorf("%s (trusted=%v): the runner rejects the converted config but accepted the original: %v", filepath.Base(file), trusted, err)
				}
				continue
			}
			for _, o := range result.Outcomes {
				if !o.Converted {
					continue
				}
				for _, r := range results {
					if r.Pipeline != o.Pipeline {
						continue
					}
					converted++
					if users := originals[r.Pipeline].daemonUsers(!trusted); len(users) > 0 {
						withUsers[filepath.Base(file)] = true
						t.Logf("%s (trusted=%v): pipeline %q: remote daemon for %v", filepath.Base(file), trusted, r.Pipeline, users)
					}
					checkRemoteDocker(t, filepath.Base(file), trusted, originals[r.Pipeline], r)
				}
			}
		}
	}
	// asl-workflow, egar-public-site-ui, platform-hub and pttg-ip-hmrc
	// run the docker CLI against a dind service; each must convert.
	if converted == 0 || len(withUsers) < 4 {
		t.Fatalf("%d corpus pipelines converted, %d files with steps on the remote daemon (%v): want at least 4", converted, len(withUsers), withUsers)
	}
}

func checkRemoteDocker(t *testing.T, file string, trusted bool, original originalPipeline, r runnertest.Result) {
	t.Helper()
	where := file + ": pipeline " + r.Pipeline
	if trusted {
		where += " (trusted)"
	}
	var got []string
	byID := map[string]string{}
	for _, s := range r.Spec.Steps {
		byID[s.ID] = s.Name
		if s.Privileged {
			t.Errorf("%s: step %q is privileged", where, s.Name)
		}
		if s.Envs["DOCKER_HOST"] != remoteDockerHost {
			continue
		}
		got = append(got, s.Name)
		if s.Envs["DOCKER_TLS_VERIFY"] != "1" || s.Envs["DOCKER_CERT_PATH"] == "" {
			t.Errorf("%s: step %q has DOCKER_HOST but DOCKER_TLS_VERIFY=%q DOCKER_CERT_PATH=%q", where, s.Name, s.Envs["DOCKER_TLS_VERIFY"], s.Envs["DOCKER_CERT_PATH"])
		}
		if !trusted {
			var envs []string
			for _, sec := range s.Secrets {
				envs = append(envs, sec.Env)
			}
			for _, want := range []string{"DRONE_ECI_DOCKER_CA", "DRONE_ECI_DOCKER_CERT", "DRONE_ECI_DOCKER_KEY"} {
				if !slices.Contains(envs, want) {
					t.Errorf("%s: step %q lacks the secret variable %s (has %v)", where, s.Name, want, envs)
				}
			}
		}
	}
	want := original.daemonUsers(!trusted)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: daemon variables in %v, want exactly the steps that used a daemon %v", where, got, want)
	}
	for _, v := range r.Pod.Spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: pod volume %q is a hostPath", where, v.Name)
		}
	}
	secretVolumes := map[string]bool{}
	for _, v := range r.Pod.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == remoteTLSSecret {
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o444 {
				t.Errorf("%s: the certificates' secret volume has mode %v, want 0444 (0 would make them unreadable)", where, v.Secret.DefaultMode)
			}
			secretVolumes[v.Name] = true
		}
	}
	for _, c := range append(r.Pod.Spec.InitContainers, r.Pod.Spec.Containers...) {
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: pod container %q is privileged", where, c.Name)
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			if secretVolumes[m.Name] {
				mounted = true
			}
		}
		user := slices.Contains(got, byID[c.Name])
		if trusted && user && !mounted {
			t.Errorf("%s: step %q uses the remote daemon but does not mount its certificates", where, byID[c.Name])
		}
		if mounted && !user {
			t.Errorf("%s: container %q (step %q) mounts the daemon's certificates without using it", where, c.Name, byID[c.Name])
		}
	}
}

// originalPipeline is what this test reads of a pipeline before
// conversion.
type originalPipeline struct {
	Steps    []originalContainer `yaml:"steps"`
	Services []originalContainer `yaml:"services"`
}

type originalContainer struct {
	Name        string         `yaml:"name"`
	Image       string         `yaml:"image"`
	Commands    []string       `yaml:"commands"`
	Environment map[string]any `yaml:"environment"`
	Volumes     []struct {
		Name string `yaml:"name"`
		Path string `yaml:"path"`
	} `yaml:"volumes"`
}

func originalPipelines(t *testing.T, config []byte) map[string]originalPipeline {
	t.Helper()
	out := map[string]originalPipeline{}
	dec := yaml.NewDecoder(bytes.NewReader(config))
	for {
		var doc struct {
			Kind             string `yaml:"kind"`
			Name             string `yaml:"name"`
			originalPipeline `yaml:",inline"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "pipeline" {
			out[doc.Name] = doc.originalPipeline
		}
	}
	return out
}

var (
	dockerCommand = regexp.MustCompile(`(^|[\s;&|(])docker(-compose)?\s`)
	localDaemon   = regexp.MustCompile(`^(tcp://)?(localhost|127\.0\.0\.1|docker|\[::1\])(:\d+)?/?$|^unix://`)
)

// daemonUsers names the steps and services that used a Docker daemon:
// not the daemon services themselves nor docker plugin steps (they
// become kaniko), but any container that points DOCKER_HOST at the pod,
// shares a volume with a daemon service or mounts its socket, runs
// commands in a Docker client image, or runs docker in its commands.
// With certificates from Drone secrets, a container that runs no
// commands and only shared the volume cannot use the remote daemon.
func (p originalPipeline) daemonUsers(fromSecrets bool) []string {
	isDaemon := func(c originalContainer) bool { return strings.Contains(c.Image, "dind") }
	daemonVolumes := map[string]bool{}
	var daemonNames []string
	for _, s := range p.Services {
		if isDaemon(s) {
			daemonNames = append(daemonNames, s.Name)
			for _, v := range s.Volumes {
				daemonVolumes[v.Name] = true
			}
		}
	}
	var users []string
	for i, c := range append(slices.Clone(p.Steps), p.Services...) {
		service := i >= len(p.Steps)
		if service && isDaemon(c) {
			continue
		}
		if isDockerPlugin(c.Image) && len(c.Commands) == 0 {
			continue
		}
		host, _ := c.Environment["DOCKER_HOST"].(string)
		pointed := host != "" && (localDaemon.MatchString(host) || slices.ContainsFunc(daemonNames, func(n string) bool { return strings.Contains(host, "//"+n+":") }))
		mounted := false
		for _, v := range c.Volumes {
			if daemonVolumes[v.Name] || v.Path == "/var/run/docker.sock" {
				mounted = true
			}
		}
		base := isDockerClientImage(c.Image)
		runs := false
		for _, line := range c.Commands {
			if dockerCommand.MatchString(line) {
				runs = true
			}
		}
		commands := len(c.Commands) > 0
		switch {
		case pointed || (base && commands) || runs:
			users = append(users, c.Name)
		case mounted && (commands || !fromSecrets):
			users = append(users, c.Name)
		}
	}
	sort.Strings(users)
	return users
}

func isDockerClientImage(image string) bool {
	repo := image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	base := repo[strings.LastIndex(repo, "/")+1:]
	return base == "docker" || strings.Contains(base, "dind")
}

// TestRemoteDockerCertsWritten runs the first command the conversion
// gives a step on the remote daemon with certificates from Drone
// secrets, through the runner's envsubst, compiler and script, with a
// real /bin/sh: the three files hold the secrets' values exactly, and
// only their owner can read them.
func TestRemoteDockerCertsWritten(t *testing.T) {
	secrets := map[string]string{
		"docker_ca":   "-----BEGIN CERTIFICATE-----\nMIIB$$x${HOME}\\n`id`\n-----END CERTIFICATE-----",
		"docker_cert": "-----BEGIN CERTIFICATE-----\ncert 'quoted' \"double\"\n-----END CERTIFICATE-----",
		"docker_key":  "-----BEGIN PRIVATE KEY-----\nkey%s%d\n-----END PRIVATE KEY-----",
	}
	certDir, out, err, script := runCertsCommand(t, secrets)
	if err != nil {
		t.Fatalf("first command failed: %v\n%s\nscript:\n%s", err, out, script)
	}
	for file, secret := range map[string]string{"ca.pem": "docker_ca", "cert.pem": "docker_cert", "key.pem": "docker_key"} {
		path := filepath.Join(certDir, file)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != secrets[secret]+"\n" {
			t.Errorf("%s holds %q, want secret %s %q", file, data, secret, secrets[secret]+"\n")
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", file, info.Mode().Perm())
		}
	}
}

// TestRemoteDockerEmptyCertsStop: a Drone secret the build does not get
// (a pull request from a fork) stops the step with a message saying so,
// instead of the docker client's TLS error at its first call.
func TestRemoteDockerEmptyCertsStop(t *testing.T) {
	_, out, err, script := runCertsCommand(t, map[string]string{"docker_ca": "ca", "docker_cert": "cert"})
	if err == nil {
		t.Fatalf("first command succeeded with an empty key secret\n%s\nscript:\n%s", out, script)
	}
	// Read by the author in the build log: it names the Drone secrets,
	// not the service's setting.
	if !strings.Contains(string(out), "drone-convert-eci: the remote Docker daemon's client certificates are empty: the Drone secrets docker_ca, docker_cert and docker_key are missing") || strings.Contains(string(out), "DRONE_ECI_DOCKER_TLS_FROM_SECRETS") {
		t.Errorf("no message naming the empty Drone secrets:\n%s", out)
	}
}

// runCertsCommand converts the dind-service golden with certificates
// from Drone secrets, compiles it with the runner, and runs the first
// command of step test through the runner's envsubst, compiler and
// script with a real /bin/sh, writing the certificates to a temporary
// directory.
func runCertsCommand(t *testing.T, secrets map[string]string) (certDir string, out []byte, err error, script string) {
	t.Helper()
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	input, err := os.ReadFile("../testdata/convert/dockerhost_dind_service.yml")
	if err != nil {
		t.Fatal(err)
	}
	result, err := plugin.NewConverter(remoteDockerConfig(false)).Convert(plugin.Input{Config: input, Repo: "octo/hello-world"})
	if err != nil || result.Config == nil {
		t.Fatalf("conversion: %v", err)
	}
	results, err := runnertest.Compile(result.Config, runnertest.Options{Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := results[0].Container("test")
	if c == nil {
		t.Fatal("no container for step test")
	}
	certDir = filepath.Join(t.TempDir(), "certs")
	env := containerEnv(c, results[0].Secret)
	for i, kv := range env {
		switch {
		case strings.HasPrefix(kv, "DOCKER_CERT_PATH="):
			env[i] = "DOCKER_CERT_PATH=" + certDir
		case strings.HasPrefix(kv, "DRONE_SCRIPT="):
			// Keep the runner's preamble and the first command only.
			script := strings.TrimPrefix(kv, "DRONE_SCRIPT=")
			first := strings.Index(script, "\necho + ")
			second := strings.Index(script[first+1:], "\necho + ")
			if first < 0 || second < 0 {
				t.Fatalf("fewer than two commands in the script:\n%s", script)
			}
			env[i] = "DRONE_SCRIPT=" + script[:first+1+second] + "\nexit 0\n"
		}
	}
	argv := append(slices.Clone(c.Command), c.Args...)
	for i := range argv {
		argv[i] = kubeExpand(argv[i], env)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	out, err = cmd.CombinedOutput()
	return certDir, out, err, scriptOf(env)
}
