package transform

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// EntrypointsAnnotation is the pipeline annotation where the converter
// records, per step name, the step's image and what it runs; the
// admission webhook reads it (README "Admission webhook"). Its key
// holds no "/" or "-": the runner's /run/drone/env file, where every
// annotation lands, is read by godotenv in many plugins.
const EntrypointsAnnotation = "drone_convert_eci.entrypoints"

// Entrypoint is what an image runs when the container has no command:
// its ENTRYPOINT and CMD. Shell says the image has a POSIX /bin/sh, so
// the webhook loads the env file with a shell in front of ENTRYPOINT +
// CMD instead of the static loader (no init container). A bare
// ENTRYPOINT name (docker-entrypoint.sh) is found through the image's
// PATH, as the container runtime does.
type Entrypoint struct {
	Image      string   `json:"image,omitempty"`
	Entrypoint []string `json:"entrypoint"`
	Cmd        []string `json:"cmd,omitempty"`
	Shell      bool     `json:"shell,omitempty"`
}

// DefaultEntrypoints are the images the converter produces, the
// runner's default clone image and the Drone plugins of the corpus, by
// familiar repository name (any tag or digest, docker.io/ ignored).
// Every entry was read from the image's own linux Dockerfile in its
// public repository (named beside it, with the commit or tag read). No
// plugin Dockerfile sets a CMD, so the ENTRYPOINT is all a plugin image
// runs; the service images (redis, postgres, mysql) run an ENTRYPOINT
// plus a CMD, both recorded, and have a /bin/sh (Shell). An image built
// before the Dockerfile read may run something else: where the history
// shows an older entrypoint, the comment says until when.
func DefaultEntrypoints() map[string]Entrypoint {
	return map[string]Entrypoint{
		// drone-kaniko v1.13.9 (KANIKO.md).
		"plugins/kaniko":     {Entrypoint: []string{"/kaniko/kaniko-docker"}},
		"plugins/kaniko-ecr": {Entrypoint: []string{"/kaniko/kaniko-ecr"}},
		"plugins/kaniko-gcr": {Entrypoint: []string{"/kaniko/kaniko-gcr"}},
		"plugins/kaniko-gar": {Entrypoint: []string{"/kaniko/kaniko-gar"}},
		"plugins/kaniko-acr": {Entrypoint: []string{"/kaniko/kaniko-acr"}},
		// drone/drone-git's linux Dockerfile.
		"drone/git": {Entrypoint: []string{"/usr/local/bin/clone"}},

		// drone-plugins/drone-docker docker/<name>/Dockerfile.linux.amd64
		// (and .arm64), read at b7ef37f8 (2026-07-31, after v21.3.4) and
		// identical at every tag v18.06.0..v21.3.4 (the docker:dind base's
		// entrypoint script, then the plugin). Before 797ada9 (2019-01,
		// older than the v18.06.0 tag) ecr, gcr and heroku ran
		// /bin/drone-docker-ecr, -gcr, -heroku; gar exists from v20.17.0,
		// acr from v18.09.1.
		"plugins/docker": {Entrypoint: []string{"/usr/local/bin/dockerd-entrypoint.sh", "/bin/drone-docker"}},
		"plugins/ecr":    {Entrypoint: []string{"/usr/local/bin/dockerd-entrypoint.sh", "/bin/drone-ecr"}},
		"plugins/gcr":    {Entrypoint: []string{"/usr/local/bin/dockerd-entrypoint.sh", "/bin/drone-gcr"}},
		"plugins/gar":    {Entrypoint: []string{"/usr/local/bin/dockerd-entrypoint.sh", "/bin/drone-gar"}},
		"plugins/acr":    {Entrypoint: []string{"/usr/local/bin/dockerd-entrypoint.sh", "/bin/drone-acr"}},
		"plugins/heroku": {Entrypoint: []string{"/usr/local/bin/dockerd-entrypoint.sh", "/bin/drone-heroku"}},
		// drone-plugins/drone-slack docker/Dockerfile.linux.amd64 (and
		// .arm64) at 7013a1e7 (2025-05-09, v1.4.1); the same path at
		// every tag v1.1.1..v1.4.1 and since 2016 (2015 images ran
		// /go/bin/drone-slack).
		"plugins/slack": {Entrypoint: []string{"/bin/drone-slack"}},
		// drone-plugins/drone-s3 docker/Dockerfile.linux.amd64 (and
		// .arm64) at v1.8.3 (314a10d5); the same at every tag
		// v1.0.0..v1.8.3 (v1.4.0 read too) and since 2017.
		"plugins/s3": {Entrypoint: []string{"/bin/drone-s3"}},
		// drone-plugins/drone-npm docker/Dockerfile.linux.amd64 (and
		// .arm64) at v1.1.0 (df2ebf6c); the same since 2018.
		"plugins/npm": {Entrypoint: []string{"/bin/drone-npm"}},
		// drone-plugins/drone-manifest docker/Dockerfile.linux.amd64 (and
		// .arm64) at 5967a6e2 (2025-05-09, after v1.2.4); the same at
		// every tag v1.0.0..v1.2.4. (Unmerged ECR branches renamed it
		// drone-manifest-ecr / manifest-ecr; not on master.)
		"plugins/manifest": {Entrypoint: []string{"/bin/drone-manifest"}},
		// drone-plugins/drone-github-release docker/Dockerfile.linux.amd64
		// (and .arm64) at f2907e9c (2025-05-09, after v1.0.0); the same at
		// v1.0.0 and since 2018-06 (older history differs).
		"plugins/github-release": {Entrypoint: []string{"/bin/drone-github-release"}},
		// drone-plugins/drone-git docker/Dockerfile.linux.amd64 (and
		// .arm64) at 6297403d (2019-03-27, master; the repository has no
		// tags); /bin/drone-git since 2018-03 (2015 images ran
		// /go/bin/drone-git).
		"plugins/git": {Entrypoint: []string{"/bin/drone-git"}},
		// appleboy/drone-git-push docker/Dockerfile at v1.2.4 (593795a4);
		// the same path at every tag 0.1.0..v1.2.4.
		"appleboy/drone-git-push": {Entrypoint: []string{"/bin/drone-git-push"}},
		// pelotech/drone-helm3 Dockerfile at v0.15.1 (7533ed95, master);
		// the same at every tag v0.1.0..v0.15.1. (An unmerged branch,
		// 9617728, would make it /app/plugin.)
		"pelotech/drone-helm3": {Entrypoint: []string{"/bin/drone-helm"}},
		// thegeeklab/drone-docker-buildx Dockerfile.multiarch at v23.1.2
		// (cc6656fb) and at 3c96b67e (2023-08-29, after v24.1.3); the same
		// (docker/Dockerfile.amd64, .arm64) since v20.10.1. The second
		// element is a bare name the dind script runs through PATH.
		"thegeeklab/drone-docker-buildx": {Entrypoint: []string{"/usr/local/bin/dockerd-entrypoint.sh", "drone-docker-buildx"}},
		// uozi/drone-bark: 0xJacky/drone-bark's Dockerfile at a64bf6ca,
		// the only version read; its .drone.yml (0178f05b) publishes it
		// as uozi/drone-bark.
		"uozi/drone-bark": {Entrypoint: []string{"/bin/plugin"}},

		// Services: the docker-library official images. Each runs
		// ENTRYPOINT ["docker-entrypoint.sh"] (a script COPY'd into
		// /usr/local/bin, found through PATH) with its server as CMD;
		// every variant (Debian, Alpine, Oracle Linux) has /bin/sh.
		//
		// docker-library/redis <version>/{debian,alpine}/Dockerfile at
		// e9204996 (2024-06-28: 6.2, 7.0, 7.2, 7.4-rc; redis:latest was
		// 7.2 then): ENTRYPOINT ["docker-entrypoint.sh"], CMD
		// ["redis-server"], the same in every Dockerfile since 23b10607
		// (2016-05, Redis 3.2; before it ENTRYPOINT ["/entrypoint.sh"]).
		// Redis 8 (redis:latest later) is not in the snapshot read.
		"redis": {Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"redis-server"}, Shell: true},
		// docker-library/postgres <major>/<variant>/Dockerfile at
		// 6edb0a8c (2026-02-26: 14..18, bookworm, trixie, alpine3.22/3.23),
		// 10/ at c3a0b482 (2022-11-10, its last) and 12/ at e2a43025
		// (2025-01-24, its last): ENTRYPOINT ["docker-entrypoint.sh"], CMD
		// ["postgres"], the same for every version since fc676766
		// (2017-02; before it ENTRYPOINT ["/docker-entrypoint.sh"]).
		"postgres": {Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"postgres"}, Shell: true},
		// docker-library/mysql 8.0/Dockerfile.oracle and
		// 8.0/Dockerfile.debian at 6b2fc013 (2026-04-22, 8.0's last before
		// its removal), and every 8.0 Dockerfile in the history; 8.4/,
		// 9.7/ and innovation/Dockerfile.oracle at 7f30fdb0 (2026-06-16):
		// ENTRYPOINT ["docker-entrypoint.sh"], CMD ["mysqld"], as since
		// 5b1a6a2 (2016-03; before it ENTRYPOINT ["/entrypoint.sh"]).
		"mysql": {Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"mysqld"}, Shell: true},
	}
}

