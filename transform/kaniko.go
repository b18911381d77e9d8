package transform

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Kaniko turns docker plugin steps into kaniko plugin steps that build
// and push the same image without a Docker daemon, drops the privileged
// Docker-in-Docker services and Docker-only host volumes that served
// them, turns the remaining host volumes into temp volumes (or NAS
// claims for trusted repos), and refuses, or with DropPrivileged
// strips, anything else privileged: ECI has neither privileged
// containers nor hostPath.
type Kaniko struct {
	// Images maps a flavour (docker, ecr, gcr, gar, acr) to the kaniko
	// plugin image that replaces it.
	Images map[string]string
	// CacheRepo is the layer cache repository for steps that used
	// cache_from; "{repo}" stands for the step's repository. Empty
	// leaves kaniko's default, <repo>/cache.
	CacheRepo string
	// HostPathClaims maps host path prefixes to PVC claims (trusted
	// repos only: the runner's linter refuses claims otherwise).
	HostPathClaims map[string]string
	// DropPrivileged removes privilege from steps and services that
	// still need it, with a warning, instead of failing.
	DropPrivileged bool
	// RemoteDocker, when its Host is set, is the daemon that steps which
	// still need one use instead of being refused.
	RemoteDocker RemoteDocker
}

// Name implements Transform.
func (Kaniko) Name() string { return "kaniko" }

// container is one step or service as the conversion sees it.
type container struct {
	service       bool
	index         int
	node          *yaml.Node // resolved original
	name          string
	image         string
	repository    string
	flavour       string // docker plugin flavour, "" when not one
	commands      bool   // commands or entrypoint: not run as a plugin
	script        bool   // its commands run (no entrypoint replaces them)
	privileged    bool
	dockerHost    bool   // its own environment sets DOCKER_HOST
	dockerHostVal string // to this; "" for the default socket
	dockerHostRef bool   // from a secret
	mounts        []mount
	convert       bool // a docker plugin step to convert
	dind          bool // a Docker daemon service
}

type mount struct {
	volume string
	path   string
}

func (c *container) kind() string {
	if c.service {
		return "service"
	}
	return "step"
}

// volume is one pipeline volume.
type volume struct {
	index  int
	name   string
	host   string // host path, when a host volume
	isHost bool
	temp   bool
}

type kanikoRun struct {
	k           Kaniko
	p           *Pipeline
	steps       []*container
	services    []*container
	volumes     []*volume
	stepList    *yaml.Node // editable steps list, once needed
	svcList     *yaml.Node
	owned       map[*container]*yaml.Node
	dropMounts  map[*container]map[string]bool // volume names to unmount
	remoteMode  *dockerHostMode                // set once steps use the remote daemon
	daemonNames []string                       // the Docker daemon services' names
	tlsVolume   string                         // the secret volume they mount, if any
	pointed     map[*container]bool            // containers pointed at the remote daemon
}

// Apply implements Transform.
func (k Kaniko) Apply(p *Pipeline) error {
	r := &kanikoRun{k: k, p: p, owned: map[*container]*yaml.Node{}, dropMounts: map[*container]map[string]bool{}}
	if err := r.read(); err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	if err := r.run(); err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	return nil
}

func (r *kanikoRun) read() error {
	var err error
	if r.steps, err = readContainers(r.p.Body, "steps", false); err != nil {
		return err
	}
	if r.services, err = readContainers(r.p.Body, "services", true); err != nil {
		return err
	}
	list := resolve(lookup(r.p.Body, "volumes"))
	if list == nil || isNull(list) {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		return fmt.Errorf("volumes: expected a list, found a %s", kindName(list.Kind))
	}
	for i, item := range list.Content {
		v := &volume{index: i, name: lookupString(item, "name")}
		if host := resolve(lookup(item, "host")); host != nil {
			v.isHost = true
			v.host = path.Clean(lookupString(host, "path"))
		}
		v.temp = lookup(item, "temp") != nil
		r.volumes = append(r.volumes, v)
	}
	return nil
}

