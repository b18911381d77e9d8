// Package admission keeps every container of the Drone runner's ECI
// pods within the env budget at pod admission (docs/how-it-works.md "Admission
// webhook"). Mutate is a pure function from the Pod the runner creates
// to the mutated Pod and a report; Review wraps it in the
// AdmissionReview protocol with a JSON patch; Server serves it over
// HTTPS.
package admission

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
	"github.com/drone-convert-eci/drone-convert-eci/internal/kubeexpand"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

const (
	// EntrypointsAnnotation is the pipeline annotation where the
	// converter records, per step name, the step's image and its
	// entrypoint (JSON, a map of step name to Entrypoint). At admission
	// every step container runs the placeholder image: this is the only
	// way the webhook knows what the step's image would run.
	EntrypointsAnnotation = transform.EntrypointsAnnotation
	// ReportAnnotation is where the webhook says what it did to the pod
	// (and marks it done: a pod that has it is left alone).
	ReportAnnotation = "drone_convert_eci.admission"
	// LoaderVolume is the emptyDir the init container copies the static
	// loader into; LoaderDir is where every container using it mounts it.
	LoaderVolume = "drone-convert-eci-loader"
	LoaderDir    = "/drone-convert-eci"
	// LoaderPath is the loader inside LoaderDir.
	LoaderPath = LoaderDir + "/eci-env-loader"
	// LoaderInImage is the loader inside the service's own image.
	LoaderInImage = "/eci-env-loader"
	// LoaderInit names the init container that installs the loader.
	LoaderInit = "drone-convert-eci-loader"
	// CloneStep is the name the runner gives the clone step; its
	// container is the only one without DRONE_STEP_NAME.
	CloneStep = "clone"

	// runnerScript is how the runner starts a command step
	// (engine/compiler: /bin/sh -c 'echo "$DRONE_SCRIPT" | /bin/sh').
	runnerShell  = "/bin/sh"
	runnerScript = `echo "$DRONE_SCRIPT" | /bin/sh`
	// execArgs runs what follows the shell loader's script: sh -c
	// SCRIPT ENTRYPOINT ARG... puts ENTRYPOINT in $0 and the rest in $@.
	execArgs = `exec "$0" "$@"`
)

// Entrypoint is what the converter records for a step: its image and
// what the image runs when the container has no command (ENTRYPOINT and
// CMD).
type Entrypoint = transform.Entrypoint

// Options are the webhook's settings.
type Options struct {
	// Budget is the most env vars a container may carry (ECI: 92).
	Budget int
	// NodeSelector is the converter's virtual node selector: only pods
	// selecting it are mutated.
	NodeSelector map[string]string
	// LoaderImage is the image holding LoaderInImage (the service's own
	// image); empty leaves containers without a shell as they are.
	LoaderImage string
	// LoaderPullSecret names a Secret (in the pod's namespace) added to
	// the pod's imagePullSecrets along with the loader's init container,
	// for a LoaderImage in a private registry; empty adds none.
	LoaderPullSecret string
	// MaxContainers and MaxVolumes are ECI's per-pod limits (20, 20):
	// the loader's init container and volume are added only within them.
	MaxContainers int
	MaxVolumes    int
	// MaxAnnotationBytes bounds the pod's annotations after mutation
	// (Kubernetes refuses more than 256 KiB in all).
	MaxAnnotationBytes int
	// UnknownImages is what happens to a container over the budget whose
	// entrypoint nobody recorded: "keep" (left as it is, reported) or
	// "drop-legacy" (the runner's legacy CI_* aliases are removed when
	// that brings it within the budget).
	UnknownImages string
	// LiveStatus wraps plugin containers within the budget in the static
	// loader, on pods whose annotations godotenv v1.5 cannot read, for
	// the runner's live build status (statusPlan). Off, they stay as
	// they are: no init container or loader image pull for them.
	LiveStatus bool
}

