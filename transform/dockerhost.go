package transform

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// RemoteDocker is a Docker daemon outside ECI, reached over TCP, that
// the steps which used a privileged docker:dind service (or the node's
// socket) are pointed at instead: ECI cannot run the daemon itself.
type RemoteDocker struct {
	// Host is the daemon's endpoint, tcp://host:port; empty switches
	// the remote daemon off.
	Host string
	// PlainTCP talks to the daemon without TLS.
	PlainTCP bool
	// TLSSecret is a Kubernetes Secret holding ca.pem, cert.pem and
	// key.pem, mounted through the runner's secret volume (trusted repos
	// only: the runner's linter refuses secret volumes otherwise).
	TLSSecret string
	// TLSFromSecrets names the Drone secrets holding the same three
	// files, written to files by the step's first command: the way for
	// untrusted repos.
	TLSFromSecrets DockerTLSSecrets
}

// DockerTLSSecrets are the names of the Drone secrets holding a Docker
// client's TLS files.
type DockerTLSSecrets struct{ CA, Cert, Key string }

func (s DockerTLSSecrets) set() bool { return s.CA != "" && s.Cert != "" && s.Key != "" }

// Where the client certificates are: the secret volume's mount, or the
// directory the first command writes them to. Not under /run/drone,
// which the runner's linter keeps for itself.
const (
	dockerTLSVolume    = "drone-eci-docker-tls"
	dockerTLSMountPath = "/etc/drone-eci/docker-tls"
	dockerTLSWritePath = "/tmp/drone-eci-docker-tls"
)

// The step variables that carry the Drone secrets to the first command.
const (
	dockerCAEnv   = "DRONE_ECI_DOCKER_CA"
	dockerCertEnv = "DRONE_ECI_DOCKER_CERT"
	dockerKeyEnv  = "DRONE_ECI_DOCKER_KEY"
)

// dockerHostMode is how one pipeline reaches the remote daemon.
type dockerHostMode int

const (
	plainTCP dockerHostMode = iota
	tlsVolume
	tlsFromSecrets
)

