package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func clock(s string) func() time.Time {
	return func() time.Time {
		t, _ := time.Parse(day, s)
		return t.Add(12 * time.Hour)
	}
}

func TestEnsureCreatesImmutableLabelledSecret(t *testing.T) {
	client := fake.NewClientset()
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
}

func TestEnsureReusesAndMarksUsed(t *testing.T) {
	client := fake.NewClientset()
	s := &Secrets{Client: client, Now: clock("2025-03-01")}
	data := map[string][]byte{"env": []byte("x")}
	ctx := context.Background()
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	patches := 0
	client.PrependReactor("patch", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		patches++
		return false, nil, nil
	})
	// Same day: no write at all.
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	if patches != 0 {
		t.Errorf("%d patches on the same day", patches)
	}
	s.Now = clock("2025-04-01")
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", data); err != nil {
		t.Fatal(err)
	}
	got, _ := client.CoreV1().Secrets("ci").Get(ctx, "drone-convert-eci-env-abc", metav1.GetOptions{})
	if got.Annotations[LastUsedAnnotation] != "2025-04-01" || patches != 1 {
		t.Errorf("last-used %q after %d patches", got.Annotations[LastUsedAnnotation], patches)
	}
	if string(got.Data["env"]) != "x" {
		t.Error("data changed")
	}
}

func TestEnsureRefusesForeignOrDifferentSecret(t *testing.T) {
	ctx := context.Background()
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "drone-convert-eci-env-abc", Namespace: "ci"}, Data: map[string][]byte{"env": []byte("x")}}
	s := &Secrets{Client: fake.NewClientset(foreign), Now: clock("2025-03-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", map[string][]byte{"env": []byte("x")}); err == nil {
		t.Error("used a Secret drone-convert-eci did not create")
	}
	yes := true
	ours := foreign.DeepCopy()
	ours.Labels = map[string]string{ManagedByLabel: ManagedByValue}
	ours.Immutable = &yes
	s = &Secrets{Client: fake.NewClientset(ours), Now: clock("2025-03-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", map[string][]byte{"env": []byte("other")}); err == nil {
		t.Error("used a Secret with other content")
	}
	mutable := ours.DeepCopy()
	mutable.Immutable = nil
	s = &Secrets{Client: fake.NewClientset(mutable), Now: clock("2025-03-01")}
	if err := s.Ensure(ctx, "ci", "drone-convert-eci-env-abc", map[string][]byte{"env": []byte("x")}); err == nil {
		t.Error("used a mutable Secret")
	}
}

func TestEnsureReportsAPIFailure(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden: no RBAC")
	})
	s := &Secrets{Client: client}
	err := s.Ensure(context.Background(), "ci", "drone-convert-eci-env-abc", nil)
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("err = %v", err)
	}
}

func TestCollectDeletesOnlyLongUnusedManagedSecrets(t *testing.T) {
	yes := true
	secret := func(name, used string, managed bool) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ci", Annotations: map[string]string{}}, Immutable: &yes}
		if used != "" {
			s.Annotations[LastUsedAnnotation] = used
		}
		if managed {
			s.Labels = map[string]string{ManagedByLabel: ManagedByValue}
		}
		return s
	}
	client := fake.NewClientset(
		secret("drone-convert-eci-env-old", "2024-01-01", true),
		secret("drone-convert-eci-env-recent", "2025-02-20", true),
		secret("drone-convert-eci-env-nodate", "", true),
		secret("someone-elses", "2020-01-01", false),
	)
	s := &Secrets{Client: client, Now: clock("2025-03-01")}
	deleted, err := s.Collect(context.Background(), "ci", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || deleted[0] != "drone-convert-eci-env-old" {
		t.Errorf("deleted %v", deleted)
	}
	left, _ := client.CoreV1().Secrets("ci").List(context.Background(), metav1.ListOptions{})
	if len(left.Items) != 3 {
		t.Errorf("%d Secrets left, want 3", len(left.Items))
	}
	if d, _ := s.Collect(context.Background(), "ci", 0); d != nil {
		t.Error("retention 0 must collect nothing")
	}
}
