package transform

import (
	"math/bits"
	"sort"
)

// Container is one container of the pod as sizing sees it: what it
// needs, and when it runs.
type Container struct {
	Name   string
	Demand Spec
	// DependsOn names the steps it waits for (depends_on).
	DependsOn []string
	// Detached containers (services, and steps with detach: true) keep
	// running from their start to the end of the pipeline.
	Detached bool
}

// Peak is the largest demand of what runs at the same time, and which
// containers make it up.
type Peak struct {
	Demand Spec
	// Detached are the services and detached steps, always counted.
	Detached []string
	// CPUSteps and MemorySteps are the concurrent steps that make the
	// vCPU and the memory peak (often the same set).
	CPUSteps, MemorySteps []string
	// CloneAlone is true when the clone step alone is the peak.
	CloneAlone bool
}

// PeakDemand computes what the pod needs at its busiest, following how
// drone-runner-kube v1.0.0-rc.5 orders containers
// (engine/compiler/compiler.go and util.go):
//
//   - When no step has depends_on, the pipeline is serial: the compiler
//     chains clone, services and steps one after another
//     (configureSerial), so at most one non-detached step runs at a time.
//   - Once any step has depends_on, it is a graph: every step without
//     depends_on waits for clone (configureCloneDeps), and steps whose
//     dependencies are done run together. The heaviest set of steps
//     that can run together is the heaviest antichain of the dependency
//     order: steps none of which is an ancestor of another.
//   - Either way clone runs before everything else and alone, so it
//     counts as max(clone, the rest), not on top of it.
//   - Services and detached steps (runner-go's execer starts them in a
//     goroutine and moves on) run until the end: they add to every
//     moment. Counting detached steps from the start is conservative.
//
// vCPU and memory peaks are computed separately: a spec that holds both
// holds every moment.
func PeakDemand(clone *Spec, containers []Container) Peak {
	var peak Peak
	var steps []Container
	graph := false
	for _, c := range containers {
		if c.Detached {
			peak.Detached = append(peak.Detached, c.Name)
			peak.Demand.CPU += c.Demand.CPU
			peak.Demand.Memory += c.Demand.Memory
			continue
		}
		steps = append(steps, c)
		if len(c.DependsOn) > 0 {
			graph = true
		}
	}
	var cpu, mem int64
	if graph {
		var cpuSet, memSet []int
		cpu, cpuSet = heaviestAntichain(steps, func(s Spec) int64 { return s.CPU })
		mem, memSet = heaviestAntichain(steps, func(s Spec) int64 { return s.Memory })
		peak.CPUSteps, peak.MemorySteps = names(steps, cpuSet), names(steps, memSet)
	} else {
		cpuAt, memAt := -1, -1
		for i, s := range steps {
			if s.Demand.CPU > cpu {
				cpu, cpuAt = s.Demand.CPU, i
			}
			if s.Demand.Memory > mem {
				mem, memAt = s.Demand.Memory, i
			}
		}
		if cpuAt >= 0 {
			peak.CPUSteps = []string{steps[cpuAt].Name}
		}
		if memAt >= 0 {
			peak.MemorySteps = []string{steps[memAt].Name}
		}
	}
	peak.Demand.CPU += cpu
	peak.Demand.Memory += mem
	if clone != nil && (clone.CPU > peak.Demand.CPU || clone.Memory > peak.Demand.Memory) {
		peak.CloneAlone = clone.CPU >= peak.Demand.CPU && clone.Memory >= peak.Demand.Memory
		peak.Demand.CPU = max(peak.Demand.CPU, clone.CPU)
		peak.Demand.Memory = max(peak.Demand.Memory, clone.Memory)
	}
	return peak
}

func names(steps []Container, set []int) []string {
	out := make([]string, len(set))
	for i, j := range set {
		out[i] = steps[j].Name
	}
	return out
}

// heaviestAntichain returns the largest total weight of steps that can
// run at the same time, and those steps (indexes, ascending). Steps
// are comparable when one is a transitive dependency of the other;
// dependencies on names that are not steps here (clone, a service, a
// missing step the runner's linter will refuse) impose nothing.
//
// This is a maximum-weight independent set of the comparability graph,
// found exactly by branching on one step at a time (take it and drop
// everything comparable, or leave it), with memoisation and with steps
// comparable to nothing taken outright. ECI's 20-container limit, which
// the caller enforces first, keeps this to at most 20 steps; beyond 64
// it falls back to the sum of all steps, an upper bound.
func heaviestAntichain(steps []Container, weight func(Spec) int64) (int64, []int) {
	n := len(steps)
	if n == 0 {
		return 0, nil
	}
	if n > 64 {
		var sum int64
		all := make([]int, n)
		for i, s := range steps {
			sum += weight(s.Demand)
			all[i] = i
		}
		return sum, all
	}
	index := map[string]int{}
	for i, s := range steps {
		if _, dup := index[s.Name]; !dup {
			index[s.Name] = i
		}
	}
	// ancestors[i] is the set of steps i transitively waits for.
	ancestors := make([]uint64, n)
	done := make([]bool, n)
	visiting := make([]bool, n)
	var visit func(i int) uint64
	visit = func(i int) uint64 {
		if done[i] || visiting[i] {
			return ancestors[i] // a cycle: the linter refuses it anyway
		}
		visiting[i] = true
		for _, d := range steps[i].DependsOn {
			if j, ok := index[d]; ok && j != i {
				ancestors[i] |= 1<<j | visit(j)
			}
		}
		visiting[i], done[i] = false, true
		return ancestors[i]
	}
	comparable := make([]uint64, n)
	for i := range steps {
		visit(i)
	}
	for i := range steps {
		comparable[i] |= ancestors[i]
		for j := range steps {
			if ancestors[j]&(1<<i) != 0 {
				comparable[i] |= 1 << j
			}
		}
		comparable[i] &^= 1 << i
	}
	type best struct {
		weight int64
		set    uint64
	}
	memo := map[uint64]best{}
	var solve func(mask uint64) best
	solve = func(mask uint64) best {
		if mask == 0 {
			return best{}
		}
		if b, ok := memo[mask]; ok {
			return b
		}
		i := bits.TrailingZeros64(mask)
		rest := mask &^ (1 << i)
		w := weight(steps[i].Demand)
		var b best
		if comparable[i]&rest == 0 {
			b = solve(rest)
			b.weight += w
			b.set |= 1 << i
		} else {
			with := solve(rest &^ comparable[i])
			with.weight += w
			with.set |= 1 << i
			b = solve(rest)
			if with.weight > b.weight || (with.weight == b.weight && with.set < b.set) {
				b = with
			}
		}
		memo[mask] = b
		return b
	}
	all := uint64(1)<<n - 1
	if n == 64 {
		all = ^uint64(0)
	}
	b := solve(all)
	var set []int
	for i := 0; i < n; i++ {
		if b.set&(1<<i) != 0 {
			set = append(set, i)
		}
	}
	sort.Ints(set)
	return b.weight, set
}