func readContainers(body *yaml.Node, key string, service bool) ([]*container, error) {
	list := resolve(lookup(body, key))
	if list == nil || isNull(list) {
		return nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: expected a list, found a %s", key, kindName(list.Kind))
	}
	var out []*container
	for i, item := range list.Content {
		n := resolve(item)
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s[%d]: expected a mapping, found a %s", key, i, kindName(n.Kind))
		}
		c := &container{service: service, index: i, node: n, name: lookupString(n, "name"), image: lookupString(n, "image")}
		c.repository = repository(c.image)
		c.flavour = dockerPluginFlavours[c.repository]
		c.commands = nonEmpty(lookup(n, "commands")) || nonEmpty(lookup(n, "entrypoint"))
		// The runner runs an entrypoint in place of the commands
		// (compiler/script.go): only without one do commands run.
		c.script = nonEmpty(lookup(n, "commands")) && !nonEmpty(lookup(n, "entrypoint"))
		c.privileged, _ = truth(lookup(n, "privileged"))
		if h := lookup(resolve(lookup(n, "environment")), "DOCKER_HOST"); h != nil {
			c.dockerHost = true
			c.dockerHostVal, _ = literal(h)
			c.dockerHostRef = resolve(h).Kind == yaml.MappingNode
		}
		if mounts := resolve(lookup(n, "volumes")); mounts != nil && mounts.Kind == yaml.SequenceNode {
			for _, m := range mounts.Content {
				c.mounts = append(c.mounts, mount{volume: lookupString(m, "name"), path: path.Clean(lookupString(m, "path"))})
			}
		}
		c.dind = service && (isDockerDaemon(c.repository, c.image) || (c.privileged && startsDockerd(n)))
		out = append(out, c)
	}
	return out, nil
}

// repository is an image reference without tag, digest and Docker Hub
// host, the way the runner matches its privileged image list.
func repository(image string) string {
	s := strings.TrimSpace(image)
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s = s[:i]
	}
	for _, prefix := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		s = strings.TrimPrefix(s, prefix)
	}
	return strings.TrimPrefix(s, "library/")
}

// isDockerDaemon recognises docker:dind and look-alikes.
func isDockerDaemon(repo, image string) bool {
	tag := strings.TrimPrefix(strings.TrimPrefix(image, repo), ":")
	base := repo[strings.LastIndex(repo, "/")+1:]
	return strings.Contains(base, "dind") || (base == "docker" && strings.Contains(tag, "dind"))
}

// startsDockerd reports whether a container's entrypoint or commands
// start a Docker daemon: a privileged docker:24 service with
// entrypoint [dockerd] is a daemon as much as docker:dind is.
func startsDockerd(n *yaml.Node) bool {
	for _, key := range []string{"entrypoint", "commands"} {
		v := resolve(lookup(n, key))
		if v == nil {
			continue
		}
		items := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			items = v.Content
		}
		for _, item := range items {
			if s, ok := literal(item); ok && strings.Contains(s, "dockerd") {
				return true
			}
		}
	}
	return false
}

// isDockerClient recognises images whose commands talk to a daemon.
func isDockerClient(repo string) bool {
	base := repo[strings.LastIndex(repo, "/")+1:]
	return base == "docker" || strings.Contains(base, "dind") || dockerPluginFlavours[repo] != "" || repo == "plugins/heroku"
}

// dockerPaths are container paths where the Docker daemon's socket or
// storage lives; a docker plugin step's mount there served its daemon.
var dockerPaths = []string{"/var/run", "/var/run/docker.sock", "/run/docker.sock", "/var/lib/docker"}

func (r *kanikoRun) volumeByName(name string) *volume {
	for _, v := range r.volumes {
		if v.name == name {
			return v
		}
	}
	return nil
}

