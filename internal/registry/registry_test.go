package registry_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/drone-convert-eci/drone-convert-eci/internal/registry"
	"github.com/drone-convert-eci/drone-convert-eci/internal/registry/registrytest"
)

// authFile writes a Docker config.json for host, as an operator mounts
// one.
func authFile(t *testing.T, host, user, password string) string {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	path := filepath.Join(t.TempDir(), "config.json")
	data := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func resolver(t *testing.T, file string, opts registry.Options) *registry.Resolver {
	t.Helper()
	creds, err := registry.NewCredentials(file, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Keychains = creds.For
	return registry.New(opts)
}

func resolveOne(t *testing.T, r *registry.Resolver, ref string, p registry.Platform) registry.Answer {
	t.Helper()
	return r.ResolveAll(context.Background(), registry.Scope{Namespace: "default"}, []registry.Query{{Ref: ref, Platform: p}})[0]
}

func TestResolve(t *testing.T) {
	reg := registrytest.Start(t, "ci", "s3cret")
	single := registrytest.Image(t, "linux/amd64", []string{"/usr/bin/trivy"}, []string{"--help"})
	singleDigest := reg.Push(t, "sec/trivy:0.50", single)
	reg.Push(t, "sec/trivy:latest", single)
	amd := registrytest.Image(t, "linux/amd64", []string{"/bin/tool-amd64"}, nil)
	arm := registrytest.Image(t, "linux/arm64", []string{"/bin/tool-arm64"}, []string{"run"})
	indexDigest := reg.PushIndex(t, "sec/tool:1", map[string]v1.Image{"linux/amd64": amd, "linux/arm64": arm})
	cmdOnly := registrytest.Image(t, "linux/amd64", nil, []string{"/bin/sh"})
	reg.Push(t, "base/alpine:3", cmdOnly)

	good := authFile(t, reg.Host, "ci", "s3cret")
	bad := authFile(t, reg.Host, "ci", "wrong")
	arm64 := registry.Platform{OS: "linux", Architecture: "arm64"}
	for _, tc := range []struct {
		name       string
		file       string
		ref        string
		platform   registry.Platform
		digest     string
		entrypoint []string
		cmd        []string
		err        string
	}{
		{name: "image by tag", file: good, ref: reg.Host + "/sec/trivy:0.50", platform: registry.DefaultPlatform, digest: singleDigest, entrypoint: []string{"/usr/bin/trivy"}, cmd: []string{"--help"}},
		{name: "latest", file: good, ref: reg.Host + "/sec/trivy", platform: registry.DefaultPlatform, digest: singleDigest, entrypoint: []string{"/usr/bin/trivy"}, cmd: []string{"--help"}},
		{name: "by digest", file: good, ref: reg.Host + "/sec/trivy@" + singleDigest, platform: registry.DefaultPlatform, digest: singleDigest, entrypoint: []string{"/usr/bin/trivy"}, cmd: []string{"--help"}},
		{name: "index amd64", file: good, ref: reg.Host + "/sec/tool:1", platform: registry.DefaultPlatform, digest: indexDigest, entrypoint: []string{"/bin/tool-amd64"}},
		{name: "index arm64", file: good, ref: reg.Host + "/sec/tool:1", platform: arm64, digest: indexDigest, entrypoint: []string{"/bin/tool-arm64"}, cmd: []string{"run"}},
		{name: "index without the platform", file: good, ref: reg.Host + "/sec/tool:1", platform: registry.Platform{OS: "linux", Architecture: "s390x"}, digest: indexDigest, err: "no linux/s390x image in its index"},
		{name: "cmd only", file: good, ref: reg.Host + "/base/alpine:3", platform: registry.DefaultPlatform, cmd: []string{"/bin/sh"}},
		{name: "wrong password", file: bad, ref: reg.Host + "/sec/trivy:0.50", platform: registry.DefaultPlatform, err: "401 unauthorized (UNAUTHORIZED)"},
		{name: "no credentials", file: "", ref: reg.Host + "/sec/trivy:0.50", platform: registry.DefaultPlatform, err: "401 unauthorized (UNAUTHORIZED)"},
		{name: "unknown tag", file: good, ref: reg.Host + "/sec/trivy:nope", platform: registry.DefaultPlatform, err: "404 not found (MANIFEST_UNKNOWN)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := resolveOne(t, resolver(t, tc.file, registry.Options{}), tc.ref, tc.platform)
			if tc.err != "" {
				if a.Err == nil || a.Err.Error() != tc.err {
					t.Fatalf("error %v, want %q", a.Err, tc.err)
				}
			} else if a.Err != nil {
				t.Fatal(a.Err)
			}
			if tc.digest != "" && a.Digest != tc.digest {
				t.Errorf("digest %s, want %s", a.Digest, tc.digest)
			}
			if !slices.Equal(a.Entrypoint, tc.entrypoint) || !slices.Equal(a.Cmd, tc.cmd) {
				t.Errorf("entrypoint %q cmd %q, want %q %q", a.Entrypoint, a.Cmd, tc.entrypoint, tc.cmd)
			}
			if a.Registry != reg.Host {
				t.Errorf("registry %q, want %q", a.Registry, reg.Host)
			}
			if a.Err != nil && strings.Contains(a.Err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", a.Err)
			}
		})
	}
}

func TestResolveFailures(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	img := registrytest.Image(t, "linux/amd64", []string{"/x"}, nil)
	reg.Push(t, "a/b:1", img)
	for _, tc := range []struct {
		name string
		mode registrytest.Mode
		err  string
	}{
		{"hangs", registrytest.Hang, "timeout after 300ms"},
		{"answers 500", registrytest.Fail, "500 internal server error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.SetMode(tc.mode)
			defer reg.SetMode(registrytest.Serve)
			r := resolver(t, "", registry.Options{Timeout: 300 * time.Millisecond})
			done := make(chan registry.Answer, 1)
			go func() { done <- resolveOne(t, r, reg.Host+"/a/b:1", registry.DefaultPlatform) }()
			select {
			case a := <-done:
				if a.Err == nil || a.Err.Error() != tc.err {
					t.Fatalf("error %v, want %q", a.Err, tc.err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the deadline did not hold")
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		stopped := registrytest.Start(t, "", "")
		stopped.Close()
		a := resolveOne(t, resolver(t, "", registry.Options{}), stopped.Host+"/a/b:1", registry.DefaultPlatform)
		if a.Err == nil || a.Err.Error() != "connection refused" {
			t.Fatalf("error %v, want connection refused", a.Err)
		}
	})
}

func TestFailuresAreRememberedBriefly(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	reg.Push(t, "a/b:1", registrytest.Image(t, "linux/amd64", []string{"/x"}, nil))
	now := time.Unix(1_800_000_000, 0)
	r := resolver(t, "", registry.Options{FailureTTL: time.Minute, Now: func() time.Time { return now }})
	reg.SetMode(registrytest.Fail)
	resolveOne(t, r, reg.Host+"/a/b:1", registry.DefaultPlatform)
	reg.SetMode(registrytest.Serve)
	if a := resolveOne(t, r, reg.Host+"/a/b:1", registry.DefaultPlatform); a.Err == nil {
		t.Fatal("a failure a second old was not remembered")
	}
	now = now.Add(2 * time.Minute)
	if a := resolveOne(t, r, reg.Host+"/a/b:1", registry.DefaultPlatform); a.Err != nil {
		t.Fatalf("a failure past its TTL was still answered: %v", a.Err)
	}
}

func TestTagMoves(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	first := reg.Push(t, "a/b:latest", registrytest.Image(t, "linux/amd64", []string{"/one"}, nil))
	now := time.Unix(1_800_000_000, 0)
	r := resolver(t, "", registry.Options{TagTTL: 10 * time.Minute, Now: func() time.Time { return now }})
	ref := reg.Host + "/a/b"
	if a := resolveOne(t, r, ref, registry.DefaultPlatform); a.Digest != first {
		t.Fatalf("digest %s, want %s (%v)", a.Digest, first, a.Err)
	}
	second := reg.Push(t, "a/b:latest", registrytest.Image(t, "linux/amd64", []string{"/two"}, nil))
	calls := reg.ManifestRequests()
	now = now.Add(9 * time.Minute)
	if a := resolveOne(t, r, ref, registry.DefaultPlatform); a.Digest != first || !slices.Equal(a.Entrypoint, []string{"/one"}) {
		t.Fatalf("within the TTL: digest %s entrypoint %q, want the first answer", a.Digest, a.Entrypoint)
	}
	if reg.ManifestRequests() != calls {
		t.Fatal("within the TTL the registry was asked again")
	}
	now = now.Add(2 * time.Minute)
	if a := resolveOne(t, r, ref, registry.DefaultPlatform); a.Digest != second || !slices.Equal(a.Entrypoint, []string{"/two"}) {
		t.Fatalf("after the TTL: digest %s entrypoint %q, want %s /two", a.Digest, a.Entrypoint, second)
	}
}

func TestConcurrentLookupsShareOneCall(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	digest := reg.Push(t, "a/b:1", registrytest.Image(t, "linux/amd64", []string{"/x"}, nil))
	r := resolver(t, "", registry.Options{})
	before := reg.ManifestRequests()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := resolveOne(t, r, reg.Host+"/a/b:1", registry.DefaultPlatform); a.Digest != digest {
				t.Errorf("digest %s (%v)", a.Digest, a.Err)
			}
		}()
	}
	wg.Wait()
	// One lookup: a HEAD for the tag, a GET by digest.
	if got := reg.ManifestRequests() - before; got != 2 {
		t.Errorf("100 concurrent lookups made %d manifest requests, want 2", got)
	}
	if r.Calls() != 1 {
		t.Errorf("resolver counted %d registry calls, want 1", r.Calls())
	}
}

func TestClusterCredentials(t *testing.T) {
	reg := registrytest.Start(t, "ci", "s3cret")
	digest := reg.Push(t, "a/b:1", registrytest.Image(t, "linux/amd64", []string{"/x"}, nil))
	dockerconfig := fmt.Sprintf(`{"auths":{%q:{"username":"ci","password":"s3cret"}}}`, reg.Host)
	secret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerconfig)},
		}
	}
	client := fake.NewSimpleClientset(
		// The namespace's service account names its pull secret, as
		// ACK's ACR credential helper sets it up.
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "builds", Name: "default"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "acr"}}},
		secret("builds", "acr"),
		// Another namespace only has the operator-named pull secret.
		secret("team", "registry-pull"),
		// A third: the default service account has nothing, the
		// pipeline's own (service_account_name: builder) has the secret.
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "default"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "builder"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "builder-acr"}}},
		secret("apps", "builder-acr"),
	)
	creds, err := registry.NewCredentials("", client, []string{"registry-pull"})
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New(registry.Options{Keychains: creds.For})
	for _, tc := range []struct {
		namespace, account string
		err                string
	}{
		{"builds", "", ""},
		{"team", "", ""},
		{"elsewhere", "", "401 unauthorized (UNAUTHORIZED)"},
		{"apps", "", "401 unauthorized (UNAUTHORIZED)"},
		{"apps", "builder", ""},
	} {
		a := r.ResolveAll(context.Background(), registry.Scope{Namespace: tc.namespace, ServiceAccount: tc.account}, []registry.Query{{Ref: reg.Host + "/a/b:1", Platform: registry.DefaultPlatform}})[0]
		switch {
		case tc.err == "" && (a.Err != nil || a.Digest != digest):
			t.Errorf("%s/%s: digest %q err %v, want %s", tc.namespace, tc.account, a.Digest, a.Err, digest)
		case tc.err != "" && (a.Err == nil || a.Err.Error() != tc.err):
			t.Errorf("%s/%s: err %v, want %q", tc.namespace, tc.account, a.Err, tc.err)
		}
	}
}

