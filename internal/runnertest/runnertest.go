// Package runnertest turns a (converted) .drone.yml into exactly what
// drone-runner-kube v1.0.0-rc.5 would create for it in a cluster: the
// compiled engine spec and the Secret and Pod that the engine's Setup
// sends to the Kubernetes API.
//
// It uses the runner's own packages (resource, linter, compiler, engine)
// and runner-go's environ/manifest packages, in the order the runner uses
// them (runner-go pipeline/runtime.Runner.run, then Execer.Exec, which
// calls Engine.Setup before any step runs), so tests assert against the
// real runner behaviour instead of a re-implementation of it. The
// Kubernetes API is a client-go fake clientset: no cluster is needed.
package runnertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drone-runners/drone-runner-kube/engine"
	"github.com/drone-runners/drone-runner-kube/engine/compiler"
	"github.com/drone-runners/drone-runner-kube/engine/linter"
	"github.com/drone-runners/drone-runner-kube/engine/resource"
	"github.com/drone/drone-go/drone"
	"github.com/drone/envsubst"
	"github.com/drone/runner-go/environ"
	"github.com/drone/runner-go/environ/provider"
	"github.com/drone/runner-go/manifest"
	"github.com/drone/runner-go/pipeline/runtime"
	"github.com/drone/runner-go/registry"
	"github.com/drone/runner-go/secret"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Build events accepted in Options.Event.
const (
	EventPush        = drone.EventPush
	EventPullRequest = drone.EventPullRequest
	EventTag         = drone.EventTag
)

// DefaultNamespace is the namespace pods land in when the pipeline sets
// none. It is the daemon's DRONE_NAMESPACE_DEFAULT default ("default");
// the compile command leaves it empty, but no real runner does.
const DefaultNamespace = "default"

// Options describes the build the config is compiled for.
type Options struct {
	// Trusted is repo.trusted. The runner's linter allows secret,
	// config_map, claim and host volumes and privileged steps only
	// when it is true.
	Trusted bool

	// Event is the build event: "push" (the default when empty),
	// "pull_request" or "tag".
	Event string

	// Secrets gives values to `from_secret` names, as the server's
	// secret store would. Names missing here still get an (empty) key
	// in the Secret and a secretKeyRef in the Pod, as in the runner.
	Secrets map[string]string

	// Netrc, when set, is the clone credential the server sends with
	// private repositories; the runner then adds DRONE_NETRC_* secret
	// refs to every container (the compile command's default is none).
	Netrc *drone.Netrc

	// Message, when set, is the commit message (DRONE_COMMIT_MESSAGE),
	// and the title of a pull request, instead of Build's.
	Message string

	// SpecOnly stops after the compiler, as `drone-runner-kube compile`
	// does: no engine Setup, so Result.Pod and the Secrets stay nil.
	// Benchmarks use it to measure the runner's own parse, lint and
	// compile work.
	SpecOnly bool
}

// Result is what the runner produces for one kubernetes pipeline.
type Result struct {
	// Pipeline is the pipeline (stage) name.
	Pipeline string
	// Spec is the compiled spec. The real step images are here
	// (Spec.Steps[i].Image); the Pod only has placeholders.
	Spec *engine.Spec
	// Pod is the Pod object the engine's Setup sent to the API server,
	// exactly as sent (captured before the fake tracker stores it).
	Pod *corev1.Pod
	// Secret is the Secret Setup creates for the pod (always created,
	// possibly empty; from_secret values and netrc live here).
	Secret *corev1.Secret
	// PullSecret is the dockerconfigjson Secret, if the pipeline's
	// image_pull_secrets resolved to registry credentials.
	PullSecret *corev1.Secret
}

// Fixed timestamps keep the build environment (DRONE_BUILD_STARTED and
// friends) independent of the wall clock, so two compilations of the
// same config produce the same env values. A real running build has
// Finished == 0 and the runner then substitutes time.Now(); only the
// value differs, never the set of variables.
const (
	fixedCreated  = 1735689600 // 2025-01-01T00:00:00Z
	fixedStarted  = fixedCreated + 5
	fixedFinished = fixedCreated + 65
)

