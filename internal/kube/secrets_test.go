package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

func clock(s string) func() time.Time {
	return func() time.Time {
		t, _ := time.Parse(day, s)
		return t.Add(12 * time.Hour)
	}
}

var secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// newClient is a fake API server on which listing or watching Secrets
// fails the test: the chart's Role grants neither, since a list returns
// the data of every Secret in the namespace.
func newClient(t *testing.T, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objs...)
	client.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		t.Errorf("Secrets listed in %s: the Role grants no list", a.GetNamespace())
		return true, nil, apierrors.NewForbidden(secretsGVR.GroupResource(), "", errors.New("no list"))
	})
	client.PrependWatchReactor("secrets", func(a k8stesting.Action) (bool, watch.Interface, error) {
		t.Errorf("Secrets watched in %s: the Role grants no watch", a.GetNamespace())
		return true, nil, apierrors.NewForbidden(secretsGVR.GroupResource(), "", errors.New("no watch"))
	})
	return client
}

func index(t *testing.T, client *fake.Clientset, ns string) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), IndexName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("index in %s: %v", ns, err)
	}
	return cm
}

// writes counts the create, patch, update and delete calls a client got.
func writes(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "create", "patch", "update", "delete":
			n++
		}
	}
	return n
}

func TestSecretPrefixIsTheTransforms(t *testing.T) {
	if secretPrefix != transform.EnvSecretPrefix {
		t.Errorf("collection looks for %q, the transform names Secrets %q", secretPrefix, transform.EnvSecretPrefix)
	}
}

func TestEnsureCreatesImmutableLabelledSecret(t *testing.T) {
	client := newClient(t)
	s := &Secrets{Client: client, Now: clock("2025-03-01")}
	data := map[string][]byte{"env": []byte("A='1'\nexport A;\n")}
	if err := s.Ensure(context.Background(), "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Secrets("ci").Get(context.Background(), "drone-convert-eci-env-abc", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("not created in the pipeline's namespace: %v", err)
	}
	if got.Immutable == nil || !*got.Immutable {
		t.Error("Secret is not immutable")
	}
	if got.Labels[ManagedByLabel] != ManagedByValue {
		t.Errorf("labels %v", got.Labels)
	}
	if got.Annotations[LastUsedAnnotation] != "2025-03-01" {
		t.Errorf("last-used %q", got.Annotations[LastUsedAnnotation])
	}
	if string(got.Data["env"]) != string(data["env"]) || got.Type != corev1.SecretTypeOpaque {
		t.Errorf("data %q type %s", got.Data, got.Type)
	}
	if _, err := client.CoreV1().Secrets("default").Get(context.Background(), "drone-convert-eci-env-abc", metav1.GetOptions{}); err == nil {
		t.Error("Secret also created in another namespace")
	}
	idx := index(t, client, "ci")
	if idx.Data["drone-convert-eci-env-abc"] != "2025-03-01" || len(idx.Data) != 1 || idx.Labels[ManagedByLabel] != ManagedByValue {
		t.Errorf("index %v labels %v", idx.Data, idx.Labels)
	}
	if got := s.Namespaces(); len(got) != 1 || got[0] != "ci" {
		t.Errorf("namespaces seen %v", got)
	}
}

func TestEnsureReusesAndMarksUsed(t *testing.T) {
	client := newClient(t)
	s := &Secrets{Client: client, Now: clock("2025-03-01")}
	data := map[string][]byte{"env": []byte("x")}
	ctx := context.Background()
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	// Same day: one get, no write at all.
	client.ClearActions()
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	if n := writes(client); n != 0 || len(client.Actions()) != 1 {
		t.Errorf("same day: %d calls, %d writes: %v", len(client.Actions()), n, client.Actions())
	}
	s.Now = clock("2025-04-01")
	client.ClearActions()
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	got, _ := client.CoreV1().Secrets("ci").Get(ctx, "drone-convert-eci-env-abc", metav1.GetOptions{})
	if got.Annotations[LastUsedAnnotation] != "2025-04-01" || writes(client) != 2 {
		t.Errorf("last-used %q after %d writes (want the index's and the Secret's patch)", got.Annotations[LastUsedAnnotation], writes(client))
	}
	if string(got.Data["env"]) != "x" {
		t.Error("data changed")
	}
	if used := index(t, client, "ci").Data["drone-convert-eci-env-abc"]; used != "2025-04-01" {
		t.Errorf("index says last used %q", used)
	}
}

