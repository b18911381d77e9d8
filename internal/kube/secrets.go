// Package kube is the service's only Kubernetes API client: it creates
// and collects the immutable Secrets that carry env files
// (plugin.SecretStore).
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
	// only ever looks at Secrets carrying it.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "drone-convert-eci"
	// LastUsedAnnotation is the day (UTC, 2006-01-02) a conversion last
	// answered with a config mounting the Secret.
	LastUsedAnnotation = "drone-convert-eci/last-used"
	day                = "2006-01-02"
)

// Secrets creates env-file Secrets through the Kubernetes API.
type Secrets struct {
	Client kubernetes.Interface
	// Now is the clock (tests set it).
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]bool
}

// Namespaces lists the namespaces Ensure was called for since start,
// sorted: where collection has something to look at.
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
	return kubernetes.NewForConfig(cfg)
}

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
func (s *Secrets) Ensure(ctx context.Context, namespace, name string, data map[string][]byte) error {
	s.mu.Lock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[namespace] = true
	s.mu.Unlock()
	immutable := true
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   namespace,
			Labels:      map[string]string{ManagedByLabel: ManagedByValue},
			Annotations: map[string]string{LastUsedAnnotation: s.now().Format(day)},
		},
		Immutable: &immutable,
		Type:      corev1.SecretTypeOpaque,
		Data:      data,
	}
	secrets := s.Client.CoreV1().Secrets(namespace)
	_, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create: %w", err)
	}
	existing, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get existing: %w", err)
	}
	if existing.Labels[ManagedByLabel] != ManagedByValue || !sameData(existing.Data, data) {
		return fmt.Errorf("a Secret named %s exists in %s but was not created by drone-convert-eci with this content; refusing to use it", name, namespace)
	}
	if existing.Immutable == nil || !*existing.Immutable {
		return fmt.Errorf("Secret %s/%s is not immutable; refusing to mount it", namespace, name)
	}
	today := s.now().Format(day)
	if existing.Annotations[LastUsedAnnotation] >= today {
		return nil
	}
	// Metadata stays editable on an immutable Secret.
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, LastUsedAnnotation, today)
	if _, err := secrets.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("mark used: %w", err)
	}
	return nil
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

// Collect deletes, in namespace, the service's env Secrets that no
// conversion has used for longer than retention, and returns their
// names. Drone caches converter answers and may replay one for a
// restarted build, so retention is long (days, not minutes); a Secret
// without a readable last-used day is kept.
func (s *Secrets) Collect(ctx context.Context, namespace string, retention time.Duration) ([]string, error) {
	if retention <= 0 {
		return nil, nil
	}
	cutoff := s.now().Add(-retention).Format(day)
	list, err := s.Client.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: ManagedByLabel + "=" + ManagedByValue,
	})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var deleted []string
	for _, secret := range list.Items {
		used := secret.Annotations[LastUsedAnnotation]
		if _, err := time.Parse(day, used); err != nil || !strings.HasPrefix(secret.Name, "drone-convert-eci-env-") {
			continue
		}
		if used >= cutoff {
			continue
		}
		err := s.Client.CoreV1().Secrets(namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("delete %s: %w", secret.Name, err)
		}
		deleted = append(deleted, secret.Name)
	}
	return deleted, nil
}
