package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
)

// A plugin built with godotenv v1.5.1 (internal/godotenvplugin:
// Overload of the runner's file, error ignored) reads the runner's live
// status. On a converted pod the file holds annotation keys with "/"
// and "-" (ECI's), which godotenv v1.5 refuses: alone, the plugin sees
// the status of the pod's creation. Started through the static loader,
// with the env over the budget (variables moved) and under it (an empty
// env file), it sees the live status, as it does on a pod without
// such keys.
func TestLiveStatusForGodotenvPlugins(t *testing.T) {
	loader := buildLoader(t)
	standin := filepath.Join(t.TempDir(), "plugin")
	build := exec.Command("go", "build", "-o", standin, "./internal/godotenvplugin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build plugin: %v\n%s", err, out)
	}
	live := map[string]string{
		"DRONE_BUILD_STATUS": "failure", "DRONE_BUILD_FINISHED": "1735689700",
		"DRONE_STAGE_STATUS": "failure", "DRONE_STAGE_FINISHED": "1735689700",
	}
	converted := map[string]string{
		"io.drone": "true", "io.drone.created": "1735689600",
		"k8s.aliyun.com/eci-use-specs": "2-4Gi", "k8s.aliyun.com/eci-auto-imc": "true",
		"drone-convert-eci/enabled": "true",
	}
	env := []string{"PATH=/usr/bin:/bin", "DRONE_BUILD_STATUS=success", "DRONE_STAGE_STATUS=success", "PLUGIN_WEBHOOK=https://x"}
	dir := t.TempDir()
	run := func(annotations map[string]string, argv ...string) (string, string) {
		t.Helper()
		file := filepath.Join(dir, "env")
		if err := os.WriteFile(file, []byte(downward(annotations)), 0o644); err != nil {
			t.Fatal(err)
		}
		for i := range argv {
			argv[i] = strings.ReplaceAll(argv[i], "FILE", file)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v: %s", argv, err, stderr.String())
		}
		return strings.TrimSpace(string(out)), stderr.String()
	}
	with := func(a ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range a {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}

	// The problem, measured: godotenv v1.5 refuses the converted pod's
	// file and the plugin sees the creation's status; without ECI's keys
	// it reads the live one.
	if got, stderr := run(with(converted, live), standin, "FILE"); got != "DRONE_BUILD_STATUS=success" || !strings.Contains(stderr, "godotenv:") {
		t.Fatalf("alone on a converted pod the stand-in printed %q (%s): expected the parse error and the stale status", got, stderr)
	}
	if got, _ := run(with(map[string]string{"io.drone": "true"}, live), standin, "FILE"); got != "DRONE_BUILD_STATUS=failure" {
		t.Fatalf("on a pod without such keys the stand-in printed %q", got)
	}

	for _, c := range []struct {
		name string
		vars []envfile.Var
	}{
		{"over the budget", []envfile.Var{{Name: "CI_BUILD_STATUS", Value: "success"}, {Name: "DRONE_REPO", Value: "octo/hello-world"}}},
		{"under the budget", nil},
	} {
		script := envfile.AnnotationScript(c.vars)
		key := envfile.Key(script)
		got, _ := run(with(converted, live, map[string]string{key: script}), loader, "run", "--key", key, "--file", "FILE", "--", standin, "FILE")
		if got != "DRONE_BUILD_STATUS=failure" {
			t.Errorf("%s: through the static loader the stand-in printed %q, want the live failure", c.name, got)
		}
	}
}

// ReadStatus takes the runner's status keys only, and only values
// godotenv and the kubelet's quoting agree on.
func TestReadStatus(t *testing.T) {
	file := downward(map[string]string{
		"DRONE_BUILD_STATUS": "failure", "DRONE_BUILD_FINISHED": "1735689700", "DRONE_STAGE_STATUS": "odd \"value\" $x",
		"DRONE_REPO": "octo/x", "k8s.aliyun.com/eci-use-specs": "2-4Gi", "x.DRONE_STAGE_FINISHED": "1",
	})
	got := envfile.ReadStatus(file)
	want := []envfile.Var{{Name: "DRONE_BUILD_FINISHED", Value: "1735689700"}, {Name: "DRONE_BUILD_STATUS", Value: "failure"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ReadStatus = %q, want %q", got, want)
	}
}
