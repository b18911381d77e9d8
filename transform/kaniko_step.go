package transform

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// stepConversion rewrites one docker plugin step (n is its own copy).
type stepConversion struct {
	r        *kanikoRun
	c        *container
	flavour  string
	in       map[string]*yaml.Node // the docker settings, effective
	inKey    map[string]*yaml.Node // their keys, as parsed (see emit)
	order    []string              // their order
	out      *yaml.Node            // the kaniko settings
	outIndex map[string]int        // out's keys, by position in its content (see emit)
	report   *Report
	name     string
	consumed map[string]bool
	node     *yaml.Node // the step's own copy
	// stepEnv is the step's environment as the docker plugin saw it,
	// pipelineEnv the pipeline's (the runner lets the step's win).
	stepEnv, pipelineEnv *yaml.Node
	argsDone             bool                  // build args written (see buildArgs)
	inertLogin           []string              // DOCKER_* kept in a wrapper flavour's environment
	envIndex             map[string]*yaml.Node // see envVar
	addEnv               []pair                // see setEnv
	added                map[string]bool       // addEnv's names
}

func (r *kanikoRun) convertStep(c *container, n *yaml.Node) error {
	image := r.k.Images[c.flavour]
	s := &stepConversion{r: r, c: c, flavour: c.flavour, out: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, report: &r.p.Report, name: c.name, consumed: map[string]bool{}, node: n}
	settings := resolve(get(n, "settings"))
	if settings != nil && !isNull(settings) && settings.Kind != yaml.MappingNode {
		return fmt.Errorf("settings: expected a mapping, found a %s", kindName(settings.Kind))
	}
	pairs := flatten(settings)
	s.in, s.inKey, s.order = make(map[string]*yaml.Node, len(pairs)), map[string]*yaml.Node{}, make([]string, 0, len(pairs))
	// Keys of the step's own mapping, not an anchor's: see keepAsWritten.
	own := get(n, "settings") == settings && settings != nil && settings.Anchor == ""
	for i, p := range pairs {
		s.in[p.key.Value] = p.value
		s.order = append(s.order, p.key.Value)
		if own && 2*i < len(settings.Content) && settings.Content[2*i] == p.key {
			s.inKey[p.key.Value] = p.key
		}
	}
	if err := s.environment(n); err != nil {
		return err
	}
	if err := s.settings(); err != nil {
		return err
	}
	if err := s.checkInertLogin(); err != nil {
		return err
	}
	put(n, "image", scalar(image))
	if len(s.out.Content) > 0 {
		put(n, "settings", s.out)
	} else {
		del(n, "settings")
	}
	note := ""
	if del(n, "privileged") {
		note = "; privileged: true removed (kaniko needs no privilege)"
	}
	r.p.Report.Changed("step %q: %s → %s%s", c.name, c.image, image, note)
	return nil
}

