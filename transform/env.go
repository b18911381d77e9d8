package transform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/drone/envsubst"
	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
	"github.com/drone-convert-eci/drone-convert-eci/internal/kubeexpand"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// Env carriers: where a step's env file comes from.
const (
	// CarrierAnnotations sends the file as a pipeline annotation, which
	// the runner's downward-API volume projects into /run/drone/env in
	// every container. No cluster access; works for untrusted repos.
	CarrierAnnotations = "annotations"
	// CarrierSecret sends the file as an immutable Secret the service
	// creates, mounted into the step. The runner's linter allows secret
	// volumes for trusted repos only.
	CarrierSecret = "secret"
	// CarrierAuto is secret for trusted repos when the service has
	// cluster access, annotations otherwise.
	CarrierAuto = "auto"
)

// When the env transform collapses a step's environment.
const (
	EnvAlways     = "always"
	EnvOverBudget = "over-budget"
	EnvNever      = "never"
)

const (
	// EnvAnnotationPrefix starts the annotation keys that carry env
	// files. The runner's /run/drone/env file is read as a dotenv file
	// by many plugins (godotenv.Overload); godotenv v1.5 refuses a
	// whole file when any key holds "/" or "-", so these keys use only
	// letters, digits, "_" and ".", and no runner key (io.drone.*,
	// DRONE_*) starts this way.
	EnvAnnotationPrefix = envfile.AnnotationPrefix
	// EnvSecretPrefix starts the names of the Secrets carrying env files.
	EnvSecretPrefix = "drone-convert-eci-env-"
	// EnvSecretKey is the key (file name) of the env file in its Secret.
	EnvSecretKey = "env"
	// EnvMountRoot is where secret env files are mounted (the linter
	// forbids anything under /run/drone).
	EnvMountRoot = "/etc/drone-convert-eci"
	// envVolumePrefix names the pipeline volumes of secret env files.
	envVolumePrefix = "drone-convert-eci-env-"
	// envDownwardFile is the runner's downward-API file of annotations.
	envDownwardFile = envfile.DownwardFile
	// envLoaderMark starts every loader command, so a converted step is
	// recognised (converting twice changes nothing).
	envLoaderMark = envfile.LoaderMark
	// envMaxAnnotationBytes bounds what the annotations carrier adds to
	// a pod: Kubernetes refuses pods whose annotations exceed 256 KiB.
	envMaxAnnotationBytes = 128 << 10
	// envMaxAnnotationLine bounds one env file annotation. It is written
	// on one line of YAML, and the runner reads configs line by line with
	// a 64 KiB buffer, silently dropping the rest of the file after a
	// longer line (runner-go manifest.ParseRaw); YAML quoting may double
	// the length.
	envMaxAnnotationLine = 30 << 10
)

// EnvSecret is a Secret the env transform needs in the cluster before
// the converted config may be answered. The transform does no I/O; the
// plugin creates these (plugin.SecretStore).
type EnvSecret struct {
	Namespace string
	Name      string
	Data      []byte
}

// Env moves what the YAML adds to a command step's container env (the
// pipeline's and the step's plain `environment` values) into one env
// file per step, loaded by a first command. See docs/how-it-works.md "Environment
// files" for the rules; every rule exists so the step's shell sees the
// same variables, with the same values, as before.
type Env struct {
	// Carrier is auto, secret or annotations.
	Carrier string
	// When is always, over-budget or never.
	When string
	// Budget is the most env vars a container may carry (ECI: 92).
	Budget int
	// Overhead is what the runner adds that the converter cannot see
	// (globals, proxies, netrc), counted into every container.
	Overhead int
	// ClusterAccess says whether the plugin can create Secrets.
	ClusterAccess bool
	// Namespace is where pods of pipelines without metadata.namespace
	// run: the runner's DRONE_NAMESPACE_DEFAULT.
	Namespace string
	// Webhook says the admission webhook moves what the runner injects
	// (DRONE_ECI_WEBHOOK_ENABLED): container counts, mostly the
	// runner's variables, are then nobody's concern here.
	Webhook bool
}

