// Package plugin is the Drone-facing side of the service: it decides
// which documents of a config opted in, runs the transforms on them and
// returns the rewritten config, or nothing when nothing changed.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	yamlv3 "gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// Annotation keys a pipeline author may set besides the opt-in key.
const (
	// DisableAnnotation lists transforms to skip for one pipeline,
	// comma-separated, e.g. "kaniko,sizing".
	DisableAnnotation = "drone-convert-eci/disable"
	// ReportAnnotation carries the conversion report into the pod, where
	// the author can read it (kubectl, or /run/drone in any step).
	ReportAnnotation = "drone-convert-eci/report"
)

// Input is one conversion request, from the server or the CLI.
type Input struct {
	Config []byte
	// Repo is the repository slug, owner/name.
	Repo      string
	Trusted   bool
	Protected bool
	// OptInAll treats every kubernetes pipeline as listed (CLI --opt-in);
	// an explicit opt-out annotation still wins.
	OptInAll bool
	// MigrateDocker treats the repo as listed in
	// DRONE_ECI_MIGRATE_DOCKER_REPOS (CLI --migrate-docker): its
	// Docker-runner pipelines are migrated and converted.
	MigrateDocker bool
	// Event is the build event, empty when unknown (the CLI).
	Event string
	// Context bounds the Kubernetes API calls of the secret env carrier;
	// nil means context.Background().
	Context context.Context
	// DryRun converts without side effects: the Secrets the secret env
	// carrier would create are only named in the report (shadow mode,
	// the CLI).
	DryRun bool
}

// Outcome says what happened to one pipeline document.
type Outcome struct {
	Document int
	Pipeline string
	// Converted is true when the pipeline was rewritten.
	Converted bool
	// Reason says why a kubernetes pipeline was left alone.
	Reason string
	// Disabled lists the transforms the pipeline switched off.
	Disabled []string
	// Applied lists the transforms that changed the pipeline.
	Applied []string
	Report  transform.Report
	// Kept is true for a Docker pipeline that cannot move to ECI, left
	// as it was for the Docker runner (DRONE_ECI_MIGRATE_UNMOVABLE=keep);
	// Reason says why. A Docker pipeline has no pod to carry a report, so
	// the service log, the metrics and the CLI say so.
	Kept bool
	// LookupFailures name the registry lookups that failed (image,
	// registry, why); the conversion went on without those facts.
	LookupFailures []string
}

// Result is the answer for one config.
type Result struct {
	// Config is the rewritten config, nil when nothing changed.
	Config []byte
	// Skipped says why the whole config was left alone, if it was.
	Skipped  string
	Outcomes []Outcome
	// Operator holds notes for the operator about the whole config
	// (each pipeline's are in its report).
	Operator []transform.OperatorNote
	// DockerPipelines counts the Docker-runner pipelines left alone
	// because the repo does not migrate them.
	DockerPipelines int
}

// skip is a Result that leaves the config alone for a reason of this
// service's settings: the reason without the setting, the setting in a
// note for the operator.
func skip(reason, setting, note string) Result {
	return Result{Skipped: reason, Operator: []transform.OperatorNote{{Setting: setting, Text: note}}}
}

// ErrHostile wraps refusals of configs that are too costly to parse.
var ErrHostile = errors.New("config refused")

// Converter is the pure conversion: configuration in, config out.
type Converter struct {
	cfg        config.Config
	limits     yamldoc.Limits
	transforms []transform.Transform
	migrate    transform.MigrateDocker
	secrets    SecretStore
	resolver   ImageResolver
}