// environment maps the variables the docker plugin read as settings
// (and the DOCKER_HOST that pointed it at a daemon) out of the step's
// environment; the pipeline's are mapped too, but stay where they are.
func (s *stepConversion) environment(n *yaml.Node) error {
	env := resolve(get(n, "environment"))
	var own *yaml.Node
	if env != nil && !isNull(env) {
		if env.Kind != yaml.MappingNode {
			return fmt.Errorf("environment: expected a mapping, found a %s", kindName(env.Kind))
		}
		own = fresh(flatten(env))
		s.stepEnv = fresh(flatten(env))
	}
	changed := false
	if own != nil && del(own, "DOCKER_HOST") {
		changed = true
		s.report.Changed("step %q: environment DOCKER_HOST removed (kaniko needs no Docker daemon)", s.name)
	}
	pipelineEnv := resolve(lookup(s.r.p.Body, "environment"))
	s.pipelineEnv = pipelineEnv
	mappedFrom := map[string]string{} // setting → the variable that gave it
	for _, e := range envSettings {
		if e.flavours != nil && !contains(e.flavours, s.flavour) {
			continue
		}
		var value *yaml.Node
		fromStep := false
		if own != nil {
			if value = get(own, e.env); value != nil {
				fromStep = true
			}
		}
		if value == nil {
			value = lookup(pipelineEnv, e.env)
		}
		if value == nil {
			continue
		}
		where := "the pipeline's environment"
		if fromStep {
			where = "its environment"
			if !e.keep {
				del(own, e.env)
				changed = true
			}
		}
		_, set := s.in[e.setting]
		switch from, mapped := mappedFrom[e.setting]; {
		case mapped && e.keep:
			s.report.Changed("step %q: %s from %s not mapped: %s wins, as in the docker plugin", s.name, e.env, where, from)
		case mapped:
			s.report.Changed("step %q: %s from %s dropped: %s wins, as in the docker plugin", s.name, e.env, where, from)
		case set || s.consumed[e.setting]:
			if e.keep {
				s.report.Changed("step %q: %s from %s not mapped: setting %s wins, as in the docker plugin", s.name, e.env, where, e.setting)
			} else {
				s.report.Changed("step %q: %s from %s dropped: setting %s wins, as in the docker plugin", s.name, e.env, where, e.setting)
			}
		case e.keep:
			s.in[e.setting] = value
			s.order = append(s.order, e.setting)
			mappedFrom[e.setting] = e.env
			s.report.Changed("step %q: %s from %s → setting %s too (plugins/%s read it, plugins/kaniko-%s reads only the setting)", s.name, e.env, where, e.setting, s.flavour, s.flavour)
		default:
			s.in[e.setting] = value
			s.order = append(s.order, e.setting)
			mappedFrom[e.setting] = e.env
			s.report.Changed("step %q: %s from %s → setting %s (the kaniko plugin reads %s as something else or not at all)", s.name, e.env, where, e.setting, e.env)
		}
		if !fromStep && (e.env == "DOCKER_USERNAME" || e.env == "DOCKER_PASSWORD" || e.env == "DOCKER_REGISTRY") {
			s.report.Warn("step %q: the pipeline's %s also reaches the kaniko step, which reads it as a base-image pull credential", s.name, e.env)
		}
	}
	if s.flavour != flavourDocker {
		dropped, err := s.wrapperEnv(own, pipelineEnv)
		if err != nil {
			return err
		}
		changed = changed || dropped
	}
	if changed {
		if len(own.Content) == 0 {
			del(n, "environment")
		} else {
			put(n, "environment", own)
		}
	}
	return nil
}

// wrapperEnv handles DOCKER_REGISTRY, DOCKER_USERNAME and
// DOCKER_PASSWORD on the ecr, gcr, gar and acr flavours. Their wrappers
// set PLUGIN_REGISTRY, which drone-docker reads before DOCKER_REGISTRY
// (M:234; E:118 G:104 R:111 A:126), so the variable was never read; the
// ecr and acr wrappers always overwrite the login (E:119-120,
// A:127-128), gcr and gar when a key is given (G:98-101, R:105-108), and
// without a key the variables were gcr's and gar's push login, which
// kaniko-gcr/-gar cannot take. The kaniko plugins read all three as the
// base-image login (kaniko-ecr main.go 77-88, -gcr 117-129, -gar
// 133-145, -acr 140-152), used only with a base-image registry: a
// literal DOCKER_REGISTRY goes, and the login stays only where it is
// inert (no base-image registry, or a setting read before it).
func (s *stepConversion) wrapperEnv(own, pipelineEnv *yaml.Node) (changed bool, err error) {
	_, keyed := s.in["json_key"]
	keyed = keyed || s.flavour == flavourECR || s.flavour == flavourACR
	for _, name := range wrapperDockerEnv {
		fromStep := own != nil && get(own, name) != nil
		if !fromStep && lookup(pipelineEnv, name) == nil {
			continue
		}
		if name != "DOCKER_REGISTRY" && !keyed {
			return changed, fmt.Errorf("environment %s: without json_key, plugins/%s pushed with DOCKER_USERNAME and DOCKER_PASSWORD as its login (drone-docker main.go 239-244; the wrapper sets them only from a key), and kaniko-%s has no push login but json_key: set json_key", name, s.flavour, s.flavour)
		}
		if !fromStep {
			s.report.Warn("step %q: the pipeline's %s reaches the kaniko step, which reads it as a base-image pull credential; plugins/%s ignored it (its wrapper sets the registry and login)", s.name, name, s.flavour)
			continue
		}
		if name == "DOCKER_REGISTRY" {
			if _, ok := literal(get(own, name)); !ok {
				return changed, fmt.Errorf("environment DOCKER_REGISTRY: plugins/%s ignored it (its wrapper sets the registry), kaniko-%s would read it as the base-image registry, and it comes from a secret the conversion will not drop: remove it", s.flavour, s.flavour)
			}
			del(own, name)
			changed = true
			s.report.Changed("step %q: environment DOCKER_REGISTRY removed: plugins/%s ignored it (its wrapper sets the registry), kaniko-%s would read it as the base-image registry", s.name, s.flavour, s.flavour)
			continue
		}
		s.inertLogin = append(s.inertLogin, name)
	}
	return changed, nil
}