// servesDocker reports whether a mount is the Docker daemon's socket or
// storage, or a volume shared with a Docker daemon service.
func (r *kanikoRun) servesDocker(m mount, daemonVolumes map[string]bool) bool {
	if contains(dockerPaths, m.path) || daemonVolumes[m.volume] {
		return true
	}
	if v := r.volumeByName(m.volume); v != nil && v.isHost {
		return strings.HasSuffix(v.host, "/docker.sock") || contains(dockerPaths, v.host)
	}
	return false
}

func (r *kanikoRun) run() error {
	// Which steps convert, and what refuses outright.
	for _, c := range r.steps {
		if c.repository == "plugins/heroku" && !c.commands {
			return fmt.Errorf("step %q: image %s: plugins/heroku deploys through a Docker daemon and has no kaniko counterpart; ECI cannot run it (deploy with the Heroku CLI or a container registry push instead)", c.name, c.image)
		}
		c.convert = c.flavour != "" && !c.commands
	}
	daemonVolumes := map[string]bool{}
	var daemons []*container
	var daemonNames []string
	for _, c := range r.services {
		if c.dind {
			daemons = append(daemons, c)
			daemonNames = append(daemonNames, c.name)
			for _, m := range c.mounts {
				daemonVolumes[m.volume] = true
			}
		}
	}
	r.daemonNames = daemonNames
	remote := r.k.RemoteDocker.Host != ""
	// Who still needs a Docker daemon once the docker plugin steps are
	// kaniko steps?
	pipelineDockerHost := lookup(resolve(lookup(r.p.Body, "environment")), "DOCKER_HOST") != nil
	var needy []string
	needyByName := map[*container]string{}
	onlyMounted := map[*container]bool{}
	for _, c := range append(slices.Clone(r.steps), r.services...) {
		if c.convert || c.dind {
			continue
		}
		if remote && r.alreadyRemote(c) {
			continue // an earlier conversion's work
		}
		if remote && c.dockerHost && (c.dockerHostRef || !localDockerHost(c.dockerHostVal, daemonNames)) {
			what := c.dockerHostVal
			if c.dockerHostRef {
				what = "(from a secret)"
			}
			r.p.Report.Warn("%s %q: left as is: its DOCKER_HOST %s names a daemon of its own, outside the pod", c.kind(), c.name, what)
			continue
		}
		var why []string
		if c.dockerHost {
			why = append(why, "its environment sets DOCKER_HOST")
		}
		if isDockerClient(c.repository) && c.commands {
			why = append(why, fmt.Sprintf("its commands run in %s, a Docker client image", c.image))
		} else if c.commands && len(dockerCalls(c.commandLines())) > 0 {
			why = append(why, "its commands run docker")
		}
		if c.commands && setsLocalDockerHost(c.commandLines(), daemonNames) {
			why = append(why, "its commands set DOCKER_HOST to the pod's daemon")
		}
		mounted := false
		for _, m := range c.mounts {
			if r.servesDocker(m, daemonVolumes) {
				mounted = true
				why = append(why, fmt.Sprintf("it mounts volume %q at %s, the Docker daemon's socket or storage", m.volume, m.path))
			}
		}
		if len(why) > 0 {
			needyByName[c] = strings.Join(why, ", ")
			onlyMounted[c] = mounted && len(why) == 1
			needy = append(needy, c.name)
		}
	}
	if remote && len(daemons) > 0 {
		if err := r.checkDaemonPorts(); err != nil {
			return err
		}
		r.warnInherited(needyByName)
	}
	if len(needy) > 0 && remote {
		if err := r.useRemote(needyByName, onlyMounted, daemonVolumes); err != nil {
			return err
		}
		needy, needyByName = nil, map[*container]string{}
	}
	dropDaemons := len(needy) == 0
	if !dropDaemons && !r.k.DropPrivileged {
		c := firstNeedy(r.steps, r.services, needyByName)
		err := fmt.Errorf("%s %q: needs a Docker daemon (%s); ECI runs no privileged containers and mounts no host paths, so there is no daemon in the pod to reach: build images with plugins/docker (converted to kaniko) or run kaniko yourself", c.kind(), c.name, needyByName[c])
		err = WithNote(err, "DRONE_ECI_DOCKER_HOST", "%s %q needs a Docker daemon: a remote Docker daemon would serve it", c.kind(), c.name)
		return WithNote(err, "DRONE_ECI_PRIVILEGED_POLICY", "drop-with-warning would convert %s %q anyway, without a daemon (it would fail)", c.kind(), c.name)
	}
	for _, c := range append(slices.Clone(r.steps), r.services...) {
		if why, ok := needyByName[c]; ok {
			r.p.Report.Warn("%s %q still needs a Docker daemon (%s): it will fail on ECI", c.kind(), c.name, why)
		}
	}

	// Privileged containers that are neither converted nor dropped.
	for _, c := range append(slices.Clone(r.steps), r.services...) {
		if !c.privileged || c.convert || (c.dind && dropDaemons) {
			continue
		}
		if !r.k.DropPrivileged {
			return WithNote(fmt.Errorf("%s %q: privileged: true: ECI runs no privileged containers, so this pipeline cannot run there as written; remove the privilege", c.kind(), c.name),
				"DRONE_ECI_PRIVILEGED_POLICY", "drop-with-warning would drop the privilege of %s %q and convert", c.kind(), c.name)
		}
		if err := r.edit(c, func(n *yaml.Node) error { del(n, "privileged"); return nil }); err != nil {
			return err
		}
		r.p.Report.Warn("%s %q: privileged: true dropped (ECI runs no privileged containers); whatever needed it will fail", c.kind(), c.name)
	}

	// Convert the docker plugin steps.
	for _, c := range r.steps {
		if !c.convert {
			continue
		}
		for _, m := range c.mounts {
			if r.servesDocker(m, daemonVolumes) {
				r.unmount(c, m.volume)
			}
		}
		if err := r.edit(c, func(n *yaml.Node) error { return r.convertStep(c, n) }); err != nil {
			return err
		}
	}

	// Docker daemon services that now serve nobody.
	if dropDaemons && len(daemons) > 0 {
		if err := r.dropServices(daemons); err != nil {
			return err
		}
		if pipelineDockerHost {
			env, err := editable(r.p.Body, "environment", yaml.MappingNode, "environment")
			if err != nil {
				return err
			}
			del(env, "DOCKER_HOST")
			if len(env.Content) == 0 {
				del(r.p.Body, "environment")
			}
			r.p.Report.Changed("pipeline environment DOCKER_HOST removed: it pointed at the dropped Docker daemon")
		}
	}
	if err := r.volumesPass(); err != nil {
		return err
	}
	return r.addTLSVolume()
}

