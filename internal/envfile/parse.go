package envfile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ReadAnnotation finds the annotation key in the runner's downward-API
// file (its content) and returns its value, as the shell loader does:
// the line that starts with `key="`, Go-unquoted.
func ReadAnnotation(file, key string) (string, error) {
	for _, line := range strings.Split(file, "\n") {
		quoted, ok := strings.CutPrefix(line, key+"=")
		if !ok || !strings.HasPrefix(quoted, `"`) {
			continue
		}
		value, err := strconv.Unquote(quoted)
		if err != nil {
			return "", fmt.Errorf("annotation %s: %w", key, err)
		}
		return value, nil
	}
	return "", fmt.Errorf("annotation %s missing from %s", key, DownwardFile)
}

// ParseAnnotationScript reads back the variables of a snippet written
// by AnnotationScript, exactly as sh evaluates it. It accepts only what
// AnnotationScript writes: anything else is an error, never a guess.
func ParseAnnotationScript(s string) ([]Var, error) {
	var vars []Var
	rest := s
	for !strings.HasPrefix(rest, "export ") && rest != endMark {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 || !ShellName.MatchString(rest[:eq]) {
			return nil, errors.New("env file: expected NAME=")
		}
		name := rest[:eq]
		rest = rest[eq+1:]
		switch {
		case strings.HasPrefix(rest, "'"):
			end := strings.Index(rest[1:], "';")
			if end < 0 {
				return nil, fmt.Errorf("env file: %s: unterminated value", name)
			}
			value := rest[1 : 1+end]
			if !isSafe(value) {
				return nil, fmt.Errorf("env file: %s: unexpected byte in a quoted value", name)
			}
			vars = append(vars, Var{name, value})
			rest = rest[1+end+2:]
		case strings.HasPrefix(rest, "$(printf '"):
			rest = rest[len("$(printf '"):]
			tail := "_');" + name + "=${" + name + "%_};"
			end := strings.Index(rest, tail)
			if end < 0 {
				return nil, fmt.Errorf("env file: %s: unterminated printf value", name)
			}
			value, err := unprintf(rest[:end])
			if err != nil {
				return nil, fmt.Errorf("env file: %s: %w", name, err)
			}
			vars = append(vars, Var{name, value})
			rest = rest[end+len(tail):]
		default:
			return nil, fmt.Errorf("env file: %s: unexpected value syntax", name)
		}
	}
	if want := exportAll(vars) + endMark; rest != want {
		return nil, fmt.Errorf("env file: expected %q at the end, found %q", want, rest)
	}
	return vars, nil
}

// unprintf undoes the printf format AnnotationScript writes: "%%" and
// three-digit octal escapes; every other byte is itself.
func unprintf(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '%':
			if i+1 >= len(f) || f[i+1] != '%' {
				return "", errors.New("lone % in printf value")
			}
			b.WriteByte('%')
			i++
		case c == '\\':
			if i+3 >= len(f) {
				return "", errors.New("short octal escape")
			}
			n, err := strconv.ParseUint(f[i+1:i+4], 8, 8)
			if err != nil {
				return "", fmt.Errorf("bad octal escape %q", f[i:i+4])
			}
			b.WriteByte(byte(n))
			i += 3
		case safeByte(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("unexpected byte %#x in printf value", c)
		}
	}
	return b.String(), nil
}
