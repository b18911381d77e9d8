package transform

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"gopkg.in/yaml.v3"
)

// ECI pod annotations for size ("Specify vCPU and memory" and "ECI pod
// annotations", Elastic Container Instance docs, 2025–2026:
// https://help.aliyun.com/document_detail/451261.htm). eci-use-specs is
// an ordered list tried in turn when a spec is out of stock, at most 5
// entries, and wins over container limits and requests. eci-cpu and
// eci-memory are the older pair, no longer in today's docs but what a
// 2019 field report of Drone on ECI used; some older virtual-kubelet
// providers only know them. eci-instance-type names one ECS type.
const (
	AnnotationUseSpecs     = "k8s.aliyun.com/eci-use-specs"
	AnnotationCPU          = "k8s.aliyun.com/eci-cpu"
	AnnotationMemory       = "k8s.aliyun.com/eci-memory"
	AnnotationInstanceType = "k8s.aliyun.com/eci-instance-type"
	maxUseSpecs            = 5
)

// ECI's per-pod limits (DESIGN.md §3: at most 20 containers and 20
// volumes per instance).
const (
	MaxContainers = 20
	MaxVolumes    = 20
	// runnerVolumes are the volumes drone-runner-kube adds to every
	// pod: the workspace emptyDir and the downward-API volume that
	// projects the pod's annotations under /run/drone (DESIGN.md §6).
	runnerVolumes = 2
)

// What drone-runner-kube v1.0.0-rc.5 requests when nothing else says
// (command/daemon/config.go: DRONE_RESOURCE_REQUEST_CPU=100,
// DRONE_RESOURCE_REQUEST_MEMORY=100 MiB for the whole pod, split across
// containers; DRONE_RESOURCE_MIN_REQUEST_CPU=1,
// DRONE_RESOURCE_MIN_REQUEST_MEMORY=4 MiB per container).
const (
	runnerRequestCPU       = 100
	runnerRequestMemory    = 100 * MiB
	runnerMinRequestCPU    = 1
	runnerMinRequestMemory = 4 * MiB
)

// largestSpec bounds the estimate of what ECI would pick by itself.
var largestSpec = Spec{CPU: 64000, Memory: 512 * GiB}

// Sizing sizes the pod for the peak of what runs at the same time and
// refuses pipelines that exceed ECI's per-pod container and volume
// limits. Sizing annotations the pipeline sets itself win.
type Sizing struct {
	// Step is the demand of a step or service without
	// resources.limits.
	Step Spec
	// Max caps the spec; it must be a valid spec.
	Max Spec
	// Fallbacks follow the computed spec in eci-use-specs.
	Fallbacks []string
	// Legacy writes eci-cpu/eci-memory instead of eci-use-specs.
	Legacy bool
	// Extra annotations are added unless the pipeline sets them.
	Extra map[string]string
}

// Name implements Transform.
func (Sizing) Name() string { return "sizing" }