// localDockerHost reports whether a DOCKER_HOST value points at a
// daemon in the pod (localhost, a daemon service by name, a socket):
// one that cannot run on ECI. A value the runner still substitutes is
// read as local too: it most often names the service. It reads the
// value as the docker CLI does (opts.ParseHost): without "://" it is
// tcp, and a tcp address without a host is localhost.
func localDockerHost(value string, daemonNames []string) bool {
	value = strings.TrimSpace(value)
	if value == "" || strings.Contains(value, "$") {
		return true
	}
	if !strings.Contains(value, "://") {
		value = "tcp://" + value
	}
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "unix" || u.Scheme == "npipe" || u.Scheme == "fd" {
		return true
	}
	// Host names are case-insensitive, service names included.
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if u.Scheme == "tcp" && host == "" {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || host == "docker" || slices.ContainsFunc(daemonNames, func(n string) bool { return strings.EqualFold(n, host) }) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// mode chooses how this pipeline's steps get their client certificates,
// or says why none of the configured ways works for it.
func (d RemoteDocker) mode(trusted bool) (dockerHostMode, error) {
	switch {
	case d.PlainTCP:
		return plainTCP, nil
	case trusted && d.TLSSecret != "":
		return tlsVolume, nil
	case d.TLSFromSecrets.set():
		return tlsFromSecrets, nil
	}
	return 0, WithNote(fmt.Errorf("the remote Docker daemon %s needs TLS client certificates, and this repo is not trusted: the runner refuses the secret volume that would mount them for untrusted repos (a Drone admin can trust the repo)", d.Host),
		"DRONE_ECI_DOCKER_TLS_FROM_SECRETS", "certificates of the remote Docker daemon %s from Drone secrets would serve untrusted repos", d.Host)
}

// setsLocalDockerHost reports whether commands point DOCKER_HOST at a
// daemon in the pod themselves (export DOCKER_HOST=tcp://docker:2375).
func setsLocalDockerHost(commands []string, daemonNames []string) bool {
	_, assigns := scanCommands(commands)
	return slices.ContainsFunc(assigns, func(a hostAssign) bool { return localAssign(a.value, daemonNames) })
}

// localAssign reports whether a DOCKER_HOST value written in a command
// is surely the pod's daemon; one still expanded by the shell is not
// judged.
func localAssign(value string, daemonNames []string) bool {
	return !strings.Contains(value, "$") && localDockerHost(value, daemonNames)
}

// socketTest is a shell test that a path ending in docker.sock is a
// socket: [ -S /var/run/docker.sock ], test -S "$SOCK/docker.sock".
var socketTest = regexp.MustCompile(`(^|[\s!\[(])-S\s+["']?[^\s;&|)\]]*docker\.sock`)

// checkRemoteCommands refuses what would silently change meaning on a
// daemon that runs on another host, and warns about what merely might.
func (r *kanikoRun) checkRemoteCommands(c *container) error {
	calls, assigns := scanCommands(c.commandLines())
	// The commands' own DOCKER_HOST or -H wins over the environment
	// this transform sets: pointed at the dropped daemon, the build
	// would fail on ECI though the conversion said it would run.
	for _, a := range assigns {
		if localAssign(a.value, r.daemonNames) {
			return fmt.Errorf("%s %q: command %q sets DOCKER_HOST=%s, the pod's own Docker daemon, which ECI cannot run; it would override the remote Docker daemon the step is given: remove the assignment", c.kind(), c.name, a.line, a.value)
		}
	}
	// A wait for the socket gets a placeholder file (pointAtRemote),
	// but no shell command can make a socket: a test for one (-S) would
	// wait until the build times out.
	for _, line := range c.commandLines() {
		if socketTest.MatchString(line) {
			return fmt.Errorf("%s %q: command %q tests for the local Docker daemon's socket (-S); with the remote Docker daemon there is no socket in the step and no command can make one, so a wait for it would never end: wait with 'until docker info >/dev/null 2>&1; do sleep 1; done' instead", c.kind(), c.name, line)
		}
	}
	for _, call := range calls {
		if h := call.globalHost(); h != "" && localAssign(h, r.daemonNames) {
			return fmt.Errorf("%s %q: command %q passes -H %s, the pod's own Docker daemon, which ECI cannot run; it would override the remote Docker daemon the step is given in DOCKER_HOST: remove the -H flag", c.kind(), c.name, call.line, h)
		}
	}
	for _, call := range calls {
		if call.subcommand() == "compose" {
			r.p.Report.Warn("%s %q: docker compose runs on the remote daemon; bind mounts in its compose file would mount the daemon host's paths, not the step's workspace (not checked)", c.kind(), c.name)
		}
		for _, m := range call.hostMounts() {
			if strings.Contains(m, "docker.sock") {
				return fmt.Errorf("%s %q: command %q mounts the Docker socket into a container (%s); on the remote Docker daemon that is the shared daemon's own socket, which builds must not get: this pipeline cannot be converted", c.kind(), c.name, call.line, m)
			}
			return fmt.Errorf("%s %q: command %q bind-mounts %s; the remote Docker daemon would mount that path from its own host, not from the step's workspace, so the build would silently see other files: copy files in with docker cp or build them into an image", c.kind(), c.name, call.line, m)
		}
		if n := call.containerNetwork(); n != "" {
			return fmt.Errorf("%s %q: command %q joins --network %s; on the shared remote Docker daemon containers of concurrent builds share one namespace of names, so the container it joins may be another build's: use a network of the build's own, named after DRONE_BUILD_NUMBER", c.kind(), c.name, call.line, n)
		}
		for _, name := range call.flagValues("--name") {
			if name != "" && !strings.Contains(name, "$") {
				r.p.Report.Warn("%s %q: command %q names its container %s; on the shared remote Docker daemon two builds running at once collide on that name (put ${DRONE_BUILD_NUMBER} in it)", c.kind(), c.name, call.line, name)
			}
		}
		if call.publishes() {
			r.p.Report.Warn("%s %q: command %q publishes ports; on the remote Docker daemon they open on the daemon's host, not on the step's localhost", c.kind(), c.name, call.line)
		}
	}
	return nil
}

// commandLines is the container's commands as written.
func (c *container) commandLines() []string {
	n := resolve(lookup(c.node, "commands"))
	switch {
	case n == nil || isNull(n):
		return nil
	case n.Kind == yaml.ScalarNode:
		return []string{n.Value}
	}
	var out []string
	for _, item := range n.Content {
		if s, ok := literal(item); ok {
			out = append(out, s)
		}
	}
	return out
}

// useRemote points the containers that needed a Docker daemon at the
// remote one. why says, for each, how it used a daemon; onlyMounted
// marks those whose only tie was a mount of the daemon's volume.
func (r *kanikoRun) useRemote(needy map[*container]string, onlyMounted map[*container]bool, daemonVolumes map[string]bool) error {
	d := r.k.RemoteDocker
	mode, err := d.mode(r.p.Trusted)
	if err != nil {
		c := firstNeedy(r.steps, r.services, needy)
		return fmt.Errorf("%s %q: needs a Docker daemon (%s): %w", c.kind(), c.name, needy[c], err)
	}
	var users []string
	for _, c := range append(slices.Clone(r.steps), r.services...) {
		why, ok := needy[c]
		if !ok {
			continue
		}
		if err := r.checkRemoteCommands(c); err != nil {
			return err
		}
		if mode == tlsFromSecrets && !c.script {
			noVolume := "and the runner refuses the secret volume that would mount them for an untrusted repo"
			if r.p.Trusted {
				noVolume = "and this service mounts them from no secret volume"
			}
			// A step that mounts the socket's place reads the daemon
			// (a scanner of the image just built, say); a service, or a
			// mount elsewhere, merely shared the volume.
			if !onlyMounted[c] || (!c.service && mountsSocket(c)) {
				err := fmt.Errorf("%s %q: needs a Docker daemon (%s), but it runs no commands of its own (a plugin, or an entrypoint, which the runner runs in place of commands): with certificates from Drone secrets only commands can write them to files, %s", c.kind(), c.name, why, noVolume)
				if r.p.Trusted {
					err = WithNote(err, "DRONE_ECI_DOCKER_TLS_SECRET", "a secret volume of the remote Docker daemon's certificates would serve %s %q", c.kind(), c.name)
				}
				return err
			}
			// It only shared the daemon's volume (a service started
			// next to it, say): nothing to point at the daemon.
			r.unmountDaemon(c, daemonVolumes)
			r.p.Report.Warn("%s %q: mounted the Docker daemon's volume but runs its image's own entrypoint, so it cannot write the remote daemon's client certificates from Drone secrets; it gets no remote daemon", c.kind(), c.name)
			continue
		}
		if err := r.edit(c, func(n *yaml.Node) error { return r.pointAtRemote(c, n, mode) }); err != nil {
			return err
		}
		r.unmountDaemon(c, daemonVolumes)
		users = append(users, fmt.Sprintf("%s %q", c.kind(), c.name))
		if r.pointed == nil {
			r.pointed = map[*container]bool{}
		}
		r.pointed[c] = true
	}
	how := "plain TCP"
	switch mode {
	case tlsVolume:
		how = fmt.Sprintf("TLS, certificates from Secret %s at %s", d.TLSSecret, dockerTLSMountPath)
	case tlsFromSecrets:
		how = fmt.Sprintf("TLS, certificates from Drone secrets %s, %s, %s written to %s by a first command", d.TLSFromSecrets.CA, d.TLSFromSecrets.Cert, d.TLSFromSecrets.Key, dockerTLSWritePath)
	}
	// One line for all of them: the report travels in a size-capped
	// annotation, and pipelines with a daemon often have a dozen users.
	if len(users) > 0 {
		r.p.Report.Changed("remote Docker daemon %s (%s) for %s, instead of the pod's own", d.Host, how, strings.Join(users, ", "))
	}
	r.p.Report.Warn("the remote Docker daemon %s is shared: images, containers, volumes and networks of concurrent builds can see each other, and paths given to docker run -v are the daemon host's, not the step's", d.Host)
	r.remoteMode = &mode
	return nil
}

// checkDaemonPorts refuses commands that reach the daemon service by
// its name and port (until nc -z docker 2375, curl docker:2375/_ping):
// the service and its host alias go, so a wait for it would never end
// and a call to it fails, though the remote daemon is up.
func (r *kanikoRun) checkDaemonPorts() error {
	var names []string
	for _, n := range r.daemonNames {
		names = append(names, regexp.QuoteMeta(n))
	}
	if len(names) == 0 {
		return nil
	}
	re := regexp.MustCompile(`(?i)(^|[^\w.-])(` + strings.Join(names, "|") + `)(:|\s+)(2375|2376)\b`)
	for _, c := range append(slices.Clone(r.steps), r.services...) {
		if c.dind || c.convert || r.alreadyRemote(c) {
			continue
		}
		_, assigns := scanCommands(c.commandLines())
		for _, line := range c.commandLines() {
			if !re.MatchString(line) || slices.ContainsFunc(assigns, func(a hostAssign) bool { return a.line == line }) {
				continue // an assignment of DOCKER_HOST has its own message
			}
			return fmt.Errorf("%s %q: command %q reaches the Docker daemon service %q by name and port; on ECI that service is removed and the remote Docker daemon is in DOCKER_HOST instead, so the command would wait forever or fail: drop the wait (the remote daemon is already up), or wait with 'until docker info >/dev/null 2>&1; do sleep 1; done'", c.kind(), c.name, line, re.FindStringSubmatch(line)[2])
		}
	}
	return nil
}

// warnInherited names the shell steps and services that inherited a
// pipeline-level DOCKER_HOST pointing at the dropped daemon but showed
// no use of docker, so got no remote daemon: the pipeline's DOCKER_HOST
// goes with the daemon, and a script (make image, ./build.sh) that runs
// docker would reach nothing.
func (r *kanikoRun) warnInherited(users map[*container]string) {
	host, ok := literal(lookup(resolve(lookup(r.p.Body, "environment")), "DOCKER_HOST"))
	if !ok || !localDockerHost(host, r.daemonNames) {
		return
	}
	var names []string
	for _, c := range append(slices.Clone(r.steps), r.services...) {
		if _, used := users[c]; used || c.convert || c.dind || c.dockerHost || !c.script || r.alreadyRemote(c) {
			continue
		}
		names = append(names, fmt.Sprintf("%s %q", c.kind(), c.name))
	}
	if len(names) > 0 {
		r.p.Report.Warn("%s: inherited the pipeline's DOCKER_HOST %s, which goes with the daemon; no docker was seen in the commands, so no remote Docker daemon is given: a script that runs docker (make image, ./build.sh) would reach nothing, so set DOCKER_HOST in the step's own environment", strings.Join(names, ", "), host)
	}
}

// alreadyRemote recognises a container an earlier conversion pointed
// at the remote daemon, so that converting twice changes nothing: its
// DOCKER_HOST is the remote one, it mounts or writes the certificates,
// or its environment was already moved to a file (which happens only
// after this transform has pointed it at the daemon, or refused).
func (r *kanikoRun) alreadyRemote(c *container) bool {
	env := resolve(lookup(c.node, "environment"))
	if host, _ := literal(lookup(env, "DOCKER_HOST")); host == r.k.RemoteDocker.Host {
		return true
	}
	if lookup(env, dockerCAEnv) != nil {
		return true
	}
	for _, m := range c.mounts {
		if m.path == dockerTLSMountPath {
			return true
		}
	}
	lines := c.commandLines()
	return len(lines) > 0 && strings.HasPrefix(lines[0], envLoaderMark)
}

// unmountDaemon schedules the removal of a container's mounts of the
// dropped daemon's socket or storage.
func (r *kanikoRun) unmountDaemon(c *container, daemonVolumes map[string]bool) {
	for _, m := range c.mounts {
		if !r.servesDocker(m, daemonVolumes) {
			continue
		}
		// A step that waits for the socket keeps a temp (emptyDir,
		// world-writable) /var/run, so the placeholder can be written
		// whatever user its image runs as.
		if v := r.volumeByName(m.volume); v != nil && v.temp && m.path == "/var/run" && socketWaited(c) != "" {
			continue
		}
		r.unmount(c, m.volume)
	}
}

// pointAtRemote sets the daemon's variables on one container and gives
// it the client certificates.
func (r *kanikoRun) pointAtRemote(c *container, n *yaml.Node, mode dockerHostMode) error {
	d := r.k.RemoteDocker
	env := resolve(get(n, "environment"))
	own := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if env != nil && !isNull(env) {
		if env.Kind != yaml.MappingNode {
			return fmt.Errorf("environment: expected a mapping, found a %s", kindName(env.Kind))
		}
		own = fresh(flatten(env))
	}
	put(own, "DOCKER_HOST", scalar(d.Host))
	// The TLS variables that served the local daemon go; the pipeline's
	// are blanked for plain TCP, since the docker CLI turns TLS on for
	// any non-empty value.
	pipelineEnv := resolve(lookup(r.p.Body, "environment"))
	for _, v := range []string{"DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		if mode != plainTCP && v != "DOCKER_TLS" {
			continue
		}
		dropped := del(own, v)
		if lookup(pipelineEnv, v) != nil {
			put(own, v, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle})
			r.p.Report.Changed("%s %q: environment %s set empty: the pipeline's served the local daemon", c.kind(), c.name, v)
		} else if dropped {
			r.p.Report.Changed("%s %q: environment %s removed: it served the local daemon", c.kind(), c.name, v)
		}
	}
	switch mode {
	case tlsVolume:
		put(own, "DOCKER_TLS_VERIFY", scalar("1"))
		put(own, "DOCKER_CERT_PATH", scalar(dockerTLSMountPath))
		mounts, err := editable(n, "volumes", yaml.SequenceNode, "volumes")
		if err != nil {
			return err
		}
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		setString(m, "name", r.tlsVolumeName())
		setString(m, "path", dockerTLSMountPath)
		mounts.Content = append(mounts.Content, m)
	case tlsFromSecrets:
		put(own, "DOCKER_TLS_VERIFY", scalar("1"))
		put(own, "DOCKER_CERT_PATH", scalar(dockerTLSWritePath))
		for _, s := range []struct{ env, secret string }{
			{dockerCAEnv, d.TLSFromSecrets.CA},
			{dockerCertEnv, d.TLSFromSecrets.Cert},
			{dockerKeyEnv, d.TLSFromSecrets.Key},
		} {
			ref := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			setString(ref, "from_secret", s.secret)
			put(own, s.env, ref)
		}
		if err := prependCommands(n, writeCertsCommand(d.TLSFromSecrets)); err != nil {
			return err
		}
	}
	put(n, "environment", own)
	// A step that waited for the local daemon's socket to appear would
	// now wait for nothing: the remote daemon is already up, so a
	// placeholder where it looks lets the wait end at once (the client
	// follows DOCKER_HOST and never opens it).
	if sock := socketWaited(c); sock != "" {
		return prependCommands(n, fmt.Sprintf("[ -e %s ] || { mkdir -p %s && : > %s; } 2>/dev/null || true", sock, path.Dir(sock), sock))
	}
	return nil
}

