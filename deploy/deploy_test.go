// Package deploy holds the Helm chart, the plain manifests and the
// configuration examples; its tests render the chart with Helm's own
// engine and decode every object strictly into the Kubernetes API types,
// so a typo in a field name, a wrong type or a setting the service does
// not know fails here rather than at `kubectl apply`.
package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
)

var update = flag.Bool("update", false, "rewrite the generated plain manifests in deploy/kubernetes from the chart")

const (
	chartDir    = "helm/drone-convert-eci"
	fullValues  = "helm/drone-convert-eci/ci/full-values.yaml"
	plainDir    = "kubernetes"
	releaseName = "drone-convert-eci"
	namespace   = "drone"
	// exampleImage is the image repository every render names.
	exampleImage = "registry.example.com/acme/drone-convert-eci"
	// The Secret the plain manifests expect the operator to create.
	plainSecret = "drone-convert-eci"
)

// object is one decoded manifest document and where it came from.
type object struct {
	source string
	obj    runtime.Object
}

// render renders the chart the way `helm template` does, with the chart's
// values overlaid by each values file and then by set (a YAML document).
func render(t *testing.T, service string, set string, valueFiles ...string) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	// The chart requires an image; the renders (and so the plain
	// manifests, whose readers edit it) name a placeholder no one can
	// publish under.
	vals := map[string]interface{}{"image": map[string]interface{}{"repository": exampleImage}}
	for _, f := range valueFiles {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		vals = chartutil.CoalesceTables(v.AsMap(), vals)
	}
	if set != "" {
		v, err := chartutil.ReadValues([]byte(set))
		if err != nil {
			t.Fatalf("reading overrides: %v", err)
		}
		vals = chartutil.CoalesceTables(v.AsMap(), vals)
	}
	top, err := chartutil.ToRenderValues(chrt, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, nil)
	if err != nil {
		return nil, err
	}
	if service != "" {
		top["Release"].(map[string]interface{})["Service"] = service
	}
	return engine.Engine{Strict: true}.Render(chrt, top)
}

// mustRender renders and fails the test on a template error.
func mustRender(t *testing.T, set string, valueFiles ...string) map[string]string {
	t.Helper()
	out, err := render(t, "", set, valueFiles...)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return out
}

// manifests keeps the rendered files that are manifests (not NOTES.txt,
// not partials) and decodes every document in them strictly.
func manifests(t *testing.T, rendered map[string]string) []object {
	t.Helper()
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		if strings.HasSuffix(name, ".yaml") && !strings.HasPrefix(filepath.Base(name), "_") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var objs []object
	for _, name := range names {
		objs = append(objs, decodeAll(t, name, []byte(rendered[name]))...)
	}
	return objs
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeAll splits a YAML stream and decodes each non-empty document
// into its Kubernetes API type, refusing unknown and duplicate fields.
func decodeAll(t *testing.T, source string, data []byte) []object {
	t.Helper()
	var objs []object
	for i, doc := range docSeparator.Split(string(data), -1) {
		if isBlank(doc) {
			continue
		}
		where := fmt.Sprintf("%s (document %d)", source, i+1)
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s: not YAML: %v\n%s", where, err, doc)
		}
		gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
		obj, err := scheme.Scheme.New(gvk)
		if newCR, ok := customResources[gvk]; ok {
			obj, err = newCR(), nil
		}
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: strict decoding into %s: %v\n%s", where, gvk, err, doc)
		}
		refuseSecretListing(t, where, obj)
		objs = append(objs, object{source: where, obj: obj})
	}
	return objs
}

func isBlank(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// find returns the objects of one Go type.
func find[T runtime.Object](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func one[T runtime.Object](t *testing.T, objs []object) T {
	t.Helper()
	found := find[T](objs)
	if len(found) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d", zero, len(found))
	}
	return found[0]
}

// settings lists the environment variables the service reads, as
// envconfig itself sees config.Config (tags, nesting, ignored fields).
func settings(t *testing.T) []string {
	t.Helper()
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 0, ' ', 0)
	cfg := config.Default()
	if err := envconfig.Usagef("", &cfg, tw, "{{range .}}{{.Key}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	names := strings.Fields(buf.String())
	if len(names) == 0 {
		t.Fatal("config.Config has no envconfig settings")
	}
	return names
}

// goRuntimeEnv are the Go runtime's own settings the chart may set
// besides internal/config's: GOMEMLIMIT keeps garbage from doubling the
// memory budget (docs/how-it-works.md "Hostile configs").
var goRuntimeEnv = map[string]bool{"GOMEMLIMIT": true}

// secretValue is the shared secret the default-values renders use; the
// chart refuses to render without one.
const secretValue = "secret:\n  value: 0123456789abcdef\n"

func TestChartMetadata(t *testing.T) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := chrt.Validate(); err != nil {
		t.Fatal(err)
	}
	if chrt.Metadata.APIVersion != chart.APIVersionV2 {
		t.Errorf("apiVersion %q, want v2", chrt.Metadata.APIVersion)
	}
	for _, v := range []string{"1.21.0", "1.31.0"} {
		if !chartutil.IsCompatibleRange(chrt.Metadata.KubeVersion, v) {
			t.Errorf("kubeVersion %q refuses %s", chrt.Metadata.KubeVersion, v)
		}
	}
}

