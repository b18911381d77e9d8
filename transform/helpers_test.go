package transform

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// apply runs one transform over a pipeline body written as YAML and
// returns the re-encoded output and the report.
func apply(t *testing.T, tr Transform, input string) (string, Report, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(input), &doc); err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Name: "p", Body: doc.Content[0]}
	err := tr.Apply(p)
	if err != nil {
		return "", p.Report, err
	}
	out, encErr := yamldoc.Encode([]*yamldoc.Document{{Root: &doc, Edited: true}})
	if encErr != nil {
		t.Fatal(encErr)
	}
	return string(out), p.Report, nil
}

// expect is what a transform table case asserts.
type expect struct {
	err      string   // the whole error, when the transform must refuse
	contains []string // in the output
	absent   []string // not in the output
	report   []string // in the report, the author's lines
	operator []string // in the report's notes for the operator, or the refusal's
}

// operatorText is every operator note of a report, one a line.
func operatorText(notes []OperatorNote) string {
	var b strings.Builder
	for _, n := range notes {
		b.WriteString(n.String() + "\n")
	}
	return b.String()
}

// checkTransform applies tr to input, checks the output and report, and
// that a second pass over the output changes nothing.
func checkTransform(t *testing.T, tr Transform, input string, want expect) {
	t.Helper()
	out, report, err := apply(t, tr, input)
	if !checkResult(t, out, report, err, want) {
		return
	}
	again, report2, err := apply(t, tr, out)
	if err != nil || again != out || len(report2.Changes) > 0 {
		t.Errorf("second pass: err %v, changes %v\n%s", err, report2.Changes, again)
	}
}

// checkResult checks one transform run's output, report or refusal
// against want; it says whether the run succeeded, as wanted.
func checkResult(t *testing.T, out string, report Report, err error, want expect) bool {
	t.Helper()
	if want.err != "" {
		if err == nil || err.Error() != want.err {
			t.Fatalf("got error %v\nwant %s", err, want.err)
		}
		for _, s := range want.operator {
			if !strings.Contains(operatorText(OperatorNotes(err)), s) {
				t.Errorf("refusal's operator notes lack %q:\n%s", s, operatorText(OperatorNotes(err)))
			}
		}
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range want.contains {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	for _, s := range want.absent {
		if strings.Contains(out, s) {
			t.Errorf("output has %q:\n%s", s, out)
		}
	}
	for _, s := range want.report {
		if !strings.Contains(report.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, report.String())
		}
	}
	if strings.Contains(report.String(), "DRONE_ECI_") {
		t.Errorf("the author's report names a setting of the service:\n%s", report.String())
	}
	for _, s := range want.operator {
		if !strings.Contains(operatorText(report.Operator), s) {
			t.Errorf("operator notes lack %q:\n%s", s, operatorText(report.Operator))
		}
	}
	return true
}
