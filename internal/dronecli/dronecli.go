// Package dronecli builds and runs the real drone CLI (drone-cli v1.8.0)
// in tests. `drone plugins convert` signs and posts a conversion request
// with drone-go's converter client, the same client the Drone server
// uses, so it is a second, independent real client for end-to-end tests
// of the extension.
//
// The CLI is pinned in the separate module tools/ (tools/go.mod) because
// its 2020-era dependency tree (docker/engine, old grpc/genproto) must
// not leak into the service's go.mod. This package depends on the
// standard library only, so importing it costs the root module nothing.
package dronecli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RootModule is the module path of the repository root; the tools
// module (…/tools) is nested inside it, so the go.mod is matched
// exactly, not by prefix.
const RootModule = "github.com/drone-convert-eci/drone-convert-eci"

// Version is the drone-cli version required by tools/go.mod. It is
// stamped into the binary (main.version), because a plain `go build`
// leaves it empty and the CLI then has no --version flag at all.
const Version = "1.8.0"

// Package is the CLI's main package.
const Package = "github.com/drone/drone-cli/drone"

// ConvertTimeout bounds one `drone plugins convert` run. The CLI sets no
// timeout of its own; the Drone server's DRONE_CONVERT_TIMEOUT defaults
// to one minute, so a conversion slower than that fails in production
// too.
const ConvertTimeout = time.Minute

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Build builds the drone CLI into <repo root>/bin/drone, once per test
// process, and returns its path. If the build fails every caller's test
// fails with the go command's output: a missing CLI is a broken test
// setup, not a reason to skip.
func Build(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		buildPath, buildErr = build()
		if buildErr == nil {
			tb.Logf("dronecli: built %s in %s", buildPath, time.Since(start).Round(time.Millisecond))
		}
	})
	if buildErr != nil {
		tb.Fatalf("dronecli: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	target := filepath.Join(binDir, "drone")

	// go test runs test binaries of several packages at once, and each
	// has its own sync.Once. Linking straight onto bin/drone could
	// truncate the file while another process executes it ("text file
	// busy"); linking to a private name and renaming over bin/drone is
	// atomic. The cost is one relink per test process (about a second
	// with a warm build cache).
	tmp, err := os.CreateTemp(binDir, ".drone-build-*")
	if err != nil {
		return "", err
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // no-op once renamed

	cmd := exec.Command("go", "build",
		"-C", filepath.Join(root, "tools"),
		// tools/go.sum is complete: never let a GOFLAGS=-mod=mod from
		// the environment rewrite go.mod/go.sum behind our back.
		"-mod=readonly",
		"-ldflags", "-X main.version="+Version,
		"-o", tmpName,
		Package,
	)
	cmd.Env = append(os.Environ(),
		// The checksum database behind this machine's proxy answers 404
		// for these two, which breaks `go get`/`go mod tidy` in tools/.
		// A build with the complete tools/go.sum never asks it (a cold
		// module cache builds without this, measured); it is set so the
		// build environment matches the documented tools/ recipe.
		"GONOSUMDB="+joinEnvList(os.Getenv("GONOSUMDB"), "github.com/drone/drone-cli,github.com/docker/engine"),
		// tools is its own module; a go.work above the repo must not
		// pull it into a workspace with the root module.
		"GOWORK=off",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s (in %s/tools) failed: %v\n%s", Package, root, err, out)
	}
	if err := os.Chmod(tmpName, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmpName, target); err != nil {
		return "", err
	}
	return target, nil
}

func joinEnvList(existing, add string) string {
	if existing == "" {
		return add
	}
	return existing + "," + add
}

// RepoRoot walks up from the working directory (a package directory
// under go test) to the directory whose go.mod declares RootModule.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(data) == RootModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", RootModule)
		}
		dir = parent
	}
}

// modulePath returns the path in go.mod's module directive.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Convert runs
//
//	drone plugins convert --path PATH --repository REPO --endpoint URL --secret S
//
// and returns what the CLI wrote. As read in drone-cli v1.8.0
// (drone/plugins/convert) and drone-go v1.7.1's client:
//
//   - the converted YAML goes to STDERR (the CLI uses the println
//     builtin) followed by a newline; stdout stays empty;
//   - a 204 No Content answer prints a blank line: the client returns an
//     empty, non-nil drone.Config, so the CLI's "print the original"
//     branch for a nil config is dead code;
//   - a non-2xx answer makes the CLI print the response body (or the
//     status text when empty) to stderr and exit 1: err is then an
//     *exec.ExitError;
//   - the request carries repo namespace/name/slug from --repository,
//     repo.config = the --path value, build ref/source/target defaults
//     refs/heads/master / master / master, and NO build event, no
//     repo.trusted (false), no repo.protected (false).
//
// The file at path is copied into a fresh temporary directory and the
// CLI runs there with --path set to the file's base name, so that the
// request's repo.config is a realistic ".drone.yml"-like name, and
// because the CLI loads a `.env` file from its working directory at
// startup (godotenv/autoload), which must not come from the repo.
// DRONE_CONVERT_* variables (flag fallbacks) are removed from its
// environment so only the arguments given here count.
func Convert(tb testing.TB, bin, endpoint, secret, repo, path string) (stdout, stderr string, err error) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("dronecli: %v", err)
	}
	dir := tb.TempDir()
	base := filepath.Base(path)
	if err := os.WriteFile(filepath.Join(dir, base), data, 0o644); err != nil {
		tb.Fatalf("dronecli: %v", err)
	}
	return Run(tb, bin, dir,
		"plugins", "convert",
		"--path", base,
		"--repository", repo,
		"--endpoint", endpoint,
		"--secret", secret,
	)
}

// Run runs the CLI with args in dir (a temporary directory when empty)
// under ConvertTimeout, with DRONE_* variables removed from its
// environment, and returns its output; err is non-nil when it could not
// start or exited non-zero.
func Run(tb testing.TB, bin, dir string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	ctx, cancel := context.WithTimeout(tb.Context(), ConvertTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = scrubbedEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("drone %s: timed out after %s: %w", strings.Join(args, " "), ConvertTimeout, err)
	}
	return out.String(), errb.String(), err
}

// scrubbedEnv is the test process's environment without DRONE_*
// variables: every CLI flag falls back to one (DRONE_CONVERT_ENDPOINT,
// DRONE_CONVERT_SKIP_VERIFY, DRONE_SERVER, DRONE_TOKEN, ...).
func scrubbedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DRONE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