// NewConverter builds the transforms the configuration asks for.
func NewConverter(cfg config.Config) *Converter {
	tolerations := []transform.Toleration{}
	if cfg.TolerationKey != "" {
		tolerations = append(tolerations, transform.Toleration{
			Key:      cfg.TolerationKey,
			Operator: cfg.TolerationOperator,
			Value:    cfg.TolerationValue,
			Effect:   cfg.TolerationEffect,
		})
	}
	return &Converter{
		cfg: cfg,
		limits: yamldoc.Limits{
			MaxDocuments:     cfg.MaxDocuments,
			MaxDepth:         cfg.MaxDepth,
			MaxExpandedNodes: cfg.MaxExpandedNodes,
			AliasRatio:       cfg.AliasRatio,
		},
		migrate: transform.MigrateDocker{RunnerLabels: cfg.MigrateRunnerLabels},
		transforms: []transform.Transform{
			kanikoTransform(cfg),
			imagesTransform(cfg),
			entrypointsTransform(cfg),
			envTransform(cfg, false),
			sizingTransform(cfg),
			transform.Scheduling{NodeSelector: cfg.NodeSelector, Tolerations: tolerations},
		},
	}
}

// Convert converts one config. Documents it does not rewrite come back
// byte for byte; an error names the document, pipeline and field.
func (c *Converter) Convert(in Input) (Result, error) {
	// Limits first, whatever the repo asked for: the Drone server parses
	// this config right after us with a library that expands every alias.
	docs, err := yamldoc.Parse(in.Config, c.limits)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrHostile, err)
		if limit := (*yamldoc.LimitError)(nil); errors.As(err, &limit) {
			err = transform.WithNote(err, limit.Setting, "a config over the limit was refused (a hostile config, or a limit too low)")
		}
		return Result{}, err
	}
	if !c.cfg.Enabled {
		return skip("conversion is switched off on this service", "DRONE_ECI_ENABLED", "false: nothing is converted"), nil
	}
	if matchAny(c.cfg.DenyRepos, in.Repo) {
		return skip(fmt.Sprintf("repo %s is not converted by this service (deny list)", in.Repo), "DRONE_ECI_DENY_REPOS", "lists repo "+in.Repo), nil
	}
	listed := in.OptInAll || matchAny(c.cfg.Repos, in.Repo)
	migrating := in.MigrateDocker || matchAny(c.cfg.MigrateDockerRepos, in.Repo)

	var result Result
	var chosen []*yamldoc.Document
	var headers []header
	var migrate []bool
	for _, doc := range docs {
		if doc.Root == nil {
			continue
		}
		var h header
		if err := readHeader(doc, &h); err != nil {
			if isKubernetesPipeline(doc) {
				return Result{}, fmt.Errorf("document %d: %w", doc.Number, err)
			}
			continue // Drone will report its own error for this one
		}
		// The Docker runner takes `type: docker` and untyped pipelines
		// (drone-runner-docker engine/resource/parser.go match).
		docker := h.Kind == "pipeline" && (h.Type == "docker" || h.Type == "")
		if docker && !migrating {
			result.DockerPipelines++
		}
		if h.Kind != "pipeline" || (h.Type != "kubernetes" && !(docker && migrating)) {
			continue
		}
		opted, reason, err := c.optedIn(h, listed || docker)
		if err != nil {
			return Result{}, fmt.Errorf("document %d (pipeline %q): %w", doc.Number, h.Name, err)
		}
		if !opted {
			result.Outcomes = append(result.Outcomes, Outcome{Document: doc.Number, Pipeline: h.Name, Reason: reason})
			continue
		}
		chosen = append(chosen, doc)
		headers = append(headers, h)
		migrate = append(migrate, docker)
	}
	if len(chosen) == 0 {
		return result, nil
	}
	if in.Protected && !c.cfg.ConvertProtected {
		// The server checks the signature document against the converted
		// bytes; rewriting would hold every build for approval.
		result.Skipped = fmt.Sprintf("repo %s is protected: its signature covers the config as written, so it is left unchanged", in.Repo)
		result.Operator = append(result.Operator, transform.OperatorNote{Setting: "DRONE_ECI_CONVERT_PROTECTED", Text: "true would convert protected repo " + in.Repo + " (each build then waits for approval)"})
		return result, nil
	}
	// One deadline for every registry lookup of the config, however
	// many pipelines it has, started by the first lookup.
	lookups := &lookupDeadline{parent: in.Context}
	defer lookups.cancel()
	for i, doc := range chosen {
		outcome, err := c.convertPipeline(doc, headers[i], in, migrate[i], lookups)
		var unmovable unmovableError
		if errors.As(err, &unmovable) && c.cfg.MigrateUnmovable != config.MigrateFail {
			// Its document is not marked edited, so it goes back as
			// written, whatever the transforms did to its tree.
			why := unmovable.err.Error()
			outcome = Outcome{Document: doc.Number, Pipeline: headers[i].Name, Kept: true, Reason: why}
			outcome.Report.Warn("kept on the Docker runner, unchanged: %s", why)
			outcome.Report.ForOperator("DRONE_ECI_MIGRATE_UNMOVABLE", "keep left this Docker pipeline on the Docker runner; fail would refuse the config instead")
			err = nil
		}
		if err != nil {
			return Result{}, fmt.Errorf("document %d: %w", doc.Number, err)
		}
		result.Outcomes = append(result.Outcomes, outcome)
	}
	if !anyEdited(docs) {
		return result, nil
	}
	out, err := yamldoc.Encode(docs)
	if err != nil {
		return Result{}, err
	}
	result.Config = out
	return result, nil
}

