package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// TestRunnerPodSizing: on the pod drone-runner-kube creates for every
// converted pipeline, the sizing annotation is a valid ECI spec (or the
// legacy pair), the pod fits ECI's 20 containers and 20 volumes, and
// the converter's estimate of what ECI would size the pod from without
// the annotation equals the sum of the pod's real limits-else-requests.
func TestRunnerPodSizing(t *testing.T) {
	for _, c := range convertedConfigs(t) {
		t.Run(c.Name, func(t *testing.T) {
			bodies := pipelineBodies(t, c.Output)
			compileBoth(t, c, func(t *testing.T, trusted bool, r runnertest.Result) {
				pod := r.Pod
				if n := len(pod.Spec.Containers); n > transform.MaxContainers {
					t.Errorf("pipeline %q: %d containers, ECI takes %d", r.Pipeline, n, transform.MaxContainers)
				}
				if n := len(pod.Spec.Volumes); n > transform.MaxVolumes {
					t.Errorf("pipeline %q: %d volumes, ECI takes %d", r.Pipeline, n, transform.MaxVolumes)
				}
				if strings.Contains(pod.Annotations[plugin.DisableAnnotation], "sizing") {
					return
				}
				checkSizingAnnotations(t, r.Pipeline, pod.Annotations)
				body := bodies[r.Pipeline]
				if body == nil {
					t.Fatalf("pipeline %q not found in the converted output", r.Pipeline)
				}
				want, err := transform.RunnerEstimate(body)
				if err != nil {
					t.Fatal(err)
				}
				if got := podDemand(pod); got != want {
					t.Errorf("pipeline %q: the pod's limits-else-requests sum to %d m / %d B; the converter estimated %d m / %d B", r.Pipeline, got.CPU, got.Memory, want.CPU, want.Memory)
				}
			})
		})
	}
}

func checkSizingAnnotations(t *testing.T, pipeline string, annotations map[string]string) {
	t.Helper()
	if specs, ok := annotations[transform.AnnotationUseSpecs]; ok {
		entries := strings.Split(specs, ",")
		if len(entries) > 5 {
			t.Errorf("pipeline %q: %s has %d entries, ECI takes 5", pipeline, transform.AnnotationUseSpecs, len(entries))
		}
		for _, e := range entries {
			s, ok := transform.ParseSpec(strings.TrimSpace(e))
			if ok && !s.Valid() {
				t.Errorf("pipeline %q: %s entry %q is not a valid ECI spec", pipeline, transform.AnnotationUseSpecs, e)
			}
			if !ok && !strings.HasPrefix(e, "ecs.") {
				t.Errorf("pipeline %q: %s entry %q is neither a spec nor an instance type", pipeline, transform.AnnotationUseSpecs, e)
			}
		}
		return
	}
	cpu, okCPU := annotations[transform.AnnotationCPU]
	mem, okMem := annotations[transform.AnnotationMemory]
	if !okCPU || !okMem {
		t.Errorf("pipeline %q: pod has neither %s nor the %s/%s pair: %v", pipeline, transform.AnnotationUseSpecs, transform.AnnotationCPU, transform.AnnotationMemory, annotations)
		return
	}
	if s, ok := transform.ParseSpec(cpu + "-" + mem); !ok || !s.Valid() {
		t.Errorf("pipeline %q: eci-cpu %q / eci-memory %q is not a valid ECI spec", pipeline, cpu, mem)
	}
}

// podDemand is what ECI sums without a sizing annotation: per container
// its limits, else its requests.
func podDemand(pod *corev1.Pod) transform.Spec {
	var s transform.Spec
	for _, c := range pod.Spec.Containers {
		cpu, mem := c.Resources.Limits.Cpu(), c.Resources.Limits.Memory()
		if cpu.IsZero() {
			cpu = c.Resources.Requests.Cpu()
		}
		if mem.IsZero() {
			mem = c.Resources.Requests.Memory()
		}
		s.CPU += cpu.MilliValue()
		s.Memory += mem.Value()
	}
	return s
}

// TestRunnerFloatingImagesReported: with the default settings
// (DRONE_ECI_FLOATING_TAGS=warn, no pins) a floating step or service
// image may remain, but never silently: the pod's report names it.
func TestRunnerFloatingImagesReported(t *testing.T) {
	for _, c := range convertedConfigs(t) {
		t.Run(c.Name, func(t *testing.T) {
			compileBoth(t, c, func(t *testing.T, trusted bool, r runnertest.Result) {
				report := r.Pod.Annotations[plugin.ReportAnnotation]
				if full, ok := c.Reports[r.Pipeline]; ok && strings.Contains(report, "(cut; drone-convert-eci convert prints the whole report)") {
					report = full // the annotation is bounded; the log and the CLI have it all
				}
				if strings.Contains(r.Pod.Annotations[plugin.DisableAnnotation], "images") {
					return
				}
				for _, step := range r.Spec.Steps {
					if step.Name == "clone" || !floating(step.Image) {
						continue
					}
					if !strings.Contains(report, "floats") || !strings.Contains(report, step.Name) {
						t.Errorf("pipeline %q: step %s runs floating image %s and the report does not say so", r.Pipeline, step.Name, step.Image)
					}
				}
			})
		})
	}
}

