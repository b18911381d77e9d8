package transform

import (
	"slices"
	"testing"
)

func c(name string, cpu int64, memGiB int64, deps ...string) Container {
	return Container{Name: name, Demand: Spec{CPU: cpu, Memory: memGiB * GiB}, DependsOn: deps}
}

func svc(name string, cpu int64, memGiB int64) Container {
	return Container{Name: name, Demand: Spec{CPU: cpu, Memory: memGiB * GiB}, Detached: true}
}

func TestPeakDemand(t *testing.T) {
	small := &Spec{CPU: 500, Memory: 1 * GiB}
	tests := []struct {
		name       string
		clone      *Spec
		containers []Container
		want       Spec
		cpuSteps   []string
		memSteps   []string
		cloneAlone bool
	}{
		{
			name:       "serial: only the largest step",
			clone:      small,
			containers: []Container{c("a", 1000, 2), c("b", 3000, 1), c("c", 500, 4)},
			want:       Spec{CPU: 3000, Memory: 4 * GiB},
			cpuSteps:   []string{"b"},
			memSteps:   []string{"c"},
		},
		{
			name:       "serial with services: services always count",
			clone:      small,
			containers: []Container{svc("db", 1000, 2), c("a", 1000, 2), c("b", 2000, 2)},
			want:       Spec{CPU: 3000, Memory: 4 * GiB},
			cpuSteps:   []string{"b"},
			memSteps:   []string{"a"},
		},
		{
			name: "parallel: every step waits only for clone",
			// a step naming clone makes it a graph; b and c then wait
			// for clone too (configureCloneDeps), so all three overlap.
			clone:      small,
			containers: []Container{c("a", 1000, 2, "clone"), c("b", 1000, 2), c("c", 1000, 2)},
			want:       Spec{CPU: 3000, Memory: 6 * GiB},
			cpuSteps:   []string{"a", "b", "c"},
			memSteps:   []string{"a", "b", "c"},
		},
		{
			name: "diamond with a service",
			//      build
			//     /     \
			//  test    lint
			//     \     /
			//     publish
			clone: small,
			containers: []Container{
				svc("redis", 250, 1),
				c("build", 2000, 4),
				c("test", 1500, 2, "build"),
				c("lint", 1000, 3, "build"),
				c("publish", 500, 1, "test", "lint"),
			},
			want:     Spec{CPU: 250 + 2500, Memory: 1*GiB + 5*GiB},
			cpuSteps: []string{"test", "lint"},
			memSteps: []string{"test", "lint"},
		},
		{
			name:  "diamond where one heavy step beats the pair",
			clone: small,
			containers: []Container{
				c("build", 8000, 16),
				c("test", 1000, 2, "build"),
				c("lint", 1000, 2, "build"),
				c("publish", 500, 1, "test", "lint"),
			},
			want:     Spec{CPU: 8000, Memory: 16 * GiB},
			cpuSteps: []string{"build"},
			memSteps: []string{"build"},
		},
		{
			name: "transitive order: a chain never overlaps, a side branch does",
			containers: []Container{
				c("a", 1000, 1, "clone"),
				c("b", 1000, 1, "a"),
				c("c", 1000, 1, "b"),
				c("side", 3000, 1, "a"),
			},
			// side overlaps b or c, never a; peak is side + one of b/c.
			want:     Spec{CPU: 4000, Memory: 2 * GiB},
			cpuSteps: []string{"b", "side"},
			memSteps: []string{"b", "side"},
		},
		{
			name:       "detached step counts throughout",
			containers: []Container{{Name: "server", Demand: Spec{CPU: 1000, Memory: GiB}, Detached: true}, c("a", 1000, 1), c("b", 1000, 1)},
			want:       Spec{CPU: 2000, Memory: 2 * GiB},
			cpuSteps:   []string{"a"},
			memSteps:   []string{"a"},
		},
		{
			name:       "clone alone is the peak when it is the largest",
			clone:      &Spec{CPU: 2000, Memory: 4 * GiB},
			containers: []Container{c("a", 500, 1)},
			want:       Spec{CPU: 2000, Memory: 4 * GiB},
			cpuSteps:   []string{"a"},
			memSteps:   []string{"a"},
			cloneAlone: true,
		},
		{
			name:  "no steps at all",
			clone: small,
			want:  *small,
			// clone is the only container
			cloneAlone: true,
		},
		{
			name:       "dependencies on unknown names impose nothing; a cycle does not hang",
			containers: []Container{c("a", 1000, 1, "b"), c("b", 1000, 1, "a"), c("c", 1000, 1, "ghost")},
			want:       Spec{CPU: 2000, Memory: 2 * GiB},
			cpuSteps:   []string{"a", "c"},
			memSteps:   []string{"a", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PeakDemand(tt.clone, tt.containers)
			if got.Demand != tt.want {
				t.Errorf("demand %s / %s, want %s / %s", formatCPU(got.Demand.CPU), formatMemory(got.Demand.Memory), formatCPU(tt.want.CPU), formatMemory(tt.want.Memory))
			}
			if !slices.Equal(got.CPUSteps, tt.cpuSteps) || !slices.Equal(got.MemorySteps, tt.memSteps) {
				t.Errorf("cpu steps %v memory steps %v, want %v %v", got.CPUSteps, got.MemorySteps, tt.cpuSteps, tt.memSteps)
			}
			if got.CloneAlone != tt.cloneAlone {
				t.Errorf("clone alone %v, want %v", got.CloneAlone, tt.cloneAlone)
			}
		})
	}
}