// LegacyAliases are the CI_* variables runner-go v1.12.0 sets
// (environ/environ.go), each a copy of a DRONE_* value kept for
// Drone 0.8-era plugins. CI itself is not among them: many tools read
// it to know they run in CI.
var LegacyAliases = []string{
	"CI_BUILD_CREATED", "CI_BUILD_EVENT", "CI_BUILD_FINISHED", "CI_BUILD_LINK", "CI_BUILD_NUMBER",
	"CI_BUILD_STARTED", "CI_BUILD_STATUS", "CI_BUILD_TARGET", "CI_COMMIT_AUTHOR", "CI_COMMIT_AUTHOR_AVATAR",
	"CI_COMMIT_AUTHOR_EMAIL", "CI_COMMIT_AUTHOR_NAME", "CI_COMMIT_BRANCH", "CI_COMMIT_MESSAGE", "CI_COMMIT_REF",
	"CI_COMMIT_SHA", "CI_PARENT_BUILD_NUMBER", "CI_REMOTE_URL", "CI_REPO", "CI_REPO_LINK",
	"CI_REPO_NAME", "CI_REPO_PRIVATE", "CI_REPO_REMOTE",
}

// legacyTwin is the DRONE_* variable each alias copies, as runner-go
// v1.12.0 sets both from one field (environ.go: Repo and Build).
var legacyTwin = map[string]string{
	"CI_BUILD_CREATED": "DRONE_BUILD_CREATED", "CI_BUILD_EVENT": "DRONE_BUILD_EVENT",
	"CI_BUILD_FINISHED": "DRONE_BUILD_FINISHED", "CI_BUILD_LINK": "DRONE_COMMIT_LINK",
	"CI_BUILD_NUMBER": "DRONE_BUILD_NUMBER", "CI_BUILD_STARTED": "DRONE_BUILD_STARTED",
	"CI_BUILD_STATUS": "DRONE_BUILD_STATUS", "CI_BUILD_TARGET": "DRONE_DEPLOY_TO",
	"CI_COMMIT_AUTHOR": "DRONE_COMMIT_AUTHOR", "CI_COMMIT_AUTHOR_AVATAR": "DRONE_COMMIT_AUTHOR_AVATAR",
	"CI_COMMIT_AUTHOR_EMAIL": "DRONE_COMMIT_AUTHOR_EMAIL", "CI_COMMIT_AUTHOR_NAME": "DRONE_COMMIT_AUTHOR_NAME",
	"CI_COMMIT_BRANCH": "DRONE_COMMIT_BRANCH", "CI_COMMIT_MESSAGE": "DRONE_COMMIT_MESSAGE",
	"CI_COMMIT_REF": "DRONE_COMMIT_REF", "CI_COMMIT_SHA": "DRONE_COMMIT_SHA",
	"CI_PARENT_BUILD_NUMBER": "DRONE_BUILD_PARENT", "CI_REMOTE_URL": "DRONE_REMOTE_URL",
	"CI_REPO": "DRONE_REPO", "CI_REPO_LINK": "DRONE_REPO_LINK", "CI_REPO_NAME": "DRONE_REPO",
	"CI_REPO_PRIVATE": "DRONE_REPO_PRIVATE", "CI_REPO_REMOTE": "DRONE_REMOTE_URL",
}

// legacyToDrop names the fewest legacy aliases, in LegacyAliases order,
// whose removal brings c within budget; nil when removing them all
// would not. Only a true copy goes: a plain value, set once, equal to
// its DRONE_* twin's plain value. An alias the author set in the YAML
// (a different value, or a secret) is theirs and stays.
func legacyToDrop(c *corev1.Container, budget int) []string {
	over := len(c.Env) - budget
	count := map[string]int{}
	plain := map[string]string{}
	for _, e := range c.Env {
		count[e.Name]++
		if e.ValueFrom == nil {
			plain[e.Name] = e.Value
		}
	}
	copyOfTwin := func(alias string) bool {
		v, ok := plain[alias]
		tv, tok := plain[legacyTwin[alias]]
		return ok && tok && count[alias] == 1 && count[legacyTwin[alias]] == 1 && v == tv
	}
	var names []string
	for _, n := range LegacyAliases {
		if len(names) == over {
			break
		}
		if copyOfTwin(n) {
			names = append(names, n)
		}
	}
	if len(names) < over {
		return nil
	}
	return names
}

