package transform

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSizing(t *testing.T) {
	s := Sizing{Step: Spec{CPU: 1000, Memory: 2 * GiB}, Max: Spec{CPU: 16000, Memory: 32 * GiB}}
	tests := []struct {
		name     string
		sizing   *Sizing
		input    string
		contains []string // in the output
		report   []string // in the report
		operator []string // in the notes for the operator
		err      string
	}{
		{
			name:     "serial with defaults",
			input:    "steps:\n- name: a\n  image: x:1\n- name: b\n  image: x:1\n",
			contains: []string{"k8s.aliyun.com/eci-use-specs: 1-2Gi"},
			report:   []string{"peak 1 vCPU / 2 GiB (step a)", "eci-use-specs 1-2Gi", "without it ECI would size the pod from the runner's requests and limits: 0.25-0.5Gi"},
		},
		{
			name:     "limits in runner units, parallel, with a service",
			input:    "services:\n- name: db\n  image: pg:16\n  resources: {limits: {cpu: 500, memory: 1GiB}}\nsteps:\n- name: a\n  image: x:1\n  resources: {limits: {cpu: 1500, memory: 3GiB}}\n- name: b\n  image: x:1\n  depends_on: [clone]\n  resources: {limits: {cpu: 2000, memory: 2147483648}}\n",
			contains: []string{"eci-use-specs: 4-8Gi"},
			report:   []string{"peak 4 vCPU / 6 GiB (steps a+b at once, with db running throughout)", "without it ECI would size the pod from the runner's requests and limits: 8-8Gi"},
		},
		{
			// As drone-runner-kube reads sizes (go-units v0.4.0): "Mi"
			// without the "B" is a size too.
			name:     "Kubernetes-style sizes, as the runner reads them",
			input:    "steps:\n- name: a\n  image: x:1\n  resources: {limits: {cpu: 1000, memory: 4096Mi}}\n",
			contains: []string{"eci-use-specs: 1-4Gi"},
			report:   []string{"peak 1 vCPU / 4 GiB (step a)"},
		},
		{
			name:     "the pipeline's own spec wins",
			input:    "metadata:\n  annotations:\n    k8s.aliyun.com/eci-use-specs: 0.5-1Gi\nsteps:\n- name: a\n  image: x:1\n",
			contains: []string{"k8s.aliyun.com/eci-use-specs: 0.5-1Gi\n"},
			report:   []string{"warnings: sizing: the pipeline's own k8s.aliyun.com/eci-use-specs (0.5-1Gi) is below its peak demand of 1 vCPU / 2 GiB"},
		},
		{
			name:     "the legacy pair set by the pipeline wins too",
			input:    "metadata:\n  annotations:\n    k8s.aliyun.com/eci-cpu: \"4\"\nsteps:\n- name: a\n  image: x:1\n",
			contains: []string{"k8s.aliyun.com/eci-cpu: \"4\"\n"},
		},
		{
			name:     "legacy annotations",
			sizing:   &Sizing{Step: Spec{CPU: 250, Memory: GiB / 2}, Max: Spec{CPU: 16000, Memory: 32 * GiB}, Legacy: true},
			input:    "clone: {disable: true}\nsteps:\n- name: a\n  image: x:1\n",
			contains: []string{"k8s.aliyun.com/eci-cpu: \"0.25\"", "k8s.aliyun.com/eci-memory: 0.5Gi"},
		},
		{
			name:     "fallbacks that cannot hold the demand are dropped, at most five entries",
			sizing:   &Sizing{Step: Spec{CPU: 2000, Memory: 4 * GiB}, Max: Spec{CPU: 16000, Memory: 32 * GiB}, Fallbacks: []string{"1-2Gi", "4-8Gi", "ecs.c6.xlarge", "2-4Gi", "8-16Gi", "16-32Gi"}},
			input:    "steps:\n- name: a\n  image: x:1\n",
			contains: []string{"eci-use-specs: 2-4Gi,4-8Gi,ecs.c6.xlarge,8-16Gi,16-32Gi\n"},
		},
		{
			name:     "capped at the maximum",
			sizing:   &Sizing{Step: Spec{CPU: 1000, Memory: 2 * GiB}, Max: Spec{CPU: 2000, Memory: 4 * GiB}},
			input:    "steps:\n- name: a\n  image: x:1\n  resources: {limits: {cpu: 8000}}\n",
			contains: []string{"eci-use-specs: 2-2Gi"},
			report:   []string{"peak demand 8 vCPU / 2 GiB exceeds the largest spec this service gives a pod, 2-4Gi; the pod gets 2-2Gi"}, operator: []string{"DRONE_ECI_MAX_SPEC: peak demand 8 vCPU / 2 GiB capped at 2-4Gi"},
		},
		{
			name:     "extra annotations, sorted, the pipeline's own kept",
			sizing:   &Sizing{Step: Spec{CPU: 1000, Memory: 2 * GiB}, Max: Spec{CPU: 16000, Memory: 32 * GiB}, Extra: map[string]string{"k8s.aliyun.com/eci-spot-strategy": "SpotAsPriceGo", "k8s.aliyun.com/eci-extra-ephemeral-storage": "50Gi", "x/own": "theirs"}},
			input:    "metadata:\n  annotations:\n    x/own: mine\nsteps:\n- name: a\n  image: x:1\n",
			contains: []string{"x/own: mine\n    k8s.aliyun.com/eci-use-specs: 1-2Gi\n    k8s.aliyun.com/eci-extra-ephemeral-storage: 50Gi\n    k8s.aliyun.com/eci-spot-strategy: SpotAsPriceGo\n"},
		},
		{
			name:     "steps through merge keys and aliases",
			input:    "x-step: &step\n  image: x:1\n  resources: {limits: {cpu: 3000}}\nsteps:\n- <<: *step\n  name: a\n- <<: *step\n  name: b\n  depends_on: [clone]\n",
			contains: []string{"eci-use-specs: 8-4Gi"},
			report:   []string{"peak 6 vCPU / 4 GiB (steps a+b at once)"},
		},
		{
			name:     "substituted limits fall back to the default with a warning",
			input:    "steps:\n- name: a\n  image: x:1\n  resources: {limits: {cpu: \"${CPU}\"}}\n",
			contains: []string{"eci-use-specs: 1-2Gi"},
			report:   []string{`steps[0] (a): resources.limits.cpu: "${CPU}" is substituted at build time; sizing assumes the default`},
		},
		{
			name:  "fractional cpu is refused as the runner would",
			input: "steps:\n- name: a\n  image: x:1\n  resources: {limits: {cpu: 1.5}}\n",
			err:   `pipeline "p": steps[0] (a): resources.limits.cpu: "1.5" is not a whole number of millicores (1000 is one vCPU)`,
		},
		{
			name:  "too many containers, counting clone",
			input: "services:\n- {name: s, image: x:1}\nsteps:\n" + strings.Repeat("- {name: a, image: x:1}\n", 19),
			err:   `pipeline "p": 21 containers (clone + 1 services + 19 steps) exceed ECI's limit of 20 per pod by 1; split the pipeline, or merge steps (clone: disable: true saves one)`,
		},
		{
			name:     "twenty containers fit when clone is disabled",
			input:    "clone:\n  disable: true\nservices:\n- {name: s, image: x:1}\nsteps:\n" + strings.Repeat("- {name: a, image: x:1}\n", 19),
			contains: []string{"eci-use-specs"},
		},
		{
			name:  "too many volumes, counting the runner's two",
			input: "steps:\n- {name: a, image: x:1}\nvolumes:\n" + strings.Repeat("- {name: v, temp: {}}\n", 19),
			err:   `pipeline "p": 21 volumes (19 in volumes + the runner's workspace and downward-API volumes) exceed ECI's limit of 20 per pod by 1`,
		},
		{
			name:     "volumes of no known type are not created by the runner",
			input:    "steps:\n- {name: a, image: x:1}\nvolumes:\n" + strings.Repeat("- {name: v, temp: {}}\n", 18) + "- {name: w}\n- {name: w, temp: ~}\n",
			contains: []string{"eci-use-specs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := s
			if tt.sizing != nil {
				tr = *tt.sizing
			}
			checkTransform(t, tr, tt.input, expect{err: tt.err, contains: tt.contains, absent: nil, report: tt.report, operator: tt.operator})
		})
	}
}

