package plugin

import (
	"strconv"
	"strings"
	"testing"
)

// applyECIArg sets the sizing and images settings a golden case asks for
// in its NAME.args:
//
//	pin: golang:1.22              one DRONE_ECI_IMAGE_PINS entry (repeatable)
//	floating-tags: fail           DRONE_ECI_FLOATING_TAGS
//	pull-always: keep             DRONE_ECI_PULL_ALWAYS
//	mirror: reg.example.com/hub   DRONE_ECI_REGISTRY_MIRROR
//	cache-annotation: k=v         DRONE_ECI_IMAGE_CACHE_ANNOTATION and _VALUE ("" for none)
//	step-cpu: 500                 DRONE_ECI_STEP_CPU
//	step-memory: 1GiB             DRONE_ECI_STEP_MEMORY
//	max-spec: 4-8Gi               DRONE_ECI_MAX_SPEC
//	fallback-spec: 4-8Gi          one DRONE_ECI_FALLBACK_SPECS entry (repeatable)
//	legacy-sizing                 DRONE_ECI_LEGACY_SIZING_ANNOTATIONS=true
//	extra-annotation: k:v         one DRONE_ECI_EXTRA_ANNOTATIONS entry (repeatable)
//
// The resulting configuration must validate, as it would at start.
func applyECIArg(t *testing.T, c *goldenCase, key, value string) {
	t.Helper()
	cfg := &c.cfg
	switch key {
	case "pin":
		cfg.Images.Pins = append(cfg.Images.Pins, value)
	case "floating-tags":
		cfg.Images.FloatingTags = value
	case "pull-always":
		cfg.Images.PullAlways = value
	case "mirror":
		cfg.Images.RegistryMirror = value
	case "cache-annotation":
		cfg.Images.CacheAnnotation, cfg.Images.CacheValue, _ = strings.Cut(value, "=")
	case "step-cpu":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			t.Fatalf("%s.args: step-cpu: %v", c.name, err)
		}
		cfg.Sizing.StepCPU = n
	case "step-memory":
		cfg.Sizing.StepMemory = value
	case "max-spec":
		cfg.Sizing.MaxSpec = value
	case "fallback-spec":
		cfg.Sizing.FallbackSpecs = append(cfg.Sizing.FallbackSpecs, value)
	case "legacy-sizing":
		cfg.Sizing.LegacyAnnotations = true
	case "extra-annotation":
		k, v, _ := strings.Cut(value, ":")
		if cfg.Sizing.ExtraAnnotations == nil {
			cfg.Sizing.ExtraAnnotations = map[string]string{}
		}
		cfg.Sizing.ExtraAnnotations[k] = v
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s.args: %v", c.name, err)
	}
}
