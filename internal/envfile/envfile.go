// Package envfile is the env file format both pieces of the project
// share: the converter's env transform (README "Environment files") and
// the admission webhook (README "Admission webhook"). A file is a POSIX
// sh snippet of assignments and exports that a loader evaluates before
// the step's command: a shell loader in the step's own shell, or
// cmd/eci-env-loader, which parses the same snippet, for containers
// without a shell. Values are the exact bytes the container saw before
// (newlines, quotes, "$", backslashes, non-ASCII included).
//
// Annotations: the kubelet writes the runner's downward-API file as one
// `key="value"` line per annotation, keys sorted, values Go-quoted
// (%q), the last line without a newline (kubernetes pkg/fieldpath
// FormatMap). The snippet is made of printable ASCII without '"' and
// with "\" only in printf escapes, so %q only doubles its backslashes,
// which `printf '%b'` undoes; bytes outside that set travel as printf
// octal escapes. Each line is one annotation, so matching `key="` at
// the start of a line cannot hit another annotation's value.
package envfile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

const (
	// AnnotationPrefix starts the annotation keys that carry env files.
	// The runner's /run/drone/env file is read as a dotenv file by many
	// plugins (godotenv.Overload); godotenv v1.5 refuses a whole file
	// when any key holds "/" or "-", so these keys use only letters,
	// digits, "_" and ".", and no runner key (io.drone.*, DRONE_*)
	// starts this way.
	AnnotationPrefix = "drone_convert_eci.env."
	// DownwardFile is the runner's downward-API file of annotations,
	// mounted in every container of its pods.
	DownwardFile = "/run/drone/env"
	// LoaderMark starts every loader, so a converted step is recognised
	// (converting twice changes nothing): the loader is a function.
	LoaderMark = "__dce() {"
	// endMark ends every snippet: it sets the loader's local __dce, and
	// a loader that did not reach it fails.
	endMark = "__dce=1"
)

// Var is one variable of an env file.
type Var struct {
	Name  string
	Value string
}

// Key is the annotation key of an env file: files with the same
// content share one annotation.
func Key(content string) string {
	hash := sha256.Sum256([]byte(content))
	return AnnotationPrefix + hex.EncodeToString(hash[:])[:16]
}

// safeByte is a byte a value may hold as is inside single quotes of
// the annotation snippet.
func safeByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '\'' && c != '"' && c != '\\'
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if !safeByte(s[i]) {
			return false
		}
	}
	return true
}

// AnnotationScript is the snippet carried in an annotation.
func AnnotationScript(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		if isSafe(v.Value) {
			fmt.Fprintf(&b, "%s='%s';", v.Name, v.Value)
			continue
		}
		// Command substitution drops trailing newlines: end with a
		// sentinel and strip it.
		fmt.Fprintf(&b, "%s=$(printf '", v.Name)
		for i := 0; i < len(v.Value); i++ {
			c := v.Value[i]
			switch {
			case c == '%':
				b.WriteString("%%")
			case safeByte(c):
				b.WriteByte(c)
			default:
				fmt.Fprintf(&b, `\%03o`, c)
			}
		}
		fmt.Fprintf(&b, "_');%s=${%s%%_};", v.Name, v.Name)
	}
	b.WriteString(exportAll(vars))
	b.WriteString(endMark)
	return b.String()
}

// SecretFile is the snippet carried in a Secret: a plain sh file, any
// byte allowed, values single-quoted.
func SecretFile(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "%s='%s'\n", v.Name, strings.ReplaceAll(v.Value, "'", `'\''`))
	}
	b.WriteString(exportAll(vars))
	b.WriteString("\n" + endMark + "\n")
	return b.String()
}

// exportAll exports the file's names; with none, nothing (a bare
// export lists every exported variable on the step's output).
func exportAll(vars []Var) string {
	if len(vars) == 0 {
		return ""
	}
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.Name
	}
	return "export " + strings.Join(names, " ") + ";"
}

// AnnotationLoader reads the line of annotation key from the runner's
// downward-API file and evaluates it; a missing or incomplete line
// fails the step rather than run it without its variables.
//
// The loader is a function whose helper variables are local (dash,
// bash and busybox ash all have local): a user's variables of the same
// names, which Keep leaves in the env, are untouched, and the snippet's
// end mark sets the local one. It starts with LoaderMark.
//
// The runner starts a step's script with `echo "$DRONE_SCRIPT" |
// /bin/sh`, and dash's echo rewrites backslash escapes, so the loader
// holds no backslash at all.
func AnnotationLoader(key string) string {
	return LoaderMark + ` local __dcl= __dce=; while IFS= read -r __dcl || [ -n "$__dcl" ]; do case $__dcl in '` + key + `="'*) __dcl=${__dcl#*'"'}; __dcl=${__dcl%'"'}; eval "$(printf '%b' "$__dcl")";; esac; done <` + DownwardFile +
		`; [ -n "$__dce" ] || { echo "drone-convert-eci: annotation ` + key + ` missing from ` + DownwardFile + `" >&2; return 1; }; }; __dce || exit 1; unset -f __dce`
}

// SecretLoader sources a mounted env file, in a function as
// AnnotationLoader does.
func SecretLoader(path string) string {
	return LoaderMark + ` local __dce=; [ -r ` + path + ` ] || { echo "drone-convert-eci: env file ` + path + ` missing or unreadable" >&2; return 1; }; . ` + path +
		`; [ -n "$__dce" ] || { echo "drone-convert-eci: env file ` + path + ` incomplete" >&2; return 1; }; }; __dce || exit 1; unset -f __dce`
}

// ShellName matches the names sh can assign.
var ShellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// keepNames must stay in the container env whatever loads the file:
// the runner's script reads them before any command, the runner sets
// them after a step's own values, or programs read them before any
// command runs (the dynamic loader's LD_*, gettext's LANGUAGE, SHELL,
// TMPDIR). Names the shells treat specially are in ShellNames.
var keepNames = map[string]bool{
	"DRONE_STEP_NAME": true, "DRONE_SCRIPT": true, "KUBERNETES_NODE": true,
	"DRONE_NETRC_MACHINE": true, "DRONE_NETRC_USERNAME": true, "DRONE_NETRC_PASSWORD": true, "DRONE_NETRC_FILE": true,
	"DRONE_TMATE_HOST": true, "DRONE_TMATE_PORT": true, "DRONE_TMATE_FINGERPRINT_RSA": true, "DRONE_TMATE_FINGERPRINT_ED25519": true,
	"DRONE_BUILD_DEBUG": true, "SHELL": true, "LANGUAGE": true, "TMPDIR": true,
}

// Keep says whether a variable named name must stay in the container
// env: names sh cannot assign, names in keepNames, names a shell treats
// specially (ShellSpecial), the dynamic loader's LD_*, and the
// loaders' own helpers __dc* (a file's assignment to one would set the
// loader's local variable; left in the env, the user's is untouched).
func Keep(name string) bool {
	return !ShellName.MatchString(name) || keepNames[name] || ShellSpecial(name) ||
		strings.HasPrefix(name, "LD_") || strings.HasPrefix(name, "__dc")
}