// TestRunnerNoFloatingImagesWithPins: an operator who pins what their
// configs use (testdata/images/corpus_pins.txt covers the public corpus)
// and sets DRONE_ECI_FLOATING_TAGS=fail gets no latest or untagged image
// among the step and service images the runner compiles, for every
// corpus file and every testdata input that converts.
func TestRunnerNoFloatingImagesWithPins(t *testing.T) {
	cfg := corpusPinsConfig(t)
	inputs := corpusFiles(t)
	testdata, _ := filepath.Glob("../testdata/convert/*.yml")
	inputs = append(inputs, testdata...)
	converted := 0
	for _, file := range inputs {
		input, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		result, err := plugin.NewConverter(cfg).Convert(plugin.Input{Config: input, Repo: "octo/hello-world", OptInAll: true, MigrateDocker: true})
		if err != nil {
			if strings.Contains(err.Error(), "floats") {
				t.Errorf("%s: refused for a floating image the pin table should cover: %v", file, err)
			}
			continue
		}
		if result.Config == nil {
			continue
		}
		names := map[string]bool{}
		for _, o := range result.Outcomes {
			if o.Converted {
				names[o.Pipeline] = true
			}
		}
		results, err := runnertest.Compile(result.Config, runnertest.Options{Trusted: true})
		if err != nil {
			continue // compileBoth in the other tests says whether that is ours
		}
		for _, r := range results {
			if !names[r.Pipeline] {
				continue
			}
			converted++
			for _, step := range r.Spec.Steps {
				if step.Name != "clone" && floating(step.Image) {
					t.Errorf("%s: pipeline %q step %s: floating image %s", filepath.Base(file), r.Pipeline, step.Name, step.Image)
				}
			}
		}
	}
	if converted == 0 {
		t.Fatal("nothing converted")
	}
}

// floating is true for an image with no tag, or tag latest, and no
// digest (the runner's compiler has already expanded an untagged name
// to :latest).
func floating(image string) bool {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return false
	}
	if _, ok := ref.(reference.Digested); ok {
		return false
	}
	t, ok := ref.(reference.Tagged)
	return !ok || t.Tag() == "latest"
}

type yamlNode = yaml.Node

// pipelineBodies maps pipeline names to their top-level mappings.
func pipelineBodies(t *testing.T, config []byte) map[string]*yamlNode {
	t.Helper()
	docs, err := yamldoc.Parse(config, yamldoc.Limits{MaxDocuments: 1000, MaxDepth: 1000, MaxExpandedNodes: 1 << 20, AliasRatio: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*yamlNode{}
	for _, d := range docs {
		body := d.Body()
		if body == nil {
			continue
		}
		for i := 0; i+1 < len(body.Content); i += 2 {
			if body.Content[i].Value == "name" {
				out[body.Content[i+1].Value] = body
			}
		}
	}
	return out
}

// TestRunnerPodLimitsAtTheEdge: the counts the sizing transform uses
// match the runner's pod. A pipeline the converter lets through at the
// edge gets exactly 20 containers (clone disabled, 2 services, 18
// steps) or exactly 20 volumes (18 declared + the workspace and
// downward-API volumes the runner adds); one more is refused.
func TestRunnerPodLimitsAtTheEdge(t *testing.T) {
	var steps, volumes strings.Builder
	for i := 0; i < 18; i++ {
		steps.WriteString("- name: s" + string(rune('a'+i)) + "\n  image: alpine:3.20\n  commands: [true]\n")
		volumes.WriteString("- name: v" + string(rune('a'+i)) + "\n  temp: {}\n")
	}
	head := "kind: pipeline\ntype: kubernetes\nname: edge\n"
	tests := []struct {
		name, config  string
		containers    int
		volumes       int
		refusedByMore string
	}{
		{
			name:          "containers",
			config:        head + "clone: {disable: true}\nservices:\n- {name: db, image: 'postgres:16'}\n- {name: cache, image: 'redis:7'}\nsteps:\n" + steps.String(),
			containers:    20,
			refusedByMore: "21 containers",
		},
		{
			name:          "volumes",
			config:        head + "steps:\n- {name: a, image: 'alpine:3.20', commands: [true]}\nvolumes:\n" + volumes.String(),
			volumes:       20,
			refusedByMore: "21 volumes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conv := plugin.NewConverter(config.Default())
			result, err := conv.Convert(plugin.Input{Config: []byte(tt.config), Repo: "octo/hello-world", OptInAll: true})
			if err != nil {
				t.Fatal(err)
			}
			results, err := runnertest.Compile(result.Config, runnertest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			pod := results[0].Pod
			if tt.containers > 0 && len(pod.Spec.Containers) != tt.containers {
				t.Errorf("pod has %d containers, want %d", len(pod.Spec.Containers), tt.containers)
			}
			if tt.volumes > 0 && len(pod.Spec.Volumes) != tt.volumes {
				t.Errorf("pod has %d volumes, want %d", len(pod.Spec.Volumes), tt.volumes)
			}
			more := tt.config + "- name: extra\n  image: alpine:3.20\n  commands: [true]\n"
			if tt.name == "volumes" {
				more = tt.config + "- name: extra\n  temp: {}\n"
			}
			if _, err := conv.Convert(plugin.Input{Config: []byte(more), Repo: "octo/hello-world", OptInAll: true}); err == nil || !strings.Contains(err.Error(), tt.refusedByMore) {
				t.Errorf("one more: got %v, want a refusal naming %q", err, tt.refusedByMore)
			}
		})
	}
}