func TestDivideEqually(t *testing.T) {
	got := divideEqually(100*MiB, 3, 4*MiB)
	var sum int64
	for _, p := range got {
		sum += p
	}
	// 100 MiB is 25 chunks of 4 MiB: 9, 8, 8.
	if got[0] != 36*MiB || got[1] != 32*MiB || got[2] != 32*MiB || sum != 100*MiB {
		t.Fatalf("got %v", got)
	}
}

// TestReadResourcesAsTheRunner pins the memory spellings the released
// runner accepts: runner-go's BytesSize uses go-units v0.4.0, which
// reads Kubernetes-style "Mi" too (v0.5.0 refuses it).
func TestReadResourcesAsTheRunner(t *testing.T) {
	for value, want := range map[string]int64{"1024Mi": 1 << 30, "500MiB": 500 << 20, "2GiB": 2 << 30, "2g": 2 << 30, "1048576": 1 << 20} {
		var m yaml.Node
		if err := yaml.Unmarshal([]byte("memory: "+value), &m); err != nil {
			t.Fatal(err)
		}
		got, err := readResources(m.Content[0], func() string { return "resources.limits" })
		if err != nil || got.Memory != want {
			t.Errorf("%s: %d, %v; want %d", value, got.Memory, err, want)
		}
	}
}
