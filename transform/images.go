package transform

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"
)

// Image-cache annotations ("Use ImageCache to accelerate the creation
// of pods", Elastic Container Instance docs, 2026:
// https://help.aliyun.com/document_detail/141241.html). eci-auto-imc
// ("true" by default on ECI) matches the best cache and creates one when
// none matches; eci-imc-id pins one cache and wins over automatic
// matching; imc-perfect-match and imc-match-count-request tune
// matching. eci-image-cache and eci-image-snapshot-id are the older
// names of the first two (same docs, earlier editions). A pipeline that
// sets any of them keeps its own choice.
var cacheAnnotations = []string{
	"k8s.aliyun.com/eci-auto-imc",
	"k8s.aliyun.com/eci-imc-id",
	"k8s.aliyun.com/imc-perfect-match",
	"k8s.aliyun.com/imc-match-count-request",
	"k8s.aliyun.com/eci-image-cache",
	"k8s.aliyun.com/eci-image-snapshot-id",
}

// Pin is one entry of the pin table.
type Pin struct {
	// Name is the fully qualified repository (docker.io/library/golang).
	Name   string
	Tag    string
	Digest string
	// Source is the entry as configured.
	Source string
}

// ParsePins reads pin table entries: "name:tag", "name@sha256:..." or
// "name:tag@sha256:...". They were validated with the configuration.
func ParsePins(entries []string) ([]Pin, error) {
	var pins []Pin
	for _, e := range entries {
		ref, err := reference.ParseNormalizedNamed(strings.TrimSpace(e))
		if err != nil {
			return nil, fmt.Errorf("pin %q: %w", e, err)
		}
		p := Pin{Name: ref.Name(), Source: e}
		if t, ok := ref.(reference.Tagged); ok {
			p.Tag = t.Tag()
		}
		if d, ok := ref.(reference.Digested); ok {
			p.Digest = d.Digest().String()
		}
		pins = append(pins, p)
	}
	return pins, nil
}

// Images makes every step and service image explicit and cache-friendly
// (ECI matches image caches by image reference; floating tags and
// `pull: always` defeat them):
//
//   - an image that floats (no tag, or latest, and no digest) gets the
//     first pin of its name; without one the report warns, or the
//     conversion fails when FailFloating is set;
//   - an image whose tag matches a pin that carries a digest gets the
//     digest;
//   - an image with another explicit tag is the author's choice and is
//     left alone;
//   - then Docker Hub images are moved under Mirror, when set;
//   - then, per PinDigests, the digest the registry gave for the
//     reference the pod will pull is added (name:tag@digest);
//   - `pull: always` becomes PullAlways, unless that is "keep";
//   - the cache annotation is added unless the pipeline chose one.
type Images struct {
	Pins         []Pin
	FailFloating bool
	PullAlways   string
	Mirror       string
	// PinDigests is which images get their registry digest (from
	// Pipeline.Registry): "floating" (no tag or latest, and no pin),
	// "all" (every image without a digest), or "none"/"" (none). A
	// digest the author or a pin wrote is never changed.
	PinDigests string
	// CacheAnnotation and CacheValue: empty name adds none.
	CacheAnnotation string
	CacheValue      string
}

// Name implements Transform.
func (Images) Name() string { return "images" }

// Apply implements Transform.
func (im Images) Apply(p *Pipeline) error {
	for _, list := range []string{"services", "steps"} {
		seq := resolve(lookup(p.Body, list))
		if seq == nil || isNull(seq) {
			continue
		}
		if seq.Kind != yaml.SequenceNode {
			return fmt.Errorf("pipeline %q: %s: expected a list, found a %s", p.Name, list, kindName(seq.Kind))
		}
		for i := range seq.Content {
			if err := im.container(p, list, i); err != nil {
				return fmt.Errorf("pipeline %q: %w", p.Name, err)
			}
		}
	}
	if im.CacheAnnotation == "" {
		return nil
	}
	annotations := resolve(lookup(resolve(lookup(p.Body, "metadata")), "annotations"))
	for _, k := range append([]string{im.CacheAnnotation}, cacheAnnotations...) {
		if lookup(annotations, k) != nil {
			return nil
		}
	}
	if err := Annotate(p, im.CacheAnnotation, im.CacheValue); err != nil {
		return err
	}
	p.Report.Changed("annotation %s=%s (ECI image cache matching)", im.CacheAnnotation, im.CacheValue)
	return nil
}

