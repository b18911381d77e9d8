// Package registrytest serves go-containerregistry's in-memory registry
// behind basic auth, in the test process, with switches for the ways
// real registries fail, and pushes small images into it.
package registrytest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Mode is how the registry answers.
type Mode int

const (
	Serve Mode = iota // as a registry does
	Hang              // never answers, until the test ends
	Fail              // 500 to everything
)

// Server is a registry on loopback.
type Server struct {
	// Host is host:port, the registry part of references.
	Host     string
	User     string
	Password string

	srv      *httptest.Server
	mu       sync.Mutex
	mode     Mode
	manifest int // manifest requests (GET or HEAD) seen
	stop     chan struct{}
}

// Start serves a registry that takes user:password (empty user: no
// auth) until the test ends.
func Start(t testing.TB, user, password string) *Server {
	t.Helper()
	s := &Server{User: user, Password: password, stop: make(chan struct{})}
	inner := registry.New(registry.Logger(nopLogger()))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode := s.mode
		if strings.Contains(r.URL.Path, "/manifests/") {
			s.manifest++
		}
		s.mu.Unlock()
		switch mode {
		case Hang:
			select {
			case <-r.Context().Done():
			case <-s.stop:
			}
			return
		case Fail:
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
		}
		inner.ServeHTTP(w, r)
	}))
	s.Host = strings.TrimPrefix(s.srv.URL, "http://")
	t.Cleanup(func() {
		close(s.stop)
		s.srv.Close()
	})
	return s
}

// SetMode switches how the registry answers from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// ManifestRequests counts manifest requests seen so far.
func (s *Server) ManifestRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.manifest
}

// Close stops the registry: later connections are refused.
func (s *Server) Close() { s.srv.Close() }

func (s *Server) auth() remote.Option {
	if s.User == "" {
		return remote.WithAuth(authn.Anonymous)
	}
	return remote.WithAuth(&authn.Basic{Username: s.User, Password: s.Password})
}

// Image builds a small random image for platform (os/arch) running
// entrypoint and cmd.
func Image(t testing.TB, platform string, entrypoint, cmd []string) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, _ = strings.Cut(platform, "/")
	cfg.Config.Entrypoint = entrypoint
	cfg.Config.Cmd = cmd
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Push writes img as repo:tag ("app/x:1", no host) and returns its
// digest.
func (s *Server) Push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(s.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, s.auth()); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// PushIndex writes a multi-platform index of images (platform "os/arch"
// → image) as repo:tag and returns the index's digest.
func (s *Server) PushIndex(t testing.TB, repoTag string, images map[string]v1.Image) string {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for platform, img := range images {
		os, arch, _ := strings.Cut(platform, "/")
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}},
		})
	}
	ref, err := name.ParseReference(s.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, s.auth()); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
