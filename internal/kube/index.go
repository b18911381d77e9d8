package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// IndexName is the ConfigMap, in each namespace holding env Secrets,
	// whose data maps each Secret's name to the day (2006-01-02) it was
	// last used. The chart's Role grants get and patch on this name only.
	IndexName = "drone-convert-eci-env-index"
	// CollectedAnnotation on the index is the day collection last
	// completed in its namespace: a new leader on the same day (after a
	// failover or a rollout) skips the namespace.
	CollectedAnnotation = "drone-convert-eci/collected"
	// IndexCapacity is the largest the index may be as stored: etcd
	// refuses an object over 1.5 MiB (its default --max-request-bytes).
	// Each entry is stored with its key twice, once in data and once in
	// metadata.managedFields (the API server's field tracking), about
	// 100 bytes an entry, so about 15 000 Secrets used within the
	// retention per namespace; the API server's 1 MiB limit on a
	// ConfigMap's data alone is never reached first. 4 KiB are left for
	// the object's metadata.
	IndexCapacity = 3<<19 - 4<<10
	// storedEntryOverhead is an entry's framing besides its key twice and
	// its value: protobuf's map entry (6 bytes) and the managedFields
	// JSON around the key ("f:…":{}, 8 bytes).
	storedEntryOverhead = 14
)

// storedBytes estimates the size of an index holding entries as etcd
// stores it (IndexCapacity).
func storedBytes(entries map[string]string) int {
	n := 0
	for k, v := range entries {
		n += 2*len(k) + len(v) + storedEntryOverhead
	}
	return n
}

// record sets name's entry in namespace's index to today with a JSON
// merge patch, which the API server applies to the current object: two
// replicas recording different Secrets at once both keep their entry.
// The index is created on first use.
func (s *Secrets) record(ctx context.Context, namespace, name, today string) error {
	patch, err := json.Marshal(map[string]any{"data": map[string]string{name: today}})
	if err != nil {
		return err
	}
	maps := s.Client.CoreV1().ConfigMaps(namespace)
	for range 2 {
		_, err = maps.Patch(ctx, IndexName, types.MergePatchType, patch, metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			break
		}
		index := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: IndexName, Namespace: namespace,
				Labels: map[string]string{ManagedByLabel: ManagedByValue},
			},
			Data: map[string]string{name: today},
		}
		_, err = maps.Create(ctx, index, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			break
		}
		// Another replica created it since our patch: patch that one.
	}
	switch {
	case err == nil:
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsRequestEntityTooLargeError(err) || strings.Contains(err.Error(), "request is too large"):
		// The ways our own entry is refused: the ConfigMap would pass what
		// etcd stores (which the API server answers with a 500 carrying
		// etcd's "etcdserver: request is too large") or 1 MiB of data.
		// Creating the Secret anyway would leave it where collection
		// never looks.
		return fmt.Errorf("env Secret index %s/%s is full (etcd stores at most 1.5 MiB an object, about 15 000 entries): %w; no new env Secret can be created there until collection removes entries unused for DRONE_ECI_ENV_SECRET_RETENTION: lower it, or set DRONE_ECI_ENV_CARRIER=annotations", namespace, IndexName, err)
	default:
		return fmt.Errorf("record in env Secret index %s/%s: %w", namespace, IndexName, err)
	}
}

// Collected is what one collection did in one namespace.
type Collected struct {
	// Deleted are the Secrets deleted, unused for longer than retention.
	Deleted []string
	// Dropped counts index entries of Secrets already gone.
	Dropped int
	// Foreign are index entries naming a Secret this service did not
	// create (someone edited the index): dropped, the Secret left alone.
	Foreign []string
	// Skipped: collection already completed today in this namespace.
	Skipped bool
	// Entries and Bytes are the index's size afterwards (Bytes as
	// stored, an estimate, against IndexCapacity).
	Entries, Bytes int
}