// Build returns the realistic build metadata used for an event: the
// values a Drone server would send for octo/hello-world on GitHub.
// Exported so tests can compare pod env values against it.
func Build(event string) (*drone.System, *drone.Repo, *drone.Build, error) {
	system := &drone.System{
		Proto:   "https",
		Host:    "drone.example.com",
		Link:    "https://drone.example.com",
		Version: "2.26.0",
	}
	repo := &drone.Repo{
		ID:         42,
		UID:        "1296269",
		UserID:     1,
		Namespace:  "octo",
		Name:       "hello-world",
		Slug:       "octo/hello-world",
		SCM:        "git",
		HTTPURL:    "https://github.com/octo/hello-world.git",
		SSHURL:     "git@github.com:octo/hello-world.git",
		Link:       "https://github.com/octo/hello-world",
		Branch:     "main",
		Private:    false,
		Visibility: "public",
		Active:     true,
		Config:     ".drone.yml",
		Timeout:    60,
		Created:    fixedCreated - 86400,
		Updated:    fixedCreated,
	}
	build := &drone.Build{
		ID:           1001,
		RepoID:       repo.ID,
		Trigger:      "@hook",
		Number:       17,
		Status:       drone.StatusRunning,
		Event:        drone.EventPush,
		Link:         "https://github.com/octo/hello-world/compare/5d1b9f8a0c3e...7f3a2c1e9b4d",
		Message:      "Update README.md",
		Before:       "5d1b9f8a0c3e4b6a8d7f9e0c1b2a3d4e5f6a7b8c",
		After:        "7f3a2c1e9b4d5a6f8e0c1d2b3a4f5e6d7c8b9a0f",
		Ref:          "refs/heads/main",
		Source:       "main",
		Target:       "main",
		Author:       "octocat",
		AuthorName:   "The Octocat",
		AuthorEmail:  "octocat@github.com",
		AuthorAvatar: "https://avatars.githubusercontent.com/u/583231",
		Sender:       "octocat",
		Started:      fixedStarted,
		Finished:     fixedFinished,
		Created:      fixedCreated,
		Updated:      fixedCreated,
	}
	switch event {
	case "", drone.EventPush:
	case drone.EventPullRequest:
		build.Event = drone.EventPullRequest
		build.Action = "opened"
		build.Ref = "refs/pull/7/head"
		build.Source = "feature/readme"
		build.Target = "main"
		build.Fork = "octo/hello-world"
		build.Title = "Update README.md"
		build.Link = "https://github.com/octo/hello-world/pull/7"
	case drone.EventTag:
		// Drone's hook parser sets both Source and Target to the tag
		// name for tag events (so DRONE_BRANCH is the tag).
		build.Event = drone.EventTag
		build.Action = "create"
		build.Ref = "refs/tags/v1.0.0"
		build.Source = "v1.0.0"
		build.Target = "v1.0.0"
		build.Before = "0000000000000000000000000000000000000000"
		build.Link = "https://github.com/octo/hello-world/releases/tag/v1.0.0"
	default:
		return nil, nil, nil, fmt.Errorf("runnertest: unsupported event %q (want push, pull_request or tag)", event)
	}
	return system, repo, build, nil
}

// Compile runs config through the runner, once per `kind: pipeline`,
// `type: kubernetes` document, in document order.
//
// Per pipeline it does what the runner does when it accepts that stage:
// envsubst over the whole config with the stage's build environment,
// manifest.ParseString, resource.Lookup by stage name, linter.Lint,
// compiler.Compile and engine Setup (which creates the Secret and the
// Pod). The first error stops it; errors name the pipeline and keep the
// runner's message verbatim. A config without kubernetes pipelines gives
// no results and no error.
//
// The compiler also copies this process's proxy variables (HTTP_PROXY,
// NO_PROXY, ... via runner-go environ.Proxy) into every container, as
// the runner does with its own; clear them in tests that count env vars.
func Compile(config []byte, opts Options) ([]Result, error) {
	system, repo, build, err := Build(opts.Event)
	if err != nil {
		return nil, err
	}
	repo.Trusted = opts.Trusted
	if opts.Message != "" {
		build.Message = opts.Message
		if build.Title != "" {
			build.Title = opts.Message
		}
	}

	// The server, not the runner, decides which stages exist: it reads
	// the config as is (no substitution) and creates one stage per
	// pipeline document, named after it. Enumerate them the same way.
	raws, err := manifest.ParseRawString(string(config))
	if err != nil {
		return nil, fmt.Errorf("runnertest: parse raw documents: %w", err)
	}

	var results []Result
	number := 0
	for _, raw := range raws {
		if raw == nil || raw.Kind != resource.Kind {
			continue
		}
		// The server numbers every pipeline stage, whatever its type.
		number++
		if raw.Type != resource.Type {
			continue
		}
		stage := newStage(raw, number)
		res, err := compileStage(config, opts, system, repo, build, stage)
		if err != nil {
			return results, fmt.Errorf("pipeline %q: %w", stage.Name, err)
		}
		results = append(results, res)
	}
	return results, nil
}

// newStage builds the stage the server would hand the runner for the
// pipeline document raw (drone server's trigger: platform defaults to
// linux/amd64, name defaults to "default").
func newStage(raw *manifest.RawResource, number int) *drone.Stage {
	name := raw.Name
	if name == "" {
		name = "default"
	}
	os, arch := raw.Platform.OS, raw.Platform.Arch
	if os == "" {
		os = "linux"
	}
	if arch == "" {
		arch = "amd64"
	}
	return &drone.Stage{
		ID:        int64(5000 + number),
		BuildID:   1001,
		Number:    number,
		Name:      name,
		Kind:      raw.Kind,
		Type:      raw.Type,
		Status:    drone.StatusRunning,
		Machine:   "drone-runner-kube-7c9d8b6f5-x2k4q",
		OS:        os,
		Arch:      arch,
		Variant:   raw.Platform.Variant,
		DependsOn: raw.Deps,
		Started:   fixedStarted,
		Stopped:   fixedFinished,
		Created:   fixedCreated,
		Updated:   fixedCreated,
	}
}