func firstNeedy(steps, services []*container, needy map[*container]string) *container {
	for _, c := range append(slices.Clone(steps), services...) {
		if _, ok := needy[c]; ok {
			return c
		}
	}
	return nil
}

// edit gives f a copy of the container's mapping that it may change,
// placed in an editable copy of the list: nothing shared is mutated.
func (r *kanikoRun) edit(c *container, f func(*yaml.Node) error) error {
	n, ok := r.owned[c]
	if !ok {
		list, err := r.list(c.service)
		if err != nil {
			return err
		}
		n = fresh(flatten(c.node))
		list.Content[c.index] = n
		r.owned[c] = n
	}
	if err := f(n); err != nil {
		return fmt.Errorf("%s %q: %w", c.kind(), c.name, err)
	}
	return nil
}

func (r *kanikoRun) list(service bool) (*yaml.Node, error) {
	if service {
		if r.svcList == nil {
			var err error
			if r.svcList, err = editable(r.p.Body, "services", yaml.SequenceNode, "services"); err != nil {
				return nil, err
			}
		}
		return r.svcList, nil
	}
	if r.stepList == nil {
		var err error
		if r.stepList, err = editable(r.p.Body, "steps", yaml.SequenceNode, "steps"); err != nil {
			return nil, err
		}
	}
	return r.stepList, nil
}

