package plugin

import (
	"fmt"
	"io"
)

// WriteSummary writes the human summary the dry-run CLI prints: one line
// per kubernetes pipeline, then what changed and what to look at.
func (r Result) WriteSummary(w io.Writer) {
	if r.Skipped != "" {
		fmt.Fprintln(w, "unchanged:", r.Skipped)
	}
	if len(r.Outcomes) == 0 && r.Skipped == "" {
		fmt.Fprintln(w, "unchanged: no kubernetes pipeline in this config")
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
}
