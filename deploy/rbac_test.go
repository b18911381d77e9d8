package deploy

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/drone-convert-eci/drone-convert-eci/internal/kube"
)

// refuseSecretListing fails the test when a Role or ClusterRole grants
// list or watch on Secrets, wildcards included: a list returns the data
// of every Secret it reaches (the runner's per-build ones, DRONE_SECRET).
// decodeAll calls it on every object of every render and manifest.
func refuseSecretListing(t *testing.T, where string, obj runtime.Object) {
	t.Helper()
	for _, verbs := range secretListing(obj) {
		t.Errorf("%s grants %v on Secrets: list and watch return every Secret's data", where, verbs)
	}
}

// secretListing returns the verbs of each rule of a Role or ClusterRole
// that lets it list or watch Secrets.
func secretListing(obj runtime.Object) [][]string {
	var found [][]string
	var rules []rbacv1.PolicyRule
	switch r := obj.(type) {
	case *rbacv1.Role:
		rules = r.Rules
	case *rbacv1.ClusterRole:
		rules = r.Rules
	default:
		return nil
	}
	for _, rule := range rules {
		core := slices.Contains(rule.APIGroups, "") || slices.Contains(rule.APIGroups, "*")
		secrets := slices.Contains(rule.Resources, "secrets") || slices.Contains(rule.Resources, "*")
		reads := slices.Contains(rule.Verbs, "list") || slices.Contains(rule.Verbs, "watch") || slices.Contains(rule.Verbs, "*")
		if core && secrets && reads {
			found = append(found, rule.Verbs)
		}
	}
	return found
}

// checkSecretCarrierRBAC: the Secret carrier's Roles are exactly what
// internal/kube uses, in each pipeline namespace, and the collector's
// Lease Role in the release's namespace; the service collects in every
// one of those namespaces.
func checkSecretCarrierRBAC(t *testing.T, objs []object, fullname string, pipelineNamespaces []string) {
	t.Helper()
	roles := map[string]*rbacv1.Role{}
	for _, r := range find[*rbacv1.Role](objs) {
		roles[r.Namespace+"/"+r.Name] = r
	}
	carrier := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "get", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{kube.IndexName}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
	}
	for _, ns := range pipelineNamespaces {
		r := roles[ns+"/"+fullname+"-secrets"]
		if r == nil {
			t.Errorf("no Role %s-secrets in pipeline namespace %s", fullname, ns)
			continue
		}
		if !reflect.DeepEqual(r.Rules, carrier) {
			t.Errorf("Role %s/%s grants %+v; want %+v (internal/kube)", r.Namespace, r.Name, r.Rules, carrier)
		}
	}
	lease := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{fullname + "-env-collector"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	}
	if r := roles[namespace+"/"+fullname+"-env-collector"]; r == nil {
		t.Errorf("no Role %s-env-collector in the release's namespace", fullname)
	} else if !reflect.DeepEqual(r.Rules, lease) {
		t.Errorf("Role %s/%s grants %+v; want %+v", r.Namespace, r.Name, r.Rules, lease)
	}
	bound := map[string]bool{}
	for _, rb := range find[*rbacv1.RoleBinding](objs) {
		bound[rb.Namespace+"/"+rb.RoleRef.Name] = true
	}
	for key := range roles {
		if !bound[key] {
			t.Errorf("Role %s is bound to nothing", key)
		}
	}
	cfg := loadFromDeployment(t, one[*appsv1.Deployment](t, objs))
	if got := strings.Join(cfg.EnvFiles.SecretNamespaces, ","); got != strings.Join(pipelineNamespaces, ",") {
		t.Errorf("DRONE_ECI_ENV_SECRET_NAMESPACES %q, want pipelineNamespaces %v", got, pipelineNamespaces)
	}
}

func TestSecretCarrierRBAC(t *testing.T) {
	const env = "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_NAMESPACE: builds\n"
	const rest = "pipelineNamespaces: [builds, team]\nrbac:\n  secrets:\n    enabled: true\n"
	objs := manifests(t, mustRender(t, secretValue+env+rest))
	checkConsistent(t, objs)
	checkSecretCarrierRBAC(t, objs, releaseName, []string{"builds", "team"})

	// The operator's own list, within pipelineNamespaces, stands.
	objs = manifests(t, mustRender(t, secretValue+env+"  DRONE_ECI_ENV_SECRET_NAMESPACES: [builds]\n"+rest))
	cfg := loadFromDeployment(t, one[*appsv1.Deployment](t, objs))
	if got := cfg.EnvFiles.SecretNamespaces; !reflect.DeepEqual(got, []string{"builds"}) {
		t.Errorf("operator's DRONE_ECI_ENV_SECRET_NAMESPACES became %v", got)
	}
}

// The check itself: a rule that lists Secrets, by name or wildcard, is
// caught.
func TestRefuseSecretListing(t *testing.T) {
	for _, rule := range []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"watch"}},
	} {
		if len(secretListing(&rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{rule}})) == 0 {
			t.Errorf("%+v not caught", rule)
		}
	}
	if found := secretListing(&rbacv1.Role{Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"create", "get", "patch", "delete"}}}}); len(found) != 0 {
		t.Errorf("get without list caught: %v", found)
	}
}