// DefaultOptions are ECI's limits and the converter's default selector.
func DefaultOptions() Options {
	return Options{
		Budget:             92,
		NodeSelector:       map[string]string{"type": "virtual-kubelet"},
		MaxContainers:      20,
		MaxVolumes:         20,
		MaxAnnotationBytes: 256<<10 - 16<<10, // room for the runner's status annotations
		LiveStatus:         true,
	}
}

// ContainerReport is what happened to one container over the budget.
type ContainerReport struct {
	Container string   `json:"container"`
	Step      string   `json:"step,omitempty"`
	Before    int      `json:"before"`
	After     int      `json:"after"`
	Loader    string   `json:"loader,omitempty"` // shell or static
	Key       string   `json:"key,omitempty"`
	Moved     []string `json:"moved,omitempty"`
	// Dropped are legacy CI_* aliases removed (UnknownImages
	// drop-legacy) from a container whose entrypoint is unknown.
	Dropped []string `json:"dropped,omitempty"`
	// Problem says why a container over the budget was left as it is.
	Problem string `json:"problem,omitempty"`
	// Status marks a container within the budget wrapped in the static
	// loader only so that its plugin reads the runner's live status
	// (godotenvUnreadable); with a Problem, it was not.
	Status bool `json:"status,omitempty"`
}

// Warning is the line a container with a Problem gets in the API
// response and the log.
func (c ContainerReport) Warning(budget int) string {
	if c.Status {
		return fmt.Sprintf("container %s (step %q): plugins built with godotenv v1.5 cannot read the runner's live build status from /run/drone/env (annotation keys with \"/\" or \"-\"), and the static loader cannot bring it: %s", c.Container, c.Step, c.Problem)
	}
	return fmt.Sprintf("container %s (step %q) keeps %d env vars, over the budget of %d: %s", c.Container, c.Step, c.Before, budget, c.Problem)
}

// Report is what Mutate did.
type Report struct {
	// Skipped says why the pod is not the webhook's; empty when it is.
	Skipped    string            `json:"skipped,omitempty"`
	Containers []ContainerReport `json:"containers,omitempty"`
	// NoLoader are the containers statusPlan would have wrapped for the
	// live build status had a loader image been configured: a setting
	// of the service, not of the pod, so it is one line and one warning
	// for the pod (StatusWarning) rather than a Problem per container.
	NoLoader []string `json:"noLoader,omitempty"`
	// Outcome is how Review answered, as the metrics count it (one of
	// metrics.Review*); Mutate alone leaves it empty.
	Outcome string `json:"-"`
}

// StatusWarning is the pod's one warning for NoLoader; empty without.
func (r Report) StatusWarning() string {
	if len(r.NoLoader) == 0 {
		return ""
	}
	return fmt.Sprintf("no live build status for plugins built with godotenv v1.5 in containers %s: no loader image is configured (DRONE_ECI_WEBHOOK_LOADER_IMAGE; DRONE_ECI_WEBHOOK_LIVE_STATUS=false turns this off)", strings.Join(r.NoLoader, ", "))
}

// Changed says whether the pod was mutated.
func (r Report) Changed() bool {
	for _, c := range r.Containers {
		if c.Problem == "" {
			return true
		}
	}
	return false
}

// Problems lists the containers left over the budget.
func (r Report) Problems() []ContainerReport {
	var out []ContainerReport
	for _, c := range r.Containers {
		if c.Problem != "" {
			out = append(out, c)
		}
	}
	return out
}

