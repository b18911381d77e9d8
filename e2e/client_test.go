package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/command"
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/server"
)

const secret = "e2e-shared-secret"

// startService serves the real plugin behind the real guard, as
// `drone-convert-eci serve` does.
func startService(t *testing.T, cfg config.Config, now func() time.Time) *httptest.Server {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	srv := httptest.NewServer(server.Handler(plugin.New(cfg, log), server.Options{
		Secret:       secret,
		MaxBodyBytes: cfg.MaxBodyBytes,
		MaxClockSkew: cfg.MaxClockSkew,
		Now:          now,
	}, log))
	t.Cleanup(srv.Close)
	return srv
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func request(config, slug string) *converter.Request {
	return &converter.Request{
		Build:  drone.Build{Number: 7, Event: "push", Ref: "refs/heads/main", After: "0a1b2c3d"},
		Config: drone.Config{Data: config},
		Repo:   drone.Repo{Slug: slug, Namespace: "octo", Name: strings.TrimPrefix(slug, "octo/")},
	}
}

func TestRealClient(t *testing.T) {
	srv := startService(t, config.Default(), nil)
	optedIn := readFile(t, "../testdata/convert/opted_in.yml")
	notOpted := readFile(t, "../testdata/convert/not_opted.yml")
	bomb := readFile(t, "../testdata/convert/alias_bomb.yml")

	t.Run("converted config returned", func(t *testing.T) {
		got, err := converter.Client(srv.URL, secret, false).Convert(context.Background(), request(optedIn, "octo/hello"))
		if err != nil {
			t.Fatal(err)
		}
		want := readFile(t, "../testdata/convert/opted_in.golden")
		if _, output, _ := strings.Cut(want, "# --- output ---\n"); got.Data != output {
			t.Errorf("got\n%s\nwant\n%s", got.Data, output)
		}
	})
	t.Run("unchanged config gives 204", func(t *testing.T) {
		// drone-go's client turns a 204 into an empty config, which the
		// Drone server reads as "keep the original".
		got, err := converter.Client(srv.URL, secret, false).Convert(context.Background(), request(notOpted, "octo/hello"))
		if err != nil || got.Data != "" {
			t.Fatalf("got %q, %v; want empty data and no error", got.Data, err)
		}
	})
	t.Run("wrong secret refused", func(t *testing.T) {
		_, err := converter.Client(srv.URL, "not-the-secret", false).Convert(context.Background(), request(optedIn, "octo/hello"))
		assertRefused(t, err, http.StatusUnauthorized, "invalid http signature")
	})
	t.Run("oversized body refused", func(t *testing.T) {
		huge := optedIn + "# " + strings.Repeat("x", 1<<20) + "\n"
		_, err := converter.Client(srv.URL, secret, false).Convert(context.Background(), request(huge, "octo/hello"))
		assertRefused(t, err, http.StatusRequestEntityTooLarge, "larger than")
	})
	t.Run("invalid yaml names the document", func(t *testing.T) {
		_, err := converter.Client(srv.URL, secret, false).Convert(context.Background(), request(readFile(t, "../testdata/convert/invalid_yaml.yml"), "octo/hello"))
		assertRefused(t, err, http.StatusNotFound, "document 2: invalid YAML")
	})
	t.Run("alias bomb refused fast while others are served", func(t *testing.T) {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var mu sync.Mutex
		var served int
		var failures []error
		for worker := 0; worker < 4; worker++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := converter.Client(srv.URL, secret, false)
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := client.Convert(context.Background(), request(optedIn, "octo/other"))
					mu.Lock()
					if err != nil || got.Data == "" {
						failures = append(failures, err)
					}
					served++
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < 5; i++ {
			start := time.Now()
			_, err := converter.Client(srv.URL, secret, false).Convert(context.Background(), request(bomb, "octo/bomb"))
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Errorf("bomb %d took %s to refuse", i, elapsed)
			}
			assertRefused(t, err, http.StatusNotFound, "aliases expand the config")
		}
		close(stop)
		wg.Wait()
		if len(failures) > 0 || served == 0 {
			t.Errorf("concurrent requests: %d served, failures %v", served, failures)
		}
	})
}

