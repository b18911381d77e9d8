package deploy

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/kube"
	"github.com/drone-convert-eci/drone-convert-eci/internal/leader"
	"github.com/drone-convert-eci/drone-convert-eci/internal/registry"
	"github.com/drone-convert-eci/drone-convert-eci/internal/webhookcert"
)

// request is one API call as RBAC authorizes it. A create names no
// object (the name is in the body, not the URL RBAC sees), so rules
// limited by resourceNames never allow it.
type request struct {
	verb, group, resource, namespace, name string
}

func (r request) String() string {
	where := r.namespace
	if where == "" {
		where = "(cluster)"
	}
	return fmt.Sprintf("%s %s.%s %q in %s", r.verb, r.resource, r.group, r.name, where)
}

// requestOf is what RBAC sees of a fake clientset's action.
func requestOf(t *testing.T, a k8stesting.Action) request {
	t.Helper()
	r := request{verb: a.GetVerb(), group: a.GetResource().Group, resource: a.GetResource().Resource, namespace: a.GetNamespace()}
	if sub := a.GetSubresource(); sub != "" {
		r.resource += "/" + sub
	}
	named, hasName := a.(interface{ GetName() string })
	switch {
	case r.verb == "create":
	case r.verb == "update":
		m, err := meta.Accessor(a.(k8stesting.UpdateAction).GetObject())
		if err != nil {
			t.Fatal(err)
		}
		r.name = m.GetName()
	case hasName:
		r.name = named.GetName()
	default:
		t.Fatalf("%s (%T): an action this check does not know", r.verb, a)
	}
	return r
}

// allowed says whether the chart's RBAC lets ServiceAccount sa of the
// release namespace make r, as the API server's RBAC authorizer decides:
// Roles through RoleBindings in r's namespace, ClusterRoles through
// either binding.
func allowed(objs []object, sa string, r request) bool {
	boundHere := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == namespace
		})
	}
	rulesOf := func(ref rbacv1.RoleRef, ns string) []rbacv1.PolicyRule {
		if ref.Kind == "ClusterRole" {
			for _, cr := range find[*rbacv1.ClusterRole](objs) {
				if cr.Name == ref.Name {
					return cr.Rules
				}
			}
			return nil
		}
		for _, role := range find[*rbacv1.Role](objs) {
			if role.Name == ref.Name && role.Namespace == ns {
				return role.Rules
			}
		}
		return nil
	}
	var rules []rbacv1.PolicyRule
	for _, rb := range find[*rbacv1.RoleBinding](objs) {
		if rb.Namespace == r.namespace && r.namespace != "" && boundHere(rb.Subjects) {
			rules = append(rules, rulesOf(rb.RoleRef, rb.Namespace)...)
		}
	}
	for _, crb := range find[*rbacv1.ClusterRoleBinding](objs) {
		if boundHere(crb.Subjects) {
			rules = append(rules, rulesOf(crb.RoleRef, "")...)
		}
	}
	return slices.ContainsFunc(rules, func(rule rbacv1.PolicyRule) bool { return ruleAllows(rule, r) })
}

// ruleAllows follows k8s.io/kubernetes/pkg/apis/rbac/v1's RuleAllows.
func ruleAllows(rule rbacv1.PolicyRule, r request) bool {
	has := func(list []string, v string) bool { return slices.Contains(list, v) || slices.Contains(list, "*") }
	return has(rule.Verbs, r.verb) && has(rule.APIGroups, r.group) && has(rule.Resources, r.resource) &&
		(len(rule.ResourceNames) == 0 || (r.name != "" && slices.Contains(rule.ResourceNames, r.name)))
}