// Collect deletes, in namespace, the env Secrets that no conversion has
// used for longer than retention, found by name through the index (no
// list), and removes their entries. Drone caches converter answers and
// may replay one for a restarted build, so retention is long (days, not
// minutes). Each candidate's own last-used annotation is read again
// before it is deleted, and the delete is conditional on the Secret not
// having changed since, so a Secret marked used meanwhile stays.
func (s *Secrets) Collect(ctx context.Context, namespace string, retention time.Duration) (out Collected, err error) {
	if retention <= 0 {
		return out, nil
	}
	today := s.now().Format(day)
	cutoff := s.now().Add(-retention).Format(day)
	maps := s.Client.CoreV1().ConfigMaps(namespace)
	index, err := maps.Get(ctx, IndexName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return out, nil // no env Secret was ever created here
	}
	if err != nil {
		return out, fmt.Errorf("get env Secret index %s/%s: %w", namespace, IndexName, err)
	}
	entries := index.Data
	if entries == nil {
		entries = map[string]string{}
	}
	defer func() {
		out.Entries = len(entries)
		out.Bytes = storedBytes(entries)
	}()
	if index.Annotations[CollectedAnnotation] == today {
		out.Skipped = true
		return out, nil
	}
	names := make([]string, 0, len(entries))
	for name, used := range entries {
		if used < cutoff || !isDay(used) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var failed []error
	secrets := s.Client.CoreV1().Secrets(namespace)
	for _, name := range names {
		listed := entries[name]
		secret, err := secrets.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if err := s.editEntry(ctx, namespace, name, listed, ""); err != nil {
				return out, err
			}
			delete(entries, name)
			out.Dropped++
			continue
		case err != nil:
			// One Secret's refusal (a policy, a finalizer's webhook)
			// must not keep every later one alive day after day.
			failed = append(failed, fmt.Errorf("get %s: %w", name, err))
			if ctx.Err() != nil {
				return out, errors.Join(failed...)
			}
			continue
		case !ours(secret):
			if err := s.editEntry(ctx, namespace, name, listed, ""); err != nil {
				return out, err
			}
			delete(entries, name)
			out.Foreign = append(out.Foreign, name)
			continue
		}
		used := secret.Annotations[LastUsedAnnotation]
		if !isDay(used) {
			continue // not a day this service wrote: kept, as it always was
		}
		if used >= cutoff {
			// Used more recently than the index says (a replica whose
			// clock was a day behind): correct the entry, keep the Secret.
			if err := s.editEntry(ctx, namespace, name, listed, used); err != nil {
				return out, err
			}
			entries[name] = used
			continue
		}
		pre := metav1.Preconditions{UID: &secret.UID}
		if secret.ResourceVersion != "" {
			pre.ResourceVersion = &secret.ResourceVersion
		}
		err = secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &pre})
		switch {
		case apierrors.IsConflict(err):
			continue // marked used since our get
		case err != nil && !apierrors.IsNotFound(err):
			failed = append(failed, fmt.Errorf("delete %s: %w", name, err))
			if ctx.Err() != nil {
				return out, errors.Join(failed...)
			}
			continue
		}
		out.Deleted = append(out.Deleted, name)
		if err := s.editEntry(ctx, namespace, name, listed, ""); err != nil {
			return out, err
		}
		delete(entries, name)
	}
	if len(failed) > 0 {
		// Not marked collected: the next pass tries the failed ones again.
		return out, errors.Join(failed...)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, CollectedAnnotation, today)
	if _, err := maps.Patch(ctx, IndexName, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return out, fmt.Errorf("mark env Secret index %s/%s collected: %w", namespace, IndexName, err)
	}
	return out, nil
}

func isDay(s string) bool {
	_, err := time.Parse(day, s)
	return err == nil
}

// editEntry removes name's entry (value "") or sets it to value, only if
// it still holds listed: a JSON patch test, applied atomically with the
// change, so an entry a replica re-recorded meanwhile (the Secret
// created again after we deleted it) is left alone. A failed test is
// told from other failures by reading the index again.
func (s *Secrets) editEntry(ctx context.Context, namespace, name, listed, value string) error {
	path := "/data/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
	ops := []map[string]any{{"op": "test", "path": path, "value": listed}}
	if value == "" {
		ops = append(ops, map[string]any{"op": "remove", "path": path})
	} else {
		ops = append(ops, map[string]any{"op": "replace", "path": path, "value": value})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	maps := s.Client.CoreV1().ConfigMaps(namespace)
	_, err = maps.Patch(ctx, IndexName, types.JSONPatchType, patch, metav1.PatchOptions{})
	if err == nil {
		return nil
	}
	index, getErr := maps.Get(ctx, IndexName, metav1.GetOptions{})
	if getErr == nil {
		if now, ok := index.Data[name]; !ok || now != listed {
			return nil // changed by someone else: theirs stands
		}
	}
	return fmt.Errorf("update env Secret index %s/%s entry %s: %w", namespace, IndexName, name, errors.Join(err, getErr))
}
