package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
)

// buildLoader builds this program as the service's image does (static).
func buildLoader(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "eci-env-loader")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// downward is the runner's downward-API file as the kubelet writes it.
func downward(annotations map[string]string) string {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, annotations[k]))
	}
	return strings.Join(lines, "\n")
}

// The step phase: the process the loader execs sees exactly the
// variables the original container had, names and byte-exact values,
// with some of them moved into the env file.
func TestLoaderStepPhase(t *testing.T) {
	loader := buildLoader(t)
	original := []string{"KEEP=kept", "CI_A=a b", "DRONE_X=line1\nline2\n", "PLUGIN_Y=$HOME 'q' \"d\" \\ % \x01\xff", "EMPTY="}
	moved := []envfile.Var{{Name: "CI_A", Value: "a b"}, {Name: "DRONE_X", Value: "line1\nline2\n"}, {Name: "PLUGIN_Y", Value: "$HOME 'q' \"d\" \\ % \x01\xff"}, {Name: "EMPTY", Value: ""}}
	script := envfile.AnnotationScript(moved)
	key := envfile.Key(script)
	file := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(file, []byte(downward(map[string]string{"io.drone": "true", key: script})), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := dump(exec.Command("/usr/bin/env", "-0"), original)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dump(exec.Command(loader, "run", "--key", key, "--file", file, "--", "/usr/bin/env", "-0"), []string{"KEEP=kept", "DRONE_X=stale"})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("env differs:\n got %q\nwant %q", got, want)
	}
	// A missing annotation fails, never runs without its variables.
	if _, err := dump(exec.Command(loader, "run", "--key", envfile.AnnotationPrefix+"missing", "--file", file, "--", "/usr/bin/env"), nil); err == nil {
		t.Error("a missing annotation must fail")
	}
	// A missing entrypoint in an image that is not the placeholder fails.
	cmd := exec.Command(loader, "run", "--key", key, "--file", file, "--", "/no/such/entrypoint")
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 127 {
		t.Errorf("missing entrypoint: %v", err)
	}
}

func dump(cmd *exec.Cmd, env []string) (string, error) {
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	entries := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	slices.Sort(entries)
	return strings.Join(entries, "\x00"), nil
}

func TestInstall(t *testing.T) {
	loader := buildLoader(t)
	dir := t.TempDir()
	if out, err := exec.Command(loader, "install", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	a, _ := os.ReadFile(loader)
	b, err := os.ReadFile(filepath.Join(dir, "eci-env-loader"))
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("installed copy differs (%v)", err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "eci-env-loader")); info.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", info.Mode())
	}
}

// The placeholder phase, for real: a root holding only what
// drone/placeholder:1 holds (its /bin/sh, built from drone-runner-kube's
// own docker/placeholder source) plus the mounts (the loader, the
// downward-API file). The loader, whose entrypoint is absent there,
// keeps running as the placeholder does. Needs root (chroot).
func TestLoaderPlaceholderPhase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	loader := buildLoader(t)
	root := PlaceholderRoot(t)
	copyFile(t, loader, filepath.Join(root, "drone-convert-eci/eci-env-loader"))
	script := envfile.AnnotationScript([]envfile.Var{{Name: "A", Value: "1"}})
	key := envfile.Key(script)
	writeFile(t, filepath.Join(root, "run/drone/env"), downward(map[string]string{key: script}))
	cmd := exec.Command("/drone-convert-eci/eci-env-loader", "run", "--key", key, "--", "/kaniko/kaniko-docker")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	if err := StillRunning(cmd, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// PlaceholderRoot lays out drone/placeholder:1's files in a new
// directory: /bin/sh (the runner's placeholder program, built from its
// source in the module cache) and the CA file.
func PlaceholderRoot(t *testing.T) string {
	t.Helper()
	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(strings.TrimSpace(string(gomodcache)), "github.com/drone-runners/drone-runner-kube@v1.0.0-rc.5/docker/placeholder/main.go")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(root, "bin/sh"), src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the placeholder: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), "")
	return root
}

// StillRunning starts cmd and checks it is still running after d, then
// kills it.
func StillRunning(cmd *exec.Cmd, d time.Duration) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("exited (%v) instead of sleeping: %s", err, out.String())
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return nil
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}