// Apply implements Transform.
func (s Sizing) Apply(p *Pipeline) error {
	pod, err := readPod(p.Body, s.Step)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	if err := pod.checkLimits(); err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	for _, w := range pod.warnings {
		p.Report.Warn("%s", w)
	}
	peak := PeakDemand(pod.clone, pod.containers)
	spec, capped := RoundUp(peak.Demand, s.Max)
	without, _ := RoundUp(pod.runnerEstimate(), largestSpec)

	annotations := resolve(lookup(resolve(lookup(p.Body, "metadata")), "annotations"))
	if own := ownSizing(annotations); own != "" {
		if first, ok := ParseSpec(strings.TrimSpace(strings.Split(lookupString(annotations, AnnotationUseSpecs), ",")[0])); ok &&
			(first.CPU < peak.Demand.CPU || first.Memory < peak.Demand.Memory) {
			p.Report.Warn("sizing: the pipeline's own %s (%s) is below its peak demand of %s / %s", AnnotationUseSpecs, first, formatCPU(peak.Demand.CPU), formatMemory(peak.Demand.Memory))
		}
	} else {
		if err := s.annotate(p, spec); err != nil {
			return err
		}
		what := AnnotationUseSpecs + " " + s.useSpecs(spec)
		if s.Legacy {
			what = fmt.Sprintf("%s %s, %s %s", AnnotationCPU, decimal(spec.CPU, 1000), AnnotationMemory, decimal(spec.Memory, GiB)+"Gi")
		}
		p.Report.Changed("sizing: peak %s / %s (%s) → %s; without it ECI would size the pod from the runner's requests and limits: %s",
			formatCPU(peak.Demand.CPU), formatMemory(peak.Demand.Memory), peak.describe(), what, without)
		if capped {
			p.Report.Warn("sizing: peak demand %s / %s exceeds the largest spec this service gives a pod, %s; the pod gets %s (run fewer steps at once, or ask for less)", formatCPU(peak.Demand.CPU), formatMemory(peak.Demand.Memory), s.Max, spec)
			p.Report.ForOperator("DRONE_ECI_MAX_SPEC", "peak demand %s / %s capped at %s", formatCPU(peak.Demand.CPU), formatMemory(peak.Demand.Memory), s.Max)
		}
	}
	keys := make([]string, 0, len(s.Extra))
	for k := range s.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if lookup(annotations, k) != nil {
			continue
		}
		if err := Annotate(p, k, s.Extra[k]); err != nil {
			return err
		}
		p.Report.Changed("annotation %s=%s", k, s.Extra[k])
	}
	return nil
}

// ownSizing returns the sizing annotation the pipeline sets itself.
func ownSizing(annotations *yaml.Node) string {
	for _, k := range []string{AnnotationUseSpecs, AnnotationCPU, AnnotationMemory, AnnotationInstanceType} {
		if lookup(annotations, k) != nil {
			return k
		}
	}
	return ""
}

func (s Sizing) annotate(p *Pipeline, spec Spec) error {
	if s.Legacy {
		if err := Annotate(p, AnnotationCPU, decimal(spec.CPU, 1000)); err != nil {
			return err
		}
		return Annotate(p, AnnotationMemory, decimal(spec.Memory, GiB)+"Gi")
	}
	return Annotate(p, AnnotationUseSpecs, s.useSpecs(spec))
}

// useSpecs is the computed spec followed by the configured fallbacks
// that can hold it (a smaller fallback would starve the pipeline), at
// most five entries. ECS instance types are kept as configured.
func (s Sizing) useSpecs(spec Spec) string {
	list := []string{spec.String()}
	for _, f := range s.Fallbacks {
		if fs, ok := ParseSpec(f); ok && (fs.CPU < spec.CPU || fs.Memory < spec.Memory) {
			continue
		}
		if fs, ok := ParseSpec(f); ok {
			f = fs.String()
		}
		if !slices.Contains(list, f) && len(list) < maxUseSpecs {
			list = append(list, f)
		}
	}
	return strings.Join(list, ",")
}

func (pk Peak) describe() string {
	var parts []string
	if pk.CloneAlone {
		return "the clone step"
	}
	steps := pk.CPUSteps
	if len(steps) == 0 {
		steps = pk.MemorySteps
	}
	switch len(steps) {
	case 0:
	case 1:
		parts = append(parts, "step "+steps[0])
	default:
		parts = append(parts, "steps "+strings.Join(steps, "+")+" at once")
	}
	if !slices.Equal(pk.CPUSteps, pk.MemorySteps) && len(pk.MemorySteps) > 0 {
		parts = append(parts, "memory peak with "+strings.Join(pk.MemorySteps, "+"))
	}
	if len(pk.Detached) > 0 {
		parts = append(parts, "with "+strings.Join(pk.Detached, ", ")+" running throughout")
	}
	if len(parts) == 0 {
		return "no steps"
	}
	return strings.Join(parts, ", ")
}