// checkInertLogin runs once the settings are written: a DOCKER_USERNAME
// or DOCKER_PASSWORD left in a wrapper flavour's environment must not
// become the base-image login.
func (s *stepConversion) checkInertLogin() error {
	if len(s.inertLogin) == 0 {
		return nil
	}
	registrySet := s.hasOut("docker_registry") || s.hasOut("base_image_registry") || lookup(s.pipelineEnv, "DOCKER_REGISTRY") != nil
	for _, name := range s.inertLogin {
		shadows := []string{"docker_username", "base_image_username"}
		if name == "DOCKER_PASSWORD" {
			shadows = []string{"docker_password", "base_image_password"}
		}
		if s.flavour == flavourECR {
			shadows = append(shadows, strings.ToLower(strings.TrimPrefix(name, "DOCKER_")))
		}
		shadowed := false
		for _, key := range shadows {
			shadowed = shadowed || s.hasOut(key)
		}
		if registrySet && !shadowed {
			return fmt.Errorf("environment %s: plugins/%s ignored it (its wrapper sets the login), and with a base-image registry set kaniko-%s would log in there with it: remove it, or set the base-image login (base_image_username/base_image_password)", name, s.flavour, s.flavour)
		}
		s.report.Changed("step %q: environment %s kept, unused: plugins/%s ignored it (its wrapper sets the login), kaniko-%s reads it only as a base-image login, for a base-image registry this step does not set", s.name, name, s.flavour, s.flavour)
	}
	return nil
}

// hasOut reports whether a kaniko setting was written.
func (s *stepConversion) hasOut(key string) bool {
	for i := 0; i+1 < len(s.out.Content); i += 2 {
		if s.out.Content[i].Value == key {
			return true
		}
	}
	return false
}

// emit adds a kaniko setting.
//
// Settings are kept through an index of out, which only emit fills, so
// a step with thousands of settings (each kept as written) does not
// search out for every one.
func (s *stepConversion) emit(key string, value *yaml.Node) {
	s.put(key, nil, value)
}

// keepAsWritten carries a setting the kaniko plugin does not read over
// under its own key node, when that is one scalar would write the same
// (a string, without anchor, comments, "$" or backslash) and stands in
// the step's own settings mapping: the encoder then keeps the entry's
// text instead of writing it anew, which for thousands of such settings
// was most of the cost of encoding the config. Any other key is written
// anew, as before. The output means what it did; a kept entry's text is
// now the author's own (quoting, spacing), which the runner substitutes
// exactly as it would have in the unconverted pipeline.
func (s *stepConversion) keepAsWritten(key string, value *yaml.Node) {
	k := s.inKey[key]
	if k != nil && (k.Kind != yaml.ScalarNode || k.Tag != "!!str" || k.Anchor != "" || k.Style != 0 ||
		k.HeadComment != "" || k.LineComment != "" || k.FootComment != "" || strings.ContainsAny(key, "$\\")) {
		k = nil
	}
	s.put(key, k, value)
}

// put sets key in out to value, written with the key node k (nil: a new
// one).
func (s *stepConversion) put(key string, k, value *yaml.Node) {
	if s.outIndex == nil {
		s.outIndex = make(map[string]int, len(s.order))
	}
	if i, ok := s.outIndex[key]; ok {
		s.out.Content[i+1] = value
		return
	}
	s.outIndex[key] = len(s.out.Content)
	if k == nil {
		k = scalar(key)
	}
	s.out.Content = append(s.out.Content, k, value)
}

func (s *stepConversion) fail(setting, format string, args ...any) error {
	return fmt.Errorf("setting %q: %s", setting, fmt.Sprintf(format, args...))
}

