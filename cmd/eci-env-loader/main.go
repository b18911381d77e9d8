// Command eci-env-loader is the static loader the admission webhook
// gives containers without a shell (README "Admission webhook"). It is
// copied into each pod by an init container from the service's image:
//
//	eci-env-loader install DIR
//
// and set as the command of those containers:
//
//	eci-env-loader run --key KEY [--file /run/drone/env] -- ENTRYPOINT [ARG...]
//
// run reads the env file carried in annotation KEY of the runner's
// downward-API file (internal/envfile's format), sets its variables and
// the runner's live status from the same file (envfile.StatusKeys, as
// godotenv.Overload would), and execs the image's real entrypoint and
// arguments. Under the
// runner's placeholder image (drone/placeholder:1, FROM scratch, whose
// only program is a sleeping /bin/sh) the entrypoint is absent: it then
// sleeps as the placeholder does, until the runner swaps in the step's
// image. An entrypoint missing from any other image is an error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: eci-env-loader install DIR | run --key KEY [--file FILE] -- ENTRYPOINT [ARG...]")
		return 2
	}
	switch args[0] {
	case "install":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: eci-env-loader install DIR")
			return 2
		}
		if err := install(args[1]); err != nil {
			fmt.Fprintln(stderr, "eci-env-loader:", err)
			return 1
		}
		return 0
	case "run":
		key, file := "", envfile.DownwardFile
		rest := args[1:]
		for len(rest) > 0 && rest[0] != "--" {
			if len(rest) < 2 {
				fmt.Fprintf(stderr, "eci-env-loader: %s needs a value\n", rest[0])
				return 2
			}
			switch rest[0] {
			case "--key":
				key = rest[1]
			case "--file":
				file = rest[1]
			default:
				fmt.Fprintf(stderr, "eci-env-loader: unknown flag %s\n", rest[0])
				return 2
			}
			rest = rest[2:]
		}
		if key == "" || len(rest) < 2 {
			fmt.Fprintln(stderr, "usage: eci-env-loader run --key KEY [--file FILE] -- ENTRYPOINT [ARG...]")
			return 2
		}
		err := exec1(key, file, rest[1:], "/")
		fmt.Fprintln(stderr, "eci-env-loader:", err)
		return 127
	}
	fmt.Fprintf(stderr, "eci-env-loader: unknown command %q\n", args[0])
	return 2
}

// install copies this program into dir, executable by every user.
func install(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".eci-env-loader-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, "eci-env-loader"))
}

// exec1 loads the env file and execs argv; it returns only on failure.
// Under the placeholder image it never returns.
func exec1(key, file string, argv []string, root string) error {
	path, err := lookPath(argv[0])
	if err != nil {
		if placeholder(root) {
			sleepForever()
		}
		return fmt.Errorf("entrypoint %s: %w", argv[0], err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	script, err := envfile.ReadAnnotation(string(data), key)
	if err != nil {
		return err
	}
	vars, err := envfile.ParseAnnotationScript(script)
	if err != nil {
		return err
	}
	env := os.Environ()
	for _, v := range vars {
		env = setenv(env, v.Name, v.Value)
	}
	// The runner's live status, as godotenv.Overload would set it: a
	// plugin built with godotenv v1.5 cannot read the file at all when
	// any annotation key holds "/" or "-" (ECI's own do), and would see
	// the values of the pod's creation instead.
	for _, v := range envfile.ReadStatus(string(data)) {
		env = setenv(env, v.Name, v.Value)
	}
	return syscall.Exec(path, argv, env)
}

// lookPath resolves the entrypoint as the container runtime does: a
// name with a slash as is, else through the PATH of the environment.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		info, err := os.Stat(name)
		if err != nil {
			return "", err
		}
		if info.IsDir() || info.Mode()&0o111 == 0 {
			return "", errors.New("not an executable file")
		}
		return name, nil
	}
	return exec.LookPath(name)
}

// placeholder says whether root looks like drone/placeholder:1, a
// scratch image whose only program is /bin/sh: /bin holds sh alone.
func placeholder(root string) bool {
	entries, err := os.ReadDir(filepath.Join(root, "bin"))
	return err == nil && len(entries) == 1 && entries[0].Name() == "sh"
}

// sleepForever is the placeholder's own main loop.
func sleepForever() {
	for {
		time.Sleep(time.Second)
	}
}

// setenv sets name in env, replacing every earlier entry of the name.
func setenv(env []string, name, value string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}
