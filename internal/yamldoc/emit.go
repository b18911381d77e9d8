package yamldoc

import (
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// A small block-style writer for the fragments most edits produce: the
// annotations, selectors and lists a transform adds, made of block
// mappings and sequences of one-line scalars. yaml.v3's emitter spends
// tens of nanoseconds on every character and allocates for every event;
// this writes the same meaning directly. Whatever it does not know to
// write exactly (comments, anchors, aliases, tags it cannot vouch for,
// flow style other than a mapping value's list of simple strings, block
// scalars, line breaks, empty collections) it refuses, and the fragment goes to yaml.v3's encoder.

// appendSimple appends the fragment wrapper n (a one-entry mapping or a
// one-item sequence at the margin), or reports that it cannot.
func appendSimple(out []byte, n *yaml.Node, rec *record) ([]byte, bool) {
	w := simpleWriter{out: out, rec: rec}
	var ok bool
	if n.Kind == yaml.MappingNode {
		ok = w.mapping(n, 0, false)
	} else {
		ok = w.sequence(n, 0)
	}
	return w.out, ok
}

// appendSimpleIndented is appendSimple with every line indented by
// indent more spaces, the first line only when atLineStart: what
// appendIndented makes of appendSimple's text, written in one pass into
// the spliced document (no line the writer writes is empty).
func appendSimpleIndented(out []byte, kind yaml.Kind, entry []*yaml.Node, rec *record, indent int, atLineStart bool) ([]byte, bool) {
	w := simpleWriter{out: out, rec: rec, base: indent, skipBase: !atLineStart}
	var ok bool
	switch {
	case len(entry) == 0:
	case kind == yaml.MappingNode:
		ok = len(entry)%2 == 0 && w.entries(entry, 0, false)
	default:
		ok = w.items(entry, 0)
	}
	return w.out, ok
}

type simpleWriter struct {
	out []byte
	rec *record
	// base is added to every line's indentation but the first's when
	// skipBase is set (the fragment continues a line already begun).
	base     int
	skipBase bool
}

// indent starts a line: every line the writer writes starts here.
func (w *simpleWriter) indent(n int) {
	if w.skipBase {
		w.skipBase = false
	} else {
		n += w.base
	}
	for ; n > 0; n-- {
		w.out = append(w.out, ' ')
	}
}

// plainNode: no comments, anchor, alias or explicit tag.
func plainNode(n *yaml.Node) bool {
	return n.HeadComment == "" && n.LineComment == "" && n.FootComment == "" && n.Anchor == "" &&
		n.Kind != yaml.AliasNode && n.Style&(yaml.TaggedStyle|yaml.FlowStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

// mapping writes a block mapping at indent; its first key goes on the
// current line when inline (after a sequence dash).
func (w *simpleWriter) mapping(m *yaml.Node, indent int, inline bool) bool {
	if !plainNode(m) || len(m.Content) == 0 || len(m.Content)%2 != 0 || (m.Tag != "" && m.Tag != "!!map") {
		return false
	}
	return w.entries(m.Content, indent, inline)
}

// entries writes a block mapping's keys and values.
func (w *simpleWriter) entries(content []*yaml.Node, indent int, inline bool) bool {
	for i := 0; i+1 < len(content); i += 2 {
		if i > 0 || !inline {
			w.indent(indent)
		}
		k, v := content[i], content[i+1]
		if k.Kind != yaml.ScalarNode || !w.scalar(k, true) {
			return false
		}
		w.out = append(w.out, ':')
		if !w.value(v, indent) {
			return false
		}
	}
	return true
}

// value writes what follows a key's colon or a dash, then the line break.
func (w *simpleWriter) value(v *yaml.Node, indent int) bool {
	switch v.Kind {
	case yaml.ScalarNode:
		w.out = append(w.out, ' ')
		if !w.scalar(v, false) {
			return false
		}
		w.out = append(w.out, '\n')
		return true
	case yaml.MappingNode:
		w.out = append(w.out, '\n')
		return w.mapping(v, indent+2, false)
	case yaml.SequenceNode:
		if v.Style == yaml.FlowStyle {
			return w.flowSequence(v)
		}
		w.out = append(w.out, '\n')
		return w.sequence(v, indent+2)
	}
	return false
}

// flowSequence writes a mapping value's flow sequence of strings on one
// line, as the kaniko step's tags: [latest, "${DRONE_COMMIT_SHA:0:8}"]
// is. Each item is written as yaml.v3 writes it, byte for byte: plain
// when it is made of letters, digits and "._/-" only (no flow
// indicator, nothing the runner's substitution could turn into one) and
// reads as a string, double-quoted as parsed when it needs no escape;
// anything else is refused.
func (w *simpleWriter) flowSequence(s *yaml.Node) bool {
	if s.HeadComment != "" || s.LineComment != "" || s.FootComment != "" || s.Anchor != "" ||
		len(s.Content) == 0 || (s.Tag != "" && s.Tag != "!!seq") {
		return false
	}
	w.out = append(w.out, " ["...)
	for i, item := range s.Content {
		if i > 0 {
			w.out = append(w.out, ", "...)
		}
		if item.Kind != yaml.ScalarNode || !plainNode(item) || item.Tag != "!!str" {
			return false
		}
		switch v := item.Value; {
		case item.Style == 0 && safePlain(v) && flowPlain(v):
			w.out = append(w.out, v...)
		case item.Style == yaml.DoubleQuotedStyle && plainASCII(v):
			w.out = append(w.out, '"')
			w.out = append(w.out, v...)
			w.out = append(w.out, '"')
		default:
			return false
		}
	}
	w.out = append(w.out, "]\n"...)
	return true
}

// flowPlain: letters, digits and "._/-" only.
func flowPlain(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return false
		}
	}
	return true
}

func (w *simpleWriter) sequence(s *yaml.Node, indent int) bool {
	if !plainNode(s) || len(s.Content) == 0 || (s.Tag != "" && s.Tag != "!!seq") {
		return false
	}
	return w.items(s.Content, indent)
}

// items writes a block sequence's items.
func (w *simpleWriter) items(content []*yaml.Node, indent int) bool {
	for _, item := range content {
		w.indent(indent)
		w.out = append(w.out, '-')
		switch item.Kind {
		case yaml.ScalarNode:
			if !w.value(item, indent) {
				return false
			}
		case yaml.MappingNode:
			w.out = append(w.out, ' ')
			if !w.mapping(item, indent+2, true) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// scalar writes a one-line scalar so that yaml.v3 and buildkite/yaml
// read back its value with its tag.
func (w *simpleWriter) scalar(n *yaml.Node, key bool) bool {
	if !plainNode(n) || n.Kind != yaml.ScalarNode || (key && len(n.Value) > 256) {
		// A key longer than YAML's 1024 characters for an implicit key
		// is written "? key" by yaml.v3.
		return false
	}
	v := n.Value
	switch n.Tag {
	case "!!str", "":
		switch {
		case n.Style&yaml.DoubleQuotedStyle != 0:
			if !plainASCII(v) {
				return false
			}
			w.out = append(w.out, '"')
			w.out = append(w.out, v...)
			w.out = append(w.out, '"')
			return true
		case n.Style&yaml.SingleQuotedStyle == 0 && (safePlain(v) || oldBool(v)):
			// yaml.v3 writes YAML 1.1's y/n/yes/no/on/off plain too (to
			// it they are strings): buildkite/yaml reads them as the
			// author's text meant.
			w.out = append(w.out, v...)
			return true
		case n.Tag == "":
			// Untagged, the encoder resolves the value; only a value that
			// reads as a string either way is certain (a merge key too).
			return false
		case n.Style&yaml.SingleQuotedStyle == 0 && (sexagesimal(v) || v == "<<"):
			// yaml.v3 writes it plain, and YAML 1.1 reads a number, or a
			// merge key.
			return false
		case n.Style&yaml.SingleQuotedStyle == 0 && plainASCII(v):
			w.out = append(w.out, '"')
			w.out = append(w.out, v...)
			w.out = append(w.out, '"')
			return true
		case !printableLine(v):
			return false
		}
		w.out = append(w.out, '\'')
		for {
			i := strings.IndexByte(v, '\'')
			if i < 0 {
				break
			}
			w.out = append(w.out, v[:i+1]...)
			w.out = append(w.out, '\'')
			v = v[i+1:]
		}
		w.out = append(w.out, v...)
		w.out = append(w.out, '\'')
		return true
	case "!!int", "!!bool", "!!float":
		// Written as the author wrote it, when it is the parsed text.
		if key || n.Style != 0 || !w.parsed(n) || !numberLike(v) {
			return false
		}
		w.out = append(w.out, v...)
		return true
	}
	return false
}

// parsed reports whether n is as parsed, its value the text it was read
// from.
func (w *simpleWriter) parsed(n *yaml.Node) bool {
	if w.rec == nil {
		return false
	}
	rec, ok := w.rec.get(n)
	return ok && rec.same(n)
}

// safePlain: a one-line string that both YAML 1.1 and 1.2 read back as
// the same string when written plain in block context: printable ASCII,
// no leading or trailing space, no indicator first, no ": " or " #", not
// a number, boolean, null or timestamp (a letter or "/" first, or a
// digit with a letter no number or timestamp has).
func safePlain(v string) bool {
	if v == "" || v[len(v)-1] == ':' || v[len(v)-1] == ' ' {
		return false
	}
	switch c := v[0]; {
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/':
	case c >= '0' && c <= '9':
		if strings.IndexByte(v, ':') >= 0 || strings.IndexAny(v, "ghijklmnpqrsuvwyGHIJKLMNPQRSUVWY") < 0 {
			return false
		}
	default:
		return false
	}
	for i := 1; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
		if (c == ' ' && v[i-1] == ':') || (c == '#' && v[i-1] == ' ') {
			return false
		}
	}
	if len(v) <= 5 {
		switch strings.ToLower(v) {
		case "y", "n", "yes", "no", "true", "false", "on", "off", "null":
			return false
		}
	}
	return true
}

// oldBool: YAML 1.1's booleans beside true and false, in any case.
func oldBool(v string) bool {
	if len(v) > 3 {
		return false
	}
	switch strings.ToLower(v) {
	case "y", "n", "yes", "no", "on", "off":
		return true
	}
	return false
}

// sexagesimal: may be a base-60 number to YAML 1.1 (a digit or sign
// first, and a colon).
func sexagesimal(v string) bool {
	return v != "" && strings.IndexByte("+-0123456789", v[0]) >= 0 && strings.IndexByte(v, ':') >= 0
}

// numberLike: a plain number or boolean as written, on one line.
func numberLike(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-') {
			return false
		}
	}
	return v[0] != '-' || len(v) > 1
}

// plainASCII: printable ASCII that needs no escape in double quotes.
func plainASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// printableLine: what a single-quoted scalar holds as is on one line —
// no line break of YAML 1.1 or 1.2 (NEL, LS, PS included), no control
// character, no byte order mark, no tab.
func printableLine(v string) bool {
	for i := 0; i < len(v); {
		if c := v[i]; c < utf8.RuneSelf {
			// ASCII, most of what is written, without decoding.
			if c < 0x20 || c > 0x7e {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		i += size
		switch {
		case r == utf8.RuneError:
			return false
		case r >= 0xa0 && r <= 0xd7ff && r != 0x2028 && r != 0x2029:
		case r >= 0xe000 && r <= 0xfffd && r != 0xfeff:
		case r >= 0x10000 && r <= 0x10ffff:
		default:
			return false
		}
	}
	return true
}

// PlainString returns the string a YAML 1.1 reader (buildkite/yaml)
// reads for scalar n, when that is certainly n's own value: a !!str
// scalar on one line, plain and unambiguous (safePlain), or quoted
// without escapes. ok is false for everything else (YAML 1.1 booleans
// such as yes, numbers, nulls, escapes, block scalars), which only the
// library itself can answer for.
func PlainString(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!str" ||
		n.Style&(yaml.TaggedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.FlowStyle) != 0 {
		return "", false
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return n.Value, plainASCII(n.Value)
	}
	return n.Value, safePlain(n.Value)
}
