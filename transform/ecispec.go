package transform

import (
	"fmt"
	"regexp"
	"strconv"
)

// Units the runner uses (DESIGN.md §2): cpu in millicores, memory in
// bytes.
const (
	MiB = int64(1) << 20
	GiB = int64(1) << 30
)

// Spec is one ECI vCPU/memory combination.
type Spec struct {
	// CPU is in millicores (250 is 0.25 vCPU).
	CPU int64
	// Memory is in bytes.
	Memory int64
}

// String is the spec as eci-use-specs spells it: "2-4Gi", "0.25-0.5Gi".
func (s Spec) String() string {
	return fmt.Sprintf("%s-%sGi", decimal(s.CPU, 1000), decimal(s.Memory, GiB))
}

// eciSpecs is the one table of valid ECI vCPU/memory combinations: those
// offered in every region, from Alibaba Cloud's "Specify vCPU and
// memory" (Elastic Container Instance docs, 2026;
// https://help.aliyun.com/document_detail/451261.htm). Regional specs
// (for example 8 vCPU with 10–62 GiB) exist only in some regions and
// not for spot instances, so they are left out: a spec from this table
// is valid wherever the virtual node runs. Keep it sorted by vCPU, then
// memory.
var eciSpecs = func() []Spec {
	rows := []struct {
		cpu float64
		mem []float64
	}{
		{0.25, []float64{0.5, 1}},
		{0.5, []float64{1, 2}},
		{1, []float64{2, 4, 8}},
		{2, []float64{1, 2, 4, 8, 16}},
		{4, []float64{2, 4, 8, 16, 32}},
		{8, []float64{4, 8, 16, 32, 64}},
		{12, []float64{12, 24, 48, 96}},
		{16, []float64{16, 32, 64, 128}},
		{24, []float64{24, 48, 96, 192}},
		{32, []float64{32, 64, 128, 256}},
		{52, []float64{96, 192, 384}},
		{64, []float64{128, 256, 512}},
	}
	var specs []Spec
	for _, r := range rows {
		for _, m := range r.mem {
			specs = append(specs, Spec{CPU: int64(r.cpu * 1000), Memory: int64(m * float64(GiB))})
		}
	}
	return specs
}()

// RoundUp returns the smallest valid ECI spec that holds demand and fits
// within limit: fewest vCPU first (vCPU is what ECI charges most for),
// then least memory. Demand beyond limit is cut to limit first; capped
// reports whether that happened. limit must itself be a valid spec.
func RoundUp(demand, limit Spec) (spec Spec, capped bool) {
	want := demand
	if want.CPU > limit.CPU {
		want.CPU, capped = limit.CPU, true
	}
	if want.Memory > limit.Memory {
		want.Memory, capped = limit.Memory, true
	}
	for _, s := range eciSpecs {
		if s.CPU >= want.CPU && s.Memory >= want.Memory && s.CPU <= limit.CPU && s.Memory <= limit.Memory {
			return s, capped
		}
	}
	return limit, capped
}

// Valid reports whether s is in the all-region table.
func (s Spec) Valid() bool {
	for _, v := range eciSpecs {
		if v == s {
			return true
		}
	}
	return false
}

var specPattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)-([0-9]+(?:\.[0-9]+)?)Gi$`)

// ParseSpec reads "<vCPU>-<memory>Gi". ok is false for anything else
// (an ECS instance type, say).
func ParseSpec(s string) (Spec, bool) {
	m := specPattern.FindStringSubmatch(s)
	if m == nil {
		return Spec{}, false
	}
	cpu, err1 := strconv.ParseFloat(m[1], 64)
	mem, err2 := strconv.ParseFloat(m[2], 64)
	if err1 != nil || err2 != nil {
		return Spec{}, false
	}
	return Spec{CPU: int64(cpu*1000 + 0.5), Memory: int64(mem*float64(GiB) + 0.5)}, true
}

// decimal prints n/unit with as few digits as it needs.
func decimal(n, unit int64) string {
	return strconv.FormatFloat(float64(n)/float64(unit), 'f', -1, 64)
}

// formatCPU prints millicores as vCPU ("0.25 vCPU").
func formatCPU(milli int64) string { return decimal(milli, 1000) + " vCPU" }

// formatMemory prints bytes in GiB when that reads well, else MiB.
func formatMemory(b int64) string {
	if b%(GiB/4) == 0 {
		return decimal(b, GiB) + " GiB"
	}
	return strconv.FormatFloat(float64(b)/float64(MiB), 'f', 1, 64) + " MiB"
}