// String is the report as one line per container.
func (r Report) String() string {
	if r.Skipped != "" {
		return "skipped: " + r.Skipped
	}
	var lines []string
	for _, c := range r.Containers {
		who := c.Container
		if c.Step != "" {
			who = fmt.Sprintf("%s (step %q)", c.Container, c.Step)
		}
		switch {
		case c.Problem != "" && c.Status:
			lines = append(lines, fmt.Sprintf("kept: %s: no live build status for godotenv v1.5 plugins: %s", who, c.Problem))
			continue
		case c.Problem != "":
			lines = append(lines, fmt.Sprintf("kept: %s: %d env vars over the budget: %s", who, c.Before, c.Problem))
			continue
		case c.Status:
			lines = append(lines, fmt.Sprintf("wrapped: %s: static loader for the live build status (%s)", who, c.Key))
			continue
		}
		if len(c.Dropped) > 0 {
			lines = append(lines, fmt.Sprintf("dropped: %s: %d → %d env vars, legacy aliases of DRONE_* variables removed (its entrypoint is unknown): %s", who, c.Before, c.After, strings.Join(c.Dropped, " ")))
			continue
		}
		lines = append(lines, fmt.Sprintf("moved: %s: %d → %d env vars, %d to %s (%s loader): %s", who, c.Before, c.After, len(c.Moved), c.Key, c.Loader, strings.Join(c.Moved, " ")))
	}
	if len(r.NoLoader) > 0 {
		lines = append(lines, "kept: "+strings.Join(r.NoLoader, ", ")+": no live build status for godotenv v1.5 plugins: no loader image is configured")
	}
	if len(lines) == 0 {
		return "every container within the budget"
	}
	return strings.Join(lines, "\n")
}

// Ours says whether pod is one the webhook acts on: created by the
// Drone Kubernetes runner (label io.drone=true) for the ECI virtual
// node (the converter's node selector), and not already mutated.
func Ours(pod *corev1.Pod, o Options) string {
	if pod.Labels["io.drone"] != "true" {
		return "not a Drone runner pod (no label io.drone=true)"
	}
	for k, v := range o.NodeSelector {
		if pod.Spec.NodeSelector[k] != v {
			return fmt.Sprintf("not for the virtual node (node selector %s=%s missing)", k, v)
		}
	}
	if _, done := pod.Annotations[ReportAnnotation]; done {
		return "already mutated (annotation " + ReportAnnotation + ")"
	}
	return ""
}

// plan is one container's mutation, before it is applied.
type plan struct {
	index  int
	report ContainerReport
	static *Entrypoint
	// exec is a recorded ENTRYPOINT + CMD run through the shell loader
	// (an image with /bin/sh, a service): no init container.
	exec    *Entrypoint
	moved   map[string]bool
	content string
	// dropped are the legacy aliases removed instead of moved.
	dropped map[string]bool
}

