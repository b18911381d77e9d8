package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSizingAndImagesFromEnvironment(t *testing.T) {
	pins := filepath.Join(t.TempDir(), "pins")
	if err := os.WriteFile(pins, []byte("# vetted\nalpine:3.20\n\nnode:22.14.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"DRONE_SECRET":                        "s",
		"DRONE_ECI_STEP_CPU":                  "500",
		"DRONE_ECI_STEP_MEMORY":               "1GiB",
		"DRONE_ECI_MAX_SPEC":                  "8-16Gi",
		"DRONE_ECI_FALLBACK_SPECS":            "4-8Gi,ecs.c6.xlarge",
		"DRONE_ECI_LEGACY_SIZING_ANNOTATIONS": "true",
		"DRONE_ECI_EXTRA_ANNOTATIONS":         "k8s.aliyun.com/eci-spot-strategy:SpotAsPriceGo",
		"DRONE_ECI_IMAGE_PINS":                "golang:1.22",
		"DRONE_ECI_IMAGE_PINS_FILE":           pins,
		"DRONE_ECI_FLOATING_TAGS":             "fail",
		"DRONE_ECI_PULL_ALWAYS":               "keep",
		"DRONE_ECI_REGISTRY_MIRROR":           "registry.cn-hangzhou.aliyuncs.com/hub",
	} {
		t.Setenv(k, v)
	}
	cfg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	s, i := cfg.Sizing, cfg.Images
	if s.StepCPU != 500 || s.StepMemoryBytes() != 1<<30 || s.MaxSpec != "8-16Gi" || len(s.FallbackSpecs) != 2 || !s.LegacyAnnotations ||
		s.ExtraAnnotations["k8s.aliyun.com/eci-spot-strategy"] != "SpotAsPriceGo" {
		t.Errorf("sizing: %+v", s)
	}
	if !slices.Equal(i.Pins, []string{"golang:1.22", "alpine:3.20", "node:22.14.0"}) || i.FloatingTags != "fail" || i.PullAlways != "keep" || i.RegistryMirror == "" {
		t.Errorf("images: %+v", i)
	}
}

func TestSizingAndImagesValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"step cpu", func(c *Config) { c.Sizing.StepCPU = 0 }, "DRONE_ECI_STEP_CPU: must be a positive number of millicores"},
		{"step memory", func(c *Config) { c.Sizing.StepMemory = "lots" }, `DRONE_ECI_STEP_MEMORY: "lots" is not a positive size`},
		{"max spec not in the table", func(c *Config) { c.Sizing.MaxSpec = "7-13Gi" }, `DRONE_ECI_MAX_SPEC: "7-13Gi" is not one of ECI's vCPU-memory combinations`},
		{"fallback syntax", func(c *Config) { c.Sizing.FallbackSpecs = []string{"2c4g"} }, `DRONE_ECI_FALLBACK_SPECS: "2c4g" is neither a spec`},
		{"too many fallbacks", func(c *Config) { c.Sizing.FallbackSpecs = []string{"1-2Gi", "2-4Gi", "4-8Gi", "8-16Gi", "16-32Gi"} }, "DRONE_ECI_FALLBACK_SPECS: 5 specs, at most 4"},
		{"pin without tag", func(c *Config) { c.Images.Pins = []string{"golang"} }, `DRONE_ECI_IMAGE_PINS: "golang" pins nothing`},
		{"pin to latest", func(c *Config) { c.Images.Pins = []string{"golang:latest"} }, `pins the floating tag latest`},
		{"duplicate pin", func(c *Config) { c.Images.Pins = []string{"golang:1.22", "docker.io/library/golang:1.22"} }, "pin the same image and tag"},
		{"bad pin", func(c *Config) { c.Images.Pins = []string{"UPPER:1"} }, `DRONE_ECI_IMAGE_PINS: "UPPER:1" is not an image reference`},
		{"policy", func(c *Config) { c.Images.FloatingTags = "ignore" }, `DRONE_ECI_FLOATING_TAGS: "ignore" is neither warn nor fail`},
		{"pull", func(c *Config) { c.Images.PullAlways = "always" }, `DRONE_ECI_PULL_ALWAYS: "always" is not one of`},
		{"mirror scheme", func(c *Config) { c.Images.RegistryMirror = "https://mirror.example.com" }, "DRONE_ECI_REGISTRY_MIRROR"},
		{"mirror on docker hub", func(c *Config) { c.Images.RegistryMirror = "docker.io/someone" }, "is on Docker Hub itself"},
		{"cache value", func(c *Config) { c.Images.CacheValue = "" }, "DRONE_ECI_IMAGE_CACHE_VALUE: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want %q", err, tt.err)
			}
		})
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}
