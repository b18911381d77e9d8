package transform

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// ImageFacts is what a registry said about one image reference. The
// plugin looks them up before the images transform runs (transforms do
// no I/O) and hands them over in Pipeline.Registry, keyed by ImageKey.
type ImageFacts struct {
	// Digest is what the reference points to now (an index's own digest
	// for multi-platform images); empty when unknown.
	Digest string
	// Entrypoint and Cmd are the image config's for the pipeline's
	// platform, valid when HasConfig.
	Entrypoint []string
	Cmd        []string
	HasConfig  bool
	// Registry is the host asked and Err why it could not answer, for
	// the report; Err is empty on success.
	Registry string
	Err      string
}

// ImageKey is how an image reference is looked up in Pipeline.Registry:
// name@digest for a digest reference, else name:tag with latest for no
// tag, so "alpine", "docker.io/library/alpine:latest" and a rewrite
// that added a digest to what was looked up all find their facts.
func ImageKey(image string) string {
	ref, err := parseImage(image)
	if err != nil {
		return image
	}
	if ref.digest != "" {
		return ref.name() + "@" + ref.digest
	}
	tag := ref.tag
	if tag == "" {
		tag = "latest"
	}
	return ref.name() + ":" + tag
}

// DigestKey is ImageKey of image's name at digest.
func DigestKey(image, digest string) string {
	ref, err := parseImage(image)
	if err != nil {
		return image
	}
	return ref.name() + "@" + digest
}

func (p *Pipeline) registryFacts(image string) (ImageFacts, bool) {
	if p.Registry == nil {
		return ImageFacts{}, false
	}
	f, ok := p.Registry[ImageKey(image)]
	return f, ok
}

// PipelinePlatform is the pipeline's platform.os and platform.arch,
// linux/amd64 where unset, as the runner schedules it.
func PipelinePlatform(body *yaml.Node) (os, arch string) {
	platform := resolve(lookup(body, "platform"))
	os, arch = lookupString(platform, "os"), lookupString(platform, "arch")
	if os == "" {
		os = "linux"
	}
	if arch == "" {
		arch = "amd64"
	}
	return strings.ToLower(os), strings.ToLower(arch)
}

// RegistryQueries lists, each once and in order, the references whose
// registry facts the images and entrypoints transforms would use, as
// the pod will pull them (after the pin table and the mirror, before
// any registry digest): floating images when im pins digests, tagged
// ones too when it pins all, and images no entrypoint table knows that
// run their own entrypoint, when ep records entrypoints. Pass a zero
// value for a transform that will not run.
func RegistryQueries(p *Pipeline, im Images, ep Entrypoints) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range []string{"services", "steps"} {
		seq := resolve(lookup(p.Body, list))
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range seq.Content {
			step := resolve(item)
			if step == nil || step.Kind != yaml.MappingNode {
				continue
			}
			image := lookupString(step, "image")
			if image == "" || strings.Contains(image, "$") {
				continue
			}
			pl, err := im.plan(image)
			if err != nil {
				continue
			}
			need := im.pinsDigest(pl)
			if !need && ep.Table != nil && runsOwnEntrypoint(step) {
				_, known := ep.fromTable(pl.ref)
				need = !known
			}
			if need && !seen[pl.ref] {
				seen[pl.ref] = true
				out = append(out, pl.ref)
			}
		}
	}
	return out
}

// PipelineNamespace is the pipeline's metadata.namespace, as written.
func PipelineNamespace(body *yaml.Node) string {
	return lookupString(resolve(lookup(body, "metadata")), "namespace")
}

// PipelineServiceAccount is the pipeline's service_account_name, which
// the runner gives the pod (else its DRONE_SERVICE_ACCOUNT_DEFAULT).
func PipelineServiceAccount(body *yaml.Node) string {
	return lookupString(body, "service_account_name")
}
