package dronecli

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
)

func TestVersion(t *testing.T) {
	bin := Build(t)
	stdout, stderr, err := Run(t, bin, "", "--version")
	if err != nil {
		t.Fatalf("drone --version: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	if want := "drone version " + Version; strings.TrimSpace(stdout) != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	// A second Build in the same process returns the same binary
	// without rebuilding.
	if again := Build(t); again != bin {
		t.Errorf("second Build = %q, want %q", again, bin)
	}
}

func TestModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"module github.com/a/b\n\ngo 1.26\n":      "github.com/a/b",
		"// c\nmodule \"github.com/a/b/tools\"\n": "github.com/a/b/tools",
		"go 1.26\n":              "",
		"modules github.com/x\n": "",
		"module\tgithub.com/drone-convert-eci/x\r\n": "github.com/drone-convert-eci/x",
	} {
		if got := modulePath([]byte(in)); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", in, got, want)
		}
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tools", "go.mod")); err != nil {
		t.Errorf("repo root %s has no tools/go.mod: %v", root, err)
	}
}

// plugin is a converter.Plugin recording what the CLI sent.
type plugin struct {
	mu  sync.Mutex
	req *converter.Request
	res *drone.Config
	err error
}

func (p *plugin) Convert(_ context.Context, req *converter.Request) (*drone.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.req = req
	return p.res, p.err
}

// TestConvert checks, against drone-go's own handler, what DESIGN.md §1
// says of `drone plugins convert`: output on stderr, a blank line for
// 204, the request it sends, and how it reports errors.
func TestConvert(t *testing.T) {
	bin := Build(t)
	const secret = "correct-horse-battery-staple"
	const original = "kind: pipeline\ntype: kubernetes\nname: default\nsteps:\n- name: a\n  image: alpine\n"
	const converted = "kind: pipeline\ntype: kubernetes\nname: default\nmetadata:\n  annotations:\n    a: b\nsteps:\n- name: a\n  image: alpine\n"

	path := filepath.Join(t.TempDir(), ".drone.yml")
	if err := os.WriteFile(path, []byte(original), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &plugin{}
	srv := httptest.NewServer(converter.Handler(p, secret, nil))
	defer srv.Close()

	t.Run("200", func(t *testing.T) {
		p.res, p.err = &drone.Config{Data: converted}, nil
		stdout, stderr, err := Convert(t, bin, srv.URL, secret, "octo/hello-world", path)
		if err != nil {
			t.Fatalf("convert: %v\nstderr: %s", err, stderr)
		}
		if stdout != "" {
			t.Errorf("stdout = %q, want empty", stdout)
		}
		if stderr != converted+"\n" {
			t.Errorf("stderr = %q, want the converted config and a newline", stderr)
		}
		req := p.req
		if req.Repo.Slug != "octo/hello-world" || req.Repo.Namespace != "octo" || req.Repo.Name != "hello-world" {
			t.Errorf("repo = %+v", req.Repo)
		}
		if req.Repo.Config != ".drone.yml" {
			t.Errorf("repo.config = %q, want .drone.yml", req.Repo.Config)
		}
		if req.Repo.Trusted || req.Repo.Protected {
			t.Errorf("repo trusted/protected = %v/%v, want false/false", req.Repo.Trusted, req.Repo.Protected)
		}
		if req.Build.Event != "" || req.Build.Ref != "refs/heads/master" || req.Build.Target != "master" {
			t.Errorf("build = event %q ref %q target %q", req.Build.Event, req.Build.Ref, req.Build.Target)
		}
		if req.Config.Data != original {
			t.Errorf("config sent = %q", req.Config.Data)
		}
	})

	t.Run("204", func(t *testing.T) {
		p.res, p.err = nil, nil
		stdout, stderr, err := Convert(t, bin, srv.URL, secret, "octo/hello-world", path)
		if err != nil {
			t.Fatalf("convert: %v\nstderr: %s", err, stderr)
		}
		if stdout != "" || stderr != "\n" {
			t.Errorf("stdout = %q, stderr = %q; want empty and a blank line", stdout, stderr)
		}
	})

	t.Run("error", func(t *testing.T) {
		p.res, p.err = nil, errors.New("pipeline \"default\": 21 containers, ECI allows 20")
		_, stderr, err := Convert(t, bin, srv.URL, secret, "octo/hello-world", path)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("err = %v, want exit status 1", err)
		}
		// The handler answers 404 with the error text; the CLI prints
		// the body as is.
		if !strings.Contains(stderr, `pipeline "default": 21 containers, ECI allows 20`) {
			t.Errorf("stderr = %q", stderr)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		p.res, p.err = &drone.Config{Data: converted}, nil
		_, stderr, err := Convert(t, bin, srv.URL, "wrong", "octo/hello-world", path)
		if err == nil || !strings.Contains(stderr, "Invalid Signature") {
			t.Errorf("err = %v, stderr = %q; want a signature failure", err, stderr)
		}
	})
}
