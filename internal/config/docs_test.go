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
	"unicode"
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

// mdLink is an inline Markdown link or image: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^()\s]+)\)`)

// TestDocsLinks: every relative link in README.md and docs/*.md names a
// file of the repository, and every #anchor a heading of the page it
// points to, as GitHub renders them. A renamed heading or a moved file
// otherwise leaves links that go nowhere.
func TestDocsLinks(t *testing.T) {
	pages, _ := filepath.Glob("../../docs/*.md")
	pages = append(pages, "../../README.md")
	anchors := map[string]map[string]bool{}
	anchorsOf := func(page string) map[string]bool {
		if a, ok := anchors[page]; ok {
			return a
		}
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		anchors[page] = headingAnchors(string(data))
		return anchors[page]
	}
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(filepath.ToSlash(page), "../../")
		for i, line := range proseLines(string(data)) {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := page
				if file != "" {
					dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(file))
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s:%d: link %s: no file %s", name, i+1, target, file)
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[anchor] {
					t.Errorf("%s:%d: link %s: no heading with anchor #%s in %s", name, i+1, target, anchor, filepath.Base(dest))
				}
			}
		}
	}
}

// proseLines is the page's lines with fenced code blocks and inline
// code spans blanked, so that only links a reader can follow remain;
// line numbers are kept.
func proseLines(page string) []string {
	lines := strings.Split(page, "\n")
	fenced := false
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			lines[i] = ""
			continue
		}
		if fenced {
			lines[i] = ""
			continue
		}
		lines[i] = inlineCode.ReplaceAllString(line, "")
	}
	return lines
}

var inlineCode = regexp.MustCompile("`[^`]*`")

// headingAnchors is the set of anchors GitHub gives the page's ATX
// headings: lower case, every character but letters, digits, '_', '-'
// and spaces dropped, spaces turned into '-', and "-1", "-2"... added to
// repeats.
func headingAnchors(page string) map[string]bool {
	anchors := map[string]bool{}
	count := map[string]int{}
	for _, line := range proseLines(page) {
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		text = strings.TrimLeft(text, "#")
		if !strings.HasPrefix(text, " ") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := count[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		count[a]++
	}
	return anchors
}

func TestHeadingAnchors(t *testing.T) {
	got := headingAnchors("# Title\n## Docker plugin steps → kaniko\n```\n## not a heading\n```\n### Near-limit configs at the chart's CPU limit (issue 18)\n## Usage\n## Usage\n#hashtag\n")
	want := []string{"title", "docker-plugin-steps--kaniko", "near-limit-configs-at-the-charts-cpu-limit-issue-18", "usage", "usage-1"}
	if len(got) != len(want) {
		t.Errorf("anchors %v, want %v", got, want)
	}
	for _, a := range want {
		if !got[a] {
			t.Errorf("no anchor %q in %v", a, got)
		}
	}
}

// sectionRef is a comment's or message's pointer into the docs:
// docs/how-it-works.md "Admission webhook", README "First run".
var sectionRef = regexp.MustCompile(`(README(?:\.md)?|docs/[a-z-]+\.md)(?:'s)?(?: \(section)? "([^"]+)"`)

// commentBreak is a line break inside a comment, with the next line's
// comment marker: a reference may wrap there.
var commentBreak = regexp.MustCompile(`\n[ \t]*(//|#)[ \t]*`)

// TestSectionReferences: every page name followed by a quoted section
// name in the code, the chart, the manifests and the Dockerfile (as
// sectionRef shows) names a heading or a bold paragraph lead of that
// page, so a reader following a comment finds the section after the
// docs move.
func TestSectionReferences(t *testing.T) {
	sections := map[string]map[string]bool{}
	sectionsOf := func(page string) map[string]bool {
		if s, ok := sections[page]; ok {
			return s
		}
		data, err := os.ReadFile(filepath.Join("../..", page))
		if err != nil {
			return nil
		}
		s := map[string]bool{}
		for _, line := range proseLines(string(data)) {
			if text, ok := strings.CutPrefix(line, "#"); ok {
				s[strings.TrimSpace(strings.TrimLeft(text, "#"))] = true
			}
			for _, m := range boldLead.FindAllStringSubmatch(line, -1) {
				s[m[1]] = true
			}
		}
		sections[page] = s
		return s
	}
	found := 0 // references checked
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".git" || name == "tools" || name == "bin" || name == "testdata" || name == "docs" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".go", ".yaml", ".yml", ".tpl", ".txt", ".json":
		default:
			if name != "Dockerfile" && name != "run" {
				return nil
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := commentBreak.ReplaceAllString(strings.ReplaceAll(string(data), `\"`, `"`), " ")
		for _, m := range sectionRef.FindAllStringSubmatch(text, -1) {
			found++
			page := m[1]
			if !strings.HasSuffix(page, ".md") {
				page += ".md"
			}
			s := sectionsOf(page)
			if s == nil {
				t.Errorf("%s: refers to %s, which does not exist", path, m[1])
			} else if !s[m[2]] {
				t.Errorf("%s: refers to section %q of %s, which has no such heading or bold paragraph", path, m[2], page)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d section references checked", found)
	if found < 10 {
		t.Errorf("found %d section references, want the 20-odd the code holds: is the pattern broken?", found)
	}
}

// boldLead is a bold paragraph lead, **Section.**, whose text comments
// cite like a heading's.
var boldLead = regexp.MustCompile(`\*\*([^*]+?)\.?\*\*`)