func TestEnsureRefusesForeignOrDifferentSecret(t *testing.T) {
	ctx := context.Background()
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "drone-convert-eci-env-abc", Namespace: "ci"}, Data: map[string][]byte{"env": []byte("x")}}
	client := newClient(t, foreign)
	s := &Secrets{Client: client, Now: clock("2025-03-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", map[string][]byte{"env": []byte("x")}); err == nil {
		t.Error("used a Secret drone-convert-eci did not create")
	}
	if _, err := client.CoreV1().ConfigMaps("ci").Get(ctx, IndexName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a foreign Secret went into the index (%v): collection would then look at it", err)
	}
	yes := true
	ours := foreign.DeepCopy()
	ours.Labels = map[string]string{ManagedByLabel: ManagedByValue}
	ours.Immutable = &yes
	s = &Secrets{Client: newClient(t, ours), Now: clock("2025-03-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", map[string][]byte{"env": []byte("other")}); err == nil {
		t.Error("used a Secret with other content")
	}
	mutable := ours.DeepCopy()
	mutable.Immutable = nil
	s = &Secrets{Client: newClient(t, mutable), Now: clock("2025-03-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", map[string][]byte{"env": []byte("x")}); err == nil {
		t.Error("used a mutable Secret")
	}
	if len(s.Namespaces()) != 0 {
		t.Errorf("namespaces seen after failures only: %v", s.Namespaces())
	}
}

// A Secret whose creation fails is already in the index: the entry
// outlives it, never the other way round, and collection drops it.
func TestEnsureReportsAPIFailureAndIndexesFirst(t *testing.T) {
	client := newClient(t)
	client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden: no RBAC")
	})
	s := &Secrets{Client: client, Now: clock("2025-03-01")}
	err := s.Ensure(context.Background(), "ci", "drone-convert-eci-env-abc", nil)
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("err = %v", err)
	}
	if index(t, client, "ci").Data["drone-convert-eci-env-abc"] != "2025-03-01" {
		t.Error("index written after the Secret, not before")
	}
	s.Now = clock("2025-09-01")
	got, err := s.Collect(context.Background(), "ci", 90*24*time.Hour)
	if err != nil || got.Dropped != 1 || len(got.Deleted) != 0 || got.Entries != 0 {
		t.Errorf("collect: %+v, %v", got, err)
	}
}

// A Secret collected between Ensure's get and its patch is created
// again: the config Ensure answers for mounts it.
func TestEnsureRecreatesSecretCollectedMeanwhile(t *testing.T) {
	client := newClient(t)
	s := &Secrets{Client: client, Now: clock("2025-03-01")}
	ctx := context.Background()
	data := map[string][]byte{"env": []byte("x")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("patch", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// The tracker has its own lock; the client's is held here.
		_ = client.Tracker().Delete(secretsGVR, "ci", "drone-convert-eci-env-abc")
		return false, nil, nil
	})
	s.Now = clock("2025-07-01")
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Secrets("ci").Get(ctx, "drone-convert-eci-env-abc", metav1.GetOptions{})
	if err != nil || got.Annotations[LastUsedAnnotation] != "2025-07-01" || string(got.Data["env"]) != "x" {
		t.Errorf("after a concurrent delete: %v, %v", got, err)
	}
}

