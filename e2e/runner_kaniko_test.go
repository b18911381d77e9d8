package e2e

import (
	"strings"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/runnertest"
)

// dockerPluginImages are the images the runner would run privileged
// (its Privileged list plus plugins/gar, the same Docker-in-Docker
// image); none may survive conversion.
var dockerPluginImages = []string{"plugins/docker", "plugins/ecr", "plugins/gcr", "plugins/gar", "plugins/acr", "plugins/heroku"}

// TestRunnerNoPrivilegeNoHostPath: for every converted testdata and
// corpus config, compiled by drone-runner-kube for an untrusted and a
// trusted repo, no container is privileged, no volume is a hostPath,
// and no docker plugin image is left in the compiled spec (the pod only
// has placeholders; images live in the spec).
func TestRunnerNoPrivilegeNoHostPath(t *testing.T) {
	for _, c := range convertedConfigs(t) {
		t.Run(c.Name, func(t *testing.T) {
			compileBoth(t, c, func(t *testing.T, trusted bool, r runnertest.Result) {
				for _, step := range r.Spec.Steps {
					if step.Privileged {
						t.Errorf("pipeline %q (trusted=%v): spec step %q is privileged", r.Pipeline, trusted, step.Name)
					}
					if isDockerPlugin(step.Image) {
						t.Errorf("pipeline %q (trusted=%v): spec step %q still runs %s", r.Pipeline, trusted, step.Name, step.Image)
					}
				}
				for _, v := range r.Spec.Volumes {
					if v.HostPath != nil {
						t.Errorf("pipeline %q (trusted=%v): spec volume %q is a host path %s", r.Pipeline, trusted, v.HostPath.Name, v.HostPath.Path)
					}
				}
				for _, ctr := range append(r.Pod.Spec.InitContainers, r.Pod.Spec.Containers...) {
					if sc := ctr.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
						t.Errorf("pipeline %q (trusted=%v): pod container %q is privileged", r.Pipeline, trusted, ctr.Name)
					}
				}
				for _, v := range r.Pod.Spec.Volumes {
					if v.HostPath != nil {
						t.Errorf("pipeline %q (trusted=%v): pod volume %q is a hostPath %s", r.Pipeline, trusted, v.Name, v.HostPath.Path)
					}
				}
			})
		})
	}
}

func isDockerPlugin(image string) bool {
	s := image
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s = s[:i]
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "docker.io/"), "index.docker.io/")
	for _, p := range dockerPluginImages {
		if s == p {
			return true
		}
	}
	return false
}