func compileStage(config []byte, opts Options, system *drone.System, repo *drone.Repo, build *drone.Build, stage *drone.Stage) (Result, error) {
	// runner-go pipeline/runtime.Runner.run: the substitution
	// environment (runner globals are empty here, as in the compile
	// command with no --environ).
	envs := environ.Combine(
		environ.System(system),
		environ.Repo(repo),
		environ.Build(build),
		environ.Stage(stage),
		environ.Link(repo, build, system),
		build.Params,
	)
	subf := func(k string) string {
		v := envs[k]
		if strings.Contains(v, "\n") {
			v = fmt.Sprintf("%q", v)
		}
		return v
	}
	substituted, err := envsubst.Eval(string(config), subf)
	if err != nil {
		return Result{}, fmt.Errorf("envsubst: %w", err)
	}

	mf, err := manifest.ParseString(substituted)
	if err != nil {
		return Result{}, fmt.Errorf("parse: %w", err)
	}
	res, err := resource.Lookup(stage.Name, mf)
	if err != nil {
		return Result{}, fmt.Errorf("lookup: %w", err)
	}
	if err := linter.New(nil).Lint(res, repo); err != nil {
		return Result{}, fmt.Errorf("lint: %w", err)
	}

	// command/compile.go with its flag defaults: memory amounts there
	// are MiB and multiplied to bytes before use.
	comp := &compiler.Compiler{
		Environ:    provider.Static(nil),
		Labels:     map[string]string{},
		Privileged: append([]string(nil), compiler.Privileged...),
		Volumes:    map[string]string{},
		Secret:     secret.Combine(),
		Registry:   registry.Combine(),
		Resources: compiler.Resources{
			MinRequests: compiler.ResourceObject{CPU: 1, Memory: 4 * 1024 * 1024},
		},
		StageRequests: compiler.ResourceObject{CPU: 100, Memory: 100 * 1024 * 1024},
		Tmate:         compiler.Tmate{Image: "drone/drone-runner-docker:latest"},
		Namespace:     DefaultNamespace,
	}
	netrc := opts.Netrc
	if netrc == nil {
		netrc = &drone.Netrc{}
	}
	spec := comp.Compile(context.Background(), runtime.CompilerArgs{
		Pipeline: res,
		Manifest: mf,
		Build:    build,
		Netrc:    netrc,
		Repo:     repo,
		Stage:    stage,
		System:   system,
		Secret:   secret.StaticVars(opts.Secrets),
	}).(*engine.Spec)

	if opts.SpecOnly {
		return Result{Pipeline: stage.Name, Spec: spec}, nil
	}
	pod, sec, pull, err := setup(spec)
	if err != nil {
		return Result{}, fmt.Errorf("engine setup: %w", err)
	}
	return Result{
		Pipeline:   stage.Name,
		Spec:       spec,
		Pod:        pod,
		Secret:     sec,
		PullSecret: pull,
	}, nil
}

// setup runs the real engine's Setup against a fake clientset. Setup is
// where drone-runner-kube creates the pod (engine_impl.go: optional
// namespace, optional pull secret, the pod's Secret, then the Pod, all
// with placeholder images); steps later only patch container images and
// annotations. A reactor records each object exactly as the engine sent
// it, before the fake tracker stores (and possibly defaults) it.
func setup(spec *engine.Spec) (pod *corev1.Pod, sec, pull *corev1.Secret, err error) {
	client := fake.NewClientset()
	var mu sync.Mutex
	var pods []*corev1.Pod
	var secrets []*corev1.Secret
	client.PrependReactor("create", "*", func(action k8stesting.Action) (bool, k8sruntime.Object, error) {
		create, ok := action.(k8stesting.CreateAction)
		if !ok {
			return false, nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch obj := create.GetObject().(type) {
		case *corev1.Pod:
			pods = append(pods, obj.DeepCopy())
		case *corev1.Secret:
			secrets = append(secrets, obj.DeepCopy())
		}
		return false, nil, nil // let the tracker store it too
	})

	// The daemon's defaults: DRONE_ENGINE_CONTAINER_START_TIMEOUT=480s,
	// DRONE_ENGINE_CONTAINER_TIME_TO_WAIT_FOR_LOGS=0. Neither matters to
	// Setup.
	eng := engine.New(client, 480*time.Second, 0)
	if err := eng.Setup(context.Background(), spec); err != nil {
		return nil, nil, nil, err
	}

	if len(pods) != 1 {
		return nil, nil, nil, fmt.Errorf("engine created %d pods, want 1", len(pods))
	}
	pod = pods[0]
	// Make sure the API (tracker) accepted what was sent.
	if _, err := client.CoreV1().Pods(spec.PodSpec.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{}); err != nil {
		return nil, nil, nil, fmt.Errorf("created pod not found: %w", err)
	}
	for _, s := range secrets {
		switch {
		case s.Name == spec.PodSpec.Name:
			sec = s
		case spec.PullSecret != nil && s.Name == spec.PullSecret.Name:
			pull = s
		}
	}
	if sec == nil {
		return nil, nil, nil, errors.New("engine created no pod secret")
	}
	return pod, sec, pull, nil
}
