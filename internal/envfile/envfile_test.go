package envfile

import (
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/shelltest"
)

func randomVars(r *rand.Rand) []Var {
	var vars []Var
	n := r.Intn(6)
	for i := 0; i < n; i++ {
		value := make([]byte, r.Intn(20))
		for j := range value {
			switch r.Intn(3) {
			case 0:
				value[j] = byte(1 + r.Intn(255)) // any byte but NUL
			default:
				const some = "ab %$'\"\\\n_"
				value[j] = some[r.Intn(len(some))]
			}
		}
		vars = append(vars, Var{Name: "V" + string(rune('A'+i)), Value: string(value)})
	}
	return vars
}

// The parser reads back what AnnotationScript wrote, and what sh sets
// from the same snippet through the shell loader (from a downward-API
// file in the kubelet's format) is the same, under every shell: the
// static loader and the shell loader agree byte for byte. A user's
// variables named like the loader's helpers are left as they were.
func TestParseMatchesShell(t *testing.T) {
	shelltest.Each(t, func(t *testing.T, sh shelltest.Shell) {
		r := rand.New(rand.NewSource(7))
		dir := t.TempDir()
		for i := 0; i < 40; i++ {
			vars := randomVars(r)
			script := AnnotationScript(vars)
			got, err := ParseAnnotationScript(script)
			if err != nil {
				t.Fatalf("%q: %v", script, err)
			}
			if len(vars) == 0 {
				vars = nil
			}
			if !slices.Equal(got, vars) {
				t.Fatalf("parsed %q, want %q", got, vars)
			}
			key := Key(script)
			file := "a.b=\"x\"\n" + key + "=" + fmtQ(script) + "\nz=\"" + key + `=\"\"` + "\""
			value, err := ReadAnnotation(file, key)
			if err != nil || value != script {
				t.Fatalf("ReadAnnotation = %q, %v", value, err)
			}
			path := filepath.Join(dir, "env")
			if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
			loader := strings.ReplaceAll(AnnotationLoader(key), DownwardFile, path)
			cmd := exec.Command(sh.Sh, "-c", loader+"; env -0")
			cmd.Env = []string{"PATH=/usr/bin:/bin", "__dce=user's", "__dcl=user's too"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			for _, v := range vars {
				if env[v.Name] != v.Value {
					t.Errorf("sh set %s=%q, parser %q", v.Name, env[v.Name], v.Value)
				}
			}
			if env["__dce"] != "user's" || env["__dcl"] != "user's too" {
				t.Errorf("the loader changed the user's __dce, __dcl: %q, %q", env["__dce"], env["__dcl"])
			}
		}
	})
}

// Both loaders fail the step, before any command, when the file is
// missing or incomplete, under every shell.
func TestLoadersFail(t *testing.T) {
	shelltest.Each(t, func(t *testing.T, sh shelltest.Shell) {
		dir := t.TempDir()
		vars := []Var{{Name: "A", Value: "a"}}
		script := AnnotationScript(vars)
		secret := SecretFile(vars)
		for _, c := range []struct{ name, loader, file string }{
			{"annotation missing", AnnotationLoader(Key(script)), "a.b=\"x\""},
			{"annotation incomplete", AnnotationLoader(Key(script)), Key(script) + "=" + fmtQ(strings.TrimSuffix(script, endMark))},
			{"secret file missing", SecretLoader(filepath.Join(dir, "nothing")), ""},
			{"secret file incomplete", SecretLoader(filepath.Join(dir, "file")), strings.TrimSuffix(secret, endMark+"\n")},
		} {
			path := filepath.Join(dir, "file")
			if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			loader := strings.ReplaceAll(c.loader, DownwardFile, path)
			out, err := exec.Command(sh.Sh, "-c", loader+"; echo ran").CombinedOutput()
			if err == nil || strings.Contains(string(out), "ran") || !strings.Contains(string(out), "drone-convert-eci: ") {
				t.Errorf("%s: %v: %s", c.name, err, out)
			}
		}
	})
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"", "A='x';", "A='x';export A;__dce=1;rm -rf /", "A=$(rm -rf /);export A;__dce=1",
		"A='x';export B;__dce=1", "1A='x';export 1A;__dce=1", "A=$(printf 'x%_');A=${A%_};export A;__dce=1",
	} {
		if vars, err := ParseAnnotationScript(s); err == nil {
			t.Errorf("%q parsed as %q", s, vars)
		}
	}
	if _, err := ReadAnnotation("a=\"b\"", "drone_convert_eci.env.x"); err == nil {
		t.Error("a missing annotation is an error")
	}
}