// Name implements Transform.
func (Env) Name() string { return "env" }

// envVar is one entry of an `environment` mapping.
type envVar struct {
	name  string
	key   *yaml.Node
	value *yaml.Node // as written, for re-adding elsewhere
	// secret is true for `from_secret` (and any non-scalar) values.
	secret bool
	// literal is the value the step sees, after the runner's
	// substitution; ok is false when it depends on substitution (or
	// cannot be carried), so it must stay in the YAML.
	literal string
	ok      bool
}

// envStep is one step or service and what the transform knows of it.
type envStep struct {
	index   int
	node    *yaml.Node
	name    string
	command bool // commands and no entrypoint: the runner's script runs it
	loaded  bool // already starts with a loader
	service bool
	// simple is false when editing the step could change another one:
	// the step, its environment or its commands is anchored, aliased
	// or merged (Drone's YAML library merges map fields key by key).
	simple bool
	env    []envVar
	// script is the text of the step's commands, which the runner
	// sets as DRONE_SCRIPT.
	script []string
	// settingsPlain / settingsSecret are PLUGIN_* names of settings.
	settingsPlain  []string
	settingsSecret []string
}

// Apply implements Transform.
func (e Env) Apply(p *Pipeline) error {
	if e.When == EnvNever || e.When == "" {
		return nil
	}
	err := e.apply(p)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	if len(p.envOverBudget) > 0 {
		verb := "keep"
		if len(p.envOverBudget) == 1 {
			verb = "keeps"
		}
		p.Report.ForOperator("DRONE_ECI_WEBHOOK_ENABLED", "env: %s %s more env vars than ECI's %d, most of them the runner's: the admission webhook would move those", strings.Join(p.envOverBudget, ", "), verb, e.Budget)
	}
	return nil
}

