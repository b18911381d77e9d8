package transform

import (
	"fmt"
	"strings"
)

// The env file and its loader. Both carriers hand the step a POSIX sh
// snippet of assignments and exports; the loader, the step's first
// command, evaluates it in the step's own shell, so what it sets is
// what later commands see. Values are the exact bytes the step saw
// before (newlines, quotes, "$", backslashes, non-ASCII included).
//
// Annotations: the kubelet writes the downward-API file as one
// `key="value"` line per annotation, keys sorted, values Go-quoted
// (%q), the last line without a newline (kubernetes pkg/fieldpath
// FormatMap). The snippet is made of printable ASCII without '"' and
// with "\" only in printf escapes, so %q only doubles its backslashes,
// which `printf '%b'` undoes; bytes outside that set travel as printf
// octal escapes. Each line is one annotation, so matching `key="` at
// the start of a line cannot hit another annotation's value.

// safeByte is a byte a value may hold as is inside single quotes of
// the annotation snippet.
func safeByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '\'' && c != '"' && c != '\\'
}

// annotationScript is the snippet carried in an annotation.
func annotationScript(vars []envVar) string {
	var b strings.Builder
	for _, v := range vars {
		if isSafe(v.literal) {
			fmt.Fprintf(&b, "%s='%s';", v.name, v.literal)
			continue
		}
		// Command substitution drops trailing newlines: end with a
		// sentinel and strip it.
		fmt.Fprintf(&b, "%s=$(printf '", v.name)
		for i := 0; i < len(v.literal); i++ {
			c := v.literal[i]
			switch {
			case c == '%':
				b.WriteString("%%")
			case safeByte(c):
				b.WriteByte(c)
			default:
				fmt.Fprintf(&b, `\%03o`, c)
			}
		}
		fmt.Fprintf(&b, "_');%s=${%s%%_};", v.name, v.name)
	}
	b.WriteString(exportAll(vars))
	b.WriteString(envLoaderMark + "1")
	return b.String()
}

// secretFile is the snippet carried in a Secret: a plain sh file, any
// byte allowed, values single-quoted.
func secretFile(vars []envVar) string {
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "%s='%s'\n", v.name, strings.ReplaceAll(v.literal, "'", `'\''`))
	}
	b.WriteString(exportAll(vars))
	b.WriteString("\n" + envLoaderMark + "1\n")
	return b.String()
}

func exportAll(vars []envVar) string {
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.name
	}
	return "export " + strings.Join(names, " ") + ";"
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if !safeByte(s[i]) {
			return false
		}
	}
	return true
}

// annotationLoader reads the step's line from the runner's downward-API
// file and evaluates it; a missing line fails the step rather than run
// it without its variables. Its helper variables are unset again, so
// the step's variables are exactly what they were before conversion.
//
// The runner starts the script with `echo "$DRONE_SCRIPT" | /bin/sh`,
// and dash's echo rewrites backslash escapes, so the loader holds no
// backslash at all.
func annotationLoader(key string) string {
	return envLoaderMark + `; while IFS= read -r __dcl || [ -n "$__dcl" ]; do case $__dcl in '` + key + `="'*) __dcl=${__dcl#*'"'}; __dcl=${__dcl%'"'}; eval "$(printf '%b' "$__dcl")";; esac; done <` + envDownwardFile +
		`; unset __dcl; [ -n "$__dce" ] || { echo "drone-convert-eci: annotation ` + key + ` missing from ` + envDownwardFile + `" >&2; exit 1; }; unset __dce`
}

// secretLoader sources the mounted file.
func secretLoader(path string) string {
	return envLoaderMark + `; [ -r ` + path + ` ] || { echo "drone-convert-eci: env file ` + path + ` missing or unreadable" >&2; exit 1; }; . ` + path + `; [ -n "$__dce" ] || exit 1; unset __dce`
}
