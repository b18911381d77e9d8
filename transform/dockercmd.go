package transform

import (
	"bytes"
	"path"
	"regexp"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// dockerCall is one docker CLI invocation found in a step's commands.
type dockerCall struct {
	line string   // the command as the author wrote it
	args []string // the words after "docker", printed back as shell text
}

// commandText is a command the way the runner's shell will see it: the
// runner's envsubst has turned "$$" into "$" by then.
func commandText(s string) string { return strings.ReplaceAll(s, "$$", "$") }

// dockerCalls finds docker and docker-compose invocations in commands,
// parsed as POSIX shell (the runner runs commands with /bin/sh). A
// command that does not parse is skipped: the runner's shell will
// refuse it anyway, and guessing at it would only add false alarms.
func dockerCalls(commands []string) []dockerCall {
	calls, _ := scanCommands(commands)
	return calls
}

// hostAssign is a command's own assignment of DOCKER_HOST (export,
// a bare or prefix assignment), which overrides the step's environment.
type hostAssign struct {
	line  string // the command as the author wrote it
	value string // the value assigned, shell quotes taken off
}

// scanCommands finds the docker calls of commands, and their
// assignments of DOCKER_HOST.
func scanCommands(commands []string) ([]dockerCall, []hostAssign) {
	return scanFiltered(commands, true)
}

// mayMentionDocker reports whether text could hold a docker call or an
// assignment of DOCKER_HOST: whether it holds "docker" or "DOCKER_HOST"
// once the quotes, backslashes, line breaks and NUL bytes a shell word may carry
// inside it are taken out. Every call and assignment scan finds is
// spelt so in the text (the printer writes words as the parser read
// them, and unquote removes only quotes), so a command without either is
// not parsed at all: most commands of most pipelines (FuzzScanFilter
// checks the claim).
func mayMentionDocker(text string) bool {
	if strings.Contains(text, "docker") || strings.Contains(text, "DOCKER_HOST") {
		return true
	}
	if !strings.ContainsAny(text, "\"'\\\n\r\x00") {
		return false
	}
	bare := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '"', '\'', '\\', '\n', '\r', 0: // the shell parser skips NUL bytes too
		default:
			bare = append(bare, c)
		}
	}
	return bytes.Contains(bare, []byte("docker")) || bytes.Contains(bare, []byte("DOCKER_HOST"))
}

// scanFiltered is scanCommands; filter skips the texts mayMentionDocker rules
// out (off only in the test of that filter).
func scanFiltered(commands []string, filter bool) ([]dockerCall, []hostAssign) {
	// Most containers' commands are all ruled out: nothing is set up for
	// them. (commandText only turns "$$" into "$", which puts no
	// "docker" in a text that had none.)
	if filter && !slices.ContainsFunc(commands, mayMentionDocker) {
		return nil, nil
	}
	var calls []dockerCall
	var assigns []hostAssign
	// Parser and printer cost kilobytes each: made for the first
	// command that needs them.
	var parser *syntax.Parser
	var printer *syntax.Printer
	var scan func(line, text string, depth int)
	scan = func(line, text string, depth int) {
		if filter && !mayMentionDocker(text) {
			return
		}
		if parser == nil {
			parser = syntax.NewParser(syntax.Variant(syntax.LangPOSIX))
			printer = syntax.NewPrinter()
		}
		file, err := parser.Parse(strings.NewReader(text), "")
		if err != nil {
			return
		}
		syntax.Walk(file, func(node syntax.Node) bool {
			if a, ok := node.(*syntax.Assign); ok && a.Name != nil && a.Name.Value == "DOCKER_HOST" && a.Value != nil && !a.Append {
				var b bytes.Buffer
				if err := printer.Print(&b, a.Value); err == nil {
					assigns = append(assigns, hostAssign{line: line, value: unquote(b.String())})
				}
				return true
			}
			call, ok := node.(*syntax.CallExpr)
			if !ok {
				return true
			}
			words := make([]string, 0, len(call.Args))
			for _, w := range call.Args {
				var b bytes.Buffer
				if err := printer.Print(&b, w); err != nil {
					return true
				}
				words = append(words, b.String())
			}
			switch path.Base(unquote(firstWord(words))) {
			case "export", "readonly", "local", "env", "sudo":
				// export DOCKER_HOST=..., env DOCKER_HOST=... docker: in
				// POSIX shell these are words, not assignments.
				for _, w := range words[1:] {
					if v, ok := strings.CutPrefix(unquote(w), "DOCKER_HOST="); ok {
						assigns = append(assigns, hostAssign{line: line, value: v})
					}
				}
			}
			words, runs := unwrap(words)
			if !runs || len(words) == 0 {
				return true
			}
			switch path.Base(unquote(words[0])) {
			case "docker":
				calls = append(calls, dockerCall{line: line, args: words[1:]})
			case "docker-compose":
				calls = append(calls, dockerCall{line: line, args: append([]string{"compose"}, words[1:]...)})
			case "sh", "bash", "ash", "dash", "zsh":
				// sh -c 'docker run ...' runs docker as surely.
				if script, ok := shellScript(words[1:]); ok && depth < 3 {
					scan(line, script, depth+1)
				}
			}
			return true
		})
	}
	for _, line := range commands {
		scan(line, commandText(line), 0)
	}
	return calls, assigns
}

