// Package shelltest runs tests under each /bin/sh a step's image may
// have: dash (Debian, Ubuntu), bash started as sh (RHEL/UBI, Fedora,
// Amazon Linux, Arch) and busybox ash (Alpine, busybox). .ci/run
// installs the Debian packages that provide them.
package shelltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Shell is one of the shells, started as sh.
type Shell struct {
	// Name is dash, bash or busybox.
	Name string
	// Sh is an executable named sh that starts the shell, as /bin/sh
	// would in an image where it is that shell: bash started as sh runs
	// in POSIX mode, busybox runs its ash applet.
	Sh string
}

var shells = []struct {
	name, pkg string
	paths     []string
}{
	{"dash", "dash", []string{"/usr/bin/dash", "/bin/dash"}},
	{"bash", "bash", []string{"/usr/bin/bash", "/bin/bash"}},
	{"busybox", "busybox-static", []string{"/usr/bin/busybox", "/bin/busybox"}},
}

// Each runs f in a subtest per shell, named after it. A shell missing
// from this machine skips its subtest in one line.
func Each(t *testing.T, f func(t *testing.T, sh Shell)) {
	t.Helper()
	for _, s := range shells {
		t.Run(s.name, func(t *testing.T) {
			bin := ""
			for _, p := range s.paths {
				if _, err := exec.LookPath(p); err == nil {
					bin = p
					break
				}
			}
			if bin == "" {
				t.Skipf("%s not installed (Debian package %s; .ci/run installs it)", s.name, s.pkg)
			}
			sh := filepath.Join(t.TempDir(), "sh")
			if err := os.Symlink(bin, sh); err != nil {
				t.Fatal(err)
			}
			f(t, Shell{Name: s.name, Sh: sh})
		})
	}
}

// All returns the shells present on this machine, for tests that run
// many steps under each; a missing shell is left out with one logged
// line.
func All(t testing.TB) []Shell {
	t.Helper()
	dir := t.TempDir()
	var out []Shell
	for _, s := range shells {
		bin := ""
		for _, p := range s.paths {
			if _, err := exec.LookPath(p); err == nil {
				bin = p
				break
			}
		}
		if bin == "" {
			t.Logf("%s not installed (Debian package %s; .ci/run installs it): its runs are skipped", s.name, s.pkg)
			continue
		}
		sh := filepath.Join(dir, s.name, "sh")
		if err := os.MkdirAll(filepath.Dir(sh), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(bin, sh); err != nil {
			t.Fatal(err)
		}
		out = append(out, Shell{Name: s.name, Sh: sh})
	}
	return out
}

// Command is argv with every "/bin/sh" in it (the runner's command and
// its script's pipe) replaced by sh.
func (sh Shell) Command(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = strings.ReplaceAll(a, "/bin/sh", sh.Sh)
	}
	return out
}