// unmount schedules the removal of a container's mount of a volume.
func (r *kanikoRun) unmount(c *container, vol string) {
	if r.dropMounts[c] == nil {
		r.dropMounts[c] = map[string]bool{}
	}
	r.dropMounts[c][vol] = true
}

func (r *kanikoRun) dropServices(daemons []*container) error {
	list, err := r.list(true)
	if err != nil {
		return err
	}
	r.warnOpaquePlugins()
	drop := map[int]bool{}
	for _, d := range daemons {
		drop[d.index] = true
		for _, m := range d.mounts {
			r.unmount(d, m.volume)
		}
		var users []string
		for _, c := range r.steps {
			if c.convert {
				users = append(users, c.name)
			}
		}
		if r.remoteMode != nil {
			also := ""
			if len(users) > 0 {
				also = fmt.Sprintf(", and the docker plugin steps (%s) build with kaniko", strings.Join(users, ", "))
			}
			r.p.Report.Changed("service %q (%s, privileged Docker daemon) removed: the steps that used it use the remote Docker daemon %s%s", d.name, d.image, r.k.RemoteDocker.Host, also)
		} else if len(users) > 0 {
			r.p.Report.Changed("service %q (%s, privileged Docker daemon) removed: the docker plugin steps it served (%s) build with kaniko now", d.name, d.image, strings.Join(users, ", "))
		} else {
			r.p.Report.Changed("service %q (%s, privileged Docker daemon) removed: no step or service was seen using it", d.name, d.image)
		}
	}
	kept := list.Content[:0:0]
	for i, item := range list.Content {
		if !drop[i] {
			kept = append(kept, item)
		}
	}
	list.Content = kept
	for _, s := range r.services {
		if drop[s.index] {
			s.index = -1
		} else {
			s.index -= countBelow(drop, s.index)
		}
	}
	if len(kept) == 0 {
		del(r.p.Body, "services")
	}
	return nil
}

// warnOpaquePlugins names the plugin steps of images outside Drone's
// own plugins left next to a dropped daemon service: an image may reach
// the service on its own (an ENV DOCKER_HOST baked in), which the
// conversion cannot see.
func (r *kanikoRun) warnOpaquePlugins() {
	var opaque []string
	for _, c := range r.steps {
		if c.commands || c.convert || c.dockerHost || r.pointed[c] || strings.HasPrefix(c.repository, "plugins/") || strings.HasPrefix(c.repository, "drone/") {
			continue
		}
		opaque = append(opaque, fmt.Sprintf("%q (%s)", c.name, c.image))
	}
	if len(opaque) > 0 {
		r.p.Report.Warn("plugin steps %s run their images' own entrypoints: if an image reaches the removed Docker daemon service by itself (an ENV DOCKER_HOST baked in), it finds no daemon now", strings.Join(opaque, ", "))
	}
}

func countBelow(drop map[int]bool, i int) int {
	n := 0
	for j := range drop {
		if j < i {
			n++
		}
	}
	return n
}