// Entrypoints records the entrypoint of every step and service that
// runs its image's own entrypoint (no commands, no entrypoint in the
// YAML) and whose image is in Table, and of the clone step (CloneImage,
// the runner's DRONE_IMAGE_CLONE) unless clone is disabled. Steps whose
// image is substituted or unknown are not recorded: the webhook leaves
// them as they are. Runs after images, so it sees the final images.
// An image the table does not know is taken from Pipeline.Registry when
// the plugin looked it up (RegistryQueries).
type Entrypoints struct {
	// Table maps familiar repository names (plugins/kaniko) to what
	// their images run.
	Table map[string]Entrypoint
	// CloneImage is the runner's clone image; empty records no clone.
	CloneImage string
	// Mirror is the images transform's Docker Hub mirror, stripped
	// before the table lookup.
	Mirror string
}

// Name implements Transform.
func (Entrypoints) Name() string { return "entrypoints" }

// Apply implements Transform.
func (e Entrypoints) Apply(p *Pipeline) error {
	if e.Table == nil {
		return nil // DRONE_ECI_RECORD_ENTRYPOINTS is off
	}
	recorded := map[string]Entrypoint{}
	var fromRegistry []string
	if e.CloneImage != "" && !isTrue(lookupString(resolve(lookup(p.Body, "clone")), "disable")) {
		if ep, ok := e.fromTable(e.CloneImage); ok {
			recorded["clone"] = ep
		}
	}
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
			name, image := lookupString(step, "name"), lookupString(step, "image")
			if name == "" || strings.Contains(image, "$") || strings.Contains(name, "$") || !runsOwnEntrypoint(step) {
				continue
			}
			if ep, ok := e.fromTable(image); ok {
				recorded[name] = ep
				continue
			}
			facts, asked := p.registryFacts(image)
			if !asked {
				continue
			}
			if facts.HasConfig && len(facts.Entrypoint) == 0 && hasValues(lookup(step, "command")) {
				// The step's command replaces the image's CMD, and with no
				// ENTRYPOINT it is the whole argv: nothing to record that
				// the webhook could put in front of it.
				p.Report.Warn("%s %s: image %s has no entrypoint and the step's command replaces its cmd, so the admission webhook cannot move its env", strings.TrimSuffix(list, "s"), name, image)
				continue
			}
			if ep, ok := registryEntrypoint(image, facts); ok {
				recorded[name] = ep
				fromRegistry = append(fromRegistry, name)
				continue
			}
			why := facts.Err
			if why == "" {
				why = "its image sets no entrypoint or cmd"
			}
			p.Report.Warn("%s %s: image %s: entrypoint unknown (registry %s: %s), so the admission webhook cannot move its env", strings.TrimSuffix(list, "s"), name, image, facts.Registry, why)
		}
	}
	if len(recorded) == 0 {
		return nil
	}
	data, err := json.Marshal(recorded)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(recorded))
	for n := range recorded {
		names = append(names, n)
	}
	slices.Sort(names)
	p.Report.Changed("entrypoints: recorded for the admission webhook: %s", strings.Join(names, ", "))
	if len(fromRegistry) > 0 {
		p.Report.Changed("entrypoints: read from the registry: %s", strings.Join(fromRegistry, ", "))
	}
	// The runner substitutes the whole YAML: "$" is written "$$".
	return Annotate(p, EntrypointsAnnotation, strings.ReplaceAll(string(data), "$", "$$"))
}

