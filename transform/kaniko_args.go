package transform

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The rules in this file were read from drone-plugins/drone-docker
// v21.3.4 (docker.go, cmd/drone-*/main.go), drone/drone-kaniko v1.13.9
// (cmd/kaniko-*/main.go, kaniko.go) and GoogleContainerTools/kaniko
// (cmd/executor/cmd/root.go, pkg/creds/creds.go); line numbers are
// theirs.

// envSource is what the conversion can know of a variable's value at
// run time.
type envSource int

const (
	envUnset envSource = iota // set nowhere the conversion can see
	envEmpty                  // written as ""
	envKnown                  // written out, not empty
	envMaybe                  // a secret, a substitution or the runner's own: may be empty
)

// envVar finds a variable the way the runner builds a step's
// environment: the step's own first, then the pipeline's, then the
// runner's DRONE_* variables. Both environments are indexed once, so a
// step with thousands of variables and names costs linear time.
func (s *stepConversion) envVar(name string) (*yaml.Node, envSource) {
	if s.envIndex == nil {
		s.envIndex = map[string]*yaml.Node{}
		for _, env := range []*yaml.Node{s.stepEnv, s.pipelineEnv} {
			for _, p := range flatten(env) {
				if _, seen := s.envIndex[p.key.Value]; !seen {
					s.envIndex[p.key.Value] = p.value
				}
			}
		}
	}
	v := s.envIndex[name]
	if v == nil {
		if name == "CI" || strings.HasPrefix(name, "DRONE_") || strings.HasPrefix(name, "CI_") {
			return nil, envMaybe
		}
		return nil, envUnset
	}
	text, ok := literal(v)
	switch {
	case !ok && resolve(v).Kind == yaml.ScalarNode: // null
		return v, envEmpty
	case !ok || strings.Contains(text, "$"):
		return v, envMaybe
	case text == "":
		return v, envEmpty
	}
	return v, envKnown
}

// argPrefixes answers drone-docker's test "does a build arg start with
// this name" (docker.go 659-669) without comparing every name with
// every arg: the written args sorted, and every prefix of the args added
// from the environment so far.
type argPrefixes struct {
	written []string          // sorted
	added   map[string]string // prefix → the arg it starts
}

func newArgPrefixes(written []string) *argPrefixes {
	written = slices.Clone(written)
	slices.Sort(written)
	return &argPrefixes{written: written, added: map[string]string{}}
}

// starting returns a build arg that starts with p, if any.
func (a *argPrefixes) starting(p string) (string, bool) {
	if i, _ := slices.BinarySearch(a.written, p); i < len(a.written) && strings.HasPrefix(a.written[i], p) {
		return a.written[i], true
	}
	arg, ok := a.added[p]
	return arg, ok
}

// add records NAME=, as addProxyValue appends NAME=value.
func (a *argPrefixes) add(name string) {
	arg := name + "="
	for i := 1; i <= len(arg); i++ {
		if _, ok := a.added[arg[:i]]; !ok {
			a.added[arg[:i]] = arg
		}
	}
}

// runnerNeverEmpty are runner variables set on every build and event;
// others (DRONE_TAG on a push, DRONE_PULL_REQUEST) are empty at times.
var runnerNeverEmpty = map[string]bool{
	"CI": true, "DRONE": true, "DRONE_COMMIT": true, "DRONE_COMMIT_SHA": true, "DRONE_COMMIT_REF": true,
	"DRONE_BUILD_NUMBER": true, "DRONE_BUILD_EVENT": true, "DRONE_BUILD_CREATED": true, "DRONE_BUILD_STARTED": true,
	"DRONE_REPO": true, "DRONE_REPO_NAME": true, "DRONE_REPO_OWNER": true, "DRONE_REPO_BRANCH": true, "DRONE_REPO_LINK": true,
	"DRONE_STAGE_NAME": true, "DRONE_STEP_NAME": true, "DRONE_SYSTEM_HOST": true, "DRONE_SYSTEM_PROTO": true,
}

// proxyArgs are the variables drone-docker passes to every build as
// build args, in both spellings, when its environment sets them
// (docker.go 256-257 addProxyBuildArgs, 613-618).
var proxyArgs = []string{"http_proxy", "https_proxy", "no_proxy"}

