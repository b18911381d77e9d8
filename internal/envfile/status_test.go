package envfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/joho/godotenv"

	"github.com/drone-convert-eci/drone-convert-eci/internal/shelltest"
)

// statusFile is a downward-API file in the kubelet's format (sorted
// keys, %q values, no final newline).
func statusFile(annotations map[string]string) string {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + fmtQ(annotations[k])
	}
	return strings.Join(lines, "\n")
}

// The shell's StatusLoader sets exactly what ReadStatus gives, under
// every shell, and ReadStatus gives what godotenv (v1.5.1, the version
// plugins that fail on ECI's keys use) reads from the same lines when
// the file holds no key it refuses: the runner's statuses and times,
// and nothing for values the kubelet's quoting and godotenv could read
// differently (which then keep the container's own value).
func TestStatusLoaderMatchesReadStatus(t *testing.T) {
	cases := []map[string]string{
		{"DRONE_BUILD_STATUS": "failure", "DRONE_BUILD_FINISHED": "1735689700", "DRONE_STAGE_STATUS": "failure", "DRONE_STAGE_FINISHED": "1735689700"},
		{"DRONE_BUILD_STATUS": "", "DRONE_STAGE_STATUS": "running", "io.drone": "true"},
		{"DRONE_BUILD_STATUS": "fail ure", "DRONE_STAGE_STATUS": `"q"`, "DRONE_BUILD_FINISHED": "$x", "DRONE_STAGE_FINISHED": `a\b`},
		{"DRONE_BUILD_STATUS": "é", "DRONE_STAGE_STATUS": "\xff", "DRONE_BUILD_FINISHED": "a\nDRONE_STAGE_FINISHED=\"1\"", "DRONE_STAGE_FINISHED": "`id`"},
		{"DRONE_BUILD_STATUSX": "failure", "x.DRONE_STAGE_STATUS": "failure", "DRONE_REPO": "octo/x"},
		{"DRONE_BUILD_STATUS": "a.b_c-D9", "drone_convert_eci.env.0123456789abcdef": "DRONE_STAGE_STATUS='failure';__dce=1"},
	}
	start := []string{"PATH=/usr/bin:/bin", "DRONE_BUILD_STATUS=success", "DRONE_STAGE_STATUS=success", "DRONE_BUILD_FINISHED=0", "__dcl=user's", "__dcv=user's too"}
	for i, annotations := range cases {
		file := statusFile(annotations)
		want := ReadStatus(file)
		parsed, err := godotenv.Unmarshal(file)
		if err != nil {
			t.Fatalf("case %d: godotenv refuses a file without ECI's keys: %v", i, err)
		}
		for _, v := range want {
			if parsed[v.Name] != v.Value {
				t.Errorf("case %d: ReadStatus %s=%q, godotenv %q", i, v.Name, v.Value, parsed[v.Name])
			}
		}
		if i == 0 && len(want) != 4 {
			t.Fatalf("ReadStatus took %q from the runner's own statuses", want)
		}
	}
	shelltest.Each(t, func(t *testing.T, sh shelltest.Shell) {
		dir := t.TempDir()
		for i, annotations := range cases {
			file := statusFile(annotations)
			path := filepath.Join(dir, "env")
			if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
			loader := strings.ReplaceAll(StatusLoader(), DownwardFile, path)
			cmd := exec.Command(sh.Sh, "-c", loader+"; env -0")
			cmd.Env = start
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			got := map[string]string{}
			for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			want := map[string]string{}
			for _, kv := range start {
				k, v, _ := strings.Cut(kv, "=")
				want[k] = v
			}
			for _, v := range ReadStatus(file) {
				want[v.Name] = v.Value
			}
			delete(got, "PWD")
			delete(got, "SHLVL")
			delete(got, "_")
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("case %d: the loader added %s=%q", i, k, got[k])
				}
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("case %d: %s=%q, want %q", i, k, got[k], v)
				}
			}
		}
	})
}

// The status loader holds no backslash, as the annotation loader.
func TestStatusLoaderNoBackslash(t *testing.T) {
	if strings.Contains(StatusLoader(), `\`) {
		t.Error("a backslash in the status loader")
	}
}