// An index the API server will not grow is full: Ensure says so, names
// the setting that helps, and creates no Secret collection would miss.
func TestEnsureIndexFull(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refusal error
	}{
		// What ValidateConfigMap answers for data over MaxSecretSize.
		{"ConfigMap over 1 MiB", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, IndexName,
			field.ErrorList{field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize)})},
		// etcd's refusal of an object over 1.5 MiB as stored, as the API
		// server passes it on (a 500, kubernetes/kubernetes#112152).
		{"etcd's request too large", &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 500, Message: "etcdserver: request is too large"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t)
			s := &Secrets{Client: client, Now: clock("2025-03-01")}
			ctx := context.Background()
			if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-old", map[string][]byte{"env": []byte("x")}); err != nil {
				t.Fatal(err)
			}
			client.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tc.refusal
			})
			err := s.Ensure(ctx, "ci", "drone-convert-eci-env-new", map[string][]byte{"env": []byte("y")})
			if err == nil || !strings.Contains(err.Error(), "is full") || !strings.Contains(err.Error(), "DRONE_ECI_ENV_SECRET_RETENTION") {
				t.Errorf("err = %v", err)
			}
			if _, err := client.CoreV1().Secrets("ci").Get(ctx, "drone-convert-eci-env-new", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Error("Secret created without an index entry")
			}
		})
	}
}

