package registry

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	kauth "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// Credentials builds the keychain a lookup for a build namespace uses,
// resolved as authn.NewMultiKeychain does (the first keychain with
// credentials for the host wins; a 401 is not retried with the next):
//
//  1. the Docker config.json the operator mounted (AuthFile);
//  2. with cluster access, the build's service account's image
//     pull secrets and the pull secrets named in PullSecrets, as the
//     kubelet would use them for a pod there;
//  3. anonymous.
//
// Cluster keychains are kept for a minute per namespace, so a burst of
// conversions reads each Secret once.
type Credentials struct {
	file        authn.Keychain
	client      kubernetes.Interface
	pullSecrets []string
	// ServiceAccount is the runner's default pod service account, for
	// builds whose pipeline names none
	// ("default" when empty).
	ServiceAccount string
	// OnError hears of cluster lookups that failed (RBAC, API down); the
	// lookup then goes on with what is left.
	OnError func(namespace string, err error)
	ttl     time.Duration
	now     func() time.Time

	mu   sync.Mutex
	byNS map[string]cachedKeychain
}

type cachedKeychain struct {
	keychain authn.Keychain
	expires  time.Time
}

// NewCredentials reads authFile (a Docker config.json; empty for none)
// once; client may be nil (no cluster access).
func NewCredentials(authFile string, client kubernetes.Interface, pullSecrets []string) (*Credentials, error) {
	var names []string
	for _, n := range pullSecrets {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	c := &Credentials{client: client, pullSecrets: names, ttl: time.Minute, now: time.Now, byNS: map[string]cachedKeychain{}}
	if authFile != "" {
		data, err := os.ReadFile(authFile)
		if err != nil {
			return nil, fmt.Errorf("registry auth file: %w", err)
		}
		// The file is what a dockerconfigjson pull secret holds; reading
		// it the same way matches hosts exactly as the kubelet does.
		kc, err := kauth.NewFromPullSecrets(context.Background(), []corev1.Secret{{
			Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: data},
		}})
		if err != nil {
			return nil, fmt.Errorf("registry auth file %s: not a Docker config.json: %w", authFile, err)
		}
		c.file = kc
	}
	return c, nil
}

// For returns the keychain of a build's scope.
func (c *Credentials) For(ctx context.Context, scope Scope) authn.Keychain {
	var chain []authn.Keychain
	if c.file != nil {
		chain = append(chain, c.file)
	}
	if c.client != nil {
		if kc := c.cluster(ctx, scope); kc != nil {
			chain = append(chain, kc)
		}
	}
	return authn.NewMultiKeychain(chain...)
}

func (c *Credentials) cluster(ctx context.Context, scope Scope) authn.Keychain {
	namespace, account := scope.Namespace, scope.ServiceAccount
	if account == "" {
		account = c.ServiceAccount
	}
	now := c.now()
	c.mu.Lock()
	cached, ok := c.byNS[scope.key()]
	c.mu.Unlock()
	if ok && now.Before(cached.expires) {
		return cached.keychain
	}
	// The named pull secrets and the service account's are read apart:
	// RBAC that forbids one must not cost the other.
	var chain []authn.Keychain
	if len(c.pullSecrets) > 0 {
		kc, err := kauth.New(ctx, c.client, kauth.Options{Namespace: namespace, ServiceAccountName: kauth.NoServiceAccount, ImagePullSecrets: c.pullSecrets})
		if err != nil {
			c.report(namespace, err)
		} else {
			chain = append(chain, kc)
		}
	}
	kc, err := kauth.New(ctx, c.client, kauth.Options{Namespace: namespace, ServiceAccountName: account})
	if err != nil {
		c.report(namespace, err)
	} else {
		chain = append(chain, kc)
	}
	keychain := authn.NewMultiKeychain(chain...)
	// Failures are kept for the TTL too, so a namespace the service may
	// not read costs one API call and one log line a minute, not one per
	// conversion.
	c.mu.Lock()
	if len(c.byNS) > 1024 {
		c.byNS = map[string]cachedKeychain{}
	}
	c.byNS[scope.key()] = cachedKeychain{keychain: keychain, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return keychain
}

func (c *Credentials) report(namespace string, err error) {
	if c.OnError != nil {
		c.OnError(namespace, err)
	}
}
