package transform

import (
	"sync"

	"github.com/drone/drone-go/drone"
	"github.com/drone/runner-go/clone"
	"github.com/drone/runner-go/environ"
)

// The runner's own variables, computed with the runner's code
// (runner-go environ, as drone-runner-kube v1.0.0-rc.5's compiler calls
// it) for a representative build, so the names and their number follow
// the runner rather than a copied list.

// stepOnly are the names the kube runner adds per container besides
// runner-go's build environment (engine/compiler, engine/convert.go).
var stepOnly = []string{"DRONE_WORKSPACE", "DRONE_DOCKER_VOLUME_ID", "DRONE_STEP_NAME", "DRONE_SCRIPT", "KUBERNETES_NODE"}

// runnerEnv is the set of names the runner gives a command step's
// container for a build of this event ("" counts as push).
func runnerEnv(event string) map[string]bool {
	// Drone's own events are cached: the set depends on nothing else, and
	// building it is most of the env transform's cost. Callers only read
	// it.
	switch event {
	case "", drone.EventPush, drone.EventPullRequest, drone.EventTag, drone.EventPromote, drone.EventRollback, "cron", "custom":
		if cached, ok := runnerEnvCache.Load(event); ok {
			return cached.(map[string]bool)
		}
		names := computeRunnerEnv(event)
		runnerEnvCache.Store(event, names)
		return names
	}
	return computeRunnerEnv(event)
}

var runnerEnvCache sync.Map // event → map[string]bool

func computeRunnerEnv(event string) map[string]bool {
	build := &drone.Build{Event: drone.EventPush, Ref: "refs/heads/main", Started: 1, Finished: 1}
	switch event {
	case drone.EventPullRequest:
		build.Event, build.Ref = event, "refs/pull/1/head"
	case drone.EventTag:
		build.Event, build.Ref = event, "refs/tags/v1.0.0"
	case "":
	default:
		build.Event = event
	}
	return runnerSet(build, &drone.Stage{Started: 1, Stopped: 1}, clone.Config{})
}

func runnerSet(build *drone.Build, stage *drone.Stage, cloneConfig clone.Config) map[string]bool {
	system, repo := &drone.System{}, &drone.Repo{}
	env := environ.Combine(
		environ.System(system),
		environ.Repo(repo),
		environ.Build(build),
		environ.Stage(stage),
		environ.Link(repo, build, system),
		clone.Environ(cloneConfig),
	)
	names := map[string]bool{}
	for k := range env {
		names[k] = true
	}
	for _, k := range stepOnly {
		names[k] = true
	}
	return names
}

var (
	runnerNamesOnce sync.Once
	runnerNamesAll  map[string]bool
)

// runnerNames is every name the runner may set in some build: every
// event, failing builds, tags that are or are not versions, clone
// options, proxies from its own environment, tmate, netrc. A pipeline
// value with one of these names loses to the runner's whenever the
// runner sets it, so it cannot move into a file that the step loads.
func runnerNames() map[string]bool {
	runnerNamesOnce.Do(func() {
		all := map[string]bool{}
		failed := &drone.Stage{Status: drone.StatusFailing, Started: 1, Stopped: 1}
		for _, b := range []*drone.Build{
			{Event: drone.EventPush, Status: drone.StatusFailing, Stages: []*drone.Stage{failed}},
			{Event: drone.EventPullRequest, Ref: "refs/pull/1/head"},
			{Event: drone.EventTag, Ref: "refs/tags/v1.2.3-rc.1+build.5"},
			{Event: drone.EventTag, Ref: "refs/tags/2024.01.2-beta"},
			{Event: drone.EventTag, Ref: "refs/tags/not-a-version"},
			{Event: drone.EventPromote, Deploy: "prod"},
		} {
			for k := range runnerSet(b, failed, clone.Config{Trace: true, SkipVerify: true}) {
				all[k] = true
			}
		}
		for _, k := range []string{
			"no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
			"DRONE_DOCKER_VOLUME_PATH", "DRONE_TMATE_HOST", "DRONE_TMATE_PORT", "DRONE_TMATE_FINGERPRINT_RSA",
			"DRONE_TMATE_FINGERPRINT_ED25519", "DRONE_NETRC_MACHINE", "DRONE_NETRC_USERNAME", "DRONE_NETRC_PASSWORD",
			"DRONE_NETRC_FILE", "SHELL",
		} {
			all[k] = true
		}
		runnerNamesAll = all
	})
	return runnerNamesAll
}