func firstWord(words []string) string {
	if len(words) == 0 {
		return ""
	}
	return words[0]
}

// shellScript returns the script a shell's -c runs, with the quotes
// around it taken off.
func shellScript(args []string) (string, bool) {
	for i, a := range args {
		if strings.HasPrefix(a, "-") && strings.Contains(a, "c") && !strings.HasPrefix(a, "--") && i+1 < len(args) {
			w := args[i+1]
			if len(w) >= 2 && (w[0] == '\'' || w[0] == '"') && w[len(w)-1] == w[0] {
				w = w[1 : len(w)-1]
			}
			return w, true
		}
	}
	return "", false
}

// wrapper is a command that runs its arguments as a command: its
// options that take a value as the next word, and how many operands
// come before the command.
type wrapper struct {
	valueFlags []string
	operands   int
}

var wrappers = map[string]wrapper{
	"sudo":    {valueFlags: []string{"-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h", "--host", "-p", "--prompt", "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user"}},
	"exec":    {valueFlags: []string{"-a"}},
	"command": {},
	"time":    {valueFlags: []string{"-f", "--format", "-o", "--output"}},
	"env":     {valueFlags: []string{"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}},
	"nohup":   {},
	"nice":    {valueFlags: []string{"-n", "--adjustment"}},
	"timeout": {valueFlags: []string{"-s", "--signal", "-k", "--kill-after"}, operands: 1},
}

// unwrap strips the wrappers (sudo, env, timeout 60...) from a simple
// command's words, leaving the command they run. runs is false when
// the command only looks the next one up: command -v docker runs no
// docker.
func unwrap(words []string) (rest []string, runs bool) {
	for len(words) > 0 {
		name := path.Base(unquote(words[0]))
		w, ok := wrappers[name]
		if !ok {
			return words, true
		}
		words = words[1:]
	options:
		for len(words) > 0 {
			a := unquote(words[0])
			switch {
			case a == "--":
				words = words[1:]
				break options
			case strings.HasPrefix(a, "-") && len(a) > 1:
				if name == "command" && strings.ContainsAny(a[1:], "vV") {
					return nil, false
				}
				words = words[1:]
				if slices.Contains(w.valueFlags, a) && len(words) > 0 {
					words = words[1:]
				}
			case strings.Contains(a, "="): // env's and sudo's assignments
				words = words[1:]
			default:
				break options
			}
		}
		for n := 0; n < w.operands && len(words) > 0; n++ {
			words = words[1:]
		}
	}
	return words, true
}

// unquote strips shell quotes from a printed word, enough to read a
// flag or a path out of it.
func unquote(word string) string {
	if !strings.ContainsAny(word, `"'`) {
		return word
	}
	return quotes.Replace(word)
}

// quotes is built once: building a Replacer costs more than using it.
var quotes = strings.NewReplacer(`"`, "", `'`, "")

// subcommand is the docker subcommand, "container run" read as "run".
func (c dockerCall) subcommand() string {
	_, sub := c.subcommandAt()
	return sub
}

// subcommandAt returns the subcommand and its index in args, -1 and ""
// when there is none.
func (c dockerCall) subcommandAt() (int, string) {
	for i := 0; i < len(c.args); i++ {
		a := unquote(c.args[i])
		switch {
		case a == "container" || a == "image":
			continue
		case strings.HasPrefix(a, "-"):
			// Global flags with a value: -H host, --context x, -c x...
			if !strings.Contains(a, "=") && (a == "-H" || a == "--host" || a == "-c" || a == "--context" || a == "--config" || a == "-l" || a == "--log-level" || a == "--tlscacert" || a == "--tlscert" || a == "--tlskey") {
				i++
			}
			continue
		}
		return i, a
	}
	return -1, ""
}

// globalHost returns the daemon a -H or --host flag before the
// subcommand names, "" when there is none: it wins over DOCKER_HOST.
func (c dockerCall) globalHost() string {
	i, _ := c.subcommandAt()
	if i < 0 {
		i = len(c.args)
	}
	host := ""
	for j := 0; j < i; j++ {
		a := unquote(c.args[j])
		switch {
		case (a == "-H" || a == "--host") && j+1 < i:
			host = unquote(c.args[j+1])
			j++
		case strings.HasPrefix(a, "--host="):
			host = strings.TrimPrefix(a, "--host=")
		case strings.HasPrefix(a, "-H") && len(a) > 2:
			host = strings.TrimPrefix(a[2:], "=")
		}
	}
	return host
}

// runFlags returns the flags of a docker run or create up to its image
// (what follows the image is the container's own command line), as
// name and value; value is "" for a boolean flag.
func (c dockerCall) runFlags() [][2]string {
	i, sub := c.subcommandAt()
	if sub != "run" && sub != "create" {
		return nil
	}
	var out [][2]string
	for i++; i < len(c.args); i++ {
		a := unquote(c.args[i])
		switch {
		case a == "--":
			return out
		case !strings.HasPrefix(a, "-") || a == "-":
			return out // the image
		case strings.HasPrefix(a, "--"):
			if name, value, ok := strings.Cut(a, "="); ok {
				out = append(out, [2]string{name, value})
			} else if booleanRunFlags[a] {
				out = append(out, [2]string{a, ""})
			} else if i+1 < len(c.args) {
				out = append(out, [2]string{a, unquote(c.args[i+1])})
				i++
			}
		default:
			// Short flags: booleans may be combined (-dit); the first
			// one that takes a value takes the rest of the word or the
			// next word.
			for j := 1; j < len(a); j++ {
				name := "-" + a[j:j+1]
				if booleanRunFlags[name] {
					out = append(out, [2]string{name, ""})
					continue
				}
				value := strings.TrimPrefix(a[j+1:], "=")
				if value == "" && i+1 < len(c.args) {
					value = unquote(c.args[i+1])
					i++
				}
				out = append(out, [2]string{name, value})
				break
			}
		}
	}
	return out
}

// booleanRunFlags are docker run and create's flags without a value.
var booleanRunFlags = map[string]bool{
	"-d": true, "-i": true, "-t": true, "-P": true, "-q": true,
	"--detach": true, "--interactive": true, "--tty": true, "--publish-all": true, "--quiet": true,
	"--rm": true, "--privileged": true, "--init": true, "--read-only": true, "--no-healthcheck": true,
	"--oom-kill-disable": true, "--sig-proxy": true, "--disable-content-trust": true, "--help": true,
	"--use-api-socket": true,
}

// flagValues returns the values a docker run or create gives any of
// the named flags.
func (c dockerCall) flagValues(names ...string) []string {
	var values []string
	for _, f := range c.runFlags() {
		for _, name := range names {
			if f[0] == name {
				values = append(values, f[1])
			}
		}
	}
	return values
}

// namedVolume is what docker reads as a volume name rather than a path.
var namedVolume = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// hostMounts returns the -v and --mount sources of a docker run or
// create that are paths of the machine the daemon runs on: on a remote
// daemon they are not the step's files.
func (c dockerCall) hostMounts() []string {
	switch c.subcommand() {
	case "run", "create":
	default:
		return nil
	}
	var out []string
	for _, v := range c.flagValues("-v", "--volume") {
		src, _, ok := strings.Cut(v, ":")
		if ok && !namedVolume.MatchString(src) {
			out = append(out, v)
		}
	}
	for _, m := range c.flagValues("--mount") {
		if strings.Contains(strings.ToLower(m), "type=bind") {
			out = append(out, m)
		}
	}
	// The docker CLI bind-mounts the daemon's own socket for it.
	for _, v := range c.flagValues("--use-api-socket") {
		if v == "" || v == "true" || v == "1" {
			out = append(out, "/var/run/docker.sock (--use-api-socket)")
		}
	}
	return out
}

// containerNetwork returns a --network container:NAME value, "" when
// there is none.
func (c dockerCall) containerNetwork() string {
	switch c.subcommand() {
	case "run", "create":
	default:
		return ""
	}
	for _, v := range c.flagValues("--network", "--net") {
		if strings.HasPrefix(v, "container:") {
			return v
		}
	}
	return ""
}

// publishes reports whether a docker run publishes ports, which a
// remote daemon opens on its own host, not on the step's localhost.
func (c dockerCall) publishes() bool {
	if s := c.subcommand(); s != "run" && s != "create" {
		return false
	}
	for _, f := range c.runFlags() {
		switch f[0] {
		case "-p", "--publish", "-P", "--publish-all":
			return true
		}
	}
	return false
}
