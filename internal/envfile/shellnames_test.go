package envfile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/shelltest"
)

// probeNames are names moved one at a time in TestShellNamesMeasured:
// every listed name, the bash manual's other variables, and ordinary
// names of every shape (issue 17's "_", "A1", lower case, PATH).
func probeNames() []string {
	names := []string{
		"NORMAL", "A1", "lower", "mixed_Case", "_", "_x", "PATH", "TERM", "HOME", "USER",
		"HISTSIZE", "HISTFILESIZE", "HISTCONTROL", "HISTIGNORE", "HISTTIMEFORMAT", "HOSTFILE", "TIMEFORMAT", "TMOUT",
		"GLOBIGNORE", "GLOBSORT", "FCEDIT", "COLUMNS", "LINES", "MAILCHECK", "PROMPT_COMMAND", "PROMPT_DIRTRIM",
		"PS0", "PS3", "REPLY", "FIGNORE", "EXECIGNORE", "FUNCNEST", "CHILD_MAX", "INPUTRC", "INSIDE_EMACS",
		"COMP_CWORD", "READLINE_LINE", "histchars", "EMACS", "KUBERNETES_SERVICE_HOST", "DRONE_COMMIT",
	}
	for _, s := range ShellNames {
		names = append(names, s.Names...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Every name Keep lets move is moved into an env file and loaded by
// the shell loader, under every shell present: the step's shell must
// then see exactly what it saw with the names in its env (its
// environment and its variables). And the test can fail: the measured
// names of ShellNames, moved, do read differently.
func TestShellNamesMeasured(t *testing.T) {
	shelltest.Each(t, func(t *testing.T, sh shelltest.Shell) {
		dir := t.TempDir()
		base := []string{"PATH=/usr/bin:/bin"}
		var env []string
		var vars []Var
		for _, name := range probeNames() {
			if Keep(name) || name == "PATH" {
				continue
			}
			env = append(env, name+"=1000")
			vars = append(vars, Var{Name: name, Value: "1000"})
		}
		// PATH too: the loader must run without it.
		vars = append(vars, Var{Name: "PATH", Value: "/usr/bin:/bin"})
		before, err := stepShell(t, sh, dir, append(env, base...), "", "")
		if err != nil {
			t.Fatal(err)
		}
		after, err := stepShell(t, sh, dir, []string{}, AnnotationLoader(Key(AnnotationScript(vars))), AnnotationScript(vars))
		if err != nil {
			t.Fatalf("loading %d names: %v", len(vars), err)
		}
		if before != after {
			t.Errorf("%s: moving %d names Keep lets move changes what the shell sees:\n%s", sh.Name, len(vars), diffLines(before, after))
		} else {
			t.Logf("%s: %d names moved, the shell sees the same", sh.Name, len(vars))
		}

		// Names measured as special on this shell.
		for _, name := range measured[sh.Name] {
			vars := []Var{{Name: name, Value: "1000"}}
			before, err1 := stepShell(t, sh, dir, append([]string{name + "=1000"}, base...), "", "")
			after, err2 := stepShell(t, sh, dir, base, AnnotationLoader(Key(AnnotationScript(vars))), AnnotationScript(vars))
			if err1 == nil && err2 == nil && before == after {
				t.Errorf("%s: %s, moved, reads the same: not a measured special name", sh.Name, name)
			}
		}
	})
}

// measured are, per shell, names that read differently when moved
// (PWD: set from the working directory at start; SHLVL: incremented at
// start; UID: read-only, the loader fails).
var measured = map[string][]string{
	"dash":    {"PWD", "OPTIND"},
	"bash":    {"UID", "SHLVL", "BASH_VERSION", "GROUPS"},
	"busybox": {"PWD", "SHLVL"},
}

func diffLines(want, got string) string {
	w := strings.Split(want, "\n")
	g := strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// stepShell starts sh as the runner starts a step (sh -c, the script
// piped to sh), with env, running loader (with the downward-API file
// holding file) before a dump of the shell's environment and
// variables, and returns the dump.
func stepShell(t *testing.T, sh shelltest.Shell, dir string, env []string, loader, file string) (string, error) {
	t.Helper()
	downward := filepath.Join(dir, "downward")
	if loader != "" {
		content := "a.b=\"x\"\n" + Key(file) + "=" + fmtQ(file)
		if err := os.WriteFile(downward, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		loader = strings.ReplaceAll(loader, DownwardFile, downward) + "\n"
	}
	script := filepath.Join(dir, "script")
	dump := filepath.Join(dir, "dump")
	if err := os.WriteFile(script, []byte(loader+"env -0 >"+dump+".env\nset >"+dump+".set\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh.Sh, "-c", "cat "+script+" | "+sh.Sh)
	cmd.Env = env
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	environ, err := os.ReadFile(dump + ".env")
	if err != nil {
		t.Fatal(err)
	}
	set, err := os.ReadFile(dump + ".set")
	if err != nil {
		t.Fatal(err)
	}
	// PPID differs between any two runs.
	var lines []string
	for _, l := range append(strings.Split(string(environ), "\x00"), strings.Split(string(set), "\n")...) {
		if !strings.HasPrefix(l, "PPID=") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}
