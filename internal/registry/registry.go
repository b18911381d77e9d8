// Package registry asks container registries what no table can know:
// the digest a tag points to now, and what an image runs (its
// ENTRYPOINT and CMD) on a given platform. The converter uses it to pin
// floating images and to record the entrypoints of images it has never
// seen, the images command to list what pods will pull.
//
// Lookups are bounded: every lookup of one conversion runs under one
// deadline, answers are cached (digest → facts for good in an LRU, tag →
// digest for a TTL, failures briefly), and concurrent lookups of one
// image make one registry call. A registry that fails never fails a
// conversion by itself: the caller gets the reason and goes on.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/singleflight"
	"k8s.io/utils/lru"
)

// Platform is the os/architecture whose image of an index is read. ECI
// runs linux/amd64 and linux/arm64.
type Platform struct {
	OS           string
	Architecture string
	Variant      string
}

// DefaultPlatform is what the runner schedules when a pipeline names
// none.
var DefaultPlatform = Platform{OS: "linux", Architecture: "amd64"}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Facts is what a registry says about one reference.
type Facts struct {
	// Digest is what the reference points to now: for a multi-platform
	// image, the index's own digest, which is what a pod pulls by.
	Digest string
	// Entrypoint and Cmd are the image config's, for the platform asked.
	// HasConfig is false when the config could not be read (no image for
	// the platform in the index), even though Digest may be known.
	Entrypoint []string
	Cmd        []string
	HasConfig  bool
}

// Scope is whose credentials a lookup uses: the build pod's namespace
// and service account ("" for the service's default), as the kubelet
// would pull the pod's images with them.
type Scope struct {
	Namespace      string
	ServiceAccount string
}

func (s Scope) key() string { return s.Namespace + "\x00" + s.ServiceAccount }

// Query is one lookup: a reference as the pod will pull it.
type Query struct {
	Ref      string
	Platform Platform
}

// Answer is a Query's outcome. Err, when set, is short and safe to show
// to a pipeline author (it never carries credentials); Facts may still
// hold a digest.
type Answer struct {
	Query
	Facts
	// Registry is the host asked, for messages.
	Registry string
	Err      error
}

// Options configure a Resolver. Zero values take the defaults noted.
type Options struct {
	// Keychains gives the credentials of a build's scope; nil asks
	// anonymously.
	Keychains func(ctx context.Context, scope Scope) authn.Keychain
	// Allow, when not empty, lists the only registry hosts asked, as
	// path.Match globs (*.aliyuncs.com); others are answered "not
	// allowed" without a request. Configs name hosts: without a list,
	// anyone who can push a config makes the service send GET /v2/ to a
	// host and port of their choosing.
	Allow []string
	// Insecure lists registry hosts (host[:port]) reached over plain
	// HTTP. Loopback and private addresses already are, as
	// go-containerregistry decides.
	Insecure []string
	// Timeout bounds all lookups of one ResolveAll call (3s).
	Timeout time.Duration
	// TagTTL is how long a tag → digest answer is reused (10m).
	TagTTL time.Duration
	// FailureTTL is how long a failed lookup is answered from memory
	// (15s), so a down registry is not asked again by every conversion.
	FailureTTL time.Duration
	// CacheSize bounds each cache, in entries (4096).
	CacheSize int
	// Parallel bounds the registry calls of one ResolveAll (8).
	Parallel int
	// Transport is the HTTP transport (tests); nil is
	// remote.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock (tests).
	Now func() time.Time
}

// Resolver looks references up in their registries, with caches shared
// by every conversion of the process.
type Resolver struct {
	opts     Options
	insecure map[string]bool
	facts    *lru.Cache // factsKey → Facts, for good: a digest's content never changes
	tags     *lru.Cache // tagKey → tagEntry
	failures *lru.Cache // queryKey → failure
	group    singleflight.Group

	mu    sync.Mutex
	calls int // registry round trips started, for tests and metrics
}

type tagEntry struct {
	digest  string
	expires time.Time
}

type failure struct {
	err     error
	expires time.Time
}

