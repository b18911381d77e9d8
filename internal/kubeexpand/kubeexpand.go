// Package kubeexpand applies the kubelet's expansion of $(NAME)
// references to container env values (EnvVar.Value in k8s.io/api
// core/v1), so that a value moved out of the container env into an env
// file reads as the kubelet would have set it. The converter's env
// transform and the admission webhook both use it.
//
// The rules are those of the kubelet's expansion package
// (k8s.io/kubernetes third_party/forked/golang/expansion, itself forked
// from Go's os.Expand), applied by makeEnvironmentVariables to each
// env entry in order:
//
//   - "$$" is "$";
//   - "$(NAME)" is the value of NAME: the latest earlier entry of the
//     container's env, else a service-link variable, else the text
//     "$(NAME)" as written; NAME is everything up to the first ")";
//   - "$(" without a later ")" stays as written;
//   - "$" before any other character, or at the end, stays as written.
//
// One case differs between kubelet versions: "$" followed by a
// multi-byte character. Kubelets before 1.34 (and virtual-kubelet's
// copy of the package) write its first byte as a Latin-1 character,
// 1.34.0 to 1.34.3 refuse to start the container (kubernetes/kubernetes
// #136323), later ones keep it (#136325). Portable reports such values;
// callers leave them where the node's own kubelet expands them.
package kubeexpand

import "strings"

// Expand returns s expanded with lookup, which gives the value of a
// name and whether it is defined; an undefined reference stays as
// written.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	scan(s, func(text string) { b.WriteString(text) }, func(name string) {
		if lookup != nil {
			if v, ok := lookup(name); ok {
				b.WriteString(v)
				return
			}
		}
		b.WriteString("$(" + name + ")")
	})
	return b.String()
}

// Refs lists the names s refers to, in order, repeats included.
func Refs(s string) []string {
	var names []string
	if strings.Contains(s, "$(") {
		scan(s, func(string) {}, func(name string) { names = append(names, name) })
	}
	return names
}

// Portable says whether every kubelet expands s the same: no "$" that
// the expansion reads is followed by a byte outside ASCII (see the
// package comment).
func Portable(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		switch c := s[i+1]; {
		case c >= 0x80:
			return false
		case c == '$':
			i++ // an escape: the next "$" is not an operator
		case c == '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				i += 2 + end // a reference: its name is not read for operators
			}
		}
	}
	return true
}

// Literal is what the kubelet makes of s whatever the container's env:
// ok is false when s refers to any name or is not portable.
func Literal(s string) (string, bool) {
	if !Portable(s) || len(Refs(s)) > 0 {
		return "", false
	}
	return Expand(s, nil), true
}

// scan walks s as the kubelet's expansion does, handing literal text
// to text and each reference's name to ref.
func scan(s string, text func(string), ref func(name string)) {
	start := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		text(s[start:i])
		switch s[i+1] {
		case '$':
			text("$")
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				text("$(")
				i++
				break
			}
			ref(s[i+2 : i+2+end])
			i += 2 + end
		default:
			// "$" and the next character are copied as they are; the
			// character is not read as an operator.
			text(s[i : i+2])
			i++
		}
		start = i + 1
	}
	text(s[start:])
}

// Entry is one entry of a container's env list. Known is false when the
// caller cannot see the value (a secret or field reference).
type Entry struct {
	Name  string
	Value string
	Known bool
}

// Resolve expands a container's env list in order, as the kubelet does
// before the container starts. values[i] is entry i's value as the
// container sees it; known[i] says whether it is certain from the list
// alone: the entry is known and portable, and each name it refers to is
// either defined by an earlier entry whose value is certain, or not
// defined earlier and unable to name a service-link variable (see
// MayBeServiceLink), so that it stays as written. open says that names
// outside the list may be defined (envFrom sources): then only
// references to earlier entries are certain.
func Resolve(entries []Entry, open bool) (values []string, known []bool) {
	values = make([]string, len(entries))
	known = make([]bool, len(entries))
	type seen struct {
		value string
		known bool
	}
	defined := map[string]seen{}
	for i, e := range entries {
		if !e.Known {
			defined[e.Name] = seen{}
			continue
		}
		certain := Portable(e.Value)
		values[i] = Expand(e.Value, func(name string) (string, bool) {
			d, ok := defined[name]
			switch {
			case ok:
				certain = certain && d.known
				return d.value, true
			case open || MayBeServiceLink(name):
				certain = false
			}
			return "", false
		})
		known[i] = certain
		defined[e.Name] = seen{values[i], certain}
	}
	return values, known
}

// MayBeServiceLink says whether name can be one of the variables the
// kubelet derives from the services of the pod's namespace
// (pkg/kubelet/envvars FromServices): the service's name upper-cased
// with "-" as "_", then _SERVICE_HOST, _SERVICE_PORT[_PORTNAME],
// _PORT, or _PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]. All hold
// "_SERVICE_HOST" or "_PORT", and none a lower-case letter.
func MayBeServiceLink(name string) bool {
	if !strings.Contains(name, "_SERVICE_HOST") && !strings.Contains(name, "_PORT") {
		return false
	}
	return strings.ToUpper(name) == name
}
