package deploy

import (
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// TestPodSecurity runs every pod the chart renders (default and full
// values), every plain manifest and every example through the Pod
// Security admission's own checks, at the enforce, warn and audit levels
// of the namespace it is applied to, as the API server would on apply.
// A namespace's levels come from its Namespace object in the plain
// manifests or the examples; a pod in a namespace nobody defines fails.
func TestPodSecurity(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		t.Fatal(err)
	}
	var all []object
	for _, pattern := range []string{plainDir + "/*.yaml", plainDir + "/optional/*.yaml", plainDir + "/optional/webhook/*.yaml", "examples/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		if len(files) == 0 {
			t.Fatalf("no manifests match %s", pattern)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, decodeAll(t, f, data)...)
		}
	}
	policies := map[string]api.Policy{}
	for _, ns := range find[*corev1.Namespace](all) {
		p, errs := api.PolicyToEvaluate(ns.Labels, api.Policy{
			Enforce: api.LevelVersion{Level: api.LevelPrivileged, Version: api.LatestVersion()},
			Audit:   api.LevelVersion{Level: api.LevelPrivileged, Version: api.LatestVersion()},
			Warn:    api.LevelVersion{Level: api.LevelPrivileged, Version: api.LatestVersion()},
		})
		if len(errs) > 0 {
			t.Fatalf("namespace %s: %v", ns.Name, errs.ToAggregate())
		}
		policies[ns.Name] = p
	}
	if p := policies[namespace]; p.Enforce.Level != api.LevelRestricted {
		t.Fatalf("namespace %s enforces %q; the walkthrough promises restricted", namespace, p.Enforce.Level)
	}
	all = append(all, manifests(t, mustRender(t, secretValue))...)
	all = append(all, manifests(t, mustRender(t, "", fullValues))...)
	all = append(all, manifests(t, mustRender(t, webhookOn))...)
	all = append(all, manifests(t, mustRender(t, webhookOn+"  tls:\n    mode: cert-manager\n"))...)

	pods := 0
	for _, o := range all {
		meta, spec, ok := podOf(o.obj)
		if !ok {
			continue
		}
		pods++
		ns := o.obj.(metav1.Object).GetNamespace()
		p, known := policies[ns]
		if !known {
			t.Errorf("%s: namespace %q has no Namespace object saying its Pod Security level", o.source, ns)
			continue
		}
		seen := map[api.LevelVersion]bool{}
		for _, lv := range []api.LevelVersion{p.Enforce, p.Warn, p.Audit} {
			if seen[lv] {
				continue
			}
			seen[lv] = true
			result := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, meta, spec))
			if !result.Allowed {
				t.Errorf("%s: namespace %s (%s) forbids this pod: %s: %s", o.source, ns, lv, result.ForbiddenReason(), result.ForbiddenDetail())
			}
		}
	}
	if pods < 4 {
		t.Fatalf("only %d pod-bearing objects found", pods)
	}
}

// podOf returns the pod template of an object that makes pods.
func podOf(obj any) (*metav1.ObjectMeta, *corev1.PodSpec, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta, &o.Spec, true
	case *appsv1.Deployment:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *appsv1.StatefulSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *appsv1.DaemonSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *batchv1.Job:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec, true
	}
	return nil, nil, false
}