func TestAuthFileErrors(t *testing.T) {
	if _, err := registry.NewCredentials(filepath.Join(t.TempDir(), "missing.json"), nil, nil); err == nil {
		t.Error("a missing auth file was accepted")
	}
	bad := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.NewCredentials(bad, nil, nil); err == nil || strings.Contains(err.Error(), "not json") {
		t.Errorf("bad auth file: %v", err)
	}
}

func TestAllowList(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	reg.Push(t, "a/b:1", registrytest.Image(t, "linux/amd64", []string{"/x"}, nil))
	for _, tc := range []struct {
		allow []string
		err   string
	}{
		{nil, ""},
		{[]string{"127.0.0.1:*"}, ""},
		{[]string{"*.aliyuncs.com"}, "not among the registries the service may ask"},
	} {
		before := reg.ManifestRequests()
		a := resolveOne(t, resolver(t, "", registry.Options{Allow: tc.allow}), reg.Host+"/a/b:1", registry.DefaultPlatform)
		if (a.Err == nil) != (tc.err == "") || (a.Err != nil && a.Err.Error() != tc.err) {
			t.Errorf("allow %v: err %v, want %q", tc.allow, a.Err, tc.err)
		}
		if tc.err != "" && reg.ManifestRequests() != before {
			t.Errorf("allow %v: a registry not allowed was asked", tc.allow)
		}
	}
}