func (e Env) apply(p *Pipeline) error {
	platform := resolve(lookup(p.Body, "platform"))
	if strings.EqualFold(lookupString(platform, "os"), "windows") {
		p.Report.Warn("env: windows pipeline kept its env (the loader is POSIX sh)")
		return nil
	}
	pipelineEnv, err := readEnv(resolve(lookup(p.Body, "environment")), func() string { return "environment" })
	if err != nil {
		return err
	}
	var steps []*envStep
	for _, list := range []string{"services", "steps"} {
		seq := resolve(lookup(p.Body, list))
		if seq == nil || isNull(seq) {
			continue
		}
		if seq.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: expected a list, found a %s", list, kindName(seq.Kind))
		}
		for i, item := range seq.Content {
			s, err := readStep(item, func() string { return fmt.Sprintf("%s[%d]", list, i) })
			if err != nil {
				return err
			}
			s.index, s.service = i, list == "services"
			s.simple = s.simple && seq.Anchor == ""
			steps = append(steps, s)
		}
	}

	carrier := e.carrier(p)
	namespace := lookupString(resolve(lookup(p.Body, "metadata")), "namespace")
	if namespace == "" {
		namespace = e.Namespace
	}
	if carrier == CarrierSecret && (strings.Contains(namespace, "$") || namespace == "drone-" || namespace == "") {
		p.Report.Warn("env: namespace %q is not known before the build (substituted, random or unset), so the env files travel as annotations", namespace)
		carrier = CarrierAnnotations
	}

	runner := runnerEnv(p.Event)
	base := len(runner) + e.Overhead
	referenced := kubeReferenced(pipelineEnv, steps)
	cloneOn := !isTrue(lookupString(resolve(lookup(p.Body, "clone")), "disable"))

	// Which steps collapse.
	type plan struct {
		step   *envStep
		before int
		moved  []envVar // step's own, moved
	}
	var plans []*plan
	for _, s := range steps {
		if s.service || !s.command || s.loaded {
			continue
		}
		before := containerCount(base, runner, pipelineEnv, s)
		if e.When == EnvOverBudget && before <= e.Budget {
			continue
		}
		if !s.simple {
			continue // reportKept says why
		}
		pl := &plan{step: s, before: before, moved: make([]envVar, 0, len(s.env))}
		for _, v := range s.env {
			if movable(v, true, s) && !referenced[v.name] {
				pl.moved = append(pl.moved, v)
			}
		}
		plans = append(plans, pl)
	}

	// Pipeline values move only when every container that reads them
	// can load a file, or gets them back as its own step values: the
	// clone step can do neither, so with clone on they stay.
	var pipelineMoved []envVar
	if len(plans) > 0 {
		var candidates []envVar
		for _, v := range pipelineEnv {
			if movable(v, false, nil) && !referenced[v.name] {
				candidates = append(candidates, v)
			}
		}
		envNode := explicit(p.Body, "environment")
		blocked := ""
		if !plainNode(envNode) || hasMergeKey(p.Body) {
			blocked = "it is anchored, aliased or merged"
		}
		for _, s := range steps {
			if s.simple || !slices.ContainsFunc(candidates, func(v envVar) bool { return !shadowed(v.name, s) }) {
				continue
			}
			if !slices.ContainsFunc(plans, func(pl *plan) bool { return pl.step == s }) {
				blocked = fmt.Sprintf("step %q, which shares YAML through anchors or merge keys, could not get its values back", s.name)
			}
		}
		if len(candidates) > 0 && blocked != "" {
			p.Report.Warn("env: pipeline environment kept (%d variables): %s", len(pipelineEnv), blocked)
		} else if len(candidates) > 0 && cloneOn {
			p.Report.Warn("env: pipeline environment kept (%d variables): the clone step reads it and cannot load a file (clone: disable: true and a clone step of your own lets it move)", len(pipelineEnv))
		} else {
			pipelineMoved = candidates
		}
	}

	// Build each collapsing step's file.
	type file struct {
		step *envStep
		vars []envVar
	}
	var files []file
	// done holds the steps whose env is settled or already explained, so
	// reportKept does not speak of them again.
	done := map[*envStep]bool{}
	for _, pl := range plans {
		var vars []envVar
		for _, v := range pipelineMoved {
			if !shadowed(v.name, pl.step) {
				vars = append(vars, v)
			}
		}
		vars = append(vars, pl.moved...)
		if len(vars) == 0 {
			e.noteOverBudget(p, "step", pl.step.name, pl.before)
			done[pl.step] = true
			continue
		}
		files = append(files, file{pl.step, vars})
		// As Changed would write it, without fmt: a converted pipeline
		// has this line for about every step. The container's count is
		// news only when it changed and no webhook moves the runner's.
		line := "env: step " + strconv.Quote(pl.step.name) + ": " + strconv.Itoa(len(vars)) + " variables moved to its env file"
		if !e.Webhook {
			rest := *pl.step
			rest.env = without(rest.env, pl.moved)
			if after := containerCount(base, runner, without(pipelineEnv, pipelineMoved), &rest); after != pl.before {
				line = "env: step " + strconv.Quote(pl.step.name) + " " + strconv.Itoa(pl.before) + " → " +
					strconv.Itoa(after) + " env vars (" + strconv.Itoa(len(vars)) + " to the env file)"
			}
		}
		p.Report.Changes = append(p.Report.Changes, line)
	}
	if len(files) == 0 {
		e.reportKept(p, steps, base, runner, pipelineEnv, done)
		return nil
	}

	// Encode; with annotations, stay well inside the pod's limit.
	contents := make([]string, len(files))
	total := 0
	for i, f := range files {
		if carrier == CarrierSecret {
			contents[i] = secretFile(f.vars)
		} else {
			contents[i] = annotationScript(f.vars)
			total += len(contents[i])
		}
	}
	if carrier == CarrierAnnotations && total > envMaxAnnotationBytes {
		p.Report.Changes = slices.DeleteFunc(p.Report.Changes, func(c string) bool { return strings.HasPrefix(c, "env: ") })
		p.Report.ForOperator("DRONE_ECI_ENV_CARRIER", "env files would add %d bytes of annotations (limit %d), so every step keeps its env: the secret carrier (trusted repos, cluster access) has no such limit", total, envMaxAnnotationBytes)
		return nil
	}
	if carrier == CarrierAnnotations {
		for i, f := range files {
			if len(contents[i]) > envMaxAnnotationLine {
				// Moved pipeline values live only in the files, so one step
				// cannot keep its env alone: all keep theirs.
				p.Report.Changes = slices.DeleteFunc(p.Report.Changes, func(c string) bool { return strings.HasPrefix(c, "env: ") })
				p.Report.ForOperator("DRONE_ECI_ENV_CARRIER", "step %q's env file would be a %d-byte annotation, one line of YAML the runner may not read whole (it reads lines of up to 64 KiB), so every step keeps its env: the secret carrier (trusted repos, cluster access) has no such limit", f.step.name, len(contents[i]))
				return nil
			}
		}
	}

	// Edit: pipeline env first (the files hold its values now), then
	// the other containers get the moved pipeline values as their own.
	converted := done
	for _, f := range files {
		converted[f.step] = true
	}
	if len(pipelineMoved) > 0 {
		if err := removeEnv(p.Body, "environment", func() string { return "environment" }, pipelineMoved); err != nil {
			return err
		}
		for _, s := range steps {
			if converted[s] {
				continue
			}
			if err := addEnv(p.Body, s, pipelineMoved); err != nil {
				return err
			}
		}
	}
	// Annotations, one per file, are set through one index of the
	// mapping rather than a scan of it per file.
	var annotations *annotationSetter
	var loaderParts []string
	for i, f := range files {
		hash := sha256.Sum256([]byte(contents[i]))
		id := hex.EncodeToString(hash[:])[:16]
		var loader string // escaped for Drone's substitution
		switch carrier {
		case CarrierSecret:
			name := EnvSecretPrefix + id
			p.EnvSecrets = appendSecret(p.EnvSecrets, EnvSecret{Namespace: namespace, Name: name, Data: []byte(contents[i])})
			dir := EnvMountRoot + "/" + id
			if err := mountSecret(p.Body, f.step, envVolumePrefix+id, name, dir); err != nil {
				return err
			}
			loader = escapeDollars(secretLoader(dir + "/" + EnvSecretKey))
		default:
			key := EnvAnnotationPrefix + id
			if annotations == nil {
				var err error
				if annotations, err = newAnnotationSetter(p); err != nil {
					return err
				}
			}
			annotations.set(key, contents[i])
			if loaderParts == nil {
				loaderParts = escapedLoaderParts()
			}
			loader = strings.Join(loaderParts, key)
		}
		stepNode, err := editableStep(p.Body, f.step)
		if err != nil {
			return err
		}
		var own []envVar
		for _, v := range f.vars {
			if !slices.ContainsFunc(pipelineMoved, func(m envVar) bool { return m.key == v.key }) {
				own = append(own, v)
			}
		}
		if len(own) > 0 {
			if err := removeEnv(stepNode, "environment", func() string { return stepField(f.step, "environment") }, own); err != nil {
				return err
			}
		}
		commands, err := editableField(stepNode, "commands", yaml.SequenceNode, func() string { return stepField(f.step, "commands") })
		if err != nil {
			return err
		}
		first := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: loader} // escaped already
		commands.Content = append(append(make([]*yaml.Node, 0, len(commands.Content)+1), first), commands.Content...)
	}
	if carrier == CarrierSecret {
		p.Report.Changed("env: %d env files as Secrets in namespace %s", len(p.EnvSecrets), namespace)
	} else {
		p.Report.Changed("env: %d env files as annotations (%s*)", len(files), EnvAnnotationPrefix)
	}
	e.reportKept(p, steps, base, runner, pipelineEnv, converted)
	return nil
}

