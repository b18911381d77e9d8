package runnertest

import (
	"fmt"
	"sort"

	"github.com/drone-runners/drone-runner-kube/engine"
	corev1 "k8s.io/api/core/v1"
)

// Annotations whose values the runner takes from the wall clock
// (runner-go labels.WithTimeout: time.Now() and time.Now()+timeout+1h).
var clockAnnotations = []string{"io.drone.created", "io.drone.expires"}

// ClockValue replaces wall-clock annotation values in NormalizePod.
const ClockValue = "<clock>"

// NormalizePod returns a copy of pod that compares equal across runs of
// the same config, without changing anything that carries meaning:
//
//   - env vars are sorted by name in every container (the runner builds
//     them by ranging over a Go map, so their order is random);
//   - the random names the compiler invents ("drone-" + 20 random
//     characters) are replaced by positional ones: the pod (and so its
//     Secret, referenced from secretKeyRefs) becomes "pod", containers
//     "container-N" / init containers "init-N", volumes "volume-N", the
//     pull secret "pull-secret"; every place that refers to them (label
//     io.drone.name, volume mounts, secretKeyRef names, pull secret refs,
//     DRONE_DOCKER_VOLUME_ID and any other exactly-matching env value or
//     annotation) is renamed consistently;
//   - io.drone.created and io.drone.expires annotations become
//     ClockValue.
//
// Order of containers, volumes and mounts is deterministic in the runner
// (clone, services, steps in YAML order) and is kept.
func NormalizePod(pod *corev1.Pod) *corev1.Pod {
	if pod == nil {
		return nil
	}
	p := pod.DeepCopy()

	rename := map[string]string{}
	if p.Name != "" {
		rename[p.Name] = "pod"
	}
	for i, c := range p.Spec.Containers {
		rename[c.Name] = fmt.Sprintf("container-%d", i)
	}
	for i, c := range p.Spec.InitContainers {
		rename[c.Name] = fmt.Sprintf("init-%d", i)
	}
	for i, v := range p.Spec.Volumes {
		rename[v.Name] = fmt.Sprintf("volume-%d", i)
	}
	for i, s := range p.Spec.ImagePullSecrets {
		if i == 0 {
			rename[s.Name] = "pull-secret"
		} else {
			rename[s.Name] = fmt.Sprintf("pull-secret-%d", i)
		}
	}
	r := func(s string) string {
		if n, ok := rename[s]; ok {
			return n
		}
		return s
	}

	p.Name = r(p.Name)
	for k, v := range p.Labels {
		p.Labels[k] = r(v)
	}
	for k, v := range p.Annotations {
		p.Annotations[k] = r(v)
	}
	for _, k := range clockAnnotations {
		if _, ok := p.Annotations[k]; ok {
			p.Annotations[k] = ClockValue
		}
	}
	for i := range p.Spec.Volumes {
		p.Spec.Volumes[i].Name = r(p.Spec.Volumes[i].Name)
	}
	for i := range p.Spec.ImagePullSecrets {
		p.Spec.ImagePullSecrets[i].Name = r(p.Spec.ImagePullSecrets[i].Name)
	}
	for _, list := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range list {
			c := &list[i]
			c.Name = r(c.Name)
			for j := range c.VolumeMounts {
				c.VolumeMounts[j].Name = r(c.VolumeMounts[j].Name)
			}
			for j := range c.Env {
				e := &c.Env[j]
				e.Value = r(e.Value)
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					e.ValueFrom.SecretKeyRef.Name = r(e.ValueFrom.SecretKeyRef.Name)
				}
			}
			sort.SliceStable(c.Env, func(a, b int) bool { return c.Env[a].Name < c.Env[b].Name })
		}
	}
	return p
}

// Container returns the pod container that runs the named step (or
// service; "clone" for the clone step) together with its compiled step,
// matching them through the container name, which is the step's ID.
// The compiled step has the real image; the container the placeholder.
func (r Result) Container(step string) (*corev1.Container, *engine.Step) {
	for _, s := range r.Spec.Steps {
		if s.Name != step {
			continue
		}
		for i := range r.Pod.Spec.Containers {
			if r.Pod.Spec.Containers[i].Name == s.ID {
				return &r.Pod.Spec.Containers[i], s
			}
		}
		return nil, s
	}
	return nil, nil
}

// Env returns the env var named name in c, or nil.
func Env(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}
