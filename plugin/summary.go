package plugin

import (
	"fmt"
	"io"

	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// WriteSummary writes the human summary the dry-run CLI prints: one line
// per kubernetes pipeline, then what changed and what to look at, as the
// pipeline author reads it; then, marked "operator:", which settings of
// the service would help, which only its operator can change.
func (r Result) WriteSummary(w io.Writer) {
	if r.Skipped != "" {
		fmt.Fprintln(w, "unchanged:", r.Skipped)
	}
	if len(r.Outcomes) == 0 && r.Skipped == "" {
		if r.DockerPipelines > 0 {
			fmt.Fprintf(w, "unchanged: no kubernetes pipeline in this config; its %d Docker-runner pipeline(s) convert with --migrate-docker\n", r.DockerPipelines)
		} else {
			fmt.Fprintln(w, "unchanged: no kubernetes pipeline in this config")
		}
	}
	for _, o := range r.Outcomes {
		status := "converted"
		switch {
		case o.Kept:
			status = "kept on the Docker runner (cannot move to ECI)"
		case !o.Converted:
			status = "unchanged: " + o.Reason
		}
		fmt.Fprintf(w, "document %d, pipeline %q: %s\n", o.Document, o.Pipeline, status)
		for _, c := range o.Report.Changes {
			fmt.Fprintln(w, "  changed:", c)
		}
		for _, d := range o.Disabled {
			fmt.Fprintf(w, "  skipped: %s (%s)\n", d, DisableAnnotation)
		}
		for _, warn := range o.Report.Warnings {
			fmt.Fprintln(w, "  warning:", warn)
		}
	}
	var notes []string
	for _, n := range r.Operator {
		notes = append(notes, n.String())
	}
	for _, o := range r.Outcomes {
		for _, n := range o.Report.Operator {
			notes = append(notes, fmt.Sprintf("document %d, pipeline %q: %s", o.Document, o.Pipeline, n))
		}
		for _, f := range o.LookupFailures {
			notes = append(notes, fmt.Sprintf("document %d, pipeline %q: registry lookup failed: %s", o.Document, o.Pipeline, f))
		}
	}
	writeOperatorNotes(w, notes)
}

// WriteRefusalNotes writes, marked "operator:", the notes for the
// operator that a refusal carries (the refusal itself is the author's).
func WriteRefusalNotes(w io.Writer, err error) {
	var notes []string
	for _, n := range transform.OperatorNotes(err) {
		notes = append(notes, n.String())
	}
	writeOperatorNotes(w, notes)
}

func writeOperatorNotes(w io.Writer, notes []string) {
	for _, n := range notes {
		fmt.Fprintln(w, "operator:", n)
	}
}