// reportKept tells about the steps that kept their env: the author, when
// their YAML keeps it there (anchors or merge keys shared with other
// steps) and the container carries more than the budget; the operator,
// when no webhook will move the runner's variables of a container over
// the budget.
func (e Env) reportKept(p *Pipeline, steps []*envStep, base int, runner map[string]bool, pipelineEnv []envVar, converted map[*envStep]bool) {
	for _, s := range steps {
		if converted[s] || s.loaded {
			continue
		}
		count := containerCount(base, runner, pipelineEnv, s)
		kind := "step"
		if s.service {
			kind = "service"
		}
		if !s.service && !s.simple && len(s.env) > 0 && (e.When == EnvAlways || count > e.Budget) {
			p.Report.Warn("env: %s %q keeps its env: it shares YAML with other steps through anchors or merge keys (give it an environment of its own to let it move)", kind, s.name)
		}
		e.noteOverBudget(p, kind, s.name, count)
	}
}

// noteOverBudget collects, for one note to the operator, a container left
// with more env vars than ECI takes, mostly the runner's, when no webhook
// moves them.
func (e Env) noteOverBudget(p *Pipeline, kind, name string, count int) {
	if e.Webhook || count <= e.Budget {
		return
	}
	p.envOverBudget = append(p.envOverBudget, kind+" "+strconv.Quote(name)+" ("+strconv.Itoa(count)+")")
}