func (s *stepConversion) settings() error {
	// Settings read as one flag: the first one set wins.
	chosen := map[string]string{}
	for _, a := range aliases {
		for _, name := range a.names {
			if _, ok := s.in[name]; !ok {
				continue
			}
			if first, ok := chosen[a.to]; ok {
				s.report.Changed("step %q: setting %s dropped: the docker plugin reads %s first and ignores it", s.name, name, first)
				s.consumed[name] = true
				continue
			}
			chosen[a.to] = name
		}
	}
	autoTag := false
	if name, ok := chosen["auto_tag"]; ok {
		v, known := truth(s.in[name])
		if !known {
			return s.fail(name, "the conversion needs a literal true or false here (the docker and kaniko plugins treat auto-tagging differently)")
		}
		autoTag = v
	}
	if name, ok := chosen["tags"]; ok && autoTag {
		s.report.Changed("step %q: setting %s dropped: with auto_tag the docker plugin ignores it (kaniko would refuse the pair)", s.name, name)
		s.consumed[name] = true
	}
	flavour := s.flavour
	// As Warn would write it, without fmt: a step can keep thousands.
	keptHead, keptTail := "step "+strconv.Quote(s.name)+": setting ", " kept as written: plugins/"+flavour+" does not read it"

	for _, key := range s.order {
		if s.consumed[key] {
			continue
		}
		value := s.in[key]
		rule, known := settingTable[key]
		// A setting the docker plugin never read changed nothing before
		// and changes nothing now; it is carried over rather than dropped
		// so that no value, and no secret reference, disappears.
		if !known {
			s.keepAsWritten(key, value)
			s.report.Warnings = append(s.report.Warnings, keptHead+key+keptTail)
			continue
		}
		if rule.flavours != nil && !contains(rule.flavours, flavour) {
			if (rule.action == keep || rule.action == special) && rule.why != "" {
				return s.fail(key, "plugins/kaniko-%s has no %s setting (%s): the step could not authenticate as written; use the flavour's own credentials settings", flavour, key, rule.why)
			}
			s.keepAsWritten(key, value)
			s.report.Changed("step %q: setting %s kept as written: plugins/%s does not read it", s.name, key, flavour)
			continue
		}
		switch rule.action {
		case keep:
			s.emit(key, value)
		case daemonOnly:
			s.report.Changed("step %q: setting %s dropped (%s; the built image is the same)", s.name, key, rule.why)
		case lossy:
			s.report.Warn("step %q: setting %s dropped: %s", s.name, key, rule.why)
		case refuse:
			if v, known := truth(value); known && !v {
				s.report.Changed("step %q: setting %s: false dropped", s.name, key)
				continue
			}
			return s.fail(key, "%s, so the image would not be the same: this step cannot be converted", rule.why)
		case special:
			if err := s.special(key, value, chosen, autoTag); err != nil {
				return err
			}
		}
	}
	if err := s.ecrLogin(); err != nil {
		return err
	}
	if err := s.buildArgs(); err != nil {
		return err
	}
	s.stages()
	if err := s.guestPush(chosen); err != nil {
		return err
	}
	if v, known := truth(s.in["auto_label"]); !known || v {
		s.report.Warn("step %q: the docker plugin labelled the image org.opencontainers.image.created, .revision, .source and .url (auto_label); kaniko adds no labels, so only that metadata differs (add them with custom_labels)", s.name)
	}
	return s.repository()
}