// TestHeaviestAntichainWide: 19 independent steps (the most ECI allows
// beside clone) are solved without branching.
func TestHeaviestAntichainWide(t *testing.T) {
	var steps []Container
	for i := 0; i < 19; i++ {
		steps = append(steps, c(string(rune('a'+i)), 100, 1, "clone"))
	}
	w, set := heaviestAntichain(steps, func(s Spec) int64 { return s.CPU })
	if w != 1900 || len(set) != 19 {
		t.Fatalf("got %d over %d steps", w, len(set))
	}
}

// TestHeaviestAntichainBrute compares with brute force on a layered
// graph where the heaviest set mixes layers.
func TestHeaviestAntichainBrute(t *testing.T) {
	steps := []Container{
		c("s0", 100, 1), c("s1", 700, 1, "s0"), c("s2", 300, 1, "s0"),
		c("s3", 400, 1, "s1"), c("s4", 900, 1, "s2"), c("s5", 200, 1, "s3", "s4"),
		c("s6", 650, 1, "s0"), c("s7", 50, 1, "s6"),
	}
	weight := func(s Spec) int64 { return s.CPU }
	got, _ := heaviestAntichain(steps, weight)
	// brute force over every subset
	anc := map[string]map[string]bool{}
	var up func(n string) map[string]bool
	up = func(n string) map[string]bool {
		if a, ok := anc[n]; ok {
			return a
		}
		a := map[string]bool{}
		for _, s := range steps {
			if s.Name == n {
				for _, d := range s.DependsOn {
					a[d] = true
					for k := range up(d) {
						a[k] = true
					}
				}
			}
		}
		anc[n] = a
		return a
	}
	var best int64
	for mask := 0; mask < 1<<len(steps); mask++ {
		var sum int64
		ok := true
		for i := range steps {
			if mask&(1<<i) == 0 {
				continue
			}
			sum += steps[i].Demand.CPU
			for j := range steps {
				if mask&(1<<j) != 0 && up(steps[i].Name)[steps[j].Name] {
					ok = false
				}
			}
		}
		if ok && sum > best {
			best = sum
		}
	}
	if got != best {
		t.Fatalf("got %d, brute force %d", got, best)
	}
}

func TestRoundUp(t *testing.T) {
	max := Spec{CPU: 16000, Memory: 32 * GiB}
	tests := []struct {
		demand Spec
		want   string
		capped bool
	}{
		{Spec{}, "0.25-0.5Gi", false},
		{Spec{CPU: 1, Memory: 1}, "0.25-0.5Gi", false},
		{Spec{CPU: 250, Memory: GiB / 2}, "0.25-0.5Gi", false},
		{Spec{CPU: 251, Memory: GiB / 2}, "0.5-1Gi", false},
		{Spec{CPU: 250, Memory: GiB/2 + 1}, "0.25-1Gi", false},
		{Spec{CPU: 250, Memory: GiB + 1}, "0.5-2Gi", false},
		{Spec{CPU: 1000, Memory: 2 * GiB}, "1-2Gi", false},
		{Spec{CPU: 1000, Memory: 9 * GiB}, "2-16Gi", false},
		{Spec{CPU: 2000, Memory: 1 * GiB}, "2-1Gi", false},
		{Spec{CPU: 2001, Memory: 1 * GiB}, "4-2Gi", false},
		// ECI's own example: 7 vCPU / 13 GiB → 8 / 16 with the
		// all-region table.
		{Spec{CPU: 7000, Memory: 13 * GiB}, "8-16Gi", false},
		{Spec{CPU: 8000, Memory: 65 * GiB}, "8-32Gi", true},
		{Spec{CPU: 12000, Memory: 12 * GiB}, "12-12Gi", false},
		{Spec{CPU: 100000, Memory: GiB}, "16-16Gi", true},
		{Spec{CPU: 16000, Memory: 32 * GiB}, "16-32Gi", false},
	}
	for _, tt := range tests {
		got, capped := RoundUp(tt.demand, max)
		if got.String() != tt.want || capped != tt.capped {
			t.Errorf("RoundUp(%s / %s) = %s capped=%v, want %s capped=%v", formatCPU(tt.demand.CPU), formatMemory(tt.demand.Memory), got, capped, tt.want, tt.capped)
		}
		if !got.Valid() {
			t.Errorf("%s is not in the table", got)
		}
	}
	// Every spec rounds to itself, and the top of the table is reachable.
	for _, s := range eciSpecs {
		if got, _ := RoundUp(s, largestSpec); got != s {
			t.Errorf("RoundUp(%s) = %s", s, got)
		}
	}
	// A cap whose row jumps past the demand's memory: 2 vCPU rows go
	// 8 → 16 GiB, which a 12-12Gi cap does not allow.
	if got, _ := RoundUp(Spec{CPU: 2000, Memory: 12 * GiB}, Spec{CPU: 12000, Memory: 12 * GiB}); got.String() != "12-12Gi" {
		t.Errorf("capped rounding picked %s", got)
	}
}

func TestParseSpec(t *testing.T) {
	for in, want := range map[string]string{"2-4Gi": "2-4Gi", "0.25-0.5Gi": "0.25-0.5Gi", "2.0-4Gi": "2-4Gi"} {
		s, ok := ParseSpec(in)
		if !ok || s.String() != want {
			t.Errorf("ParseSpec(%q) = %s %v", in, s, ok)
		}
	}
	for _, in := range []string{"ecs.c6.xlarge", "2-4G", "2c4g", "-4Gi", ""} {
		if _, ok := ParseSpec(in); ok {
			t.Errorf("ParseSpec(%q) accepted", in)
		}
	}
}
