package config

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	units "github.com/docker/go-units"

	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// Sizing is how pods are sized on ECI: the per-step demand assumed when
// a step sets no resources.limits, the largest pod the service asks for,
// and the annotations it writes (docs/how-it-works.md "Pod sizing").
type Sizing struct {
	// StepCPU is the demand of a step without resources.limits.cpu, in
	// millicores, the runner's unit.
	StepCPU int64 `envconfig:"DRONE_ECI_STEP_CPU"`
	// StepMemory is the demand of a step without
	// resources.limits.memory, in the runner's byte-size syntax (2GiB).
	StepMemory string `envconfig:"DRONE_ECI_STEP_MEMORY"`
	// MaxSpec caps the spec asked for, as "<vCPU>-<memory>Gi"; it must
	// be one of ECI's valid combinations.
	MaxSpec string `envconfig:"DRONE_ECI_MAX_SPEC"`
	// FallbackSpecs follow the computed spec in eci-use-specs, tried in
	// order when it is out of stock: "<vCPU>-<memory>Gi" or an ECS
	// instance type (ecs.c6.xlarge). At most 4 (ECI takes 5 entries).
	FallbackSpecs []string `envconfig:"DRONE_ECI_FALLBACK_SPECS"`
	// LegacyAnnotations writes k8s.aliyun.com/eci-cpu and eci-memory
	// instead of eci-use-specs, for older virtual-kubelet providers.
	LegacyAnnotations bool `envconfig:"DRONE_ECI_LEGACY_SIZING_ANNOTATIONS"`
	// ExtraAnnotations are added to every converted pipeline unless it
	// sets them itself (spot strategy, instance family, extra storage).
	ExtraAnnotations map[string]string `envconfig:"DRONE_ECI_EXTRA_ANNOTATIONS"`
}

// Images is how step and service images are made cache-friendly
// (docs/how-it-works.md "Images and image caches").
type Images struct {
	// Pins is the pin table: "name:tag", "name@sha256:..." or
	// "name:tag@sha256:...", comma-separated.
	Pins []string `envconfig:"DRONE_ECI_IMAGE_PINS"`
	// PinsFile holds more pins, one a line, # comments; read once at
	// start and appended to Pins.
	PinsFile string `envconfig:"DRONE_ECI_IMAGE_PINS_FILE"`
	// FloatingTags is what happens to a latest or untagged image
	// without a pin: "warn" (the report says so) or "fail".
	FloatingTags string `envconfig:"DRONE_ECI_FLOATING_TAGS"`
	// PullAlways is what `pull: always` becomes: "if-not-exists"
	// (default), "never", or "keep".
	PullAlways string `envconfig:"DRONE_ECI_PULL_ALWAYS"`
	// RegistryMirror, when set, prefixes Docker Hub images:
	// golang:1.22 becomes MIRROR/library/golang:1.22.
	RegistryMirror string `envconfig:"DRONE_ECI_REGISTRY_MIRROR"`
	// CacheAnnotation and CacheValue are the image-cache annotation
	// every converted pipeline gets; an empty name adds none.
	CacheAnnotation string `envconfig:"DRONE_ECI_IMAGE_CACHE_ANNOTATION"`
	CacheValue      string `envconfig:"DRONE_ECI_IMAGE_CACHE_VALUE"`
	// CloneImage and PlaceholderImage are the runner's own images
	// (its DRONE_IMAGE_CLONE and DRONE_IMAGE_PLACEHOLDER), which no
	// pipeline names; the images command lists them for the cache.
	CloneImage       string `envconfig:"DRONE_ECI_CLONE_IMAGE"`
	PlaceholderImage string `envconfig:"DRONE_ECI_PLACEHOLDER_IMAGE"`
}

func defaultSizing() Sizing {
	return Sizing{
		StepCPU:    1000,
		StepMemory: "2GiB",
		MaxSpec:    "16-32Gi",
	}
}

func defaultImages() Images {
	return Images{
		FloatingTags:    "warn",
		PullAlways:      "if-not-exists",
		CacheAnnotation: "k8s.aliyun.com/eci-auto-imc",
		CacheValue:      "true",
		// drone-runner-kube v1.0.0-rc.5 engine/compiler/clone.go and
		// step.go: the runner's defaults when its settings are unset.
		CloneImage:       "drone/git:latest",
		PlaceholderImage: "drone/placeholder:1",
	}
}

// instanceTypePattern is an ECS instance type, which eci-use-specs
// also accepts.
var instanceTypePattern = regexp.MustCompile(`^ecs\.[a-z0-9-]+\.[a-z0-9]+$`)

// StepMemoryBytes is StepMemory in bytes (validated at load).
func (s Sizing) StepMemoryBytes() int64 {
	n, _ := units.RAMInBytes(s.StepMemory)
	return n
}

