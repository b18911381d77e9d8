package config

import (
	"fmt"
	"path"
	"strings"
)

// Privileged policies (DRONE_ECI_PRIVILEGED_POLICY).
const (
	PrivilegedFail = "fail"
	PrivilegedDrop = "drop-with-warning"
)

// validateKaniko checks the docker-to-kaniko settings.
func (c Config) validateKaniko() error {
	for _, img := range []struct{ name, value string }{
		{"DRONE_ECI_KANIKO_IMAGE", c.KanikoImage},
		{"DRONE_ECI_KANIKO_ECR_IMAGE", c.KanikoECRImage},
		{"DRONE_ECI_KANIKO_GCR_IMAGE", c.KanikoGCRImage},
		{"DRONE_ECI_KANIKO_GAR_IMAGE", c.KanikoGARImage},
		{"DRONE_ECI_KANIKO_ACR_IMAGE", c.KanikoACRImage},
	} {
		if !pinned(img.value) {
			return fmt.Errorf("%s: %q needs a tag or digest (floating references defeat ECI image caches and change between builds)", img.name, img.value)
		}
	}
	if strings.Contains(c.KanikoCacheRepo, "$") {
		return fmt.Errorf("DRONE_ECI_KANIKO_CACHE_REPO: %q must not contain $ (use {repo} for the step's repository)", c.KanikoCacheRepo)
	}
	for prefix, claim := range c.HostPathClaims {
		if !path.IsAbs(prefix) || path.Clean(prefix) != prefix {
			return fmt.Errorf("DRONE_ECI_HOST_PATH_CLAIMS: %q is not a clean absolute host path", prefix)
		}
		if claim == "" {
			return fmt.Errorf("DRONE_ECI_HOST_PATH_CLAIMS: empty claim name for %q", prefix)
		}
	}
	switch c.PrivilegedPolicy {
	case PrivilegedFail, PrivilegedDrop:
	default:
		return fmt.Errorf("DRONE_ECI_PRIVILEGED_POLICY: %q is neither %s nor %s", c.PrivilegedPolicy, PrivilegedFail, PrivilegedDrop)
	}
	return nil
}

// pinned reports whether an image reference carries a tag or a digest.
func pinned(ref string) bool {
	if ref == "" || strings.ContainsAny(ref, " \t$") {
		return false
	}
	if strings.Contains(ref, "@") {
		return true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(last, ":")
	return i > 0 && i < len(last)-1
}