func (s *stepConversion) special(key string, value *yaml.Node, chosen map[string]string, autoTag bool) error {
	switch key {
	case "repo", "registry", "location":
		return nil // repository() handles them together
	case "username", "password":
		if s.flavour == flavourDocker {
			s.emit(key, value)
		}
		return nil // ecr: ecrLogin() handles them together
	case "json_key":
		return s.jsonKey(value)
	case "tag", "tags":
		if key == "tag" {
			s.report.Changed("step %q: setting tag → tags", s.name)
		}
		s.emit("tags", value)
	case "default_tags", "auto_tag":
		if key == "default_tags" {
			s.report.Changed("step %q: setting default_tags → auto_tag", s.name)
		}
		s.emit("auto_tag", value)
		if autoTag {
			// The docker plugin ignored tags and the .tags file under
			// auto_tag (M:448-461); the kaniko plugins read .tags when
			// tags is unset (urfave/cli reads the variable first) and
			// refuse any tag but latest with auto_tag (kaniko.go 159-161).
			s.emit("tags", raw("latest"))
			s.report.Changed("step %q: tags: latest added: with auto_tag the docker plugin ignored tags and the .tags file, the kaniko plugin reads .tags when tags is unset and fails on any tag but latest", s.name)
			return s.autoTagWhen()
		}
	case "default_suffix", "auto_tag_suffix":
		if key == "default_suffix" {
			s.report.Changed("step %q: setting default_suffix → auto_tag_suffix", s.name)
		}
		s.emit("auto_tag_suffix", value)
	case "dry_run", "no_push":
		if key == "dry_run" {
			s.report.Changed("step %q: setting dry_run → no_push", s.name)
		}
		s.emit("no_push", value)
	case "debug":
		v, known := truth(value)
		switch {
		case !known:
			return s.fail(key, "expected a literal true or false")
		case v:
			s.emit("verbosity", scalar("debug"))
			s.report.Changed("step %q: setting debug → verbosity: debug", s.name)
		default:
			s.report.Changed("step %q: setting debug: false dropped", s.name)
		}
	case "mirror":
		text, ok := literal(value)
		if !ok {
			return s.fail(key, "kaniko wants host[/path] without a scheme, so the conversion needs the mirror written out, not a secret")
		}
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(text, "https://"), "http://"), "/")
		list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{raw(host)}}
		s.emit("registry_mirrors", list)
		s.report.Changed("step %q: setting mirror %s → registry_mirrors [%s]", s.name, text, host)
	case "platform":
		s.emit(key, value)
		if text, _ := literal(value); text != "linux/amd64" {
			s.report.Warn("step %q: setting platform %s kept: kaniko builds for the node's own architecture (no emulation); ECI nodes are linux/amd64 unless you chose ARM instances", s.name, text)
		}
	case "oidc_token_id":
		if s.flavour == flavourECR || s.flavour == flavourACR {
			s.emit(key, value)
		} else if s.flavour == flavourDocker {
			s.report.Changed("step %q: setting oidc_token_id dropped: plugins/docker does not read it", s.name)
		} else {
			s.report.Warn("step %q: setting oidc_token_id dropped: kaniko-%s authenticates with json_key only", s.name, s.flavour)
		}
	case "build_args", "build_args_from_env":
		return s.buildArgs()
	case "insecure":
		v, known := truth(value)
		if !known {
			return s.fail(key, "expected a literal true or false")
		}
		if !v {
			s.report.Changed("step %q: setting insecure: false dropped", s.name)
			return nil
		}
		s.emit("insecure", boolean(true))
		if s.flavour == flavourDocker {
			s.emit("skip_tls_verify", boolean(true))
			s.report.Changed("step %q: setting insecure → insecure + skip_tls_verify (the daemon's insecure registry allowed both plain HTTP and unverified TLS)", s.name)
		} else {
			s.report.Warn("step %q: setting insecure → insecure (plain HTTP); kaniko-%s has no working switch to skip TLS verification of the registry", s.name, s.flavour)
		}
	case "cache_from":
		if v, known := truth(s.in["no_cache"]); known && v {
			s.report.Changed("step %q: setting cache_from dropped: no_cache is set, so the docker plugin used no cache either", s.name)
			return nil
		}
		s.emit("enable_cache", boolean(true))
		s.report.Warn("step %q: setting cache_from → enable_cache: kaniko caches layers in a registry repository instead of pulling cache images; the first build fills it", s.name)
		return s.cacheRepo()
	case "no_cache":
		s.report.Changed("step %q: setting no_cache dropped: kaniko caches only when enable_cache is set", s.name)
	case "squash":
		s.report.Warn("step %q: setting squash dropped: the docker plugin squashed only on an experimental daemon; the layers may differ, the filesystem does not", s.name)
	case "auto_label":
		if v, known := truth(value); known && !v {
			s.report.Changed("step %q: setting auto_label: false dropped (kaniko adds no labels either)", s.name)
		}
	}
	return nil
}