func TestDefaultValues(t *testing.T) {
	objs := manifests(t, mustRender(t, secretValue))
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[fmt.Sprintf("%T", o.obj)]++
	}
	want := map[string]int{
		"*v1.Deployment": 1, "*v1.Service": 1, "*v1.Secret": 1,
		"*v1.ServiceAccount": 1, "*v1.PodDisruptionBudget": 1,
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("default values render %v, want %v (no RBAC, no webhook)", kinds, want)
	}
	checkConsistent(t, objs)

	d := one[*appsv1.Deployment](t, objs)
	if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("without rbac.secrets the pod must not mount a ServiceAccount token")
	}
	if got := *d.Spec.Replicas; got < 2 {
		t.Errorf("replicas %d: one replica leaves the Drone server without a converter during a rollout", got)
	}
	s := one[*corev1.Secret](t, objs)
	if got := string(s.Data["DRONE_SECRET"]); got != "0123456789abcdef" {
		t.Errorf("Secret holds %q", got)
	}
	if d.Spec.Template.Annotations["checksum/secret"] == "" {
		t.Error("pods do not roll when the chart-managed secret changes")
	}
	// A preStop sleep action needs Kubernetes 1.30 and the image has no
	// shell for an exec sleep; the chart claims older versions, so the
	// service drains by itself (DRONE_ECI_SHUTDOWN_DRAIN) instead.
	if l := d.Spec.Template.Spec.Containers[0].Lifecycle; l != nil {
		t.Errorf("default lifecycle %+v: a hook that works on every Kubernetes version the chart claims, or none", l)
	}
}

func TestFullValues(t *testing.T) {
	objs := manifests(t, mustRender(t, "", fullValues))
	checkConsistent(t, objs)

	if n := len(find[*corev1.Secret](objs)); n != 0 {
		t.Errorf("existingSecret set, yet the chart renders %d Secrets", n)
	}
	checkSecretCarrierRBAC(t, objs, "eci-converter", []string{"drone-pipelines", "drone-release"})
	d := one[*appsv1.Deployment](t, objs)
	if !*d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("rbac.secrets is on, yet the pod gets no ServiceAccount token")
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; !strings.Contains(got, "@sha256:") {
		t.Errorf("image.digest set, image is %q", got)
	}
	one[*admissionv1.MutatingWebhookConfiguration](t, objs)
	pdb := one[*policyv1.PodDisruptionBudget](t, objs)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("minAvailable set: PDB is %+v", pdb.Spec)
	}

	// A *_FILE setting names a file on a mounted volume.
	c := d.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		if !strings.HasSuffix(e.Name, "_FILE") || e.Value == "" {
			continue
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || strings.HasPrefix(e.Value, strings.TrimSuffix(m.MountPath, "/")+"/")
		}
		if !mounted {
			t.Errorf("%s=%s is on no mounted volume (the root filesystem is the image's)", e.Name, e.Value)
		}
	}

	// Every setting in the full values file is one the service accepts.
	cfg := loadFromDeployment(t, d)
	if cfg.MaxBodyBytes != 2097152 || cfg.MaxConcurrent != 16 || len(cfg.Repos) != 2 ||
		len(cfg.NodeSelector) != 2 || cfg.TolerationValue != "alibabacloud" || cfg.LogFormat != "json" {
		t.Errorf("full values reach the service as %+v", cfg)
	}
}