// The chart's RBAC against the calls the code makes: the chart rendered
// with every API-using feature on, the code run over a fake API server
// seeded with the chart's objects (so the names it uses are the ones the
// chart rendered), and each recorded call authorized against the
// rendered Roles and ClusterRoles as the API server would. A fake
// clientset allows everything; without this, a verb or a name missing
// from a Role shows up only as a forbidden error in a cluster.
func TestRBACAllowsEveryCall(t *testing.T) {
	const values = secretValue + `pipelineNamespaces: [builds, team]
rbac:
  secrets:
    enabled: true
  registry:
    enabled: true
webhook:
  enabled: true
env:
  DRONE_ECI_ENV_IN_CLUSTER: true
  DRONE_ECI_ENV_NAMESPACE: builds
  DRONE_ECI_REGISTRY_PULL_SECRETS: acr
`
	objs := manifests(t, mustRender(t, values))
	checkConsistent(t, objs)
	d := one[*appsv1.Deployment](t, objs)
	sa := d.Spec.Template.Spec.ServiceAccountName
	cfg := loadFromDeployment(t, d)
	// Where the pod runs, as its service account's namespace file says.
	own := cfg.Namespace
	if own == "" {
		own = namespace
	}

	var seed []runtime.Object
	for _, o := range objs {
		switch o.obj.(type) {
		case *corev1.Secret, *admissionv1.MutatingWebhookConfiguration:
			seed = append(seed, o.obj)
		}
	}
	for _, ns := range cfg.EnvFiles.SecretNamespaces {
		seed = append(seed,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cfg.Registry.ServiceAccount}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "acr"}}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acr"}, Type: corev1.SecretTypeDockerConfigJson,
				Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"example.cn-hangzhou.cr.aliyuncs.com":{"auth":"dTpw"}}}`)}})
	}
	client := fake.NewSimpleClientset(seed...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := logrus.New()
	log.SetOutput(io.Discard)

	// Self-managed webhook TLS: the Lease campaigned for twice (created,
	// then taken over as it stands, each time released), the
	// certificate issued and read.
	m := &webhookcert.Manager{Client: client, Namespace: own, Secret: cfg.Webhook.CertSecret,
		WebhookConfiguration: cfg.Webhook.Configuration, Service: cfg.Webhook.Service, Log: log}
	for range 2 {
		elected(ctx, t, client, own, cfg.Webhook.CertSecret, log, func(ctx context.Context) error {
			if err := m.Reconcile(ctx); err != nil {
				return err
			}
			return m.Refresh(ctx)
		})
	}
	if m.NotAfter().IsZero() {
		t.Error("no webhook certificate served")
	}

	// The Secret env carrier: created on day 0 (the index created too),
	// used again on day 1, collected once unused for the retention.
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	store := &kube.Secrets{Client: client, Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }}
	setNow := func(t time.Time) { clock.Lock(); defer clock.Unlock(); now = t }
	data := map[string][]byte{"env": []byte("A=1\n")}
	const envSecret = "drone-convert-eci-env-0123456789"
	for _, ns := range cfg.EnvFiles.SecretNamespaces {
		if err := store.Ensure(ctx, ns, envSecret, data); err != nil {
			t.Fatal(err)
		}
	}
	setNow(now.Add(24 * time.Hour))
	for _, ns := range cfg.EnvFiles.SecretNamespaces {
		if err := store.Ensure(ctx, ns, envSecret, data); err != nil {
			t.Fatal(err)
		}
	}
	setNow(now.Add(cfg.EnvFiles.Retention + 72*time.Hour))
	collector := kube.Collector{Secrets: store, Namespaces: func() []string { return cfg.EnvFiles.SecretNamespaces }, Retention: cfg.EnvFiles.Retention, Log: log}
	elected(ctx, t, client, own, cfg.EnvFiles.CollectorLease, log, func(ctx context.Context) error {
		collector.Pass(ctx)
		return nil
	})
	for _, ns := range cfg.EnvFiles.SecretNamespaces {
		if _, err := client.CoreV1().Secrets(ns).Get(ctx, envSecret, metav1.GetOptions{}); err == nil {
			t.Errorf("env Secret %s/%s not collected", ns, envSecret)
		}
	}

	// Registry lookups: the build's service account and pull Secrets.
	creds, err := registry.NewCredentials("", client, cfg.Registry.PullSecrets)
	if err != nil {
		t.Fatal(err)
	}
	creds.OnError = func(ns string, err error) { t.Errorf("registry credentials in %s: %v", ns, err) }
	for _, ns := range cfg.EnvFiles.SecretNamespaces {
		creds.For(ctx, registry.Scope{Namespace: ns})
	}

	// Every call allowed; and the calls this test means to cover made.
	made := map[string]bool{}
	for _, a := range client.Actions() {
		r := requestOf(t, a)
		made[r.verb+" "+r.resource] = true
		if !allowed(objs, sa, r) {
			t.Errorf("the chart's RBAC forbids %s", r)
		}
	}
	for _, want := range []string{
		"create leases", "get leases", "update leases",
		"get secrets", "update secrets", "create secrets", "patch secrets", "delete secrets",
		"get mutatingwebhookconfigurations", "patch mutatingwebhookconfigurations",
		"create configmaps", "get configmaps", "patch configmaps",
		"get serviceaccounts",
	} {
		if !made[want] {
			var got []string
			for k := range made {
				got = append(got, k)
			}
			sort.Strings(got)
			t.Errorf("no %q call made (made: %s): the test no longer covers it", want, strings.Join(got, ", "))
		}
	}
}

// elected runs lead once under the Lease, as the service does, then
// stops campaigning (releasing the Lease).
func elected(ctx context.Context, t *testing.T, client *fake.Clientset, ns, lease string, log logrus.FieldLogger, lead func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		e := leader.Election{Client: client, Namespace: ns, Lease: lease, Identity: "test", Log: log,
			LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond}
		if err := e.Run(ctx, func(ctx context.Context) {
			done <- lead(ctx)
			<-ctx.Done()
		}); err != nil {
			t.Error(err)
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("under Lease %s/%s: %v", ns, lease, err)
		}
	case <-ctx.Done():
		t.Fatalf("Lease %s/%s never held", ns, lease)
	}
	// Let the holder renew once, then stop.
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-ran
}

// The check itself catches what the API server would refuse: a verb
// missing, a name outside resourceNames, a create under resourceNames,
// another namespace, a Role bound to someone else.
func TestRBACCheckRefuses(t *testing.T) {
	role := func(ns string, rules ...rbacv1.PolicyRule) object {
		return object{obj: &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r"}, Rules: rules}}
	}
	binding := func(ns, sa string) object {
		return object{obj: &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: namespace}}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"}}}
	}
	leaseByName := rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"l"}, Verbs: []string{"get", "update"}}
	objs := []object{role(namespace, leaseByName), binding(namespace, "sa")}
	get := request{verb: "get", group: "coordination.k8s.io", resource: "leases", namespace: namespace, name: "l"}
	if !allowed(objs, "sa", get) {
		t.Fatal("a get the Role grants refused")
	}
	for _, tc := range []struct {
		why string
		r   request
		sa  string
	}{
		{"verb not granted", request{verb: "patch", group: get.group, resource: get.resource, namespace: namespace, name: "l"}, "sa"},
		{"name outside resourceNames", request{verb: "get", group: get.group, resource: get.resource, namespace: namespace, name: "other"}, "sa"},
		{"create under resourceNames", request{verb: "create", group: get.group, resource: get.resource, namespace: namespace}, "sa"},
		{"another namespace", request{verb: "get", group: get.group, resource: get.resource, namespace: "elsewhere", name: "l"}, "sa"},
		{"another group", request{verb: "get", group: "", resource: get.resource, namespace: namespace, name: "l"}, "sa"},
		{"another ServiceAccount", get, "someone-else"},
	} {
		if allowed(objs, tc.sa, tc.r) {
			t.Errorf("%s: %s allowed", tc.why, tc.r)
		}
	}
}

// DRONE_ECI_NAMESPACE naming the release's own namespace is accepted.
func TestOwnNamespaceNamed(t *testing.T) {
	mustRender(t, secretValue+"env:\n  DRONE_ECI_NAMESPACE: "+namespace+"\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_NAMESPACE: builds\npipelineNamespaces: [builds]\nrbac:\n  secrets:\n    enabled: true\nwebhook:\n  enabled: true\n")
}