// unmovableError is why a Docker pipeline cannot move to ECI: the
// migration or a transform refused it.
type unmovableError struct{ err error }

func (e unmovableError) Error() string { return e.err.Error() }
func (e unmovableError) Unwrap() error { return e.err }

func (c *Converter) convertPipeline(doc *yamldoc.Document, h header, in Input, migrate bool, lookups *lookupDeadline) (Outcome, error) {
	outcome := Outcome{Document: doc.Number, Pipeline: h.Name}
	p, err := c.transformPipeline(doc, h, in, migrate, &outcome, lookups)
	if err != nil {
		if migrate {
			return outcome, unmovableError{err}
		}
		return outcome, err
	}
	outcome.Report = p.Report
	if err := c.ensureSecrets(in, p, &outcome.Report); err != nil {
		return outcome, err
	}
	if len(p.Report.Changes) == 0 {
		// Nothing to do (already converted, or every transform off): the
		// document keeps its bytes, which is what makes converting twice
		// the same as converting once.
		outcome.Reason = "already runs on ECI: nothing to change"
		return outcome, nil
	}
	if err := transform.Annotate(p, ReportAnnotation, shortReport(p.Report)); err != nil {
		return outcome, err
	}
	doc.Edited = true
	outcome.Converted = true
	return outcome, nil
}

// transformPipeline runs the migration, when asked, and the transforms.
func (c *Converter) transformPipeline(doc *yamldoc.Document, h header, in Input, migrate bool, outcome *Outcome, lookups *lookupDeadline) (*transform.Pipeline, error) {
	body := doc.Body()
	if body == nil || body.Kind != yamlv3.MappingNode {
		return nil, fmt.Errorf("pipeline %q: expected a mapping at the top of the document", h.Name)
	}
	// One walk checks the document and records it as parsed, so that
	// only what the transforms change is re-encoded.
	hazards := doc.BeginEdit()
	if dup := hazards.Duplicate; dup != nil {
		return nil, fmt.Errorf("pipeline %q: line %d: key %q is written twice in one mapping; Drone keeps the last one silently, so remove the other before converting", h.Name, doc.FileLine(dup), dup.Value)
	}
	if merge, key := hazards.Merge, hazards.MergeKey; merge != nil {
		return nil, fmt.Errorf("pipeline %q: line %d: the merge key (<<) comes after %q and its anchor sets %q too; Drone's YAML library then takes the anchor's value, the YAML spec the key's: move the merge key first (or drop one %q) so both agree", h.Name, doc.FileLine(merge), key, key, key)
	}
	disabled, err := c.disabled(h)
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: %w", h.Name, err)
	}
	p := &transform.Pipeline{Name: h.Name, Body: body, Trusted: in.Trusted, Event: in.Event}
	if migrate {
		// First, so that every transform after it sees the kubernetes
		// pipeline the kube runner will read. It is not switchable: a
		// Docker pipeline is either migrated whole or left alone.
		if err := c.migrate.Apply(p); err != nil {
			return nil, err
		}
		// The opt-in annotation makes the output say what it is, and
		// converting it again a no-op.
		if err := transform.Annotate(p, c.cfg.OptInAnnotation, "true"); err != nil {
			return nil, err
		}
		outcome.Applied = append(outcome.Applied, "migrate")
	}
	for _, t := range c.transforms {
		if disabled[t.Name()] {
			outcome.Disabled = append(outcome.Disabled, t.Name())
			continue
		}
		if c.resolver != nil && p.Registry == nil && (t.Name() == "images" || t.Name() == "entrypoints") {
			outcome.LookupFailures = c.lookUpImages(lookups.context(c.resolver.Timeout()), p, disabled)
		}
		before := len(p.Report.Changes)
		if err := t.Apply(p); err != nil {
			return nil, err
		}
		if len(p.Report.Changes) > before {
			outcome.Applied = append(outcome.Applied, t.Name())
		}
	}
	return p, nil
}