// Mutate returns a mutated copy of pod in which every container fits
// the budget where it can, and the report. The input is not modified.
//
// For each container over the budget, plain-valued env vars move into
// an env file (envfile's annotation format) carried in a pod
// annotation, which the runner's downward-API volume projects into
// /run/drone/env in every container; the container loads it before its
// command, so its process sees exactly the variables it saw before.
// Command steps get the shell loader in front of the runner's script;
// containers with no command whose step's entrypoint the converter
// recorded get the shell loader in front of ENTRYPOINT + CMD when the
// image has a shell (services), else the static loader. Move order:
// see movable.
func Mutate(pod *corev1.Pod, o Options) (*corev1.Pod, Report) {
	out := pod.DeepCopy()
	var r Report
	if why := Ours(pod, o); why != "" {
		r.Skipped = why
		return out, r
	}
	entrypoints := map[string]Entrypoint{}
	entrypointsErr := ""
	if raw, ok := pod.Annotations[EntrypointsAnnotation]; ok {
		if err := json.Unmarshal([]byte(raw), &entrypoints); err != nil {
			entrypointsErr = fmt.Sprintf("annotation %s unreadable: %v", EntrypointsAnnotation, err)
		}
	}

	var plans []*plan
	statusUnreadable := godotenvUnreadable(pod.Annotations)
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if len(c.Env) <= o.Budget {
			if statusUnreadable && o.LiveStatus {
				switch p := statusPlan(pod, i, entrypoints, entrypointsErr, o); {
				case p == nil:
				case o.LoaderImage == "":
					r.NoLoader = append(r.NoLoader, p.report.Container)
				default:
					plans = append(plans, p)
				}
			}
			continue
		}
		p := &plan{index: i, report: ContainerReport{Container: c.Name, Step: stepName(pod, i), Before: len(c.Env), After: len(c.Env)}}
		plans = append(plans, p)
		shell := slices.Equal(c.Command, []string{runnerShell, "-c"}) && slices.Equal(c.Args, []string{runnerScript})
		switch {
		case shell:
			p.report.Loader = "shell"
		case len(c.Command) == 0:
			e, ok := entrypoints[p.report.Step]
			switch {
			case entrypointsErr != "":
				p.report.Problem = entrypointsErr
			case !ok || len(e.Entrypoint) == 0:
				p.report.Problem = "no shell command, and the converter recorded no entrypoint for this step's image"
				if o.UnknownImages != "drop-legacy" {
					break
				}
				if names := legacyToDrop(c, o.Budget); names != nil {
					p.report.Problem, p.report.Dropped, p.report.After = "", names, len(c.Env)-len(names)
					p.dropped = map[string]bool{}
					for _, n := range names {
						p.dropped[n] = true
					}
				}
			case e.Shell:
				p.report.Loader = "shell"
				p.exec = &e
			case o.LoaderImage == "":
				p.report.Problem = "no shell command, and no loader image is configured (DRONE_ECI_WEBHOOK_LOADER_IMAGE)"
			default:
				p.report.Loader = "static"
				p.static = &e
			}
		default:
			p.report.Problem = fmt.Sprintf("a command the webhook does not know (%q): only the runner's own shell script is wrapped", append(slices.Clone(c.Command), c.Args...))
		}
		if p.report.Problem != "" || p.dropped != nil {
			continue
		}
		vars, why := movable(c, len(c.Env)-o.Budget)
		if why != "" {
			p.report.Problem = why
			continue
		}
		p.moved = map[string]bool{}
		for _, v := range vars {
			p.moved[v.Name] = true
			p.report.Moved = append(p.report.Moved, v.Name)
		}
		sort.Slice(vars, func(a, b int) bool { return vars[a].Name < vars[b].Name })
		p.content = envfile.AnnotationScript(vars)
		p.report.Key = envfile.Key(p.content)
		p.report.After = len(c.Env) - len(vars)
	}

	// ECI's per-pod limits, with the loader's init container and volume.
	static := slices.ContainsFunc(plans, func(p *plan) bool { return p.static != nil && p.report.Problem == "" })
	if static {
		containers := len(pod.Spec.Containers) + len(pod.Spec.InitContainers) + 1
		volumes := len(pod.Spec.Volumes) + 1
		problem := ""
		switch {
		case containers > o.MaxContainers:
			problem = fmt.Sprintf("the static loader's init container would make %d containers (ECI allows %d)", containers, o.MaxContainers)
		case volumes > o.MaxVolumes:
			problem = fmt.Sprintf("the static loader's volume would make %d volumes (ECI allows %d)", volumes, o.MaxVolumes)
		}
		if problem != "" {
			for _, p := range plans {
				if p.static != nil && p.report.Problem == "" {
					p.report.Problem, p.report.After = problem, p.report.Before
				}
			}
			static = false
		}
	}

	// The annotations, shared by content, within the pod's limit.
	files := map[string]string{}
	for _, p := range plans {
		if p.report.Problem == "" && p.dropped == nil {
			files[p.report.Key] = p.content
		}
	}
	size := 0
	for k, v := range pod.Annotations {
		size += len(k) + len(v)
	}
	for k, v := range files {
		size += len(k) + len(v)
	}
	if size > o.MaxAnnotationBytes && len(files) > 0 {
		for _, p := range plans {
			if p.report.Problem == "" && p.dropped == nil {
				p.report.Problem = fmt.Sprintf("the env files would bring the pod's annotations to %d bytes (limit %d)", size, o.MaxAnnotationBytes)
				p.report.After = p.report.Before
			}
		}
		files, static = nil, false
	}

	// Apply.
	for _, p := range plans {
		r.Containers = append(r.Containers, p.report)
		if p.report.Problem != "" {
			continue
		}
		c := &out.Spec.Containers[p.index]
		if p.dropped != nil {
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return p.dropped[e.Name] })
			continue
		}
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return p.moved[e.Name] })
		if p.exec != nil {
			// sh -c 'LOADER; STATUS; exec "$0" "$@"' ENTRYPOINT...
			// CMD...: the container's own args (a YAML command) replace
			// the CMD, as they would the image's. STATUS sets the
			// runner's live status as the static loader does, for an
			// entrypoint that reads it with godotenv. Under the
			// placeholder image /bin/sh is its sleeper, which ignores its
			// arguments.
			args := c.Args
			if len(args) == 0 {
				args = escapeAll(p.exec.Cmd)
			}
			c.Command = []string{runnerShell, "-c"}
			c.Args = append(append([]string{escape(envfile.AnnotationLoader(p.report.Key) + "\n" + envfile.StatusLoader() + "\n" + execArgs)}, escapeAll(p.exec.Entrypoint)...), args...)
			continue
		}
		if p.static == nil {
			c.Args = []string{escape(envfile.AnnotationLoader(p.report.Key)) + "\n" + runnerScript}
			continue
		}
		c.Command = append([]string{LoaderPath, "run", "--key", p.report.Key, "--"}, escapeAll(p.static.Entrypoint)...)
		if len(c.Args) == 0 {
			c.Args = escapeAll(p.static.Cmd)
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: LoaderVolume, MountPath: LoaderDir, ReadOnly: true})
	}
	if static {
		out.Spec.Volumes = append(out.Spec.Volumes, corev1.Volume{Name: LoaderVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{
			Name:            LoaderInit,
			Image:           o.LoaderImage,
			Command:         []string{LoaderInImage, "install", LoaderDir},
			ImagePullPolicy: corev1.PullIfNotPresent,
			VolumeMounts:    []corev1.VolumeMount{{Name: LoaderVolume, MountPath: LoaderDir}},
		})
		if o.LoaderPullSecret != "" && !slices.ContainsFunc(out.Spec.ImagePullSecrets, func(r corev1.LocalObjectReference) bool { return r.Name == o.LoaderPullSecret }) {
			out.Spec.ImagePullSecrets = append(out.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: o.LoaderPullSecret})
		}
	}
	if len(r.Containers) > 0 || len(r.NoLoader) > 0 {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		for k, v := range files {
			out.Annotations[k] = v
		}
		out.Annotations[ReportAnnotation] = r.String()
	}
	return out, r
}

