package config

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// settingRow is a table row documenting one setting: | `NAME` | default | meaning |.
var settingRow = regexp.MustCompile("^\\| *`(DRONE_[A-Z0-9_]+)` *\\| *([^|]*?) *\\|")

// TestOperatorsSettingsTable: every setting the code reads is a row of
// the settings table in docs/operators.md, with the default the code
// has; the table names no setting the code does not read; and no other
// page (README, docs) has a row for a setting, so none can drift.
func TestOperatorsSettingsTable(t *testing.T) {
	want := map[string]string{}
	for _, s := range Settings() {
		if d, seen := want[s.Name]; seen && d != s.Default {
			t.Errorf("%s is read twice with different defaults: %q and %q", s.Name, d, s.Default)
		}
		want[s.Name] = s.Default
	}
	rows := settingRows(t, "../../docs/operators.md")
	seen := map[string]bool{}
	for _, r := range rows {
		def, ok := want[r.name]
		switch {
		case !ok:
			t.Errorf("docs/operators.md:%d: %s is not a setting the service reads", r.line, r.name)
		case seen[r.name]:
			t.Errorf("docs/operators.md:%d: %s has a second row", r.line, r.name)
		case !sameDefault(r.name, r.def, def):
			t.Errorf("docs/operators.md:%d: %s defaults to %q in the table, %q in the code", r.line, r.name, r.def, def)
		}
		seen[r.name] = true
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s is read by the service but has no row in docs/operators.md's settings table", name)
		}
	}
	pages, _ := filepath.Glob("../../docs/*.md")
	for _, page := range append(pages, "../../README.md") {
		if filepath.Base(page) == "operators.md" {
			continue
		}
		for _, r := range settingRows(t, page) {
			t.Errorf("%s:%d: a row for %s outside docs/operators.md's settings table", filepath.Base(page), r.line, r.name)
		}
	}
}

type docRow struct {
	name, def string
	line      int
}

func settingRows(t *testing.T, page string) []docRow {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var rows []docRow
	for i, line := range strings.Split(string(data), "\n") {
		if m := settingRow.FindStringSubmatch(line); m != nil {
			rows = append(rows, docRow{name: m[1], def: m[2], line: i + 1})
		}
	}
	return rows
}

// sameDefault compares a default as the table writes it with the
// code's: "(none)", "(required)" and an empty cell are no default;
// durations compare as durations; "4 × CPUs" is per GOMAXPROCS.
func sameDefault(name, doc, code string) bool {
	doc = strings.Trim(strings.TrimSpace(doc), "`")
	if doc == "(none)" || doc == "(required)" {
		doc = ""
	}
	if doc == code {
		return true
	}
	if (code == "0" || code == "") && strings.HasPrefix(doc, "automatic: ") {
		// A zero the service replaces with a computed value, which the
		// table gives as its formula.
		return true
	}
	if n, ok := strings.CutSuffix(doc, " × CPUs"); ok {
		per, err := strconv.Atoi(n)
		return err == nil && strconv.Itoa(per*runtime.GOMAXPROCS(0)) == code
	}
	a, errA := time.ParseDuration(doc)
	b, errB := time.ParseDuration(code)
	return errA == nil && errB == nil && a == b
}
