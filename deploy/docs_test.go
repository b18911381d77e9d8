package deploy

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// docPages are the pages whose helm commands are checked, the
// operators' guide first: its `helm install` is what the others' upgrades
// build on.
var docPages = []string{"../docs/operators.md", "../docs/how-it-works.md", "../docs/authors.md", "../docs/performance.md", "../README.md"}

// helmCommand is one helm command of the docs, or an inline `--set ...`
// fragment, with where it was found.
type helmCommand struct {
	where   string
	install bool
	sets    []helmSet
}

type helmSet struct {
	value  string
	string bool // --set-string
}

// TestDocumentedHelmCommands: every `helm install`/`helm upgrade` in
// README.md and docs/*.md, and every inline `--set`, renders with the
// chart as the docs give it (values.schema.json refuses a path the chart
// does not have): each on top of the documented install, and all of them
// together. A --set copied from the docs that names a value the chart
// lost, or a combination the chart refuses, fails here instead of at the
// reader's `helm upgrade`.
func TestDocumentedHelmCommands(t *testing.T) {
	var install *helmCommand
	var upgrades []helmCommand
	for _, page := range docPages {
		for _, c := range helmCommands(t, page) {
			if c.install {
				if install != nil {
					t.Fatalf("%s: a second helm install (the first is at %s); the test builds every upgrade on one", c.where, install.where)
				}
				install = &c
				continue
			}
			upgrades = append(upgrades, c)
		}
	}
	if install == nil {
		t.Fatal("no helm install in the docs")
	}
	if len(upgrades) < 3 {
		t.Fatalf("found %d helm upgrades and inline --set fragments in the docs, want at least 3: is the extraction broken?", len(upgrades))
	}
	renderSets := func(what string, cmds ...helmCommand) {
		t.Helper()
		vals := map[string]interface{}{}
		for _, c := range cmds {
			for _, s := range c.sets {
				parse := strvals.ParseInto
				if s.string {
					parse = strvals.ParseIntoString
				}
				if err := parse(s.value, vals); err != nil {
					t.Errorf("%s: --set %s: %v", c.where, s.value, err)
					return
				}
			}
		}
		doc, err := yaml.Marshal(vals)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := render(t, "", string(doc)); err != nil {
			t.Errorf("%s: the chart refuses it: %v", what, err)
		}
	}
	renderSets(install.where, *install)
	for _, u := range upgrades {
		renderSets(u.where+", on the install of "+install.where, *install, u)
	}
	renderSets("every documented command together", append([]helmCommand{*install}, upgrades...)...)
}

// TestDocumentedHelmCommandsRefuse: the check above can fail: a --set
// path the chart does not have is refused by its schema.
func TestDocumentedHelmCommandsRefuse(t *testing.T) {
	vals := map[string]interface{}{}
	if err := strvals.ParseInto("certManager.duration=48h", vals); err != nil {
		t.Fatal(err)
	}
	doc, _ := yaml.Marshal(vals)
	if _, err := render(t, "", string(doc)+"secret: {existingSecret: x}\n"); err == nil {
		t.Error("the chart rendered with a top-level certManager value it does not have")
	}
}

var (
	inlineSpan = regexp.MustCompile("`[^`]*`")
	// shellWord is one word of a command line: single-quoted, double-
	// quoted, a $(...) substitution, or bare characters.
	shellWord    = regexp.MustCompile(`(?:'[^']*'|"[^"]*"|\$\([^)]*\)|[^\s'"$]|\$)+`)
	substitution = regexp.MustCompile(`\$\([^)]*\)`)
)

// helmCommands are the helm commands of page's sh blocks (continuation
// lines joined) and its inline code spans holding --set, in page order.
func helmCommands(t *testing.T, page string) []helmCommand {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(page, "../")
	var cmds []helmCommand
	lines := strings.Split(string(data), "\n")
	fenced := false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		where := name + ":" + strconv.Itoa(i+1)
		if !fenced {
			for _, span := range inlineSpan.FindAllString(line, -1) {
				if c := parseHelm(where, strings.Trim(span, "`")); len(c.sets) > 0 {
					cmds = append(cmds, c)
				}
			}
			continue
		}
		cmd := line
		for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, "\\") + " " + lines[i]
		}
		if f := strings.Fields(cmd); len(f) > 1 && f[0] == "helm" && (f[1] == "install" || f[1] == "upgrade") {
			cmds = append(cmds, parseHelm(where, cmd))
		}
	}
	return cmds
}

func parseHelm(where, cmd string) helmCommand {
	words := shellWord.FindAllString(cmd, -1)
	c := helmCommand{where: where, install: len(words) > 1 && words[0] == "helm" && words[1] == "install"}
	for i := 0; i+1 < len(words); i++ {
		if words[i] != "--set" && words[i] != "--set-string" {
			continue
		}
		value := unquote(words[i+1])
		// A command substitution (base64 of a file the reader made)
		// stands for some base64.
		value = substitution.ReplaceAllString(value, "cGxhY2Vob2xkZXI=")
		c.sets = append(c.sets, helmSet{value: value, string: words[i] == "--set-string"})
		i++
	}
	return c
}

func unquote(w string) string {
	if len(w) >= 2 && (w[0] == '\'' || w[0] == '"') && w[len(w)-1] == w[0] {
		return w[1 : len(w)-1]
	}
	return w
}