// writeCertsCommand writes the Drone secrets to the files the docker
// client reads, readable by the step's user only.
// An empty secret (not set, or not given to this build: Drone withholds
// secrets from pull requests of forks unless allowed) stops the step
// with a message, not with the docker client's TLS error later on. The
// message is in the build log, read by the pipeline's author: it names
// the Drone secrets, which they can see, not the service's setting.
func writeCertsCommand(secrets DockerTLSSecrets) string {
	names := shellSafe(secrets.CA) + ", " + shellSafe(secrets.Cert) + " and " + shellSafe(secrets.Key)
	return strings.Join([]string{
		`{ [ -n "$` + dockerCAEnv + `" ] && [ -n "$` + dockerCertEnv + `" ] && [ -n "$` + dockerKeyEnv + `" ] || { echo "drone-convert-eci: the remote Docker daemon's client certificates are empty: the Drone secrets ` + names + ` are missing or not given to this build (pull requests from forks get none unless allowed)" >&2; exit 1; }; }`,
		`mkdir -p "$DOCKER_CERT_PATH"`,
		`(umask 077 && printf '%s\n' "$` + dockerCAEnv + `" > "$DOCKER_CERT_PATH/ca.pem" && printf '%s\n' "$` + dockerCertEnv + `" > "$DOCKER_CERT_PATH/cert.pem" && printf '%s\n' "$` + dockerKeyEnv + `" > "$DOCKER_CERT_PATH/key.pem")`,
	}, " && ")
}