// autoTagWhen keeps the docker plugin's auto_tag behaviour off tags and
// the default branch: it skipped the build and succeeded, where the
// kaniko plugin fails. The runner substitutes ${DRONE_REPO_BRANCH} (the
// default branch) before it reads the condition.
func (s *stepConversion) autoTagWhen() error {
	n := s.r.owned[s.c]
	when := resolve(get(n, "when"))
	if when != nil && !isNull(when) && lookup(when, "ref") != nil {
		s.report.Warn("step %q: auto_tag: the docker plugin skipped the build unless on a tag or the default branch; the kaniko plugin fails there instead, and the step's own when.ref is kept as is", s.name)
		return nil
	}
	cond := fresh(flatten(when))
	refs := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{raw("refs/tags/*"), raw("refs/heads/${DRONE_REPO_BRANCH}")}}
	put(cond, "ref", refs)
	put(n, "when", cond)
	s.report.Changed("step %q: auto_tag: when.ref [refs/tags/*, refs/heads/<default branch>] added (the docker plugin skipped the build elsewhere; the kaniko plugin would fail)", s.name)
	return nil
}

func (s *stepConversion) cacheRepo() error {
	if s.r.k.CacheRepo == "" && s.flavour != flavourDocker {
		// kaniko-ecr/-gcr/-gar/-acr pass registry/cache_repo even when
		// cache_repo is empty ("--cache-repo=gcr.io/"): name kaniko's own
		// default, <repo>/cache, explicitly.
		repo, ok := literal(s.in["repo"])
		if !ok {
			return s.fail("cache_from", "repo is a secret, so the conversion cannot name the cache repository kaniko-%s needs; write repo out or drop cache_from", s.flavour)
		}
		cache := s.stripRegistry(repo) + "/cache"
		s.emit("cache_repo", raw(cache))
		s.report.Changed("step %q: cache_repo %s (kaniko's default; kaniko-%s needs it named)", s.name, cache, s.flavour)
		return nil
	}
	if s.r.k.CacheRepo == "" {
		registry, _ := literal(s.in["registry"])
		if s.flavour == flavourDocker && (registry == "" || strings.Contains(registry, "index.docker.io")) {
			s.report.Warn("step %q: the layer cache goes to kaniko's default <repo>/cache, which Docker Hub's two-level names reject", s.name)
			s.report.ForOperator("DRONE_ECI_KANIKO_CACHE_REPO", "step %q caches layers in <repo>/cache, which Docker Hub rejects: a cache repository template gives it one", s.name)
		}
		return nil
	}
	repo, ok := literal(s.in["repo"])
	if !ok {
		s.report.Warn("step %q: repo is a secret, so the layer cache goes to kaniko's default <repo>/cache, not to this service's cache repository (write repo out to get it)", s.name)
		return nil
	}
	if s.flavour != flavourDocker {
		repo = s.stripRegistry(repo)
	}
	cache := strings.ReplaceAll(s.r.k.CacheRepo, "{repo}", repo)
	s.emit("cache_repo", raw(cache))
	s.report.Changed("step %q: cache_repo %s (this service's cache repository)", s.name, cache)
	return nil
}

// registryOf is the registry the docker plugin flavour pushes to, as the
// conversion can know it: ok is false when it is a secret.
func (s *stepConversion) registryOf() (string, bool) {
	if n, set := s.in["registry"]; set {
		return literal(n)
	}
	switch s.flavour {
	case flavourGCR:
		return "gcr.io", true
	case flavourGAR:
		location, ok := literal(s.in["location"])
		if !ok || location == "" {
			return "", false
		}
		return location + "-docker.pkg.dev", true
	}
	return "", true
}

func (s *stepConversion) stripRegistry(repo string) string {
	registry, _ := s.registryOf()
	if registry != "" && strings.HasPrefix(repo, registry) {
		return strings.TrimLeft(strings.TrimPrefix(repo, registry), "/")
	}
	return repo
}