// runsOwnEntrypoint says whether a step or service runs its image's
// ENTRYPOINT and CMD: it gives neither commands nor an entrypoint.
func runsOwnEntrypoint(step *yaml.Node) bool {
	return !hasValues(lookup(step, "commands")) && !hasValues(lookup(step, "entrypoint"))
}

// registryEntrypoint is what an image the registry described runs. An
// image with a CMD and no ENTRYPOINT runs its CMD, which the webhook
// then runs as the entrypoint (the same argv).
func registryEntrypoint(image string, facts ImageFacts) (Entrypoint, bool) {
	if !facts.HasConfig {
		return Entrypoint{}, false
	}
	ep := Entrypoint{Image: image, Entrypoint: facts.Entrypoint, Cmd: facts.Cmd}
	if len(ep.Entrypoint) == 0 {
		ep.Entrypoint, ep.Cmd = ep.Cmd, nil
	}
	if len(ep.Entrypoint) == 0 {
		return Entrypoint{}, false
	}
	return ep, true
}

func (e Entrypoints) fromTable(image string) (Entrypoint, bool) {
	named, err := parseImage(image)
	if err != nil {
		return Entrypoint{}, false
	}
	name := named.familiarName()
	if e.Mirror != "" {
		if rest, ok := strings.CutPrefix(named.name(), e.Mirror+"/"); ok {
			if n, err := parseImage(rest); err == nil {
				name = n.familiarName()
			}
		}
	}
	ep, ok := e.Table[name]
	if !ok || len(ep.Entrypoint) == 0 {
		return Entrypoint{}, false
	}
	ep.Image = image
	return ep, true
}

// hasValues says whether n is a non-empty list or a non-empty scalar.
func hasValues(n *yaml.Node) bool {
	n = resolve(n)
	switch {
	case n == nil || isNull(n):
		return false
	case n.Kind == yaml.SequenceNode:
		return len(n.Content) > 0
	case n.Kind == yaml.ScalarNode:
		return n.Value != ""
	}
	return true
}

// ParseEntrypoints reads a JSON object of extra table entries
// ({"repo/name": {"entrypoint": [...], "cmd": [...]}}).
func ParseEntrypoints(s string) (map[string]Entrypoint, error) {
	table := map[string]Entrypoint{}
	if strings.TrimSpace(s) == "" {
		return table, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&table); err != nil {
		return nil, err
	}
	for name, ep := range table {
		if len(ep.Entrypoint) == 0 {
			return nil, fmt.Errorf("%s: empty entrypoint", name)
		}
	}
	return table, nil
}
