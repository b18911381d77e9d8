package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
)

// customResources are the kinds outside client-go's scheme the chart may
// render, each decoded strictly into the part of its API the chart uses.
var customResources = map[schema.GroupVersionKind]func() runtime.Object{
	serviceMonitorKind: func() runtime.Object { return &serviceMonitor{} },
	issuerKind:         func() runtime.Object { return &issuer{} },
	certificateKind:    func() runtime.Object { return &certificate{} },
}

var (
	issuerKind      = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"}
	certificateKind = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
)

// issuer and certificate are the parts of cert-manager's Issuer and
// Certificate (cert-manager.io/v1, field names from its API reference)
// the chart renders.
type issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}

func (i *issuer) DeepCopyObject() runtime.Object { c := *i; return &c }

type certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		IsCA        bool     `json:"isCA"`
		CommonName  string   `json:"commonName"`
		SecretName  string   `json:"secretName"`
		DNSNames    []string `json:"dnsNames"`
		Duration    string   `json:"duration"`
		RenewBefore string   `json:"renewBefore"`
		Usages      []string `json:"usages"`
		PrivateKey  struct {
			Algorithm      string `json:"algorithm"`
			Size           int    `json:"size"`
			RotationPolicy string `json:"rotationPolicy"`
		} `json:"privateKey"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			Group string `json:"group"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

func (c *certificate) DeepCopyObject() runtime.Object { d := *c; return &d }

// webhookOn is the least the webhook needs; TLS as the chart defaults.
const webhookOn = secretValue + "pipelineNamespaces: [drone-pipelines]\nwebhook:\n  enabled: true\n"

// serviceDNSNames are the names the API server dials for the release's
// Service.
var serviceDNSNames = []string{releaseName + "." + namespace + ".svc", releaseName + "." + namespace + ".svc.cluster.local"}