func (im Images) container(p *Pipeline, list string, i int) error {
	item := resolve(resolve(lookup(p.Body, list)).Content[i])
	if item.Kind != yaml.MappingNode {
		return fmt.Errorf("%s[%d]: expected a mapping, found a %s", list, i, kindName(item.Kind))
	}
	name := lookupString(item, "name")
	where := strings.TrimSuffix(list, "s") + " " + name
	image := lookupString(item, "image")
	newImage, done, warning, err := im.rewrite(p, image)
	if err != nil {
		return fmt.Errorf("%s[%d] (%s): image %w", list, i, name, err)
	}
	if warning != "" {
		p.Report.Warn("%s: image %s %s", where, image, warning)
		if strings.HasPrefix(warning, "floats") {
			p.Report.ForOperator("DRONE_ECI_IMAGE_PINS", "%s: image %s floats and has no pin", where, image)
		}
	}
	newPull := ""
	if strings.EqualFold(lookupString(item, "pull"), "always") && im.PullAlways != "" && im.PullAlways != "keep" {
		newPull = im.PullAlways
	}
	if newImage == "" && newPull == "" {
		return nil
	}
	step, err := editableItem(p.Body, list, i)
	if err != nil {
		return err
	}
	if newImage != "" {
		setImage(step, newImage)
		p.Report.Changed("%s: image %s → %s (%s)", where, image, newImage, strings.Join(done, ", "))
	}
	if newPull != "" {
		setString(step, "pull", newPull)
		p.Report.Changed("%s: pull always → %s (so image caches serve it)", where, newPull)
	}
	return nil
}

// planned is an image reference as the pod will pull it before any
// registry digest: the pin table applied, then the mirror.
type planned struct {
	ref  string
	done []string
	// tag is the tag pulled ("" for none, which means latest).
	tag string
	// floating: no tag or latest, no digest, and no pin gave one.
	floating bool
	why      string
	digest   bool
}

// plan applies the pin table and the mirror to image.
func (im Images) plan(image string) (planned, error) {
	ref, err := parseImage(image)
	if err != nil {
		return planned{}, err
	}
	var pl planned
	tag, digest := ref.tag, ref.digest
	switch {
	case digest == "" && (tag == "" || tag == "latest"):
		if pin, ok := im.pinFor(ref.name(), ""); ok {
			tag, digest = pin.Tag, pin.Digest
			pl.done = append(pl.done, "pinned")
		} else {
			pl.floating, pl.why = true, floatingWhy(tag)
		}
	case digest == "":
		if pin, ok := im.pinFor(ref.name(), tag); ok && pin.Digest != "" {
			digest = pin.Digest
			pl.done = append(pl.done, "digest pinned")
		}
	}
	base := stripTagDigest(image)
	if im.Mirror != "" && ref.domain == "docker.io" {
		base = im.Mirror + "/" + ref.path
		pl.done = append(pl.done, "Docker Hub mirror")
	}
	pl.ref = base
	if tag != "" {
		pl.ref += ":" + tag
	}
	if digest != "" {
		pl.ref += "@" + digest
	}
	pl.tag, pl.digest = tag, digest != ""
	return pl, nil
}

// pinsDigest says whether the registry's digest is added to pl.
func (im Images) pinsDigest(pl planned) bool {
	switch im.PinDigests {
	case "floating":
		return pl.floating
	case "all":
		return !pl.digest
	}
	return false
}