// pod is what sizing reads from the pipeline.
type pod struct {
	clone      *Spec
	containers []Container
	// limits holds each container's resources.limits, zero when unset,
	// in the runner's container order (clone, services, steps).
	limits      []Spec
	services    int
	volumes     int
	requests    Spec
	warnings    []string
	cloneCounts bool
}

func readPod(body *yaml.Node, step Spec) (*pod, error) {
	pd := &pod{requests: Spec{CPU: runnerRequestCPU, Memory: runnerRequestMemory}}
	if !yamlBool(lookupString(resolve(lookup(body, "clone")), "disable")) {
		pd.clone = &step
		pd.cloneCounts = true
		pd.limits = append(pd.limits, Spec{})
	}
	if req := resolve(lookup(resolve(lookup(body, "resources")), "requests")); req != nil {
		r, err := readResources(req, func() string { return "resources.requests" })
		if err != nil {
			return nil, err
		}
		if r.CPU > 0 {
			pd.requests.CPU = r.CPU
		}
		if r.Memory > 0 {
			pd.requests.Memory = r.Memory
		}
	}
	for _, list := range []string{"services", "steps"} {
		seq := resolve(lookup(body, list))
		if seq == nil || isNull(seq) {
			continue
		}
		if seq.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s: expected a list, found a %s", list, kindName(seq.Kind))
		}
		for i, item := range seq.Content {
			item = resolve(item)
			if item.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%s[%d]: expected a mapping, found a %s", list, i, kindName(item.Kind))
			}
			name := lookupString(item, "name")
			// Named only for a message: most steps need none.
			where := func() string { return fmt.Sprintf("%s[%d] (%s): resources.limits", list, i, name) }
			limits, err := readResources(resolve(lookup(resolve(lookup(item, "resources")), "limits")), where)
			if err != nil {
				var bad badValue
				if !asBadValue(err, &bad) {
					return nil, err
				}
				pd.warnings = append(pd.warnings, err.Error()+"; sizing assumes the default")
			}
			pd.limits = append(pd.limits, limits)
			demand := limits
			if demand.CPU == 0 {
				demand.CPU = step.CPU
			}
			if demand.Memory == 0 {
				demand.Memory = step.Memory
			}
			c := Container{Name: name, Demand: demand, Detached: list == "services" || yamlBool(lookupString(item, "detach"))}
			if list == "services" {
				pd.services++
			} else {
				c.DependsOn = scalars(resolve(lookup(item, "depends_on")))
			}
			pd.containers = append(pd.containers, c)
		}
	}
	if seq := resolve(lookup(body, "volumes")); seq != nil && seq.Kind == yaml.SequenceNode {
		for _, v := range seq.Content {
			// The compiler drops a volume of no known type.
			for _, kind := range []string{"temp", "host", "claim", "config_map", "secret"} {
				if src := resolve(lookup(v, kind)); src != nil && !isNull(src) {
					pd.volumes++
					break
				}
			}
		}
	}
	return pd, nil
}

// checkLimits refuses a pod ECI cannot create, saying which limit and
// by how much.
func (pd *pod) checkLimits() error {
	n := len(pd.limits)
	if n > MaxContainers {
		parts := []string{}
		if pd.cloneCounts {
			parts = append(parts, "clone")
		}
		parts = append(parts, fmt.Sprintf("%d services", pd.services), fmt.Sprintf("%d steps", n-pd.services-btoi(pd.cloneCounts)))
		return fmt.Errorf("%d containers (%s) exceed ECI's limit of %d per pod by %d; split the pipeline, or merge steps (clone: disable: true saves one)",
			n, strings.Join(parts, " + "), MaxContainers, n-MaxContainers)
	}
	if v := pd.volumes + runnerVolumes; v > MaxVolumes {
		return fmt.Errorf("%d volumes (%d in volumes + the runner's workspace and downward-API volumes) exceed ECI's limit of %d per pod by %d",
			v, pd.volumes, MaxVolumes, v-MaxVolumes)
	}
	return nil
}