// godotenvUnreadable says whether godotenv v1.5, which many plugins use
// to read the runner's live status from /run/drone/env, refuses the
// file the kubelet makes of these annotations: it does when any key
// holds a byte other than letters, digits, "_" and "." (ECI's
// k8s.aliyun.com/... keys do).
func godotenvUnreadable(annotations map[string]string) bool {
	for k := range annotations {
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
				return true
			}
		}
	}
	return false
}

// statusPlan wraps a container without a shell command, within the
// budget, in the static loader with an empty env file, so that a plugin
// built with godotenv v1.5 reads the runner's live status
// (envfile.StatusKeys), which the loader sets from /run/drone/env as
// godotenv.Overload would have. Nil for containers with a command (the
// runner's script), the clone and images with a shell (services such as
// redis), which read no status through godotenv. Without a loader image
// the plan is only a name for Report.NoLoader.
func statusPlan(pod *corev1.Pod, i int, entrypoints map[string]Entrypoint, entrypointsErr string, o Options) *plan {
	c := &pod.Spec.Containers[i]
	step := stepName(pod, i)
	e, ok := entrypoints[step]
	if len(c.Command) != 0 || step == CloneStep || step == "" || ok && e.Shell {
		return nil
	}
	p := &plan{index: i, report: ContainerReport{Container: c.Name, Step: step, Before: len(c.Env), After: len(c.Env), Status: true}}
	switch {
	case entrypointsErr != "":
		p.report.Problem = entrypointsErr
	case !ok || len(e.Entrypoint) == 0:
		p.report.Problem = "the converter recorded no entrypoint for this step's image"
	case o.LoaderImage == "":
		p.report.Problem = "no loader image is configured (DRONE_ECI_WEBHOOK_LOADER_IMAGE)"
	default:
		p.report.Loader = "static"
		p.static = &e
		p.moved = map[string]bool{}
		p.content = envfile.AnnotationScript(nil)
		p.report.Key = envfile.Key(p.content)
	}
	return p
}

