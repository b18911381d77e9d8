package plugin

import (
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// imagesTransform builds the "images" transform from validated settings.
func imagesTransform(cfg config.Config) transform.Transform {
	pins, _ := transform.ParsePins(cfg.Images.Pins) // validated at load
	return transform.Images{
		Pins:            pins,
		FailFloating:    cfg.Images.FloatingTags == "fail",
		PullAlways:      cfg.Images.PullAlways,
		Mirror:          cfg.Images.RegistryMirror,
		PinDigests:      pinDigests(cfg),
		CacheAnnotation: cfg.Images.CacheAnnotation,
		CacheValue:      cfg.Images.CacheValue,
	}
}

// sizingTransform builds the "sizing" transform from validated settings.
func sizingTransform(cfg config.Config) transform.Transform {
	max, _ := transform.ParseSpec(cfg.Sizing.MaxSpec)
	return transform.Sizing{
		Step:      transform.Spec{CPU: cfg.Sizing.StepCPU, Memory: cfg.Sizing.StepMemoryBytes()},
		Max:       max,
		Fallbacks: cfg.Sizing.FallbackSpecs,
		Legacy:    cfg.Sizing.LegacyAnnotations,
		Extra:     cfg.Sizing.ExtraAnnotations,
	}
}

// pinDigests is DRONE_ECI_PIN_DIGESTS, which only means something when
// registries are asked.
func pinDigests(cfg config.Config) string {
	if !cfg.Registry.Lookup {
		return "none"
	}
	return cfg.Registry.PinDigests
}