// checkConsistent checks what a strict decode cannot: that the objects
// refer to each other correctly and the pod is locked down.
func checkConsistent(t *testing.T, objs []object) {
	t.Helper()
	d := one[*appsv1.Deployment](t, objs)
	pod := d.Spec.Template
	if d.Namespace != namespace {
		t.Errorf("Deployment namespace %q", d.Namespace)
	}
	if !matches(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, pod.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}

	// The port follows DRONE_BIND.
	bind := ":3000"
	for _, e := range c.Env {
		if e.Name == "DRONE_BIND" {
			bind = e.Value
		}
	}
	wantPort, _ := strconv.Atoi(bind[strings.LastIndex(bind, ":")+1:])
	if ports["http"] != int32(wantPort) {
		t.Errorf("container port http %d, DRONE_BIND %q", ports["http"], bind)
	}
	// Readiness is /readyz, which fails on SIGTERM and covers the
	// webhook listener; liveness stays on /healthz, so draining never
	// gets the container restarted.
	for _, probe := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}} {
		if probe.probe == nil || probe.probe.HTTPGet == nil || probe.probe.HTTPGet.Path != probe.path || probe.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v, want GET %s on port http", probe.name, probe.probe, probe.path)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
		c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and limits", c.Resources)
	}

	// Locked down: non-root 65532, read-only root, no capabilities, seccomp.
	sc, psc := c.SecurityContext, pod.Spec.SecurityContext
	switch {
	case sc == nil || psc == nil:
		t.Fatal("missing security context")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532:
		t.Error("container must run as non-root UID 65532 (the distroless nonroot user)")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Error("pod must set runAsNonRoot")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem must be read-only")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation must be off")
	case sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Error("capabilities must drop ALL and add none")
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("container seccomp profile must be RuntimeDefault")
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("pod seccomp profile must be RuntimeDefault")
	}

	// The kubelet waits for the service's own drain on SIGTERM, and the
	// drain waits for the longest conversion.
	cfg := loadFromDeployment(t, d)
	if cfg.ShutdownDrain <= 0 || cfg.ShutdownGrace < cfg.ConvertTimeout {
		t.Errorf("DRONE_ECI_SHUTDOWN_DRAIN %s, DRONE_ECI_SHUTDOWN_GRACE %s, DRONE_ECI_CONVERT_TIMEOUT %s: want a drain, and a grace covering a conversion", cfg.ShutdownDrain, cfg.ShutdownGrace, cfg.ConvertTimeout)
	}
	wait := cfg.ShutdownDrain + cfg.ShutdownGrace
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		wait += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if grace := pod.Spec.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second <= wait {
		t.Errorf("terminationGracePeriodSeconds %v does not exceed DRONE_ECI_SHUTDOWN_DRAIN + DRONE_ECI_SHUTDOWN_GRACE (%s): the kubelet kills in-flight conversions", grace, wait)
	}

	// Mounts name volumes that exist.
	vols := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = true
	}
	for _, m := range c.VolumeMounts {
		if !vols[m.Name] {
			t.Errorf("mount %q names no volume", m.Name)
		}
	}

	// The env carries only settings the service knows, DRONE_SECRET from
	// a Secret key, nothing twice.
	known := map[string]bool{}
	for _, name := range settings(t) {
		known[name] = true
	}
	seen := map[string]bool{}
	for _, e := range c.Env {
		if !known[e.Name] && !goRuntimeEnv[e.Name] {
			t.Errorf("env %s is not a setting of internal/config", e.Name)
		}
		if seen[e.Name] {
			t.Errorf("env %s set twice", e.Name)
		}
		seen[e.Name] = true
		if e.Name == "DRONE_SECRET" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.Value != "") {
			t.Error("DRONE_SECRET must come from a Secret, never a literal")
		}
	}
	if !seen["DRONE_SECRET"] {
		t.Error("DRONE_SECRET is not set: the service refuses to start without it")
	}
	for _, s := range find[*corev1.Secret](objs) {
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name == s.Name {
				if _, ok := s.Data[ref.SecretKeyRef.Key]; !ok {
					t.Errorf("env %s: Secret %s has no key %q", e.Name, s.Name, ref.SecretKeyRef.Key)
				}
			}
		}
	}

	// The ServiceAccount it names exists when the chart creates one.
	if sas := find[*corev1.ServiceAccount](objs); len(sas) == 1 && sas[0].Name != pod.Spec.ServiceAccountName {
		t.Errorf("pod uses ServiceAccount %q, chart creates %q", pod.Spec.ServiceAccountName, sas[0].Name)
	}

	// Service and PDB select the pods; target ports exist.
	svc := one[*corev1.Service](t, objs)
	if !matches(svc.Spec.Selector, pod.Labels) {
		t.Errorf("Service selector %v misses the pods %v", svc.Spec.Selector, pod.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("Service port %s targets %q, not a container port", p.Name, p.TargetPort.String())
		}
	}
	for _, pdb := range find[*policyv1.PodDisruptionBudget](objs) {
		if !matches(pdb.Spec.Selector.MatchLabels, pod.Labels) {
			t.Errorf("PDB selector %v misses the pods", pdb.Spec.Selector.MatchLabels)
		}
		if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Error("PDB must set exactly one of minAvailable and maxUnavailable")
		}
	}

	// RoleBindings bind the pod's ServiceAccount to their Role.
	for _, rb := range find[*rbacv1.RoleBinding](objs) {
		if len(rb.Subjects) != 1 || rb.Subjects[0].Name != pod.Spec.ServiceAccountName || rb.Subjects[0].Namespace != d.Namespace {
			t.Errorf("RoleBinding %s/%s binds %+v", rb.Namespace, rb.Name, rb.Subjects)
		}
		found := false
		for _, r := range find[*rbacv1.Role](objs) {
			found = found || (r.Name == rb.RoleRef.Name && r.Namespace == rb.Namespace && rb.RoleRef.Kind == "Role")
		}
		if !found {
			t.Errorf("RoleBinding %s/%s refers to a Role the chart does not create", rb.Namespace, rb.Name)
		}
	}

	// The webhook only ever sees build pods, and never blocks one.
	for _, mwc := range find[*admissionv1.MutatingWebhookConfiguration](objs) {
		for _, w := range mwc.Webhooks {
			if w.FailurePolicy == nil || *w.FailurePolicy != admissionv1.Ignore {
				t.Errorf("webhook %s: failurePolicy must be Ignore", w.Name)
			}
			if w.SideEffects == nil || *w.SideEffects != admissionv1.SideEffectClassNone {
				t.Errorf("webhook %s: sideEffects must be None", w.Name)
			}
			if w.ObjectSelector == nil || !reflect.DeepEqual(w.ObjectSelector.MatchLabels, map[string]string{"io.drone": "true"}) {
				t.Errorf("webhook %s: objectSelector must be io.drone=true", w.Name)
			}
			if w.NamespaceSelector == nil || len(w.NamespaceSelector.MatchExpressions) != 1 {
				t.Errorf("webhook %s: must be limited to the pipeline namespaces", w.Name)
			}
			ref := w.ClientConfig.Service
			if ref == nil || ref.Name != svc.Name || ref.Namespace != svc.Namespace {
				t.Errorf("webhook %s calls %+v, not the chart's Service", w.Name, ref)
				continue
			}
			ok := false
			for _, p := range svc.Spec.Ports {
				ok = ok || (ref.Port != nil && p.Port == *ref.Port && p.TargetPort.String() == "webhook")
			}
			if !ok {
				t.Errorf("webhook %s: Service has no port %v targeting the webhook", w.Name, ref.Port)
			}
			if _, ok := ports["webhook"]; !ok {
				t.Error("webhook enabled, container has no webhook port")
			}
			// The process serves it where the Service sends it, with the
			// mounted certificate, and build pods get the loader from
			// this same image.
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			if env["DRONE_ECI_WEBHOOK_ENABLED"] != "true" || env["DRONE_ECI_RECORD_ENTRYPOINTS"] != "true" {
				t.Errorf("webhook enabled, but DRONE_ECI_WEBHOOK_ENABLED=%q DRONE_ECI_RECORD_ENTRYPOINTS=%q", env["DRONE_ECI_WEBHOOK_ENABLED"], env["DRONE_ECI_RECORD_ENTRYPOINTS"])
			}
			if bind := env["DRONE_ECI_WEBHOOK_BIND"]; bind != fmt.Sprintf(":%d", ports["webhook"]) {
				t.Errorf("DRONE_ECI_WEBHOOK_BIND %q, webhook port %d", bind, ports["webhook"])
			}
			if env["DRONE_ECI_WEBHOOK_LOADER_IMAGE"] != c.Image {
				t.Errorf("loader image %q, the chart's image %q", env["DRONE_ECI_WEBHOOK_LOADER_IMAGE"], c.Image)
			}
			if env["DRONE_ECI_WEBHOOK_TLS_MODE"] == config.TLSSelfManaged {
				// Read from the API (webhooktls_test.go checks its RBAC).
				continue
			}
			for _, file := range []string{env["DRONE_ECI_WEBHOOK_TLS_CERT"], env["DRONE_ECI_WEBHOOK_TLS_KEY"]} {
				mounted := false
				for _, m := range c.VolumeMounts {
					mounted = mounted || strings.HasPrefix(file, m.MountPath+"/")
				}
				if !mounted {
					t.Errorf("webhook TLS file %q is on no mounted volume", file)
				}
			}
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestChartRefuses checks that values that cannot work fail at render
// time with a message naming the value.
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, set, want string
	}{
		{"no secret", "", "secret.value"},
		{"two secrets", "secret:\n  value: x\n  existingSecret: other\n", "not both"},
		{"loopback bind", secretValue + "env:\n  DRONE_BIND: 127.0.0.1:3000\n", "env.DRONE_BIND"},
		{"rbac without namespaces", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\nrbac:\n  secrets:\n    enabled: true\n", "pipelineNamespaces"},
		{"rbac the service does not use", secretValue + "pipelineNamespaces: [default]\nrbac:\n  secrets:\n    enabled: true\n", "DRONE_ECI_ENV_IN_CLUSTER"},
		{"rbac elsewhere than the env namespace", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\npipelineNamespaces: [p]\nrbac:\n  secrets:\n    enabled: true\n", "DRONE_ECI_ENV_NAMESPACE"},
		{"registry rbac the service does not use", secretValue + "pipelineNamespaces: [default]\nrbac:\n  registry:\n    enabled: true\n", "DRONE_ECI_ENV_IN_CLUSTER"},
		{"webhook without namespaces", secretValue + "webhook:\n  enabled: true\n  tls:\n    secretName: tls\n", "pipelineNamespaces"},
		{"webhook Secret not named", secretValue + "pipelineNamespaces: [p]\nwebhook:\n  enabled: true\n  tls:\n    mode: secret\n", "webhook.tls.secretName"},
		{"webhook with no CA source", secretValue + "pipelineNamespaces: [p]\nwebhook:\n  enabled: true\n  tls:\n    mode: secret\n    secretName: tls\n", "webhook.caBundle: with webhook.tls.mode secret the API server needs the CA"},
		{"unknown webhook TLS mode", secretValue + "pipelineNamespaces: [p]\nwebhook:\n  enabled: true\n  tls:\n    mode: manual\n", "webhook.tls.mode"},
		{"caBundle the service keeps", secretValue + "pipelineNamespaces: [p]\nwebhook:\n  enabled: true\n  caBundle: Zm9v\n", "webhook.caBundle: with webhook.tls.mode self-managed"},
		{"two caBundle writers", secretValue + "pipelineNamespaces: [p]\nwebhook:\n  enabled: true\n  tls:\n    mode: cert-manager\n  annotations:\n    cert-manager.io/inject-ca-from: drone/other\n", "two writers"},
		{"network policy shutting the Drone server out", secretValue + "networkPolicy:\n  enabled: true\n", "networkPolicy.droneServer"},
		{"Secret access in kube-system", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_NAMESPACE: drone-pipelines\npipelineNamespaces: [drone-pipelines, kube-system]\nrbac:\n  secrets:\n    enabled: true\n", `pipelineNamespaces: "kube-system"`},
		{"Secret access in the release's namespace", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_NAMESPACE: drone-pipelines\npipelineNamespaces: [drone-pipelines, " + namespace + "]\nrbac:\n  secrets:\n    enabled: true\n", `pipelineNamespaces: "` + namespace + `"`},
		{"registry Role with the Secret carrier but not its Role", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\npipelineNamespaces: [builds]\nrbac:\n  registry:\n    enabled: true\n", "env.DRONE_ECI_ENV_CARRIER=annotations"},
		{"registry Secret access in kube-system", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_CARRIER: annotations\npipelineNamespaces: [kube-system]\nrbac:\n  registry:\n    enabled: true\n", "rbac.allowSensitiveNamespaces"},
		// values.schema.json
		{"no image", secretValue + "image:\n  repository: \"\"\n", "the project publishes no image"},
		{"image from Docker Hub's library", secretValue + "image:\n  repository: drone-convert-eci\n", "names no registry host"},
		{"image without a registry host", secretValue + "image:\n  repository: acme/drone-convert-eci\n", "names no registry host"},
		{"misspelt value", secretValue + "replicaCout: 3\n", "replicaCout"},
		{"not a quantity", secretValue + "resources:\n  limits:\n    memory: lots\n", "resources.limits.memory"},
		{"unknown setting", secretValue + "env:\n  DRONE_ECI_MAX_DEPHT: 3\n", "DRONE_ECI_MAX_DEPHT"},
		{"not a number", secretValue + "env:\n  DRONE_ECI_MAX_DEPTH: deep\n", "env.DRONE_ECI_MAX_DEPTH"},
		{"not a duration", secretValue + "env:\n  DRONE_ECI_QUEUE_TIMEOUT: 10\n", "env.DRONE_ECI_QUEUE_TIMEOUT"},
		{"not a switch", secretValue + "webhook:\n  enabled: yes please\n", "webhook.enabled"},
		{"no service account", secretValue + "serviceAccount:\n  create: false\n", "serviceAccount.name"},
		{"Leases outside the collector's Role", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_NAMESPACE: builds\n  DRONE_ECI_NAMESPACE: elsewhere\npipelineNamespaces: [builds]\nrbac:\n  secrets:\n    enabled: true\n", `env.DRONE_ECI_NAMESPACE: "elsewhere"`},
		{"certificate Secret outside the webhook's Role", secretValue + "env:\n  DRONE_ECI_NAMESPACE: elsewhere\npipelineNamespaces: [p]\nwebhook:\n  enabled: true\n", `env.DRONE_ECI_NAMESPACE: "elsewhere"`},
		{"collection where the Role does not reach", secretValue + "env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_NAMESPACE: builds\n  DRONE_ECI_ENV_SECRET_NAMESPACES: builds,team\npipelineNamespaces: [builds]\nrbac:\n  secrets:\n    enabled: true\n", `env.DRONE_ECI_ENV_SECRET_NAMESPACES: "team"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, "", tc.set)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestRegistryRBAC: registry lookups with pull secrets get read access
// by name to ServiceAccounts and Secrets of the pipeline namespaces,
// nothing more (internal/registry/credentials.go), and a token.
func TestRegistryRBAC(t *testing.T) {
	objs := manifests(t, mustRender(t, secretValue+"env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_CARRIER: annotations\npipelineNamespaces: [builds, team]\nrbac:\n  registry:\n    enabled: true\n"))
	checkConsistent(t, objs)
	roles := find[*rbacv1.Role](objs)
	if len(roles) != 2 {
		t.Fatalf("want a Role in each of the 2 pipeline namespaces, got %d", len(roles))
	}
	for _, r := range roles {
		want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts", "secrets"}, Verbs: []string{"get"}}}
		if !reflect.DeepEqual(r.Rules, want) {
			t.Errorf("Role %s/%s grants %+v; want get on serviceaccounts and secrets only", r.Namespace, r.Name, r.Rules)
		}
	}
	if n := len(find[*rbacv1.RoleBinding](objs)); n != 2 {
		t.Errorf("want 2 RoleBindings, got %d", n)
	}
	if d := one[*appsv1.Deployment](t, objs); !*d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("rbac.registry is on, yet the pod gets no ServiceAccount token")
	}
}

// TestEverySettingIsExposed keeps values.yaml in step with
// internal/config: every setting is there, commented, and nothing else.
func TestEverySettingIsExposed(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Env    map[string]interface{} `json:"env"`
		Secret struct {
			Key string `json:"key"`
		} `json:"secret"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, name := range settings(t) {
		known[name] = true
		_, inEnv := values.Env[name]
		switch {
		case name == "DRONE_SECRET":
			if inEnv {
				t.Error("values.yaml: DRONE_SECRET belongs in secret, not env (it would sit in the pod spec in clear)")
			}
		case !inEnv:
			t.Errorf("values.yaml: setting %s of internal/config is not under env", name)
		}
	}
	for name := range values.Env {
		if !known[name] && !goRuntimeEnv[name] {
			t.Errorf("values.yaml: env.%s is not a setting of internal/config", name)
		}
	}

	// Each setting carries a comment right above it.
	lines := strings.Split(string(raw), "\n")
	key := regexp.MustCompile(`^  (DRONE_[A-Z0-9_]+):`)
	for i, line := range lines {
		if m := key.FindStringSubmatch(line); m != nil && (i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
			t.Errorf("values.yaml:%d: %s has no comment saying what it does", i+1, m[1])
		}
	}
}

// TestDefaultsMatchTheService checks that the chart's defaults, as they
// reach the container, are exactly the service's own defaults.
func TestDefaultsMatchTheService(t *testing.T) {
	d := one[*appsv1.Deployment](t, manifests(t, mustRender(t, secretValue)))
	got := loadFromDeployment(t, d)
	want := config.Default()
	want.Secret = got.Secret
	// The chosen differences: a deployment asks registries (the code's
	// default keeps the local dry run and the tests offline), and only
	// ACR's and the public ones unless the operator adds theirs.
	want.Registry.Lookup = true
	want.Registry.Allow = []string{"*.aliyuncs.com", "docker.io", "ghcr.io", "quay.io", "gcr.io", "*.gcr.io", "*.pkg.dev", "public.ecr.aws", "registry.k8s.io"}
	diffSettings(t, "", reflect.ValueOf(&got).Elem(), reflect.ValueOf(&want).Elem())
}

// diffSettings reports every field where the two configs differ,
// descending into embedded groups of settings; an empty list or map
// equals a nil one (envconfig makes empty ones from empty variables).
func diffSettings(t *testing.T, prefix string, got, want reflect.Value) {
	t.Helper()
	for i := 0; i < got.NumField(); i++ {
		f := got.Type().Field(i)
		g, w := got.Field(i), want.Field(i)
		name := prefix + f.Name
		switch {
		case g.Kind() == reflect.Struct && g.Type() != reflect.TypeOf(time.Time{}):
			diffSettings(t, name+".", g, w)
		case (g.Kind() == reflect.Slice || g.Kind() == reflect.Map) && g.Len() == 0 && w.Len() == 0:
		case !f.IsExported():
			// Derived state (e.g. parsed files) follows the exported settings.
		case !reflect.DeepEqual(g.Interface(), w.Interface()):
			t.Errorf("%s: chart default %v, service default %v", name, g.Interface(), w.Interface())
		}
	}
}

// loadFromDeployment runs the service's own config loading over the
// container's env, with nothing else from this process's environment.
func loadFromDeployment(t *testing.T, d *appsv1.Deployment) config.Config {
	t.Helper()
	for _, name := range settings(t) {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom != nil:
			t.Setenv(e.Name, "from-a-secret")
		case strings.HasSuffix(e.Name, "_FILE") && e.Value != "":
			// A file the pod mounts: an empty one stands in for it.
			f := filepath.Join(t.TempDir(), filepath.Base(e.Value))
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv(e.Name, f)
		default:
			t.Setenv(e.Name, e.Value)
		}
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("the service refuses the chart's settings: %v", err)
	}
	return cfg
}

// The plain manifests are the chart rendered for namespace drone with an
// operator-created Secret; the optional folder holds what a switch adds.
var plainRenders = []struct {
	dir, set, note string
	keep           map[string]string // template file -> plain file
}{
	{
		dir: plainDir,
		// Build pods run where the example runner puts them.
		set: "secret:\n  existingSecret: " + plainSecret + "\nenv:\n  DRONE_ECI_ENV_NAMESPACE: drone-pipelines\n",
		keep: map[string]string{
			"serviceaccount.yaml": "serviceaccount.yaml",
			"deployment.yaml":     "deployment.yaml",
			"service.yaml":        "service.yaml",
			"pdb.yaml":            "pdb.yaml",
		},
	},
	{
		dir:  filepath.Join(plainDir, "optional"),
		set:  "secret:\n  existingSecret: " + plainSecret + "\nenv:\n  DRONE_ECI_ENV_NAMESPACE: drone-pipelines\n  DRONE_ECI_ENV_IN_CLUSTER: true\npipelineNamespaces: [drone-pipelines]\nrbac:\n  secrets:\n    enabled: true\n",
		note: "# The Secret env carrier's access: apply it with, in ../deployment.yaml and\n# ../serviceaccount.yaml, automountServiceAccountToken: true,\n# DRONE_ECI_ENV_IN_CLUSTER \"true\" and DRONE_ECI_ENV_SECRET_NAMESPACES\n# \"drone-pipelines\" (the chart's rbac.secrets.enabled does all of it).\n",
		keep: map[string]string{"rbac.yaml": "rbac-secrets.yaml"},
	},
	{
		dir:  filepath.Join(plainDir, "optional", "webhook"),
		set:  "secret:\n  existingSecret: " + plainSecret + "\nenv:\n  DRONE_ECI_ENV_NAMESPACE: drone-pipelines\npipelineNamespaces: [drone-pipelines]\nwebhook:\n  enabled: true\n",
		note: "# The admission webhook (docs/operators.md \"Webhook certificates\"), with\n# self-managed TLS. deployment.yaml and service.yaml replace ../../deployment.yaml\n# and ../../service.yaml (the same objects plus the webhook's port and settings\n# and a ServiceAccount token: edit its image and DRONE_ECI_WEBHOOK_LOADER_IMAGE to\n# the one you pushed); webhook.yaml adds the MutatingWebhookConfiguration;\n# webhook-tls.yaml the empty Secret the service issues its CA and certificate\n# into, and the RBAC, by resourceNames, to renew them and patch the caBundle.\n",
		keep: map[string]string{"deployment.yaml": "deployment.yaml", "service.yaml": "service.yaml", "webhook.yaml": "webhook.yaml", "webhook-tls.yaml": "webhook-tls.yaml"},
	},
}

// The webhook's certificate Secret in the plain webhook manifests (the
// chart's default name).
const plainWebhookTLS = "drone-convert-eci-webhook-tls"

const plainHeader = "# Generated from deploy/helm/drone-convert-eci by `go test ./deploy -update`:\n# change the chart, not this file.\n"

func TestPlainManifests(t *testing.T) {
	for _, pr := range plainRenders {
		out, err := render(t, "kubectl", pr.set)
		if err != nil {
			t.Fatal(err)
		}
		for tmpl, file := range pr.keep {
			body, ok := out[filepath.Join("drone-convert-eci", "templates", tmpl)]
			if !ok {
				t.Fatalf("chart has no template %s", tmpl)
			}
			want := plainHeader + pr.note + strings.TrimLeft(body, "\n")
			path := filepath.Join(pr.dir, file)
			if *update {
				if err := os.MkdirAll(pr.dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./deploy -update)", err)
			}
			if string(got) != want {
				t.Errorf("%s differs from the chart's rendering; run go test ./deploy -update", path)
			}
		}
	}

	// Every plain manifest, generated or written by hand, decodes
	// strictly, and together they are a consistent installation.
	var all, withWebhook []object
	webhookDir := filepath.Join(plainDir, "optional", "webhook")
	for _, dir := range []string{plainDir, filepath.Join(plainDir, "optional"), webhookDir} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if len(files) == 0 {
			t.Fatalf("no manifests in %s", dir)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, f, data)
			for _, o := range objs {
				if m, ok := o.obj.(interface{ GetNamespace() string }); ok && dir == plainDir {
					if _, isNS := o.obj.(*corev1.Namespace); !isNS && m.GetNamespace() != namespace {
						t.Errorf("%s: namespace %q, want %q", o.source, m.GetNamespace(), namespace)
					}
				}
			}
			if dir == plainDir {
				all = append(all, objs...)
			}
			if dir == webhookDir {
				withWebhook = append(withWebhook, objs...)
			}
		}
	}
	ns := one[*corev1.Namespace](t, all)
	if ns.Name != namespace || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s labels %v: want %s enforcing the restricted Pod Security Standard", ns.Name, ns.Labels, namespace)
	}
	checkConsistent(t, all)
	// The webhook folder replaces the base Deployment and Service.
	checkConsistent(t, withWebhook)
	one[*admissionv1.MutatingWebhookConfiguration](t, withWebhook)
	for _, o := range all {
		if d, ok := o.obj.(*appsv1.Deployment); ok {
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name != plainSecret {
					t.Errorf("plain Deployment reads %s from Secret %q; the walkthrough creates %q", e.Name, e.ValueFrom.SecretKeyRef.Name, plainSecret)
				}
			}
		}
	}
}

// TestExamples decodes the example runner manifests strictly.
func TestExamples(t *testing.T) {
	data, err := os.ReadFile("examples/drone-runner-kube.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, "examples/drone-runner-kube.yaml", data)
	d := one[*appsv1.Deployment](t, objs)
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	for _, name := range []string{"DRONE_NAMESPACE_DEFAULT", "DRONE_SERVICE_ACCOUNT_DEFAULT", "DRONE_IMAGE_CLONE", "DRONE_IMAGE_PLACEHOLDER"} {
		if env[name] == "" {
			t.Errorf("runner example does not set %s", name)
		}
	}
	for _, name := range []string{"DRONE_IMAGE_CLONE", "DRONE_IMAGE_PLACEHOLDER"} {
		if img := env[name]; strings.HasSuffix(img, ":latest") || !strings.ContainsAny(img, ":@") {
			t.Errorf("%s=%q: a floating tag defeats ECI image caches", name, img)
		}
	}
	// The runner's namespace for build pods has the Role the runner needs
	// and the ServiceAccount build pods run as.
	var haveRole, haveSA bool
	for _, r := range find[*rbacv1.Role](objs) {
		haveRole = haveRole || r.Namespace == env["DRONE_NAMESPACE_DEFAULT"]
	}
	for _, sa := range find[*corev1.ServiceAccount](objs) {
		if sa.Namespace == env["DRONE_NAMESPACE_DEFAULT"] && sa.Name == env["DRONE_SERVICE_ACCOUNT_DEFAULT"] {
			haveSA = true
			if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Error("build pods' ServiceAccount must not mount a token")
			}
		}
	}
	if !haveRole || !haveSA {
		t.Errorf("runner example: Role in the build namespace %v, build ServiceAccount %v", haveRole, haveSA)
	}

	envFile, err := os.ReadFile("examples/drone-server.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"DRONE_CONVERT_PLUGIN_ENDPOINT=", "DRONE_CONVERT_PLUGIN_SECRET=", "DRONE_CONVERT_TIMEOUT"} {
		if !bytes.Contains(envFile, []byte(name)) {
			t.Errorf("examples/drone-server.env does not mention %s", strings.TrimSuffix(name, "="))
		}
	}
}

// TestSensitiveNamespacesForced: rbac.allowSensitiveNamespaces lets an
// operator who means it grant Secret access in kube-system and the
// release's own namespace; the webhook alone (no Secret access) never
// needed it.
func TestSensitiveNamespacesForced(t *testing.T) {
	objs := manifests(t, mustRender(t, secretValue+"env:\n  DRONE_ECI_ENV_IN_CLUSTER: true\n  DRONE_ECI_ENV_NAMESPACE: kube-system\npipelineNamespaces: [kube-system, "+namespace+"]\nrbac:\n  allowSensitiveNamespaces: true\n  secrets:\n    enabled: true\n"))
	var got []string
	for _, r := range find[*rbacv1.Role](objs) {
		if strings.HasSuffix(r.Name, "-secrets") {
			got = append(got, r.Namespace)
		}
	}
	if !reflect.DeepEqual(got, []string{"kube-system", namespace}) {
		t.Errorf("forced: Roles in %v", got)
	}
	mustRender(t, secretValue+"pipelineNamespaces: ["+namespace+"]\nwebhook:\n  enabled: true\n  tls:\n    secretName: tls\n")
}