// stepName is the step a container runs: its DRONE_STEP_NAME, or
// "clone" for the runner's clone container (the first, without one).
func stepName(pod *corev1.Pod, i int) string {
	c := &pod.Spec.Containers[i]
	for _, e := range c.Env {
		if e.Name == "DRONE_STEP_NAME" && e.ValueFrom == nil {
			return e.Value
		}
	}
	if i == 0 && len(c.Command) == 0 {
		return CloneStep
	}
	return ""
}

// movable picks need variables of c to move, in the documented order:
//
//  1. the legacy CI_* aliases, which duplicate DRONE_* values;
//  2. the runner's DRONE_* build variables;
//  3. everything else (the YAML's environment, PLUGIN_* settings);
//
// by name within each group. Only plain values (no valueFrom) whose
// name occurs once and that sh can assign move; never the names
// envfile.Keep lists or PATH (the loaders read them before they load);
// never a name some value or the command refers to as $(NAME), which
// the kubelet looks up in the container env. A value moves as the
// kubelet expands it (kubeexpand.Resolve, in the container's order), and
// only when that is certain from the pod: not when it refers to a
// secret, a field or a possible service-link variable. It says why
// when fewer than need qualify.
func movable(c *corev1.Container, need int) ([]envfile.Var, string) {
	count := make(map[string]int, len(c.Env))
	entries := make([]kubeexpand.Entry, len(c.Env))
	var referenced map[string]bool
	refer := func(s string) {
		for _, name := range kubeexpand.Refs(s) {
			if referenced == nil {
				referenced = map[string]bool{}
			}
			referenced[name] = true
		}
	}
	for _, s := range c.Command {
		refer(s)
	}
	for _, s := range c.Args {
		refer(s)
	}
	for i, e := range c.Env {
		count[e.Name]++
		entries[i] = kubeexpand.Entry{Name: e.Name, Value: e.Value, Known: e.ValueFrom == nil}
		refer(e.Value)
	}
	values, certain := kubeexpand.Resolve(entries, len(c.EnvFrom) > 0)
	var candidates []envfile.Var
	for i, e := range c.Env {
		if e.ValueFrom != nil || count[e.Name] > 1 || envfile.Keep(e.Name) || e.Name == "PATH" ||
			!certain[i] || referenced[e.Name] {
			continue
		}
		candidates = append(candidates, envfile.Var{Name: e.Name, Value: values[i]})
	}
	group := func(name string) int {
		switch {
		case strings.HasPrefix(name, "CI_"):
			return 0
		case strings.HasPrefix(name, "DRONE_"):
			return 1
		}
		return 2
	}
	sort.SliceStable(candidates, func(a, b int) bool {
		ga, gb := group(candidates[a].Name), group(candidates[b].Name)
		if ga != gb {
			return ga < gb
		}
		return candidates[a].Name < candidates[b].Name
	})
	if len(candidates) < need {
		return nil, fmt.Sprintf("only %d of its env vars can move (secret and field refs, repeated names, names the shell or loader reads first, $(VAR) references and what they refer to stay), %d must", len(candidates), need)
	}
	return candidates[:need], ""
}

// escape writes s so that Kubernetes' $(VAR) expansion of command and
// args gives s back: "$$" is a literal "$".
func escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func escapeAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = escape(s)
	}
	return out
}