func TestStaleDateRefused(t *testing.T) {
	// The real client stamps the current time; a server six minutes ahead
	// sees exactly what a replayed, captured request looks like.
	ahead := func() time.Time { return time.Now().Add(6 * time.Minute) }
	srv := startService(t, config.Default(), ahead)
	_, err := converter.Client(srv.URL, secret, false).Convert(context.Background(), request(readFile(t, "../testdata/convert/opted_in.yml"), "octo/hello"))
	assertRefused(t, err, http.StatusUnauthorized, "Date header")
}

func TestTamperedBodyRefused(t *testing.T) {
	srv := startService(t, config.Default(), nil)
	// A man in the middle keeps the signed headers and swaps the body.
	target, _ := url.Parse(srv.URL)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		body = bytes.Replace(body, []byte("octo/hello"), []byte("evil/repo!"), 1)
		out, _ := http.NewRequest(r.Method, target.String()+r.URL.Path, bytes.NewReader(body))
		out.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	}))
	t.Cleanup(proxy.Close)
	_, err := converter.Client(proxy.URL, secret, false).Convert(context.Background(), request(readFile(t, "../testdata/convert/opted_in.yml"), "octo/hello"))
	assertRefused(t, err, http.StatusUnauthorized, "Digest header does not match")
}

func assertRefused(t *testing.T, err error, code int, text string) {
	t.Helper()
	var derr *drone.Error
	if !errors.As(err, &derr) {
		t.Fatalf("got %v, want a refusal with status %d", err, code)
	}
	if derr.Code != code || !strings.Contains(derr.Message, text) {
		t.Errorf("got %d %q, want %d containing %q", derr.Code, derr.Message, code, text)
	}
}

// TestCLIAndServerAgreeOnBodyLimit: the dry-run CLI refuses a config the
// server refuses for its size, and converts one the server converts,
// under the same DRONE_ECI_MAX_BODY_BYTES.
func TestCLIAndServerAgreeOnBodyLimit(t *testing.T) {
	const limit = 64 << 10
	t.Setenv("DRONE_ECI_MAX_BODY_BYTES", strconv.Itoa(limit))
	t.Setenv("DRONE_SECRET", "")
	cfg := config.Default()
	cfg.MaxBodyBytes = limit
	srv := startService(t, cfg, nil)
	optedIn := readFile(t, "../testdata/convert/opted_in.yml")
	for _, tt := range []struct {
		name    string
		padding int
		refused bool
	}{
		{name: "well under the limit", padding: limit / 2},
		{name: "over the limit", padding: limit, refused: true},
		// Quotes grow by JSON escaping: under the limit as a file, over
		// it as Drone sends it.
		{name: "over the limit once JSON-encoded", padding: limit / 2, refused: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pad := strings.Repeat("x", tt.padding)
			if tt.name == "over the limit once JSON-encoded" {
				pad = strings.Repeat(`"`, tt.padding+1000)
			}
			config := optedIn + "# " + pad + "\n"
			_, serverErr := converter.Client(srv.URL, secret, false).Convert(context.Background(), request(config, "octo/hello"))
			var stdout, stderr bytes.Buffer
			code := command.Run([]string{"convert"}, strings.NewReader(config), &stdout, &stderr)
			if tt.refused {
				assertRefused(t, serverErr, http.StatusRequestEntityTooLarge, "larger than")
				if code != 1 || !strings.Contains(stderr.String(), "larger than 65536 bytes") || !strings.Contains(stderr.String(), "operator: DRONE_ECI_MAX_BODY_BYTES: ") {
					t.Errorf("the server refuses the config, the CLI exits %d:\n%s", code, stderr.String())
				}
				return
			}
			if serverErr != nil || code != 0 {
				t.Errorf("server: %v; CLI exit %d:\n%s", serverErr, code, stderr.String())
			}
		})
	}
}
