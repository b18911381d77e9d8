// Package kube is the service's only Kubernetes API client: it creates
// the immutable Secrets that carry env files (plugin.SecretStore), keeps
// an index of them per namespace, and collects the long-unused ones.
package kube

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// ManagedByLabel marks every Secret the service creates; collection
	// never deletes a Secret without it, whatever the index says.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "drone-convert-eci"
	// LastUsedAnnotation is the day (UTC, 2006-01-02) a conversion last
	// answered with a config mounting the Secret.
	LastUsedAnnotation = "drone-convert-eci/last-used"
	// secretPrefix starts every env Secret's name (transform.EnvSecretPrefix,
	// which the tests compare it with).
	secretPrefix = "drone-convert-eci-env-"
	day          = "2006-01-02"
)

// Secrets creates env-file Secrets through the Kubernetes API and
// records each in its namespace's index (index.go), so that collection
// finds them by name: the service may not list Secrets, since a list
// returns every Secret's data, the runner's per-build ones included.
type Secrets struct {
	Client kubernetes.Interface
	// Now is the clock (tests set it).
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]bool
}

// Namespaces lists the namespaces where Ensure has succeeded since
// start, sorted: where collection has something to look at when the
// operator did not list the namespaces (DRONE_ECI_ENV_SECRET_NAMESPACES).
func (s *Secrets) Namespaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []string
	for ns := range s.seen {
		list = append(list, ns)
	}
	sort.Strings(list)
	return list
}

// NewClient builds a clientset from the pod's service account
// (inCluster) or a kubeconfig file.
func NewClient(inCluster bool, kubeconfig string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if inCluster {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	// client-go's default (5/s, bursts of 10) is for controllers with a
	// cache; a new env Secret costs a conversion about three calls, so a
	// burst of twenty builds would queue past DRONE_ECI_ENV_API_TIMEOUT.
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	return kubernetes.NewForConfig(cfg)
}

// The Kubernetes API rate the service allows itself, per client.
const (
	ClientQPS   = 20
	ClientBurst = 50
)

func (s *Secrets) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Ensure leaves an immutable Secret name in namespace holding exactly
// data: it creates it, or finds the one an earlier conversion created
// (names are content hashes) and marks it used today. A Secret of that
// name with other data is an error, never overwritten.
//
// The index entry is written before the Secret is created or marked, so
// a Secret marked on a day always has an entry of that day or later: a
// failure between the two writes leaves an entry without a Secret
// (collection drops it), never a Secret that collection cannot find.
func (s *Secrets) Ensure(ctx context.Context, namespace, name string, data map[string][]byte) error {
	if err := s.ensure(ctx, namespace, name, data); err != nil {
		return err
	}
	s.mu.Lock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[namespace] = true
	s.mu.Unlock()
	return nil
}

func (s *Secrets) ensure(ctx context.Context, namespace, name string, data map[string][]byte) error {
	today := s.now().Format(day)
	secrets := s.Client.CoreV1().Secrets(namespace)
	// Twice at most: a Secret collected between our get and our patch is
	// created again.
	for range 2 {
		existing, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			err = s.create(ctx, namespace, name, data, today)
			if !apierrors.IsAlreadyExists(err) {
				return err
			}
			// Another replica created it since our get: check that one.
			if existing, err = secrets.Get(ctx, name, metav1.GetOptions{}); err != nil {
				return fmt.Errorf("get existing: %w", err)
			}
		} else if err != nil {
			return fmt.Errorf("get: %w", err)
		}
		if existing.Labels[ManagedByLabel] != ManagedByValue || !sameData(existing.Data, data) {
			return fmt.Errorf("a Secret named %s exists in %s but was not created by drone-convert-eci with this content; refusing to use it", name, namespace)
		}
		if existing.Immutable == nil || !*existing.Immutable {
			return fmt.Errorf("Secret %s/%s is not immutable; refusing to mount it", namespace, name)
		}
		if existing.Annotations[LastUsedAnnotation] >= today {
			return nil
		}
		if err := s.record(ctx, namespace, name, today); err != nil {
			return err
		}
		// Metadata stays editable on an immutable Secret.
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, LastUsedAnnotation, today)
		_, err = secrets.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			if err != nil {
				return fmt.Errorf("mark used: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("Secret %s/%s was deleted twice while being marked used", namespace, name)
}

// create records the Secret in the index, then creates it.
func (s *Secrets) create(ctx context.Context, namespace, name string, data map[string][]byte, today string) error {
	if err := s.record(ctx, namespace, name, today); err != nil {
		return err
	}
	immutable := true
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   namespace,
			Labels:      map[string]string{ManagedByLabel: ManagedByValue},
			Annotations: map[string]string{LastUsedAnnotation: today},
		},
		Immutable: &immutable,
		Type:      corev1.SecretTypeOpaque,
		Data:      data,
	}
	_, err := s.Client.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create: %w", err)
	}
	return err
}

func sameData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// ours says whether collection may delete secret: only a Secret this
// service created, whatever name the index (a ConfigMap others may be
// able to edit) holds.
func ours(secret *corev1.Secret) bool {
	return secret.Labels[ManagedByLabel] == ManagedByValue && strings.HasPrefix(secret.Name, secretPrefix) &&
		secret.Immutable != nil && *secret.Immutable
}