// optedIn applies the opt-in rules: the pipeline's annotation decides
// when present ("false" opts out even a listed repo); otherwise the
// server-side repo list does.
func (c *Converter) optedIn(h header, listed bool) (bool, string, error) {
	value, ok := h.Metadata.Annotations[c.cfg.OptInAnnotation]
	if !ok {
		if listed {
			return true, "", nil
		}
		return false, fmt.Sprintf("not opted in (no %s annotation, repo not listed)", c.cfg.OptInAnnotation), nil
	}
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true":
		return true, "", nil
	case "false":
		return false, fmt.Sprintf("opted out (%s: %q)", c.cfg.OptInAnnotation, value), nil
	}
	return false, "", fmt.Errorf("metadata.annotations.%s: %q is neither \"true\" nor \"false\"", c.cfg.OptInAnnotation, value)
}

// disabled reads the per-pipeline switch and refuses names it does not
// know, so a typo does not silently leave a transform on.
func (c *Converter) disabled(h header) (map[string]bool, error) {
	value := h.Metadata.Annotations[DisableAnnotation]
	off := map[string]bool{}
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !c.known(name) {
			return nil, fmt.Errorf("metadata.annotations.%s: unknown transform %q (known: %s)", DisableAnnotation, name, strings.Join(c.names(), ", "))
		}
		off[name] = true
	}
	return off, nil
}

func (c *Converter) known(name string) bool {
	for _, t := range c.transforms {
		if t.Name() == name {
			return true
		}
	}
	return false
}

func (c *Converter) names() []string {
	names := make([]string, len(c.transforms))
	for i, t := range c.transforms {
		names[i] = t.Name()
	}
	return names
}

func matchAny(globs []string, repo string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, repo); ok {
			return true
		}
	}
	return false
}

func anyEdited(docs []*yamldoc.Document) bool {
	for _, d := range docs {
		if d.Edited {
			return true
		}
	}
	return false
}

// isKubernetesPipeline is a lenient check used only to decide whether a
// document Drone's YAML library cannot read is one of ours.
func isKubernetesPipeline(doc *yamldoc.Document) bool {
	body := doc.Body()
	if body == nil {
		return false
	}
	var kind, typ string
	for i := 0; i+1 < len(body.Content); i += 2 {
		switch body.Content[i].Value {
		case "kind":
			kind = body.Content[i+1].Value
		case "type":
			typ = body.Content[i+1].Value
		}
	}
	return kind == "pipeline" && typ == "kubernetes"
}

// maxReportAnnotation bounds the report annotation. It is written on one
// line of YAML, and the runner reads configs line by line with a 64 KiB
// buffer, silently dropping everything after a longer line; the whole
// report is in the dry-run CLI's output (the service's log cuts it too,
// at a larger size: see logReport).
const maxReportAnnotation = 4 << 10

func shortReport(r transform.Report) string {
	const more = " … (cut; drone-convert-eci convert prints the whole report)"
	report, whole := r.Head(maxReportAnnotation)
	if whole {
		return report
	}
	cut := maxReportAnnotation - len(more)
	for cut > 0 && !utf8.RuneStart(report[cut]) {
		cut--
	}
	return report[:cut] + more
}