// volumesPass removes the mounts scheduled for removal, the pipeline
// volumes nobody mounts any more, and turns the remaining host volumes
// into temp volumes or claims.
func (r *kanikoRun) volumesPass() error {
	used := map[string]bool{}
	for _, c := range append(slices.Clone(r.steps), r.services...) {
		if c.index < 0 {
			continue
		}
		for _, m := range c.mounts {
			if r.dropMounts[c][m.volume] {
				continue
			}
			used[m.volume] = true
		}
		if drops := r.dropMounts[c]; len(drops) > 0 {
			if err := r.edit(c, func(n *yaml.Node) error { return removeMounts(n, drops) }); err != nil {
				return err
			}
			names := make([]string, 0, len(drops))
			for v := range drops {
				names = append(names, v)
			}
			slices.Sort(names)
			switch {
			case c.dind:
				// The daemon service itself: its removal is reported.
			case r.remoteMode != nil:
				r.p.Report.Changed("%s %q: Docker daemon mount of volume %s removed: the remote daemon serves it", c.kind(), c.name, strings.Join(names, ", "))
			default:
				r.p.Report.Changed("%s %q: Docker daemon mount of volume %s removed", c.kind(), c.name, strings.Join(names, ", "))
			}
		}
	}
	if len(r.volumes) == 0 {
		return nil
	}
	var list *yaml.Node
	ensure := func() error {
		if list != nil {
			return nil
		}
		var err error
		list, err = editable(r.p.Body, "volumes", yaml.SequenceNode, "volumes")
		return err
	}
	remove := map[int]bool{}
	for _, v := range r.volumes {
		unmounted := false
		for _, c := range append(slices.Clone(r.steps), r.services...) {
			if r.dropMounts[c][v.name] {
				unmounted = true
			}
		}
		switch {
		case !used[v.name] && (unmounted || v.isHost):
			remove[v.index] = true
			if v.isHost {
				r.p.Report.Changed("volume %q (host path %s) removed: nothing mounts it any more", v.name, v.host)
			} else {
				r.p.Report.Changed("volume %q removed: nothing mounts it any more", v.name)
			}
		case v.isHost:
			if err := ensure(); err != nil {
				return err
			}
			entry := fresh(flatten(list.Content[v.index]))
			del(entry, "host")
			claim, prefix := r.claimFor(v.host)
			switch {
			case claim != "" && r.p.Trusted:
				c := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				setString(c, "name", claim)
				put(entry, "claim", c)
				if v.host != prefix {
					r.p.Report.Warn("volume %q: host path %s became claim %s, which holds %s: the runner's claims mount the volume's root, so the step sees %s's content, not %s's", v.name, v.host, claim, prefix, prefix, v.host)
				} else {
					r.p.Report.Changed("volume %q: host path %s → claim %s (this service's claim for that path)", v.name, v.host, claim)
				}
			default:
				put(entry, "temp", &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle})
				why := ""
				if claim != "" {
					why = fmt.Sprintf(" (claim %s is configured for it, but the repo is not trusted and the runner refuses claims for untrusted repos)", claim)
				}
				r.p.Report.Warn("volume %q: host path %s → temp (empty dir)%s: ECI has no host paths, so anything kept there between builds (a cache) starts empty on every build", v.name, v.host, why)
				if claim == "" {
					r.p.Report.ForOperator("DRONE_ECI_HOST_PATH_CLAIMS", "volume %q: host path %s became an empty dir; a claim for it would keep its content between builds (trusted repos only)", v.name, v.host)
				}
			}
			list.Content[v.index] = entry
		}
	}
	if len(remove) > 0 {
		if err := ensure(); err != nil {
			return err
		}
		kept := list.Content[:0:0]
		for i, item := range list.Content {
			if !remove[i] {
				kept = append(kept, item)
			}
		}
		list.Content = kept
		if len(kept) == 0 {
			del(r.p.Body, "volumes")
		}
	}
	return nil
}

// claimFor returns the claim configured for the longest prefix of path.
func (r *kanikoRun) claimFor(hostPath string) (claim, prefix string) {
	for p, c := range r.k.HostPathClaims {
		if (hostPath == p || strings.HasPrefix(hostPath, strings.TrimSuffix(p, "/")+"/")) && len(p) > len(prefix) {
			claim, prefix = c, p
		}
	}
	return claim, prefix
}

func removeMounts(n *yaml.Node, drops map[string]bool) error {
	mounts := resolve(get(n, "volumes"))
	if mounts == nil || mounts.Kind != yaml.SequenceNode {
		return nil
	}
	kept := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: mounts.Style}
	for _, m := range mounts.Content {
		if !drops[lookupString(m, "name")] {
			kept.Content = append(kept.Content, m)
		}
	}
	if len(kept.Content) == 0 {
		del(n, "volumes")
	} else {
		put(n, "volumes", kept)
	}
	return nil
}