// rewrite returns the new image ("" when unchanged), what was done to
// it, and what is still wrong with it.
func (im Images) rewrite(p *Pipeline, image string) (newImage string, done []string, warning string, err error) {
	if image == "" {
		return "", nil, "", nil
	}
	if strings.Contains(image, "$") {
		return "", nil, "is substituted at build time, so it is neither pinned nor mirrored", nil
	}
	pl, perr := im.plan(image)
	if perr != nil {
		return "", nil, fmt.Sprintf("is not an image reference (%v), so it is neither pinned nor mirrored", perr), nil
	}
	out, done := pl.ref, pl.done
	unresolved := ""
	if im.pinsDigest(pl) {
		if facts, ok := p.registryFacts(pl.ref); ok && facts.Digest != "" {
			if pl.tag == "" {
				// The tag is kept for people to read: this is what
				// latest was when the build was converted.
				out += ":latest"
			}
			out += "@" + facts.Digest
			done = append(done, "digest from registry "+facts.Registry)
			pl.floating = false
		} else if ok && facts.Err != "" {
			unresolved = fmt.Sprintf("; registry %s could not resolve it (%s)", facts.Registry, facts.Err)
			if !pl.floating {
				// Pinning every tag (all): say which one stayed a tag.
				warning = "is not pinned to a digest" + unresolved
			}
		}
	}
	if pl.floating {
		if im.FailFloating {
			return "", nil, "", WithNote(fmt.Errorf("%s floats (%s) and has no pin%s: give it a tag", image, pl.why, unresolved), "DRONE_ECI_IMAGE_PINS", "image %s floats and has no pin: a pin would let it convert", image)
		}
		warning = fmt.Sprintf("floats (%s)%s: builds are not reproducible and ECI image caches cannot match it reliably (give it a tag)", pl.why, unresolved)
	}
	if out == image {
		return "", nil, warning, nil
	}
	return out, done, warning, nil
}

// Floating reports whether an image reference moves under the same
// name: no tag, or tag latest, and no digest. ECI image caches cannot
// match such references reliably.
func Floating(image string) bool {
	ref, err := parseImage(image)
	if err != nil {
		return false
	}
	return ref.digest == "" && (ref.tag == "" || ref.tag == "latest")
}

func floatingWhy(tag string) string {
	if tag == "latest" {
		return "tag latest"
	}
	return "no tag"
}

// pinFor finds the pin for a repository: for tag "" the first pin of
// the name (what a floating image gets), else the pin with that tag.
func (im Images) pinFor(name, tag string) (Pin, bool) {
	for _, p := range im.Pins {
		if p.Name != name {
			continue
		}
		if tag == "" || p.Tag == tag {
			return p, true
		}
	}
	return Pin{}, false
}

// stripTagDigest removes ":tag" and "@digest" from an image reference
// as written, keeping the author's spelling of the name.
func stripTagDigest(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// editableItem returns item i of the list under key as a mapping that
// can be edited without touching anything shared: the list is made
// explicit, and an aliased item is replaced by a copy.
func editableItem(body *yaml.Node, key string, i int) (*yaml.Node, error) {
	list, err := editable(body, key, yaml.SequenceNode, key)
	if err != nil {
		return nil, err
	}
	item := list.Content[i]
	if item.Kind == yaml.AliasNode {
		target := resolve(item)
		fresh := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: target.Style}
		fresh.Content = append([]*yaml.Node(nil), target.Content...)
		list.Content[i] = fresh
		return fresh, nil
	}
	return item, nil
}

// setImage sets the image of a step mapping. An image scalar that
// carries an anchor keeps it, so aliases of it elsewhere see the same
// rewrite instead of dangling.
func setImage(step *yaml.Node, image string) {
	for i := 0; i+1 < len(step.Content); i += 2 {
		if step.Content[i].Value != "image" {
			continue
		}
		v := step.Content[i+1]
		fresh := scalar(image)
		if v.Kind == yaml.ScalarNode && v.Anchor != "" {
			fresh.Anchor = v.Anchor
			fresh.Style = v.Style
			*v = *fresh
			return
		}
		step.Content[i+1] = fresh
		return
	}
	setString(step, "image", image)
}

// ContainerImages returns the images of a pipeline's services and
// steps, in order, as written (aliases and merge keys followed).
func ContainerImages(body *yaml.Node) []string {
	var out []string
	for _, list := range []string{"services", "steps"} {
		seq := resolve(lookup(body, list))
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range seq.Content {
			if image := lookupString(resolve(item), "image"); image != "" {
				out = append(out, image)
			}
		}
	}
	return out
}