// TestCachedAnswersNeverWait: what the caches hold is answered even when
// the deadline has passed or every slot is held by a registry that
// hangs, so two conversions of one build agree.
func TestCachedAnswersNeverWait(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	digest := reg.Push(t, "a/b:1", registrytest.Image(t, "linux/amd64", []string{"/x"}, nil))
	hung := registrytest.Start(t, "", "")
	hung.SetMode(registrytest.Hang)
	r := resolver(t, "", registry.Options{Parallel: 1, Timeout: 300 * time.Millisecond})
	cached := registry.Query{Ref: reg.Host + "/a/b:1", Platform: registry.DefaultPlatform}
	if a := r.ResolveAll(context.Background(), registry.Scope{Namespace: "ns"}, []registry.Query{cached})[0]; a.Digest != digest {
		t.Fatalf("first lookup: %v", a.Err)
	}
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		if a := r.ResolveAll(expired, registry.Scope{Namespace: "ns"}, []registry.Query{cached})[0]; a.Digest != digest || a.Err != nil {
			t.Fatalf("an expired deadline hid a cached answer: %v", a.Err)
		}
	}
	answers := r.ResolveAll(context.Background(), registry.Scope{Namespace: "ns"}, []registry.Query{{Ref: hung.Host + "/x/y:1", Platform: registry.DefaultPlatform}, cached})
	if answers[0].Err == nil || answers[1].Digest != digest || answers[1].Err != nil {
		t.Errorf("with the only slot held by a hung registry: %+v", answers)
	}
}