// Replicas record different Secrets in one index at the same moment:
// merge patches keep every entry (a get-modify-update would lose some).
func TestConcurrentEnsuresKeepEveryEntry(t *testing.T) {
	client := newClient(t)
	replicas := []*Secrets{{Client: client, Now: clock("2025-03-01")}, {Client: client, Now: clock("2025-03-01")}}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for r, s := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				for _, name := range []string{fmt.Sprintf("drone-convert-eci-env-r%d-%d", r, i), fmt.Sprintf("drone-convert-eci-env-both-%d", i)} {
					if err := s.Ensure(context.Background(), "ci", name, map[string][]byte{"env": []byte(name)}); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	idx := index(t, client, "ci")
	if len(idx.Data) != 60 {
		t.Errorf("index holds %d entries, want 60", len(idx.Data))
	}
	for r := range 2 {
		for i := range 20 {
			if name := fmt.Sprintf("drone-convert-eci-env-r%d-%d", r, i); idx.Data[name] != "2025-03-01" {
				t.Errorf("entry %s lost", name)
			}
		}
	}
}

func TestCollect(t *testing.T) {
	ctx := context.Background()
	yes := true
	client := newClient(t,
		// An earlier version's Secret, in no index: never seen.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "drone-convert-eci-env-legacy", Namespace: "ci",
			Labels: map[string]string{ManagedByLabel: ManagedByValue}, Annotations: map[string]string{LastUsedAnnotation: "2020-01-01"}}, Immutable: &yes},
		// Ours, but with no readable last-used day: kept.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "drone-convert-eci-env-nodate", Namespace: "ci",
			Labels: map[string]string{ManagedByLabel: ManagedByValue}}, Immutable: &yes},
		// Someone else's Secret that an edited index names.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "runner-secret", Namespace: "ci"}},
	)
	s := &Secrets{Client: client}
	ensure := func(date, name string) {
		t.Helper()
		s.Now = clock(date)
		if err := s.Ensure(ctx, "ci", name, map[string][]byte{"env": []byte(name)}); err != nil {
			t.Fatal(err)
		}
	}
	ensure("2024-01-01", "drone-convert-eci-env-old")
	ensure("2025-02-20", "drone-convert-eci-env-recent")
	ensure("2024-06-01", "drone-convert-eci-env-gone")
	ensure("2024-06-01", "drone-convert-eci-env-stale-entry")
	if err := client.CoreV1().Secrets("ci").Delete(ctx, "drone-convert-eci-env-gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A replica whose clock was behind recorded an older day than the
	// Secret's own annotation.
	patch := `{"data":{"drone-convert-eci-env-stale-entry":"2024-01-02","runner-secret":"2020-01-01","drone-convert-eci-env-nodate":"2020-01-01"}}`
	s.Now = clock("2025-02-25")
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-stale-entry", map[string][]byte{"env": []byte("drone-convert-eci-env-stale-entry")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ConfigMaps("ci").Patch(ctx, IndexName, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	s.Now = clock("2025-03-01")
	client.ClearActions()
	got, err := s.Collect(ctx, "ci", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	actions := client.Actions()
	if strings.Join(got.Deleted, ",") != "drone-convert-eci-env-old" || got.Dropped != 1 ||
		strings.Join(got.Foreign, ",") != "runner-secret" || got.Skipped || got.Entries != 3 {
		t.Errorf("collected %+v", got)
	}
	for name, want := range map[string]bool{
		"drone-convert-eci-env-old": false, "drone-convert-eci-env-recent": true, "drone-convert-eci-env-stale-entry": true,
		"drone-convert-eci-env-legacy": true, "runner-secret": true, "drone-convert-eci-env-nodate": true,
	} {
		_, err := client.CoreV1().Secrets("ci").Get(ctx, name, metav1.GetOptions{})
		if exists := err == nil; exists != want {
			t.Errorf("%s exists: %v, want %v", name, exists, want)
		}
	}
	idx := index(t, client, "ci")
	want := map[string]string{"drone-convert-eci-env-recent": "2025-02-20", "drone-convert-eci-env-stale-entry": "2025-02-25", "drone-convert-eci-env-nodate": "2020-01-01"}
	if fmt.Sprint(idx.Data) != fmt.Sprint(want) {
		t.Errorf("index %v, want %v", idx.Data, want)
	}
	if idx.Annotations[CollectedAnnotation] != "2025-03-01" {
		t.Errorf("index annotations %v", idx.Annotations)
	}
	// Entries within retention cost no call: the recent Secret is not read.
	for _, a := range actions {
		if g, ok := a.(k8stesting.GetAction); ok && a.GetResource() == secretsGVR && g.GetName() == "drone-convert-eci-env-recent" {
			t.Error("a Secret within retention was read")
		}
	}

	// Once a day per namespace, whoever leads.
	client.ClearActions()
	again, err := s.Collect(ctx, "ci", 90*24*time.Hour)
	if err != nil || !again.Skipped || writes(client) != 0 {
		t.Errorf("second collection the same day: %+v, %v, %d writes", again, err, writes(client))
	}
	if none, err := s.Collect(ctx, "ci", 0); err != nil || none.Deleted != nil || none.Skipped {
		t.Errorf("retention 0 must collect nothing: %+v %v", none, err)
	}
	if none, err := s.Collect(ctx, "elsewhere", 90*24*time.Hour); err != nil || none.Entries != 0 {
		t.Errorf("namespace without an index: %+v %v", none, err)
	}
}

// Between the delete and the entry's removal, another replica creates
// the same Secret again (same content, same name) and records it: its
// entry stays.
func TestCollectKeepsEntryRecordedMeanwhile(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := &Secrets{Client: client, Now: clock("2024-01-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-old", map[string][]byte{"env": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("delete", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := client.Tracker().Get(configMapsGVR, "ci", IndexName)
		if err != nil {
			return true, nil, err
		}
		cm := obj.(*corev1.ConfigMap).DeepCopy()
		cm.Data["drone-convert-eci-env-old"] = "2025-03-01"
		return false, nil, client.Tracker().Update(configMapsGVR, cm, "ci")
	})
	s.Now = clock("2025-03-01")
	got, err := s.Collect(ctx, "ci", 90*24*time.Hour)
	if err != nil || len(got.Deleted) != 1 {
		t.Fatalf("collect: %+v, %v", got, err)
	}
	if used := index(t, client, "ci").Data["drone-convert-eci-env-old"]; used != "2025-03-01" {
		t.Errorf("entry re-recorded meanwhile was removed (now %q)", used)
	}
}

// A Secret changed since collection read it (marked used: the delete's
// precondition fails) stays, and so does its entry.
func TestCollectKeepsSecretChangedSinceRead(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := &Secrets{Client: client, Now: clock("2024-01-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-old", map[string][]byte{"env": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// The API server gives every object a UID and a resourceVersion; the
	// fake clientset gives none, so this read carries them.
	client.PrependReactor("get", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := client.Tracker().Get(secretsGVR, a.GetNamespace(), a.(k8stesting.GetAction).GetName())
		if err != nil {
			return true, nil, err
		}
		secret := obj.(*corev1.Secret).DeepCopy()
		secret.UID, secret.ResourceVersion = "uid-1", "41"
		return true, secret, nil
	})
	var pre *metav1.Preconditions
	client.PrependReactor("delete", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pre = a.(k8stesting.DeleteAction).GetDeleteOptions().Preconditions
		return true, nil, apierrors.NewConflict(secretsGVR.GroupResource(), "drone-convert-eci-env-old", errors.New("precondition failed"))
	})
	s.Now = clock("2025-03-01")
	got, err := s.Collect(ctx, "ci", 90*24*time.Hour)
	if err != nil || len(got.Deleted) != 0 || got.Entries != 1 {
		t.Errorf("collect: %+v, %v", got, err)
	}
	// The resourceVersion is what fails the delete of a Secret marked
	// used since the read; the UID, one deleted and created again.
	if pre == nil || pre.UID == nil || *pre.UID != "uid-1" || pre.ResourceVersion == nil || *pre.ResourceVersion != "41" {
		t.Errorf("delete preconditions %+v, want the UID and resourceVersion read", pre)
	}
}

func TestCollectReportsAPIFailure(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := &Secrets{Client: client, Now: clock("2024-01-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-old", map[string][]byte{"env": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("delete", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(secretsGVR.GroupResource(), "drone-convert-eci-env-old", errors.New("no delete"))
	})
	s.Now = clock("2025-03-01")
	if _, err := s.Collect(ctx, "ci", 90*24*time.Hour); err == nil || !strings.Contains(err.Error(), "drone-convert-eci-env-old") {
		t.Errorf("err = %v", err)
	}
	if index(t, client, "ci").Annotations[CollectedAnnotation] != "" {
		t.Error("a failed collection was marked done for the day")
	}
}

// A Secret whose delete is refused every day (an admission policy, say)
// must not keep the ones sorted after it alive.
func TestCollectGoesOnPastOneRefusedSecret(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := &Secrets{Client: client, Now: clock("2024-01-01")}
	for _, name := range []string{"drone-convert-eci-env-a", "drone-convert-eci-env-b", "drone-convert-eci-env-c"} {
		if err := s.Ensure(ctx, "ci", name, map[string][]byte{"env": []byte(name)}); err != nil {
			t.Fatal(err)
		}
	}
	client.PrependReactor("delete", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.DeleteAction).GetName() == "drone-convert-eci-env-a" {
			return true, nil, apierrors.NewForbidden(secretsGVR.GroupResource(), "drone-convert-eci-env-a", errors.New("policy says no"))
		}
		return false, nil, nil
	})
	s.Now = clock("2025-03-01")
	got, err := s.Collect(ctx, "ci", 90*24*time.Hour)
	if err == nil || !strings.Contains(err.Error(), "drone-convert-eci-env-a") {
		t.Errorf("err = %v, want the refused Secret named", err)
	}
	if want := []string{"drone-convert-eci-env-b", "drone-convert-eci-env-c"}; strings.Join(got.Deleted, ",") != strings.Join(want, ",") {
		t.Errorf("deleted %v, want %v", got.Deleted, want)
	}
	if _, ok := index(t, client, "ci").Data["drone-convert-eci-env-a"]; !ok {
		t.Error("the refused Secret's entry was dropped: the next pass would never see it again")
	}
}

func TestNewClientRate(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(false, kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	limiter := client.(*kubernetes.Clientset).CoreV1().RESTClient().GetRateLimiter()
	if limiter == nil || limiter.QPS() != ClientQPS {
		t.Errorf("rate limiter %v, want %d/s", limiter, ClientQPS)
	}
}