func (e Env) carrier(p *Pipeline) string {
	switch e.Carrier {
	case CarrierSecret:
		return CarrierSecret
	case CarrierAnnotations:
		return CarrierAnnotations
	}
	if p.Trusted && e.ClusterAccess {
		return CarrierSecret
	}
	return CarrierAnnotations
}

// field names the step for messages; it is built only for one.
func readStep(item *yaml.Node, field func() string) (*envStep, error) {
	n := resolve(item)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: expected a mapping", field())
	}
	s := &envStep{node: n, name: lookupString(n, "name")}
	commands := resolve(lookup(n, "commands"))
	entrypoint := resolve(lookup(n, "entrypoint"))
	s.command = commands != nil && commands.Kind == yaml.SequenceNode && len(commands.Content) > 0 &&
		(entrypoint == nil || isNull(entrypoint) || (entrypoint.Kind == yaml.SequenceNode && len(entrypoint.Content) == 0))
	if s.command {
		first := resolve(commands.Content[0])
		s.loaded = first.Kind == yaml.ScalarNode && strings.HasPrefix(first.Value, envLoaderMark)
	}
	if commands != nil && commands.Kind == yaml.SequenceNode {
		for _, c := range commands.Content {
			if c := resolve(c); c != nil && c.Kind == yaml.ScalarNode {
				s.script = append(s.script, c.Value)
			}
		}
	}
	envField := func() string { return field() + ".environment" }
	env, err := readEnv(resolve(lookup(n, "environment")), envField)
	if err != nil {
		return nil, err
	}
	s.env = env
	s.simple = item.Kind != yaml.AliasNode && n.Anchor == "" && !hasMergeKey(n) &&
		plainNode(explicit(n, "environment")) && plainNode(explicit(n, "commands")) && plainNode(explicit(n, "volumes"))
	// Drone's YAML library decodes a merged mapping first and the
	// explicit keys into the same Go map: map fields merge key by key.
	for _, src := range yamldoc.MergeSources(n) {
		merged, err := readEnv(resolve(lookup(src, "environment")), envField)
		if err != nil {
			return nil, err
		}
		for _, v := range merged {
			if !slices.ContainsFunc(s.env, func(have envVar) bool { return have.name == v.name }) {
				s.env = append(s.env, v)
			}
		}
	}
	settings := flatten(explicit(n, "settings"))
	for _, src := range yamldoc.MergeSources(n) {
		for _, kv := range flatten(lookup(src, "settings")) {
			if !slices.ContainsFunc(settings, func(have pair) bool { return have.key.Value == kv.key.Value }) {
				settings = append(settings, kv)
			}
		}
	}
	for _, kv := range settings {
		v := resolve(kv.value)
		if v == nil || isNull(v) {
			continue // the runner skips nil settings
		}
		name := "PLUGIN_" + strings.ToUpper(kv.key.Value)
		if v.Kind == yaml.MappingNode && lookup(v, "from_secret") != nil {
			s.settingsSecret = append(s.settingsSecret, name)
		} else {
			s.settingsPlain = append(s.settingsPlain, name)
		}
	}
	return s, nil
}

