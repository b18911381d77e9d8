package deploy

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var serviceMonitorKind = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}

// serviceMonitor is the part of prometheus-operator's ServiceMonitor
// (monitoring.coreos.com/v1, field names from its CRD) the chart may
// render: decoding strictly into it refuses a misspelt field, as for the
// built-in kinds.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Scheme        string `json:"scheme"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func (s *serviceMonitor) DeepCopyObject() runtime.Object { c := *s; return &c }

// TestServiceMonitor: off by default; on, it scrapes /metrics on the
// named Service port the service serves it on, of this release's Service.
func TestServiceMonitor(t *testing.T) {
	if n := len(find[*serviceMonitor](manifests(t, mustRender(t, secretValue)))); n != 0 {
		t.Errorf("default values render %d ServiceMonitors", n)
	}
	objs := manifests(t, mustRender(t, "", fullValues))
	sm := one[*serviceMonitor](t, objs)
	svc := one[*corev1.Service](t, objs)
	if !matches(sm.Spec.Selector.MatchLabels, svc.Labels) || !reflect.DeepEqual(sm.Spec.NamespaceSelector.MatchNames, []string{svc.Namespace}) {
		t.Errorf("ServiceMonitor selects %v in %v, not Service %s/%s %v", sm.Spec.Selector.MatchLabels, sm.Spec.NamespaceSelector.MatchNames, svc.Namespace, svc.Name, svc.Labels)
	}
	if sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("serviceMonitor.labels not applied: %v", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("%d endpoints", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	var port *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == ep.Port {
			port = &svc.Spec.Ports[i]
		}
	}
	if port == nil || port.TargetPort.String() != "http" || ep.Path != "/metrics" || ep.Scheme != "http" || ep.Interval != "15s" || ep.ScrapeTimeout != "5s" {
		t.Errorf("endpoint %+v on Service port %+v: want /metrics over http on the conversion port", ep, port)
	}
}

// TestNetworkPolicy: ingress only (egress stays open for registry
// lookups), the Drone server and scrapers to the conversion port, the
// API server's CIDRs (or anyone, without them) to the webhook port;
// named ports the container has.
func TestNetworkPolicy(t *testing.T) {
	if n := len(find[*networkingv1.NetworkPolicy](manifests(t, mustRender(t, secretValue)))); n != 0 {
		t.Errorf("default values render %d NetworkPolicies", n)
	}
	tcp := corev1.ProtocolTCP
	port := func(name string) []networkingv1.NetworkPolicyPort {
		p := intstr.FromString(name)
		return []networkingv1.NetworkPolicyPort{{Port: &p, Protocol: &tcp}}
	}
	drone := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "drone"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "drone"}},
	}
	monitoring := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}
	outside := networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.5/32"}}
	for _, tc := range []struct {
		name  string
		set   string
		files []string
		want  []networkingv1.NetworkPolicyIngressRule
	}{
		{
			name: "full values", files: []string{fullValues},
			want: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{drone, monitoring}, Ports: port("http")},
				{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.168.0.0/24"}}}, Ports: port("webhook")},
			},
		},
		{
			name: "webhook port open without the API server's CIDRs",
			set:  secretValue + "pipelineNamespaces: [p]\nwebhook:\n  enabled: true\n  tls:\n    secretName: tls\nnetworkPolicy:\n  enabled: true\n  droneServer:\n    - ipBlock: {cidr: 10.0.0.5/32}\n",
			want: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{outside}, Ports: port("http")},
				{Ports: port("webhook")},
			},
		},
		{
			name: "no webhook, no webhook rule",
			set:  secretValue + "networkPolicy:\n  enabled: true\n  droneServer:\n    - ipBlock: {cidr: 10.0.0.5/32}\n",
			want: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{outside}, Ports: port("http")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := manifests(t, mustRender(t, tc.set, tc.files...))
			np := one[*networkingv1.NetworkPolicy](t, objs)
			d := one[*appsv1.Deployment](t, objs)
			if !reflect.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Egress) != 0 {
				t.Errorf("policy types %v, egress %v: want ingress only", np.Spec.PolicyTypes, np.Spec.Egress)
			}
			if !matches(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) || np.Namespace != d.Namespace {
				t.Errorf("NetworkPolicy selects %v, not the Deployment's pods", np.Spec.PodSelector.MatchLabels)
			}
			if !reflect.DeepEqual(np.Spec.Ingress, tc.want) {
				t.Errorf("ingress\n%+v\nwant\n%+v", np.Spec.Ingress, tc.want)
			}
			ports := map[string]bool{}
			for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
				ports[p.Name] = true
			}
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					if !ports[p.Port.String()] {
						t.Errorf("rule names port %s, which the container does not have", p.Port)
					}
				}
			}
		})
	}
}