// TestFactsStayInTheirNamespace: a namespace whose credentials the
// registry refuses does not learn a private image's facts by writing
// its digest after another namespace read them.
func TestFactsStayInTheirNamespace(t *testing.T) {
	reg := registrytest.Start(t, "ci", "s3cret")
	digest := reg.Push(t, "a/b:1", registrytest.Image(t, "linux/amd64", []string{"/secret-tool"}, nil))
	good := authFile(t, reg.Host, "ci", "s3cret")
	creds, err := registry.NewCredentials(good, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New(registry.Options{Keychains: func(ctx context.Context, scope registry.Scope) authn.Keychain {
		if scope.Namespace == "team-a" {
			return creds.For(ctx, scope)
		}
		return authn.NewMultiKeychain()
	}})
	ref := reg.Host + "/a/b@" + digest
	if a := r.ResolveAll(context.Background(), registry.Scope{Namespace: "team-a"}, []registry.Query{{Ref: ref, Platform: registry.DefaultPlatform}})[0]; a.Err != nil || !slices.Equal(a.Entrypoint, []string{"/secret-tool"}) {
		t.Fatalf("team-a: %+v", a)
	}
	a := r.ResolveAll(context.Background(), registry.Scope{Namespace: "team-b"}, []registry.Query{{Ref: ref, Platform: registry.DefaultPlatform}})[0]
	if a.Err == nil || a.Entrypoint != nil {
		t.Errorf("team-b learned %q without credentials (err %v)", a.Entrypoint, a.Err)
	}
}