// runnerEstimate is what ECI would size the pod from without a sizing
// annotation: per container its limits, else the requests the runner
// sets (the pod's requests split evenly, at least the runner's
// minimum), summed (ECI "Specify vCPU and memory": limits win over
// requests, summed over containers). It assumes the runner's default
// settings (no DRONE_RESOURCE_LIMIT_* or policies).
func (pd *pod) runnerEstimate() Spec {
	n := len(pd.limits)
	cpuParts := divideEqually(pd.requests.CPU, n, 1)
	memParts := divideEqually(pd.requests.Memory, n, 4*MiB)
	var sum Spec
	for i, l := range pd.limits {
		cpu, mem := l.CPU, l.Memory
		if cpu == 0 {
			cpu = max(cpuParts[i], runnerMinRequestCPU)
		}
		if mem == 0 {
			mem = max(memParts[i], runnerMinRequestMemory)
		}
		sum.CPU += cpu
		sum.Memory += mem
	}
	return sum
}

// RunnerEstimate is runnerEstimate for a pipeline body, exported for
// the end-to-end check against the runner's real pod.
func RunnerEstimate(body *yaml.Node) (Spec, error) {
	pd, err := readPod(body, Spec{CPU: 1, Memory: 1})
	if err != nil {
		return Spec{}, err
	}
	return pd.runnerEstimate(), nil
}

// divideEqually is drone-runner-kube's divideIntEqually
// (engine/compiler/compiler.go): amount split in count parts of whole
// units, the remainder going one unit at a time to the first parts.
func divideEqually(amount int64, count int, unit int64) []int64 {
	if count <= 0 {
		return nil
	}
	parts := make([]int64, count)
	div := amount / (int64(count) * unit)
	rem := amount % (int64(count) * unit)
	for i := range parts {
		parts[i] = div * unit
	}
	for i := 0; rem > 0; i++ {
		parts[i] += unit
		rem -= unit
	}
	return parts
}

// badValue is a resources value sizing cannot read; the runner may
// still (an envsubst expression), so it warns rather than refuses.
type badValue struct{ msg string }

func (b badValue) Error() string { return b.msg }

func asBadValue(err error, target *badValue) bool {
	b, ok := err.(badValue)
	if ok {
		*target = b
	}
	return ok
}

// readResources reads {cpu, memory} in the runner's units: cpu an
// integer of millicores, memory an integer of bytes or a size such as
// 500MiB (runner-go manifest.BytesSize, which uses go-units
// RAMInBytes).
func readResources(m *yaml.Node, fieldName func() string) (Spec, error) {
	var r Spec
	if m == nil || isNull(m) {
		return r, nil
	}
	if m.Kind != yaml.MappingNode {
		return r, fmt.Errorf("%s: expected a mapping, found a %s", fieldName(), kindName(m.Kind))
	}
	if v := resolve(lookup(m, "cpu")); v != nil && !isNull(v) {
		if strings.Contains(v.Value, "$") {
			return r, badValue{fmt.Sprintf("%s.cpu: %q is substituted at build time", fieldName(), v.Value)}
		}
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil || n < 0 {
			return r, fmt.Errorf("%s.cpu: %q is not a whole number of millicores (1000 is one vCPU)", fieldName(), v.Value)
		}
		r.CPU = n
	}
	if v := resolve(lookup(m, "memory")); v != nil && !isNull(v) {
		if strings.Contains(v.Value, "$") {
			return r, badValue{fmt.Sprintf("%s.memory: %q is substituted at build time", fieldName(), v.Value)}
		}
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			n, err = units.RAMInBytes(v.Value)
		}
		if err != nil || n < 0 {
			return r, fmt.Errorf("%s.memory: %q is not a size such as 500MiB or 2GiB", fieldName(), v.Value)
		}
		r.Memory = n
	}
	return r, nil
}

// isTrue reads a YAML 1.1 boolean the way Drone's YAML library does.
func yamlBool(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "y":
		return true
	}
	return false
}

func scalars(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return []string{n.Value}
	}
	var out []string
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			if c = resolve(c); c.Kind == yaml.ScalarNode {
				out = append(out, c.Value)
			}
		}
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