// buildArgs writes build_args with what drone-docker added to it from
// its environment: the proxy variables (docker.go 257), then each
// build_args_from_env name (478-480). Both go through addProxyValue
// (621-656): the value is the first non-empty of NAME, its upper case
// and HARNESS_<UPPER>; only a non-empty value is added, as NAME=value
// and UPPER=value, and only when no build arg starts with NAME, UPPER
// or HARNESS_<UPPER> yet (659-669). The kaniko executor turns a bare
// NAME into NAME=<its environment's NAME>, empty or not (kaniko
// cmd/executor/cmd/root.go 380-388), so a name goes bare only where the
// value is the one docker used, and under each spelling docker added.
func (s *stepConversion) buildArgs() error {
	if s.argsDone {
		return nil
	}
	s.argsDone = true
	value, hasArgs := s.in["build_args"]
	fromEnv, hasFromEnv := s.in["build_args_from_env"]
	multiple, _ := truth(s.in["multiple_build_args"])
	if hasFromEnv && multiple {
		return s.fail("build_args_from_env", "cannot be combined with multiple_build_args by the conversion; list the variables in build_args_new as NAME=${NAME}")
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	var written []string // literal build args, for docker's prefix test
	defer s.flushEnv()
	if hasArgs {
		switch v := resolve(value); {
		case v.Kind == yaml.SequenceNode:
			list.Content = append(list.Content, v.Content...)
			for _, item := range v.Content {
				if text, ok := literal(item); ok {
					written = append(written, text)
				}
			}
		case v.Kind == yaml.ScalarNode:
			list.Content = append(list.Content, value)
			if text, ok := literal(value); ok {
				written = append(written, strings.Split(text, ",")...)
			}
		default:
			if hasFromEnv {
				return s.fail("build_args", "a secret cannot be combined with build_args_from_env by the conversion; write the list out")
			}
			s.emit("build_args", value)
			for _, name := range proxyArgs {
				_, lower := s.envVar(name)
				_, upper := s.envVar(strings.ToUpper(name))
				if lower == envKnown || lower == envMaybe || upper == envKnown || upper == envMaybe {
					s.report.Warn("step %q: build_args comes from a secret, so the conversion cannot add %s, which the docker plugin passed to the build from the environment: add it to the secret's list", s.name, name)
				}
			}
			return nil // a secret: nothing to add to
		}
	}
	var names []*yaml.Node
	if hasFromEnv {
		switch n := resolve(fromEnv); {
		case n.Kind == yaml.SequenceNode:
			names = n.Content
		case n.Kind == yaml.ScalarNode:
			for _, part := range strings.Split(n.Value, ",") {
				names = append(names, raw(strings.TrimSpace(part)))
			}
		default:
			return s.fail("build_args_from_env", "expected a list of variable names")
		}
	}
	before := len(list.Content)
	prefixes := newArgPrefixes(written)
	var proxies []string
	for _, name := range proxyArgs {
		bare, err := s.envArg(name, prefixes, true)
		if err != nil {
			return err
		}
		proxies = append(proxies, bare...)
	}
	if len(proxies) > 0 && multiple {
		s.report.Warn("step %q: the docker plugin passed %s from the environment as build args; with multiple_build_args the kaniko plugin reads build_args_new only: add them there", s.name, strings.Join(proxies, ", "))
		proxies = nil
	}
	for _, p := range proxies {
		list.Content = append(list.Content, raw(p))
	}
	if len(proxies) > 0 {
		s.report.Changed("step %q: proxy from the environment → bare build_args %s (the docker plugin passed it to the build; kaniko passes only build args)", s.name, strings.Join(proxies, ", "))
	}
	var text, bareText []string
	for _, n := range names {
		name, ok := literal(n)
		if !ok {
			return s.fail("build_args_from_env", "expected variable names written out")
		}
		if name == "" {
			continue // drone-docker looks it up, finds nothing and adds nothing
		}
		text = append(text, name)
		bare, err := s.envArg(name, prefixes, false)
		if err != nil {
			return err
		}
		for _, b := range bare {
			if b == name {
				list.Content = append(list.Content, n) // as written
			} else {
				list.Content = append(list.Content, raw(b))
			}
		}
		bareText = append(bareText, bare...)
	}
	if hasArgs || len(list.Content) > before {
		s.emit("build_args", list)
	}
	if hasFromEnv {
		s.report.Changed("step %q: setting build_args_from_env [%s] → bare build_args [%s] (the executor reads their values from the step environment)", s.name, strings.Join(text, ", "), strings.Join(bareText, ", "))
	}
	return nil
}

// envArg decides one name drone-docker's addProxyValue saw and returns
// the bare build args that give kaniko the same ones.
func (s *stepConversion) envArg(name string, prefixes *argPrefixes, proxy bool) ([]string, error) {
	upper := strings.ToUpper(name)
	harness := "HARNESS_" + upper
	what := "build_args_from_env " + name
	if proxy {
		what = "the proxy variable " + name
	}
	var source string
	var sourceNode *yaml.Node
	maybe := false
	for _, candidate := range dedupe(name, upper, harness) {
		node, src := s.envVar(candidate)
		if src == envUnset || src == envEmpty {
			continue
		}
		source, sourceNode, maybe = candidate, node, src == envMaybe
		break
	}
	if source == "" {
		if !proxy {
			s.report.Warn("step %q: %s dropped: the step's and the pipeline's environment set %s to nothing or not at all, so the docker plugin passed no such build arg (docker.go 624), where kaniko would pass it empty and override the Dockerfile's ARG default; if the runner's own environment sets it, add it to build_args", s.name, what, strings.Join(dedupe(name, upper), " or "))
		}
		return nil, nil
	}
	for _, p := range dedupe(name, upper, harness) {
		if w, ok := prefixes.starting(p); ok {
			if !proxy {
				s.report.Changed("step %q: %s dropped: build arg %s starts with it, and the docker plugin then adds none (docker.go 624, 659-669)", s.name, what, w)
			}
			return nil, nil
		}
	}
	prefixes.add(name)
	prefixes.add(upper)
	if maybe && sourceNode == nil && runnerNeverEmpty[source] {
		maybe = false
	}
	if maybe {
		s.report.Warn("step %q: %s: %s comes from a secret, a substitution or the runner, which the conversion cannot read: if it is empty at run time, kaniko passes %s= and overrides the Dockerfile's ARG default, where the docker plugin passed nothing", s.name, what, source, name)
	}
	var bare []string
	for _, spelling := range dedupe(name, upper) {
		if spelling != source {
			node, src := s.envVar(spelling)
			switch {
			case src == envUnset && sourceNode != nil:
				s.setEnv(spelling, sourceNode)
				// As Changed would write it, without fmt: a step can have
				// thousands.
				s.report.Changes = append(s.report.Changes, "step "+strconv.Quote(s.name)+": environment "+spelling+" added, a copy of "+source+
					": the docker plugin passed "+source+"'s value as build arg "+spelling+" too")
			case sourceNode != nil && node != nil && sameValue(node, sourceNode):
			default:
				s.report.Warn("step %q: build arg %s: the docker plugin passed %s's value under this name too, kaniko passes the step's own %s", s.name, spelling, source, spelling)
			}
		}
		bare = append(bare, spelling)
	}
	return bare, nil
}

func dedupe(names ...string) []string {
	var out []string
	for _, n := range names {
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func sameValue(a, b *yaml.Node) bool {
	a, b = resolve(a), resolve(b)
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind == yaml.ScalarNode {
		return a.Value == b.Value
	}
	return lookupString(a, "from_secret") != "" && lookupString(a, "from_secret") == lookupString(b, "from_secret")
}

// setEnv adds a variable to the step's own environment; flushEnv
// writes the additions, once.
func (s *stepConversion) setEnv(name string, value *yaml.Node) {
	if s.added == nil {
		s.added = map[string]bool{}
	}
	if !s.added[name] {
		s.added[name] = true
		s.addEnv = append(s.addEnv, pair{scalar(name), value})
	}
}

func (s *stepConversion) flushEnv() {
	if len(s.addEnv) == 0 {
		return
	}
	env := resolve(get(s.node, "environment"))
	own := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if env != nil && !isNull(env) {
		own = fresh(flatten(env))
	}
	for _, p := range s.addEnv {
		own.Content = append(own.Content, p.key, p.value)
	}
	s.addEnv = nil
	put(s.node, "environment", own)
}

// ecrLogin keeps plugins/ecr's username and password as the push login.
// drone-docker reads PLUGIN_USERNAME before the DOCKER_USERNAME the ecr
// wrapper sets from the ECR token (M:239-244, E:119-120), so they
// replace the token; kaniko-ecr reads them as the base-image login
// (kaniko-ecr main.go 79-88), written into /kaniko/.docker/config.json
// only for a base-image registry (571-582). Naming the push registry as
// that registry writes them for it, and the executor asks that file
// before its ECR helper (kaniko pkg/creds/creds.go 30-37).
func (s *stepConversion) ecrLogin() error {
	if s.flavour != flavourECR {
		return nil
	}
	user, hasUser := s.in["username"]
	pass, hasPass := s.in["password"]
	if !hasUser && !hasPass {
		return nil
	}
	if !hasUser || !hasPass {
		missing := "password"
		if !hasUser {
			missing = "username"
		}
		return s.fail(missing, "missing: plugins/ecr pushed with username and password in place of the ECR token's (drone-docker main.go 239-244), and half of each cannot be reproduced: plugins/kaniko-ecr takes a login only whole; set both, or neither to push with the AWS credentials")
	}
	for _, base := range []string{"docker_registry", "base_image_registry"} {
		if _, ok := s.in[base]; ok {
			return s.fail(base, "plugins/kaniko-ecr has one login besides AWS, the base-image one, and it must carry the push login plugins/ecr took from username and password; remove %s or username/password", base)
		}
	}
	if _, ok := s.in["assume_role"]; ok {
		return s.fail("assume_role", "with assume_role plugins/kaniko-ecr writes the role's login for the registry (kaniko-ecr main.go 605-617), where plugins/ecr pushed with username and password; remove one of them")
	}
	registry, ok := s.in["registry"]
	if !ok {
		return nil // repository() refuses a missing registry
	}
	s.emit("username", user)
	s.emit("password", pass)
	s.emit("docker_registry", registry)
	s.report.Changed("step %q: username/password kept with docker_registry set to the registry: plugins/ecr pushed with them in place of the ECR token, kaniko-ecr reads them only as the login of its docker_registry", s.name)
	return nil
}

// jsonKey: drone-gcr and drone-gar use the base64 decoding of a key
// that decodes (G:132-137, R:139-144); kaniko-gcr and -gar write the
// key file as given (kaniko-gcr main.go 465-466, -gar 492-493). A JSON
// key never decodes (braces and quotes are not base64).
func (s *stepConversion) jsonKey(value *yaml.Node) error {
	text, ok := literal(value)
	if !ok || strings.Contains(text, "$") {
		s.emit("json_key", value)
		s.report.Warn("step %q: json_key comes from a secret or a substitution, which the conversion cannot read: plugins/%s base64-decoded a key that decodes, kaniko-%s writes it as is, so a base64-encoded key stops authenticating; store the key's JSON itself", s.name, s.flavour, s.flavour)
		return nil
	}
	decoded, err := base64.StdEncoding.DecodeString(text)
	if err != nil || text == "" {
		s.emit("json_key", value)
		return nil
	}
	s.emit("json_key", scalar(string(decoded)))
	s.report.Changed("step %q: json_key base64-decoded, as plugins/%s did (kaniko-%s writes the key as given)", s.name, s.flavour, s.flavour)
	return nil
}

// stages keeps which stages get built. drone-docker v21 runs docker
// 28.1.1 (docker/docker/Dockerfile.linux.amd64 FROM docker:28.1.1-dind),
// whose docker build is BuildKit and builds only the stages the target
// needs; v20 runs docker 20.10 (FROM docker:20.10.14-dind, and
// 20.10.9-dind for :20.10), whose legacy builder builds every stage,
// as does the kaniko executor unless skip_unused_stages is set
// (kaniko.go 321-323). DOCKER_BUILDKIT in the step's environment
// chooses the builder on either.
func (s *stepConversion) stages() {
	if _, set := s.in["skip_unused_stages"]; set {
		return // the author's, kept as written
	}
	buildkit, known := s.buildKit()
	switch {
	case !known:
		s.report.Warn("step %q: image %s: the conversion cannot tell whether it built with BuildKit (plugins/docker 21 and later), which skips stages the target does not need, or the legacy builder (20 and earlier), which builds them all as kaniko does; add skip_unused_stages: true for BuildKit's behaviour", s.name, s.c.image)
	case buildkit:
		s.emit("skip_unused_stages", boolean(true))
		s.report.Changed("step %q: skip_unused_stages: true added: %s built with BuildKit, which skips stages the target does not need; kaniko builds them all otherwise", s.name, s.c.image)
	}
}

// buildKit says whether the docker plugin image built with BuildKit.
func (s *stepConversion) buildKit() (buildkit, known bool) {
	if v, src := s.envVar("DOCKER_BUILDKIT"); src == envKnown {
		if b, err := strconv.ParseBool(resolve(v).Value); err == nil {
			return b, true
		}
	} else if src == envMaybe && v != nil {
		return false, false
	}
	image := strings.TrimSpace(s.c.image)
	digest := strings.Contains(image, "@")
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	tag := ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		tag = image[i+1:]
	}
	if tag == "" {
		return true, !digest
	}
	digits := tag
	if i := strings.IndexFunc(tag, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		digits = tag[:i]
	}
	if major, err := strconv.Atoi(digits); err == nil {
		return major >= 21, true
	}
	return true, true // latest, linux-amd64 and the like: the newest release
}