// New returns a Resolver.
func New(opts Options) *Resolver {
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	if opts.TagTTL <= 0 {
		opts.TagTTL = 10 * time.Minute
	}
	if opts.FailureTTL <= 0 {
		opts.FailureTTL = 15 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Resolver{
		opts:     opts,
		insecure: map[string]bool{},
		facts:    lru.New(opts.CacheSize),
		tags:     lru.New(opts.CacheSize),
		failures: lru.New(opts.CacheSize),
	}
	for _, h := range opts.Insecure {
		if h = strings.TrimSpace(h); h != "" {
			r.insecure[h] = true
		}
	}
	return r
}

// Timeout is the deadline of one ResolveAll.
func (r *Resolver) Timeout() time.Duration { return r.opts.Timeout }

// Calls is the number of lookups that reached a registry since start.
func (r *Resolver) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// ResolveAll answers every query, in order, in parallel under one
// deadline (Options.Timeout, or ctx's if sooner). Credentials are those
// of scope.
func (r *Resolver) ResolveAll(ctx context.Context, scope Scope, queries []Query) []Answer {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	var keychain authn.Keychain = authn.NewMultiKeychain()
	if r.opts.Keychains != nil {
		keychain = r.opts.Keychains(ctx, scope)
	}
	keychain = secureOnly{keychain, r}
	answers := make([]Answer, len(queries))
	sem := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for i, q := range queries {
		// What the caches know is answered first, whatever the deadline
		// or the slots: the same build converted twice must not differ
		// because a lookup of another image hung.
		if a, ok := r.fromCache(scope, q); ok {
			answers[i] = a
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				answers[i] = r.failed(q, ctx.Err())
				return
			}
			answers[i] = r.resolve(ctx, keychain, scope, q)
		}()
	}
	wg.Wait()
	return answers
}

func (r *Resolver) failed(q Query, err error) Answer {
	a := Answer{Query: q, Err: r.explain(err)}
	if ref, perr := r.parse(q.Ref); perr == nil {
		a.Registry = ref.Context().RegistryStr()
	}
	return a
}

func (r *Resolver) parse(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, err
	}
	if r.insecure[ref.Context().RegistryStr()] {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

// fromCache answers q without the network when it can: a reference
// that cannot be asked, a digest whose facts this scope has read, a
// tag it resolved within the TTL, or a failure remembered.
func (r *Resolver) fromCache(scope Scope, q Query) (Answer, bool) {
	ref, err := r.parse(q.Ref)
	if err != nil {
		return Answer{Query: q, Err: fmt.Errorf("not an image reference: %w", err)}, true
	}
	answer := Answer{Query: q, Registry: ref.Context().RegistryStr()}
	if !r.allowed(answer.Registry) {
		answer.Err = explained{"not among the registries the service may ask"}
		return answer, true
	}
	now := r.opts.Now()
	digest := ""
	if d, ok := ref.(name.Digest); ok {
		digest = d.DigestStr()
	} else if v, ok := r.tags.Get(tagKey(scope, ref)); ok {
		if e := v.(tagEntry); now.Before(e.expires) {
			digest = e.digest
		}
	}
	if digest != "" {
		if v, ok := r.facts.Get(factsKey(scope, ref, digest, q.Platform)); ok {
			answer.Facts = v.(Facts)
			if !answer.HasConfig {
				answer.Err = explained{fmt.Sprintf("no %s image in its index", q.Platform)}
			}
			return answer, true
		}
	}
	if v, ok := r.failures.Get(failKey(scope, q)); ok {
		if f := v.(failure); now.Before(f.expires) {
			answer.Err = f.err
			return answer, true
		}
	}
	return answer, false
}

// failKey is per scope: credentials differ by namespace and service
// account, and one scope's 401 says nothing of another's.
func failKey(scope Scope, q Query) string { return scope.key() + "\x00" + queryKey(q) }

func (r *Resolver) resolve(ctx context.Context, keychain authn.Keychain, scope Scope, q Query) Answer {
	// Again: while this query waited for a slot, another lookup of the
	// same image may have filled the caches.
	if a, ok := r.fromCache(scope, q); ok {
		return a
	}
	ref, _ := r.parse(q.Ref) // fromCache answered the unparsable
	answer := Answer{Query: q, Registry: ref.Context().RegistryStr()}
	ch := r.group.DoChan(scope.key()+"\x00"+queryKey(q), func() (any, error) {
		// Detached from the first caller's deadline, so that callers
		// joining later are not failed by its cancellation; bounded by
		// the same timeout.
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
		defer cancel()
		facts, err := r.fetch(callCtx, keychain, scope, ref, q.Platform)
		if err != nil && facts.Digest == "" {
			r.failures.Add(failKey(scope, q), failure{err: r.explain(err), expires: r.opts.Now().Add(r.opts.FailureTTL)})
		}
		return facts, err
	})
	select {
	case <-ctx.Done():
		answer.Err = r.explain(ctx.Err())
	case res := <-ch:
		answer.Facts = res.Val.(Facts)
		if res.Err != nil {
			answer.Err = r.explain(res.Err)
		}
	}
	return answer
}

// maxConfigBytes bounds the image config read: real ones are a few KiB;
// a registry declaring more is not trusted with the service's memory.
const maxConfigBytes = 1 << 20

// fetch asks the registry: what the reference points to (HEAD, which
// Docker Hub does not count as a pull), then, unless this scope has
// read that digest's facts already, the manifest by digest and the
// config of the platform's image.
func (r *Resolver) fetch(ctx context.Context, keychain authn.Keychain, scope Scope, ref name.Reference, platform Platform) (Facts, error) {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithPlatform(v1.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant}),
		// No retries: a conversion is waiting, and a failure is
		// remembered briefly instead.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithUserAgent("drone-convert-eci"),
	}
	if r.opts.Transport != nil {
		opts = append(opts, remote.WithTransport(r.opts.Transport))
	}
	var desc *remote.Descriptor
	digest := ""
	if d, ok := ref.(name.Digest); ok {
		digest = d.DigestStr()
	} else if head, err := remote.Head(ref, opts...); err == nil {
		digest = head.Digest.String()
	} else {
		// Some registries answer HEAD badly; GET says why, or works.
		got, err := remote.Get(ref, opts...)
		if err != nil {
			return Facts{}, err
		}
		desc, digest = got, got.Digest.String()
	}
	facts := Facts{Digest: digest}
	if _, byTag := ref.(name.Tag); byTag {
		r.tags.Add(tagKey(scope, ref), tagEntry{digest: digest, expires: r.opts.Now().Add(r.opts.TagTTL)})
	}
	key := factsKey(scope, ref, digest, platform)
	if v, ok := r.facts.Get(key); ok {
		return v.(Facts), nil
	}
	if desc == nil {
		got, err := remote.Get(ref.Context().Digest(digest), opts...)
		if err != nil {
			return facts, err
		}
		desc = got
	}
	img, err := desc.Image()
	if err != nil {
		if desc.MediaType.IsIndex() {
			// Permanent for this digest: remembered like any facts.
			r.facts.Add(key, facts)
			return facts, fmt.Errorf("no %s image in its index", platform)
		}
		return facts, err
	}
	m, err := img.Manifest()
	if err != nil {
		return facts, err
	}
	if m.Config.Size > maxConfigBytes {
		return facts, fmt.Errorf("image config of %d bytes, over the %d read", m.Config.Size, maxConfigBytes)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return facts, err
	}
	facts.Entrypoint = cfg.Config.Entrypoint
	facts.Cmd = cfg.Config.Cmd
	facts.HasConfig = true
	r.facts.Add(key, facts)
	return facts, nil
}