// TestWebhookTLSSelfManaged: the default mode renders the empty Secret,
// RBAC limited by resourceNames to that Secret, its Lease and this
// webhook configuration, a token, and settings that name exactly those
// objects; no volume, no caBundle in the chart.
func TestWebhookTLSSelfManaged(t *testing.T) {
	objs := manifests(t, mustRender(t, webhookOn))
	checkConsistent(t, objs)
	checkCASource(t, objs)

	d := one[*appsv1.Deployment](t, objs)
	cfg := loadFromDeployment(t, d)
	mwc := one[*admissionv1.MutatingWebhookConfiguration](t, objs)
	svc := one[*corev1.Service](t, objs)
	w := cfg.Webhook
	if w.TLSMode != config.TLSSelfManaged || w.Configuration != mwc.Name || w.Service != svc.Name || w.CertSecret != plainWebhookTLS {
		t.Errorf("settings %+v, want self-managed naming webhook configuration %s, Service %s, Secret %s", w, mwc.Name, svc.Name, plainWebhookTLS)
	}
	if tok := d.Spec.Template.Spec.AutomountServiceAccountToken; tok == nil || !*tok {
		t.Error("self-managed TLS talks to the API, yet the pod gets no token")
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == w.CertSecret {
			t.Errorf("volume %s mounts the certificate Secret; self-managed reads it from the API", v.Name)
		}
	}
	for _, wh := range mwc.Webhooks {
		if len(wh.ClientConfig.CABundle) != 0 {
			t.Errorf("webhook %s: the chart renders a caBundle; an upgrade would overwrite the one the service keeps", wh.Name)
		}
	}

	var secret *corev1.Secret
	for _, s := range find[*corev1.Secret](objs) {
		if s.Name == w.CertSecret {
			secret = s
		}
	}
	switch {
	case secret == nil:
		t.Fatalf("no Secret %s rendered: the service has no create on Secrets", w.CertSecret)
	case secret.Namespace != namespace || len(secret.Data) != 0 || len(secret.StringData) != 0:
		// Helm's three-way merge resets rendered keys on every upgrade.
		t.Errorf("certificate Secret %s/%s renders data %v %v; it must be empty", secret.Namespace, secret.Name, secret.Data, secret.StringData)
	}

	sa := d.Spec.Template.Spec.ServiceAccountName
	role := boundRole(t, objs, sa)
	wantRole := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{w.CertSecret}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{w.CertSecret}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	}
	if role.Namespace != namespace || !reflect.DeepEqual(role.Rules, wantRole) {
		t.Errorf("Role %s/%s grants %+v; want exactly %+v", role.Namespace, role.Name, role.Rules, wantRole)
	}
	cr := boundClusterRole(t, objs, sa)
	wantCluster := []rbacv1.PolicyRule{{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"}, ResourceNames: []string{mwc.Name}, Verbs: []string{"get", "patch"}}}
	if !reflect.DeepEqual(cr.Rules, wantCluster) {
		t.Errorf("ClusterRole %s grants %+v; want exactly %+v", cr.Name, cr.Rules, wantCluster)
	}
	if n := len(find[*certificate](objs)) + len(find[*issuer](objs)); n != 0 {
		t.Errorf("self-managed renders %d cert-manager objects", n)
	}
}

// boundRole is the one Role bound to the ServiceAccount in the release
// namespace.
func boundRole(t *testing.T, objs []object, sa string) *rbacv1.Role {
	t.Helper()
	var found []*rbacv1.Role
	for _, rb := range find[*rbacv1.RoleBinding](objs) {
		if rb.Namespace != namespace || len(rb.Subjects) != 1 || rb.Subjects[0].Name != sa || rb.Subjects[0].Namespace != namespace || rb.RoleRef.Kind != "Role" {
			continue
		}
		for _, r := range find[*rbacv1.Role](objs) {
			if r.Name == rb.RoleRef.Name && r.Namespace == rb.Namespace {
				found = append(found, r)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Roles bound to ServiceAccount %s in %s, want 1", len(found), sa, namespace)
	}
	return found[0]
}

func boundClusterRole(t *testing.T, objs []object, sa string) *rbacv1.ClusterRole {
	t.Helper()
	var found []*rbacv1.ClusterRole
	for _, b := range find[*rbacv1.ClusterRoleBinding](objs) {
		if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sa || b.Subjects[0].Namespace != namespace || b.RoleRef.Kind != "ClusterRole" {
			t.Errorf("ClusterRoleBinding %s binds %+v to %+v", b.Name, b.Subjects, b.RoleRef)
			continue
		}
		for _, r := range find[*rbacv1.ClusterRole](objs) {
			if r.Name == b.RoleRef.Name {
				found = append(found, r)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ClusterRoles bound to ServiceAccount %s, want 1", len(found), sa)
	}
	return found[0]
}

// TestWebhookTLSCertManager: cert-manager issues the mounted Secret for
// the Service's names from the chart's own CA chain (or the operator's
// issuer), and its cainjector is pointed at that Certificate; the
// service needs no API access for it.
func TestWebhookTLSCertManager(t *testing.T) {
	objs := manifests(t, mustRender(t, webhookOn+"  tls:\n    mode: cert-manager\n"))
	checkConsistent(t, objs)
	checkCASource(t, objs)
	d := one[*appsv1.Deployment](t, objs)
	if cfg := loadFromDeployment(t, d); cfg.Webhook.TLSMode != config.TLSFiles {
		t.Errorf("cert-manager mode: DRONE_ECI_WEBHOOK_TLS_MODE %s, want files (the mounted Secret)", cfg.Webhook.TLSMode)
	}
	if tok := d.Spec.Template.Spec.AutomountServiceAccountToken; tok == nil || *tok {
		t.Error("cert-manager mode needs no API access, yet the pod gets a token")
	}
	if n := len(find[*rbacv1.Role](objs)) + len(find[*rbacv1.ClusterRole](objs)); n != 0 {
		t.Errorf("cert-manager mode renders %d Roles", n)
	}

	certs := map[string]*certificate{}
	for _, c := range find[*certificate](objs) {
		certs[c.Name] = c
	}
	issuers := map[string]*issuer{}
	for _, i := range find[*issuer](objs) {
		issuers[i.Name] = i
	}
	serving := certs[releaseName+"-webhook"]
	if serving == nil {
		t.Fatalf("no serving Certificate among %v", certs)
	}
	if !slices.Equal(serving.Spec.DNSNames, serviceDNSNames) || serving.Spec.IsCA || serving.Spec.SecretName != mountedSecret(t, d) {
		t.Errorf("serving Certificate %+v: want %v into the mounted Secret %s", serving.Spec, serviceDNSNames, mountedSecret(t, d))
	}
	// The chain: serving <- CA Issuer (the CA Certificate's Secret) <-
	// CA Certificate <- self-signed Issuer.
	caIssuer := issuers[serving.Spec.IssuerRef.Name]
	if serving.Spec.IssuerRef.Kind != "Issuer" || caIssuer == nil || caIssuer.Spec.CA == nil {
		t.Fatalf("serving Certificate issued by %+v, not the chart's CA Issuer", serving.Spec.IssuerRef)
	}
	var ca *certificate
	for _, c := range certs {
		if c.Spec.SecretName == caIssuer.Spec.CA.SecretName {
			ca = c
		}
	}
	if ca == nil || !ca.Spec.IsCA || issuers[ca.Spec.IssuerRef.Name] == nil || issuers[ca.Spec.IssuerRef.Name].Spec.SelfSigned == nil {
		t.Fatalf("the CA Issuer's Secret %s comes from no self-signed CA Certificate", caIssuer.Spec.CA.SecretName)
	}
	if ca.Spec.PrivateKey.RotationPolicy != "Never" {
		t.Errorf("CA key rotation policy %q: a renewed CA with a new key stops verifying the certificate pods serve until the kubelet updates their Secret", ca.Spec.PrivateKey.RotationPolicy)
	}

	// An operator's issuer replaces the chart's chain.
	objs = manifests(t, mustRender(t, webhookOn+"  tls:\n    mode: cert-manager\n    certManager:\n      issuerRef: {name: cluster-ca, kind: ClusterIssuer, group: cert-manager.io}\n"))
	checkCASource(t, objs)
	if n := len(find[*issuer](objs)); n != 0 {
		t.Errorf("with an issuerRef the chart still renders %d Issuers", n)
	}
	c := one[*certificate](t, objs)
	if ref := c.Spec.IssuerRef; ref.Name != "cluster-ca" || ref.Kind != "ClusterIssuer" {
		t.Errorf("Certificate issued by %+v, want the given ClusterIssuer", ref)
	}
}

// mountedSecret is the Secret the webhook's TLS files are mounted from.
func mountedSecret(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	cfg := loadFromDeployment(t, d)
	c := d.Spec.Template.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(cfg.Webhook.TLSCert, m.MountPath+"/") {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
	}
	t.Fatalf("%s is mounted from no Secret", cfg.Webhook.TLSCert)
	return ""
}

// TestEveryWebhookHasACASource: every way the chart and the plain
// manifests render the webhook leaves the API server a way to get the
// CA that verifies it.
func TestEveryWebhookHasACASource(t *testing.T) {
	for name, objs := range map[string][]object{
		"self-managed":  manifests(t, mustRender(t, webhookOn)),
		"cert-manager":  manifests(t, mustRender(t, webhookOn+"  tls:\n    mode: cert-manager\n")),
		"secret+inject": manifests(t, mustRender(t, webhookOn+"  tls:\n    mode: secret\n    secretName: tls\n  annotations:\n    cert-manager.io/inject-ca-from: drone/tls\n")),
		"full values":   manifests(t, mustRender(t, "", fullValues)),
		"plain":         plainWebhookObjects(t),
	} {
		t.Run(name, func(t *testing.T) { checkCASource(t, objs) })
	}
}

// plainWebhookObjects are the plain webhook manifests, as applied.
func plainWebhookObjects(t *testing.T) []object {
	t.Helper()
	var objs []object
	for _, f := range []string{"deployment.yaml", "service.yaml", "webhook.yaml", "webhook-tls.yaml"} {
		path := filepath.Join(plainDir, "optional", "webhook", f)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, decodeAll(t, path, data)...)
	}
	return objs
}

// checkCASource: each webhook configuration carries a caBundle in every
// webhook, or cert-manager's cainjector annotation naming a Certificate
// the objects render for the Service (or, for an operator's Secret, one
// they name), or is the one the service keeps with self-managed TLS and
// the RBAC to patch it.
func checkCASource(t *testing.T, objs []object) {
	t.Helper()
	mwcs := find[*admissionv1.MutatingWebhookConfiguration](objs)
	if len(mwcs) == 0 {
		t.Fatal("no webhook configuration rendered")
	}
	d := one[*appsv1.Deployment](t, objs)
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	for _, mwc := range mwcs {
		if err := caSource(objs, mwc, env); err != nil {
			t.Errorf("MutatingWebhookConfiguration %s: %v", mwc.Name, err)
		}
	}
}

func caSource(objs []object, mwc *admissionv1.MutatingWebhookConfiguration, env map[string]string) error {
	bundled := len(mwc.Webhooks) > 0
	for _, w := range mwc.Webhooks {
		bundled = bundled && len(w.ClientConfig.CABundle) > 0
	}
	if bundled {
		return nil
	}
	if from, ok := mwc.Annotations["cert-manager.io/inject-ca-from"]; ok {
		ns, name, _ := strings.Cut(from, "/")
		certs := find[*certificate](objs)
		if len(certs) == 0 && env["DRONE_ECI_WEBHOOK_TLS_MODE"] != config.TLSSelfManaged {
			return nil // the operator's Certificate (mode secret)
		}
		for _, c := range certs {
			if c.Namespace == ns && c.Name == name && slices.Equal(c.Spec.DNSNames, serviceDNSNames) {
				return nil
			}
		}
		return fmt.Errorf("cert-manager.io/inject-ca-from %s names no rendered Certificate for %v", from, serviceDNSNames)
	}
	if env["DRONE_ECI_WEBHOOK_TLS_MODE"] == config.TLSSelfManaged && env["DRONE_ECI_WEBHOOK_CONFIGURATION"] == mwc.Name {
		for _, cr := range find[*rbacv1.ClusterRole](objs) {
			for _, r := range cr.Rules {
				if slices.Contains(r.Resources, "mutatingwebhookconfigurations") && slices.Contains(r.ResourceNames, mwc.Name) && slices.Contains(r.Verbs, "patch") {
					return nil
				}
			}
		}
		return fmt.Errorf("the service keeps its caBundle, but no ClusterRole lets it patch it")
	}
	return fmt.Errorf("no caBundle, no CA injector, and the service does not keep it: the API server cannot verify the webhook")
}

// TestWebhookTLSSecretMode: the operator's Secret is mounted and
// webhook.caBundle set; nothing of the other modes is rendered.
func TestWebhookTLSSecretMode(t *testing.T) {
	objs := manifests(t, mustRender(t, webhookOn+"  tls:\n    mode: secret\n    secretName: my-tls\n  caBundle: Zm9v\n"))
	checkConsistent(t, objs)
	if got := mountedSecret(t, one[*appsv1.Deployment](t, objs)); got != "my-tls" {
		t.Errorf("secret mode mounts %s, want my-tls", got)
	}
	if n := len(find[*rbacv1.Role](objs)) + len(find[*rbacv1.ClusterRole](objs)) + len(find[*corev1.Secret](objs)) - 1; n != 0 {
		t.Errorf("secret mode renders %d extra RBAC objects or Secrets", n)
	}
	for _, w := range one[*admissionv1.MutatingWebhookConfiguration](t, objs).Webhooks {
		if string(w.ClientConfig.CABundle) != "foo" {
			t.Errorf("webhook %s: caBundle %q, want webhook.caBundle", w.Name, w.ClientConfig.CABundle)
		}
	}
}

// TestUpgradeKeepsWhatTheServiceWrote runs `helm upgrade`'s own patch
// (helm.sh/helm/v3/pkg/kube createPatch: a strategic three-way merge of
// the previous release's object, the new one and the live one) over the
// objects the service writes into with self-managed TLS: the data it
// put in the Secret and the caBundle it put in the webhook configuration
// survive an upgrade that renders the same objects. A Secret rendering
// its keys, even empty, would be wiped: the control case.
func TestUpgradeKeepsWhatTheServiceWrote(t *testing.T) {
	objs := manifests(t, mustRender(t, webhookOn))
	var secret *corev1.Secret
	for _, s := range find[*corev1.Secret](objs) {
		if s.Name == plainWebhookTLS {
			secret = s
		}
	}
	if secret == nil {
		t.Fatal("no certificate Secret rendered")
	}
	written := map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key"), "ca.crt": []byte("ca"), "ca.key": []byte("ca key")}

	live := secret.DeepCopy()
	live.Data = written
	if got := upgrade(t, secret, secret, live, &corev1.Secret{}).(*corev1.Secret); !reflect.DeepEqual(got.Data, written) {
		t.Errorf("after an upgrade the certificate Secret holds %v", got.Data)
	}
	withKeys := secret.DeepCopy()
	withKeys.Data = map[string][]byte{"tls.crt": {}, "tls.key": {}}
	live = withKeys.DeepCopy()
	live.Data = written
	if got := upgrade(t, withKeys, withKeys, live, &corev1.Secret{}).(*corev1.Secret); len(got.Data["tls.crt"]) != 0 {
		t.Error("control: a Secret rendering empty keys kept the written certificate; the merge is not Helm's")
	}

	mwc := one[*admissionv1.MutatingWebhookConfiguration](t, objs)
	liveMWC := mwc.DeepCopy()
	for i := range liveMWC.Webhooks {
		liveMWC.Webhooks[i].ClientConfig.CABundle = []byte("ca")
	}
	// The new chart version changes something else in the webhook.
	next := mwc.DeepCopy()
	next.Webhooks[0].TimeoutSeconds = ptrTo(int32(7))
	got := upgrade(t, mwc, next, liveMWC, &admissionv1.MutatingWebhookConfiguration{}).(*admissionv1.MutatingWebhookConfiguration)
	for _, w := range got.Webhooks {
		if string(w.ClientConfig.CABundle) != "ca" || *w.TimeoutSeconds != 7 {
			t.Errorf("after an upgrade webhook %s has caBundle %q, timeout %d", w.Name, w.ClientConfig.CABundle, *w.TimeoutSeconds)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// upgrade applies Helm's upgrade patch from previous to next onto live.
func upgrade(t *testing.T, previous, next, live, into runtime.Object) runtime.Object {
	t.Helper()
	enc := func(o runtime.Object) []byte {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(into)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := strategicpatch.CreateThreeWayMergePatch(enc(previous), enc(next), enc(live), meta, true)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := strategicpatch.StrategicMergePatch(enc(live), patch, into)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(merged, into); err != nil {
		t.Fatal(err)
	}
	return into
}