// readEnv lists an environment mapping's entries as a YAML 1.1 reader
// sees them (merge keys included), in a stable order.
func readEnv(m *yaml.Node, field func() string) ([]envVar, error) {
	if m == nil || isNull(m) {
		return nil, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: expected a mapping, found a %s", field(), kindName(m.Kind))
	}
	pairs := flatten(m)
	vars := make([]envVar, 0, len(pairs))
	for _, kv := range pairs {
		v := envVar{name: kv.key.Value, key: kv.key, value: kv.value}
		value := resolve(kv.value)
		switch {
		case value.Kind != yaml.ScalarNode:
			v.secret = true
		case isNull(value) && value.Tag != "!!str":
			// The runner skips a null value (its field is a nil pointer):
			// the variable is not set at all, which a file cannot say.
		case strings.Contains(value.Value, `\`):
			// envsubst halves some backslashes of the YAML text before it
			// is parsed, and double-quoted escapes are read after that:
			// only the runner knows what such a value becomes.
		case value.Tag == "!!binary":
			// The runner decodes it; the tree holds base64.
		default:
			v.literal, v.ok = envLiteral(value.Value)
			if v.ok {
				// The kubelet expands the value the runner sets; a file
				// must hold what that gives. The runner orders a
				// container's env as a Go map iterates, and sets names
				// the converter cannot see, so a value that refers to
				// any name has no one result: it stays.
				v.literal, v.ok = kubeexpand.Literal(v.literal)
			}
		}
		vars = append(vars, v)
	}
	return vars, nil
}

// envLiteral is what the step sees for a value written v: the runner runs
// envsubst over the YAML text first. A value that refers to any
// variable depends on the build, so it is not a literal; "$$" alone
// is, and becomes "$".
func envLiteral(v string) (string, bool) {
	if strings.ContainsRune(v, 0) {
		return "", false
	}
	if !strings.Contains(v, "$") {
		return v, true
	}
	refers := false
	out, err := envsubst.Eval(v, func(string) string { refers = true; return "" })
	if err != nil || refers {
		return "", false
	}
	return out, true
}

// movable says whether v may leave the container env. Step values
// override the runner's own variables, so only the names the runner
// sets after them or the shell needs stay; pipeline values lose to the
// runner's, so any name the runner may set stays with them.
func movable(v envVar, own bool, s *envStep) bool {
	// envfile.Keep: names the runner sets after the step's values, the
	// runner's script reads before any command, or the shell treats
	// specially at start-up.
	if v.secret || !v.ok || envfile.Keep(v.name) {
		return false
	}
	if own {
		// Settings and secrets are set after the step's own values.
		return !slices.Contains(s.settingsPlain, v.name) && !slices.Contains(s.settingsSecret, v.name)
	}
	return !runnerNames()[v.name]
}

// kubeReferenced is every name that a value the kubelet expands in the
// pipeline's containers may read as $(NAME): env values and commands
// (the runner's DRONE_SCRIPT), read as written and as the runner's
// substitution leaves them ("$$" is "$"). Such a name stays in the
// container env, where the kubelet looks for it. (Build values the
// converter cannot see, a commit message say, may refer to a moved
// name too; the runner orders the env as a Go map iterates, so before
// the move such a reference was resolved in some builds only.)
func kubeReferenced(pipelineEnv []envVar, steps []*envStep) map[string]bool {
	var names map[string]bool
	add := func(text string) {
		if !strings.Contains(text, "$(") {
			return
		}
		if names == nil {
			names = map[string]bool{}
		}
		for _, form := range []string{text, strings.ReplaceAll(text, "$$", "$")} {
			for _, name := range kubeexpand.Refs(form) {
				names[name] = true
			}
		}
	}
	values := func(vars []envVar) {
		for _, v := range vars {
			if n := resolve(v.value); n != nil && n.Kind == yaml.ScalarNode {
				add(n.Value)
			}
		}
	}
	values(pipelineEnv)
	for _, s := range steps {
		values(s.env)
		for _, c := range s.script {
			add(c)
		}
	}
	return names
}

// shadowed says whether step s sets name itself (its value wins over
// the pipeline's).
func shadowed(name string, s *envStep) bool {
	return slices.ContainsFunc(s.env, func(v envVar) bool { return v.name == name }) ||
		slices.Contains(s.settingsPlain, name) || slices.Contains(s.settingsSecret, name)
}

// without is vars minus the entries in drop (same key node).
func without(vars, drop []envVar) []envVar {
	gone := memberOf(drop, func(v envVar) *yaml.Node { return v.key })
	return slices.DeleteFunc(slices.Clone(vars), func(v envVar) bool { return gone(v.key) })
}

// memberOf answers whether a value is one of the items' keys. Most
// steps drop a few variables, which a scan finds faster than a map is
// built; a long list (a config can hold thousands) gets a map, so that
// dropping them is not quadratic.
func memberOf[K comparable](items []envVar, key func(envVar) K) func(K) bool {
	if len(items) <= 16 {
		return func(k K) bool { return slices.ContainsFunc(items, func(v envVar) bool { return key(v) == k }) }
	}
	set := make(map[K]bool, len(items))
	for _, v := range items {
		set[key(v)] = true
	}
	return func(k K) bool { return set[k] }
}

// containerCount is how many env vars the runner gives the container of
// s: base (its own for the event, DRONE_SCRIPT included, plus the
// configured overhead), the plain names from the YAML it does not set
// itself, and one entry per secret reference.
func containerCount(base int, runner map[string]bool, pipelineEnv []envVar, s *envStep) int {
	plain := map[string]bool{}
	secrets := 0
	for _, v := range pipelineEnv {
		plain[v.name] = true
	}
	for _, v := range s.env {
		if v.secret {
			secrets++
		} else {
			plain[v.name] = true
		}
	}
	for _, n := range s.settingsPlain {
		plain[n] = true
	}
	secrets += len(s.settingsSecret)
	extra := 0
	for n := range plain {
		set := runner[n] && (s.command || n != "DRONE_SCRIPT")
		if !set {
			extra++
		}
	}
	if !s.command {
		base-- // only command steps get DRONE_SCRIPT
	}
	return base + extra + secrets
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "y":
		return true
	}
	return false
}

func stepField(s *envStep, key string) string {
	list := "steps"
	if s.service {
		list = "services"
	}
	return fmt.Sprintf("%s[%d] (%q).%s", list, s.index, s.name, key)
}

// editableStep returns the step's mapping, ready to edit: an aliased
// step, or a steps list brought in by an alias, is copied first.
func editableStep(body *yaml.Node, s *envStep) (*yaml.Node, error) {
	list := "steps"
	if s.service {
		list = "services"
	}
	seq, err := editable(body, list, yaml.SequenceNode, list)
	if err != nil {
		return nil, err
	}
	item := seq.Content[s.index]
	if item.Kind == yaml.AliasNode {
		target := resolve(item)
		fresh := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: target.Style}
		fresh.Content = append([]*yaml.Node(nil), target.Content...)
		seq.Content[s.index] = fresh
		item = fresh
	}
	return item, nil
}

// removeEnv drops the given entries from m's environment mapping; merge
// keys are flattened into explicit entries so the rest keep their
// values.
func removeEnv(m *yaml.Node, key string, field func() string, drop []envVar) error {
	env, err := editableField(m, key, yaml.MappingNode, field)
	if err != nil {
		return err
	}
	gone := memberOf(drop, func(v envVar) string { return v.name })
	var content []*yaml.Node
	for _, kv := range flatten(env) {
		if !gone(kv.key.Value) {
			content = append(content, kv.key, kv.value)
		}
	}
	env.Content = content
	if len(content) == 0 {
		// An empty mapping would print as {}; drop the key instead.
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key && !yamldoc.IsMergeKey(m.Content[i]) {
				m.Content = append(m.Content[:i:i], m.Content[i+2:]...)
				break
			}
		}
		if lookup(m, key) != nil {
			// Still brought in by a merge key: keep it explicitly empty.
			m.Content = append(m.Content, scalar(key), env)
		}
	}
	return nil
}

// addEnv gives a step that kept its env the pipeline values that moved,
// as its own, written as they were (so substitution is unchanged).
func addEnv(body *yaml.Node, s *envStep, moved []envVar) error {
	var add []envVar
	for _, v := range moved {
		if !shadowed(v.name, s) {
			add = append(add, v)
		}
	}
	if len(add) == 0 {
		return nil
	}
	step, err := editableStep(body, s)
	if err != nil {
		return err
	}
	env, err := editableField(step, "environment", yaml.MappingNode, func() string { return stepField(s, "environment") })
	if err != nil {
		return err
	}
	for _, v := range add {
		env.Content = append(env.Content, v.key, v.value)
	}
	return nil
}

// mountSecret adds the pipeline volume of a secret env file (once) and
// mounts it into the step.
func mountSecret(body *yaml.Node, s *envStep, volume, secret, dir string) error {
	volumes, err := editable(body, "volumes", yaml.SequenceNode, "volumes")
	if err != nil {
		return err
	}
	present := false
	for _, v := range volumes.Content {
		if lookupString(resolve(v), "name") == volume {
			present = true
		}
	}
	if !present {
		source := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		setString(source, "secret_name", secret)
		// 0 would mean mode 0000 to the runner: readable by root only.
		source.Content = append(source.Content, scalar("default_mode"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0444"})
		entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		setString(entry, "name", volume)
		entry.Content = append(entry.Content, scalar("secret"), source)
		volumes.Content = append(volumes.Content, entry)
	}
	step, err := editableStep(body, s)
	if err != nil {
		return err
	}
	mounts, err := editableField(step, "volumes", yaml.SequenceNode, func() string { return stepField(s, "volumes") })
	if err != nil {
		return err
	}
	mount := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	setString(mount, "name", volume)
	setString(mount, "path", dir)
	mounts.Content = append(mounts.Content, mount)
	return nil
}

func appendSecret(list []EnvSecret, s EnvSecret) []EnvSecret {
	for _, have := range list {
		if have.Namespace == s.Namespace && have.Name == s.Name {
			return list
		}
	}
	return append(list, s)
}

// explicit is the value written under key in m itself (not merged), or
// nil.
func explicit(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && !yamldoc.IsMergeKey(m.Content[i]) {
			return m.Content[i+1]
		}
	}
	return nil
}

// plainNode says whether n can be edited in place without touching
// any other part of the document: absent, or neither an alias nor an
// anchor nor holding merge keys.
func plainNode(n *yaml.Node) bool {
	return n == nil || (n.Kind != yaml.AliasNode && n.Anchor == "" && !hasMergeKey(n))
}

func hasMergeKey(m *yaml.Node) bool {
	if m.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if yamldoc.IsMergeKey(m.Content[i]) {
			return true
		}
	}
	return false
}