func (s Sizing) validate() error {
	if s.StepCPU <= 0 {
		return fmt.Errorf("DRONE_ECI_STEP_CPU: must be a positive number of millicores (1000 is one vCPU), got %d", s.StepCPU)
	}
	// The runner reads step memory with go-units RAMInBytes; so do we.
	if n, err := units.RAMInBytes(s.StepMemory); err != nil || n <= 0 {
		return fmt.Errorf("DRONE_ECI_STEP_MEMORY: %q is not a positive size such as 2GiB or 500MiB", s.StepMemory)
	}
	if max, ok := transform.ParseSpec(s.MaxSpec); !ok || !max.Valid() {
		return fmt.Errorf("DRONE_ECI_MAX_SPEC: %q is not one of ECI's vCPU-memory combinations, such as 16-32Gi (see docs/how-it-works.md, Pod sizing)", s.MaxSpec)
	}
	if len(s.FallbackSpecs) > 4 {
		return fmt.Errorf("DRONE_ECI_FALLBACK_SPECS: %d specs, at most 4 (eci-use-specs takes 5 entries, the first is the computed spec)", len(s.FallbackSpecs))
	}
	for _, f := range s.FallbackSpecs {
		if _, ok := transform.ParseSpec(f); !ok && !instanceTypePattern.MatchString(f) {
			return fmt.Errorf("DRONE_ECI_FALLBACK_SPECS: %q is neither a spec such as 4-8Gi nor an ECS instance type such as ecs.c6.xlarge", f)
		}
	}
	for k := range s.ExtraAnnotations {
		if k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("DRONE_ECI_EXTRA_ANNOTATIONS: %q is not an annotation key", k)
		}
	}
	return nil
}

// loadPinsFile appends the pins in PinsFile to Pins.
func (i *Images) loadPinsFile() error {
	if i.PinsFile == "" {
		return nil
	}
	f, err := os.Open(i.PinsFile)
	if err != nil {
		return fmt.Errorf("DRONE_ECI_IMAGE_PINS_FILE: %w", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i.Pins = append(i.Pins, line)
	}
	if err := scanner.Err(); err != nil {
		return fmt.Errorf("DRONE_ECI_IMAGE_PINS_FILE: %s: %w", i.PinsFile, err)
	}
	return nil
}

func (i Images) validate() error {
	seen := map[string]string{}
	for _, p := range i.Pins {
		ref, err := reference.ParseNormalizedNamed(p)
		if err != nil {
			return fmt.Errorf("DRONE_ECI_IMAGE_PINS: %q is not an image reference: %v", p, err)
		}
		_, tagged := ref.(reference.Tagged)
		_, digested := ref.(reference.Digested)
		if !tagged && !digested {
			return fmt.Errorf("DRONE_ECI_IMAGE_PINS: %q pins nothing; give a tag (golang:1.22) or a digest (golang@sha256:...)", p)
		}
		if t, ok := ref.(reference.Tagged); ok && t.Tag() == "latest" && !digested {
			return fmt.Errorf("DRONE_ECI_IMAGE_PINS: %q pins the floating tag latest", p)
		}
		// Two pins of one name are fine for different tags
		// (golang:1.22@sha256:a and golang:1.23@sha256:b); the first
		// is what a floating golang gets.
		key := ref.Name() + ":" + tagOf(p)
		if prev, ok := seen[key]; ok {
			return fmt.Errorf("DRONE_ECI_IMAGE_PINS: %q and %q pin the same image and tag", prev, p)
		}
		seen[key] = p
	}
	switch i.FloatingTags {
	case "warn", "fail":
	default:
		return fmt.Errorf("DRONE_ECI_FLOATING_TAGS: %q is neither warn nor fail", i.FloatingTags)
	}
	switch i.PullAlways {
	case "if-not-exists", "never", "keep":
	default:
		return fmt.Errorf("DRONE_ECI_PULL_ALWAYS: %q is not one of if-not-exists, never, keep", i.PullAlways)
	}
	if m := i.RegistryMirror; m != "" {
		if strings.Contains(m, "://") || strings.HasSuffix(m, "/") {
			return fmt.Errorf("DRONE_ECI_REGISTRY_MIRROR: %q must be a registry host with an optional path, without scheme or trailing slash (registry.cn-hangzhou.aliyuncs.com/dockerhub)", m)
		}
		if _, err := reference.ParseNormalizedNamed(m + "/library/x:1"); err != nil {
			return fmt.Errorf("DRONE_ECI_REGISTRY_MIRROR: %q does not make valid image references: %v", m, err)
		}
		if d := reference.Domain(mustNamed(m + "/library/x")); d == "docker.io" {
			return fmt.Errorf("DRONE_ECI_REGISTRY_MIRROR: %q is on Docker Hub itself; give the mirror's own host", m)
		}
	}
	if i.CacheAnnotation != "" && i.CacheValue == "" {
		return fmt.Errorf("DRONE_ECI_IMAGE_CACHE_VALUE: must not be empty when DRONE_ECI_IMAGE_CACHE_ANNOTATION is %s", i.CacheAnnotation)
	}
	return nil
}

func tagOf(s string) string {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ""
	}
	if t, ok := ref.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

func mustNamed(s string) reference.Named {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		panic(err)
	}
	return n
}
