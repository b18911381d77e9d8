// Package transform holds the pure rewrites that make one opted-in
// kubernetes pipeline run on ECI. Each works on the pipeline's yaml.v3
// tree, in place, and records what it did in the pipeline's report; none
// does I/O. One file per concern.
package transform

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// Pipeline is one kubernetes pipeline document being rewritten.
type Pipeline struct {
	// Name is the pipeline's name, for messages.
	Name string
	// Body is the document's top-level mapping; transforms edit it.
	Body *yaml.Node
	// Trusted is the repo's trusted flag: the runner's linter allows
	// secret, config_map, claim and host volumes only for trusted repos.
	Trusted bool
	// Event is the build event ("push", "pull_request", "tag"...), empty
	// when unknown; the env transform counts the runner's variables for
	// it.
	Event string
	// EnvSecrets are Secrets the converted pipeline mounts, which the
	// plugin must create before answering (the transform does no I/O).
	EnvSecrets []EnvSecret
	// Registry holds what registries said about the pipeline's images,
	// by ImageKey; nil when lookups are off (RegistryQueries says which
	// images are asked about).
	Registry map[string]ImageFacts
	// Report collects what was changed, dropped or refused.
	Report Report
	// envOverBudget lists the containers the env transform left over
	// ECI's env var limit, for one operator note.
	envOverBudget []string
}

// Transform rewrites one pipeline. It returns an error, naming the
// pipeline, step and field, when the pipeline cannot run on ECI.
type Transform interface {
	// Name is how pipeline authors switch the transform off.
	Name() string
	Apply(p *Pipeline) error
}

// Report is what a transform tells the two people who read it. Changes
// and warnings are for the pipeline author: what changed in their
// pipeline and what they can change in their YAML; they travel in a pod
// annotation and in the dry-run CLI's output, and never name a setting
// of this service, which the author cannot change. Operator notes say
// which setting of the service would help; they go to the service's log
// and metrics and to the dry-run CLI, never into the pod.
type Report struct {
	Changes  []string
	Warnings []string
	Operator []OperatorNote
}

// OperatorNote is one note for the service's operator.
type OperatorNote struct {
	// Setting is the DRONE_ECI_ variable the note is about; it labels
	// the note's metric, so it is always one of a fixed set.
	Setting string
	Text    string
}

func (n OperatorNote) String() string { return n.Setting + ": " + n.Text }

// Changed records one change.
func (r *Report) Changed(format string, args ...any) {
	r.Changes = append(r.Changes, fmt.Sprintf(format, args...))
}

// Warn records something the author should look at.
func (r *Report) Warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// ForOperator records which setting would help, for the operator.
func (r *Report) ForOperator(setting, format string, args ...any) {
	r.Operator = append(r.Operator, OperatorNote{Setting: setting, Text: fmt.Sprintf(format, args...)})
}

// noteError is a refusal, written for the pipeline author, that carries
// a note for the operator.
type noteError struct {
	err  error
	note OperatorNote
}

func (e *noteError) Error() string { return e.err.Error() }
func (e *noteError) Unwrap() error { return e.err }

// WithNote attaches an operator note to an author's refusal; wrapping
// the result keeps the note (OperatorNotes finds it).
func WithNote(err error, setting, format string, args ...any) error {
	return &noteError{err: err, note: OperatorNote{Setting: setting, Text: fmt.Sprintf(format, args...)}}
}

// OperatorNotes returns the operator notes a refusal carries.
func OperatorNotes(err error) []OperatorNote {
	if err == nil {
		return nil
	}
	var notes []OperatorNote
	if n, ok := err.(*noteError); ok {
		notes = append(notes, n.note)
	}
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		notes = append(notes, OperatorNotes(e.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			notes = append(notes, OperatorNotes(inner)...)
		}
	}
	return notes
}

// Empty reports whether nothing was recorded for the author.
func (r Report) Empty() bool { return len(r.Changes) == 0 && len(r.Warnings) == 0 }

// String is the one-line form used in the report annotation: the
// author's lines only.
func (r Report) String() string {
	s, _ := r.Head(-1)
	return s
}

// Head is the start of String, at most max bytes of it (max < 0: all),
// and whether that is all of it. Only what it returns is written: a
// report of tens of thousands of warnings is cut to a few kilobytes for
// its annotation, and writing it whole first cost a copy of it all.
func (r Report) Head(max int) (string, bool) {
	size := 0
	if len(r.Changes) > 0 {
		size += len("changed: ") - len("; ")
	}
	if len(r.Warnings) > 0 {
		size += len("warnings: ") - len("; ")
		if len(r.Changes) > 0 {
			size += len(" | ")
		}
	}
	for _, s := range r.Changes {
		size += len(s) + len("; ")
	}
	for _, s := range r.Warnings {
		size += len(s) + len("; ")
	}
	whole := max < 0 || size <= max
	if whole {
		max = size
	}
	b := headWriter{max: max}
	b.Grow(max)
	writeList(&b, "changed: ", r.Changes)
	if len(r.Warnings) > 0 && len(r.Changes) > 0 {
		b.write(" | ")
	}
	writeList(&b, "warnings: ", r.Warnings)
	return b.String(), whole
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	strings.Builder
	max int
}

// write appends what fits of s and reports whether all of it did.
func (b *headWriter) write(s string) bool {
	room := b.max - b.Len()
	if len(s) > room {
		b.WriteString(s[:max(room, 0)])
		return false
	}
	b.WriteString(s)
	return true
}

func writeList(b *headWriter, title string, items []string) {
	for i, s := range items {
		sep := "; "
		if i == 0 {
			sep = title
		}
		if !b.write(sep) || !b.write(s) {
			return
		}
	}
}

// Annotate sets one of the pipeline's metadata.annotations, which the
// runner copies onto the pod last, so the pipeline's own win over the
// runner's defaults.
func Annotate(p *Pipeline, key, value string) error {
	annotations, err := editableAnnotations(p)
	if err != nil {
		return err
	}
	setString(annotations, key, value)
	return nil
}

// editableAnnotations returns the pipeline's metadata.annotations,
// ready to edit (see editable).
func editableAnnotations(p *Pipeline) (*yaml.Node, error) {
	metadata, err := editable(p.Body, "metadata", yaml.MappingNode, "metadata")
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	annotations, err := editable(metadata, "annotations", yaml.MappingNode, "metadata.annotations")
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	return annotations, nil
}

// annotationSetter is Annotate for many annotations in a row: the
// mapping is made editable once and its keys indexed, instead of
// scanned for every one (a pipeline of many steps gets an env file
// annotation per step). Nothing else may edit the annotations while it
// is in use.
type annotationSetter struct {
	m     *yaml.Node
	index map[string]int // key -> position in m.Content of the first explicit key, as setString finds it
}

func newAnnotationSetter(p *Pipeline) (*annotationSetter, error) {
	m, err := editableAnnotations(p)
	if err != nil {
		return nil, err
	}
	a := &annotationSetter{m: m, index: make(map[string]int, len(m.Content)/2)}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if _, seen := a.index[k.Value]; !seen && !yamldoc.IsMergeKey(k) {
			a.index[k.Value] = i
		}
	}
	return a, nil
}

// set is setString(annotations, key, value).
func (a *annotationSetter) set(key, value string) {
	if i, ok := a.index[key]; ok {
		a.m.Content[i+1] = scalar(value)
		return
	}
	a.index[key] = len(a.m.Content)
	a.m.Content = append(a.m.Content, scalar(key), scalar(value))
}