func (r *Resolver) allowed(host string) bool {
	if len(r.opts.Allow) == 0 {
		return true
	}
	for _, glob := range r.opts.Allow {
		glob = strings.TrimSpace(glob)
		if glob == "docker.io" {
			// go-containerregistry names Docker Hub index.docker.io.
			glob = name.DefaultRegistry
		}
		if ok, _ := path.Match(glob, host); ok {
			return true
		}
	}
	return false
}

// tagKey is per scope: what a tag points to is only told to scopes
// whose credentials the registry accepted.

// secureOnly gives no credentials to a host go-containerregistry would
// reach over plain HTTP (private addresses) unless the operator listed
// it as insecure: someone on the path could otherwise push the exchange
// onto HTTP and read them. Loopback stays, no one is on that path.
type secureOnly struct {
	authn.Keychain
	r *Resolver
}

func (s secureOnly) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	if reg, err := name.NewRegistry(host); err == nil && reg.Scheme() == "http" && !s.r.insecure[host] && !loopback(host) {
		return authn.Anonymous, nil
	}
	return s.Keychain.Resolve(target)
}

func loopback(host string) bool {
	h := host
	if hp, _, err := net.SplitHostPort(host); err == nil {
		h = hp
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func tagKey(scope Scope, ref name.Reference) string { return scope.key() + "\x00" + ref.Name() }

// factsKey is per scope too: a scope that may not pull an image must
// not learn what it runs by writing its digest.
func factsKey(scope Scope, ref name.Reference, digest string, p Platform) string {
	return scope.key() + "\x00" + ref.Context().Name() + "@" + digest + " " + p.String()
}

func queryKey(q Query) string { return q.Ref + " " + q.Platform.String() }

// explain makes err short and safe for a report: the registry's status
// and error code, a timeout, or the network's reason. Registry errors
// from go-containerregistry name the URL asked, never credentials;
// query strings are cut all the same, since a token endpoint's URL may
// carry an account name.
func (r *Resolver) explain(err error) error {
	if err == nil {
		return nil
	}
	var known explained
	if errors.As(err, &known) {
		return err
	}
	return explained{describe(err, r.opts.Timeout)}
}

type explained struct{ msg string }

func (e explained) Error() string { return e.msg }