// shellSafe keeps what a double-quoted shell word shows as written.
func shellSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '$' || r == '`' || r == '"' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

// mountsSocket reports whether a container mounts something where the
// Docker daemon's socket lives.
func mountsSocket(c *container) bool {
	return slices.ContainsFunc(c.mounts, func(m mount) bool {
		return m.path == "/var/run" || m.path == "/run" || strings.HasSuffix(m.path, "/docker.sock")
	})
}

// socketWaited returns the socket path a container's commands look for
// when it mounted the daemon's socket there, "" otherwise.
func socketWaited(c *container) string {
	if !c.script {
		return ""
	}
	mentions := false
	for _, line := range c.commandLines() {
		if strings.Contains(line, "docker.sock") {
			mentions = true
		}
	}
	if !mentions {
		return ""
	}
	for _, m := range c.mounts {
		switch {
		case strings.HasSuffix(m.path, "/docker.sock"):
			return m.path
		case m.path == "/var/run" || m.path == "/run":
			return m.path + "/docker.sock"
		}
	}
	return ""
}

// prependCommands puts lines before a container's commands.
func prependCommands(n *yaml.Node, lines ...string) error {
	list, err := editable(n, "commands", yaml.SequenceNode, "commands")
	if err != nil {
		return err
	}
	head := make([]*yaml.Node, 0, len(lines)+len(list.Content))
	for _, l := range lines {
		head = append(head, scalar(l))
	}
	list.Content = append(head, list.Content...)
	return nil
}

// tlsVolumeName is the name of the secret volume: one no other volume
// of the pipeline has.
func (r *kanikoRun) tlsVolumeName() string {
	if r.tlsVolume != "" {
		return r.tlsVolume
	}
	name := dockerTLSVolume
	for i := 2; r.volumeByName(name) != nil; i++ {
		name = fmt.Sprintf("%s-%d", dockerTLSVolume, i)
	}
	r.tlsVolume = name
	return name
}

// addTLSVolume declares the secret volume the containers mount.
func (r *kanikoRun) addTLSVolume() error {
	if r.tlsVolume == "" {
		return nil
	}
	list, err := editable(r.p.Body, "volumes", yaml.SequenceNode, "volumes")
	if err != nil {
		return err
	}
	secret := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	setString(secret, "name", r.k.RemoteDocker.TLSSecret)
	// 0 would mean mode 0000 to the runner; the steps' users need to
	// read the files, whatever user their images run as.
	put(secret, "default_mode", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0444"})
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	setString(v, "name", r.tlsVolume)
	put(v, "secret", secret)
	list.Content = append(list.Content, v)
	return nil
}