// qualified reports whether a repository names its registry host.
func qualified(repo string) bool {
	first, _, found := strings.Cut(repo, "/")
	return found && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// repository applies each flavour's registry-prefix rules: the docker
// variants prefix registry/ only when the repo lacks it; kaniko-ecr,
// -gcr and -gar always prefix it, kaniko-acr never does.
func (s *stepConversion) repository() error {
	repoNode, hasRepo := s.in["repo"]
	registryNode, hasRegistry := s.in["registry"]
	if s.flavour == flavourDocker {
		if hasRepo {
			s.emit("repo", repoNode)
		}
		if hasRegistry {
			s.emit("registry", registryNode)
		}
		s.orderSettings()
		return nil
	}
	registry, registryKnown := s.registryOf()
	switch s.flavour {
	case flavourECR:
		if !hasRegistry {
			return s.fail("registry", "missing: plugins/ecr derives it from the AWS account, plugins/kaniko-ecr cannot; set registry (<account>.dkr.ecr.<region>.amazonaws.com)")
		}
	case flavourACR:
		if !hasRegistry {
			return s.fail("registry", "missing: plugins/kaniko-acr needs the registry (<name>.azurecr.io)")
		}
	case flavourGAR:
		if !hasRegistry {
			if !registryKnown {
				return s.fail("location", "plugins/kaniko-gar has no location setting and needs registry; write location out or set registry (<location>-docker.pkg.dev)")
			}
			s.emit("registry", raw(registry))
			s.report.Changed("step %q: setting location → registry %s", s.name, registry)
		} else if _, ok := s.in["location"]; ok {
			s.report.Changed("step %q: setting location dropped: registry is set, which the docker plugin preferred", s.name)
		}
	}
	if hasRegistry {
		s.emit("registry", registryNode)
	}
	if !hasRepo {
		s.orderSettings()
		return nil
	}
	repo, repoKnown := literal(repoNode)
	if !repoKnown {
		return s.fail("repo", "is a secret, so the conversion cannot apply plugins/%s's registry-prefix rule (plugins/kaniko-%s treats a registry prefix differently and the destination could change); write repo out", s.flavour, s.flavour)
	}
	if !registryKnown {
		if qualified(repo) || strings.HasPrefix(repo, "$") {
			return s.fail("registry", "is a secret, so the conversion cannot tell whether repo %s already starts with it; write registry out", repo)
		}
		registry = ""
	}
	if strings.HasPrefix(repo, "$") && registry != "" && !strings.HasPrefix(repo, registry) {
		return s.fail("repo", "%s starts with a variable, so the conversion cannot tell whether it already starts with registry %s; write it out", repo, registry)
	}
	switch s.flavour {
	case flavourACR:
		if registry != "" && !strings.HasPrefix(repo, registry) {
			full := registry + "/" + repo
			s.emit("repo", raw(full))
			s.report.Changed("step %q: setting repo %s → %s (kaniko-acr does not prefix the registry)", s.name, repo, full)
		} else {
			s.emit("repo", repoNode)
		}
	default:
		if registry != "" && strings.HasPrefix(repo, registry) {
			short := strings.TrimLeft(strings.TrimPrefix(repo, registry), "/")
			s.emit("repo", raw(short))
			s.report.Changed("step %q: setting repo %s → %s (kaniko-%s always prefixes the registry)", s.name, repo, short, s.flavour)
		} else {
			s.emit("repo", repoNode)
		}
	}
	s.orderSettings()
	return nil
}

// orderSettings puts repo and registry first, where authors write them.
func (s *stepConversion) orderSettings() {
	var head, tail []*yaml.Node
	for i := 0; i+1 < len(s.out.Content); i += 2 {
		k := s.out.Content[i].Value
		if k == "repo" || k == "registry" {
			head = append(head, s.out.Content[i], s.out.Content[i+1])
		} else {
			tail = append(tail, s.out.Content[i], s.out.Content[i+1])
		}
	}
	s.out.Content = slices.Concat(head, tail)
	s.outIndex = nil // positions moved; no setting is emitted after this
}

// guestPush keeps the docker plugin's guest mode: without credentials or
// a config it pushes anonymously (docker.go: "Guest mode enabled"), where
// kaniko-docker refuses to write a config without a username. An empty
// config given as config makes kaniko push anonymously too.
func (s *stepConversion) guestPush(chosen map[string]string) error {
	if s.flavour != flavourDocker {
		return nil
	}
	if _, ok := s.in["username"]; ok {
		return nil
	}
	if _, ok := s.in["config"]; ok {
		return nil
	}
	if name, ok := chosen["no_push"]; ok {
		if v, known := truth(s.in[name]); !known || v {
			return nil
		}
	}
	s.emit("config", scalar(`{"auths":{}}`))
	s.report.Changed("step %q: config {\"auths\":{}} added: without credentials the docker plugin pushed as a guest, and kaniko-docker needs a config (or a username) to push at all", s.name)
	for _, base := range []string{"docker_username", "base_image_username"} {
		if _, ok := s.in[base]; ok {
			s.report.Warn("step %q: %s is ignored by kaniko-docker once config is set; add username and password for the push registry", s.name, base)
		}
	}
	return nil
}
