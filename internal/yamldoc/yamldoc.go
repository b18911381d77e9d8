// Package yamldoc splits a Drone config into its YAML documents, keeps
// each one's original bytes, parses them into order-preserving yaml.v3
// trees, and refuses hostile input before anything expands an alias.
//
// Documents nobody edits are written back from their original bytes, so
// they come back byte-identical; only edited documents are re-encoded.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits bound what one config may cost to expand. They are checked on
// the yaml.v3 tree, where aliases are still references, because the
// libraries that read the config next (buildkite/yaml in Drone's server
// and runners) expand every alias eagerly.
type Limits struct {
	MaxDocuments int
	MaxDepth     int
	// MaxExpandedNodes is the expansion every config may reach whatever
	// its size; bigger configs may reach AliasRatio times their own node
	// count, so the cost stays a small multiple of the input.
	MaxExpandedNodes int
	AliasRatio       int
}

// Document is one YAML document of a config.
type Document struct {
	// Number is the 1-based position among the config's documents, the
	// way a user counts them in an error message.
	Number int
	// Raw is the document's original text, separator line included.
	Raw []byte
	// Root is the document node, nil when the chunk holds only comments,
	// directives or separators.
	Root *yaml.Node
	// Edited marks a document whose tree was changed and must be
	// re-encoded.
	Edited bool
	// firstLine is the file line the document's text starts on; node
	// lines count from it.
	firstLine int
	// parsed records the tree as parsed (BeginEdit), so that Encode can
	// re-encode only what changed; nil re-encodes the whole document.
	parsed *record
	// nodes is the number of nodes Parse found in the tree.
	nodes int
	// dup is DuplicateKey's answer, found by Parse (dupKnown).
	dup      *yaml.Node
	dupKnown bool
	// noAliases: Parse found no alias in the tree (and no transform
	// makes one), so none needs repairing.
	noAliases bool
}

// DroneText is the document's text as Drone's runner parses it: without
// its separator line, after envsubst's backslash rule.
func (d *Document) DroneText() []byte {
	return envsubstBackslashes(d.Raw[len(separatorLine(d.Raw)):])
}

// FileLine is the line of the whole file that node n (of this document)
// is on, as the author's editor numbers it.
func (d *Document) FileLine(n *yaml.Node) int {
	return n.Line + d.firstLine - 1
}

// DuplicateKey returns the first key written twice in one mapping of
// the document as parsed, nil when there is none. Drone's YAML library accepts
// such a document and keeps the last value; editing it would be
// guesswork.
func (d *Document) DuplicateKey() *yaml.Node {
	if d.Root == nil {
		return nil
	}
	if d.dupKnown {
		return d.dup
	}
	return duplicateKey(d.Root)
}

// duplicateKey walks the tree by content only: aliases are not followed
// and a parsed tree shares no node, so no node is visited twice.
func duplicateKey(n *yaml.Node) *yaml.Node {
	if dup := duplicateIn(n); dup != nil {
		return dup
	}
	for _, child := range n.Content {
		if dup := duplicateKey(child); dup != nil {
			return dup
		}
	}
	return nil
}

// duplicateIn returns the first key of mapping n written twice in it.
func duplicateIn(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if len(n.Content) > 32 {
		return duplicateInLarge(n)
	}
	// Pairwise: mappings in pipelines are small, and a map per mapping
	// would cost more.
	for i := 2; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || IsMergeKey(k) {
			continue
		}
		for j := 0; j < i; j += 2 {
			if prev := n.Content[j]; prev.Kind == yaml.ScalarNode && prev.Value == k.Value && !IsMergeKey(prev) {
				return k
			}
		}
	}
	return nil
}

// duplicateInLarge is duplicateIn by a set of the keys seen: pairwise,
// one mapping of 90 000 keys (900 KB, under the body limit) took 13 s,
// and Parse runs on every request, opted in or not.
func duplicateInLarge(n *yaml.Node) *yaml.Node {
	seen := make(map[string]struct{}, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || IsMergeKey(k) {
			continue
		}
		if _, dup := seen[k.Value]; dup {
			return k
		}
		seen[k.Value] = struct{}{}
	}
	return nil
}

// Hazards are what makes a document unsafe to edit (DuplicateKey,
// LateMerge).
type Hazards struct {
	// Duplicate is the first key written twice in one mapping.
	Duplicate *yaml.Node
	// Merge is the first merge key after an explicit key its sources
	// also set, MergeKey that key's name.
	Merge    *yaml.Node
	MergeKey string
}

// BeginEdit is called before the tree is edited. In one walk it finds
// what would make editing unsafe (see DuplicateKey and LateMerge) and
// records the tree as parsed, so that Encode re-encodes only the parts
// that change and keeps the original text of the rest. Without it,
// Encode re-encodes edited documents whole.
func (d *Document) BeginEdit() Hazards {
	var h Hazards
	if d.Root == nil {
		return h
	}
	rec := newRecord(d.nodes)
	h.Duplicate = d.DuplicateKey() // found by Parse, as the tree is now
	rec.add(d.Root, func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && h.Merge == nil {
			h.Merge, h.MergeKey = lateMergeIn(n)
		}
	})
	d.parsed = rec
	return h
}

// Body returns the document's top-level node, usually a mapping.
func (d *Document) Body() *yaml.Node {
	if d.Root == nil || len(d.Root.Content) == 0 {
		return nil
	}
	return d.Root.Content[0]
}

// Parse splits and parses data, then checks the limits. The error names
// the document and carries the parser's own message.
func Parse(data []byte, limits Limits) ([]*Document, error) {
	chunks, ignored := split(data)
	docs := make([]*Document, 0, len(chunks)+1)
	number, line := 0, 1
	for i, raw := range chunks {
		// Empty and comment-only documents count too: each costs a chunk,
		// a Document and a pass of every later step, and 100 000 of them
		// are no cheaper to carry than real ones.
		if i == limits.MaxDocuments {
			msg := fmt.Sprintf("config has more than %d YAML documents, this service's limit", limits.MaxDocuments)
			if empty := i - number; empty > 0 {
				msg += fmt.Sprintf(": %d of the first %d are empty or comments only, and those count too", empty, i)
			}
			return nil, &LimitError{Setting: "DRONE_ECI_MAX_DOCUMENTS", msg: msg}
		}
		first := line
		line += bytes.Count(raw, []byte("\n"))
		doc := &Document{Raw: raw, firstLine: first}
		body, bodyLine := raw, first
		if sep := separatorLine(raw); sep != nil {
			// Drone drops a separator line whole, whatever follows "---".
			body, bodyLine = raw[len(sep):], first+1
		}
		if hasContent(body) {
			number++
			doc.Number = number
			var root yaml.Node
			// Drone runs envsubst over the text before parsing it, and
			// envsubst halves "\\" and turns "\/" into "/": the tree holds
			// what Drone parses, and Encode doubles backslashes back.
			if err := yaml.Unmarshal(envsubstBackslashes(body), &root); err != nil {
				return nil, fmt.Errorf("document %d: invalid YAML: %s", number, fileLines(tabLine(err, body), bodyLine))
			}
			if root.Kind != 0 {
				doc.Root = &root
				doc.firstLine = bodyLine
			}
		}
		docs = append(docs, doc)
	}
	if ignored != nil {
		docs = append(docs, &Document{Raw: ignored})
	}
	if err := checkExpansion(docs, limits); err != nil {
		return nil, err
	}
	return docs, nil
}

// Encode writes the config back: untouched documents from their original
// bytes, edited ones after their original separator line: spliced (their
// original text with only the changed entries re-encoded) when BeginEdit
// recorded them and the changes can be placed with certainty, else
// re-encoded whole.
func Encode(docs []*Document) ([]byte, error) {
	var out bytes.Buffer
	for _, doc := range docs {
		if !doc.Edited {
			out.Write(doc.Raw)
			continue
		}
		out.Write(separatorPrefix(doc.Raw))
		if !doc.noAliases {
			repairAliases(doc.Root)
		}
		if doc.parsed != nil {
			spliced, err := doc.splice()
			if err == nil {
				if len(docs) == 1 && out.Len() == 0 {
					// The spliced text is the config: no copy. When the tree
					// is back as parsed, that is the document's Raw, a slice
					// of the caller's input, which callers only read.
					return spliced, nil
				}
				out.Write(spliced)
				continue
			}
			if err != errNoSplice {
				return nil, fmt.Errorf("document %d: encoding: %w", doc.Number, err)
			}
		}
		prepare(doc.Root, false)
		doubleBackslashes(doc.Root, map[*yaml.Node]bool{})
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(doc.Root); err != nil {
			return nil, fmt.Errorf("document %d: encoding: %w", doc.Number, err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("document %d: encoding: %w", doc.Number, err)
		}
	}
	return out.Bytes(), nil
}

// split cuts data into documents the way Drone reads a config
// (runner-go manifest.ParseRaw, and the server's copy of it): every line
// that starts with "---" begins a new document, and a line that starts
// with "..." ends the config: Drone ignores it and everything after, which
// split returns as ignored, kept only for its bytes.
func split(data []byte) (chunks [][]byte, ignored []byte) {
	start := 0
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		line := data[off:next]
		switch {
		case bytes.HasPrefix(line, []byte("---")):
			if off > start {
				chunks = append(chunks, data[start:off])
				start = off
			}
		case bytes.HasPrefix(line, []byte("...")):
			if off > start || len(chunks) == 0 {
				chunks = append(chunks, data[start:off])
			}
			return chunks, data[off:]
		}
		off = next
	}
	if start < len(data) || len(chunks) == 0 {
		chunks = append(chunks, data[start:])
	}
	return chunks, nil
}

// separatorLine returns the chunk's first line when it is a document
// separator, nil when the chunk starts without one.
func separatorLine(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("---")) {
		return nil
	}
	if end := bytes.IndexByte(raw, '\n'); end >= 0 {
		return raw[:end+1]
	}
	return raw
}

// hasContent reports whether a document's body (its separator line
// removed) holds anything but blank lines and comments, i.e. whether a
// parser sees a document in it.
func hasContent(body []byte) bool {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 && trimmed[0] != '#' {
			return true
		}
	}
	return false
}

// separatorPrefix is the part of a document's original text that the
// encoder does not write: its separator line, as written (Drone ignores
// whatever follows "---" on it).
func separatorPrefix(raw []byte) []byte {
	return separatorLine(raw)
}

// IsMergeKey reports whether n is a YAML merge key ("<<"), which
// buildkite/yaml honours like any YAML 1.1 reader.
func IsMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.Style == 0 && (n.Tag == "!!merge" || n.Tag == "")
}

// repairAliases keeps every alias in the document pointing at an anchor
// that is still written out. Copy-on-write replaces edited nodes by
// fresh ones; when the replaced node (or one inside it) carried an
// anchor that others still use, the first remaining alias, in document
// order, takes the original node's place so later aliases still resolve.
func repairAliases(root *yaml.Node) {
	present := map[*yaml.Node]bool{}
	var walk func(parent *yaml.Node)
	walk = func(parent *yaml.Node) {
		for i, n := range parent.Content {
			if n.Kind == yaml.AliasNode {
				if n.Alias != nil && !present[n.Alias] {
					parent.Content[i] = n.Alias
					present[n.Alias] = true
					walk(n.Alias)
				}
				continue
			}
			if n.Anchor != "" {
				present[n] = true
			}
			walk(n)
		}
	}
	if root.Anchor != "" {
		present[root] = true
	}
	walk(root)
}

// prepare fixes what yaml.v3's encoder would otherwise get wrong:
//   - merge keys carry the tag the decoder gave them, which the encoder
//     prints as "!!merge <<"; an untagged plain "<<" reads back as the
//     same merge key;
//   - a key's line comment before an empty collection is moved after
//     it (the encoder would write the collection on a line of its own);
//   - an empty null inside a flow collection ("{temp: }") or as a key
//     ("? ") is printed as ” (an empty string, which means something
//     else to Drone); "null" keeps its meaning.
//
// Every fix is idempotent, so a node a transform placed twice may be
// visited twice; a parsed tree shares no node (aliases are not followed).
// Such a node gets the fixes of every context it stands in (a null in a
// flow list is spelled "null" even when it stands in a block mapping
// too), which is right for both.
func prepare(n *yaml.Node, inFlow bool) {
	if n == nil {
		return
	}
	if inFlow {
		spellNull(n)
	}
	requote(n, inFlow)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			prepareKey(n.Content[i], n.Content[i+1])
		}
	}
	flow := inFlow || n.Style&yaml.FlowStyle != 0
	for _, child := range n.Content {
		prepare(child, flow)
	}
}

// prepareKey is prepare's fix of one key k and its value v.
func prepareKey(k, v *yaml.Node) {
	if IsMergeKey(k) {
		k.Tag = ""
	}
	// A key's line comment before an empty collection comes out
	// between them ("k: # c" then "{}" on a line of its own),
	// which does not parse; after the value it does.
	if k.LineComment != "" && (v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode) && len(v.Content) == 0 && v.LineComment == "" {
		v.LineComment, k.LineComment = k.LineComment, ""
	}
}

// prepareEntry prepares what wrap(kind, entry) holds, as prepare would
// the wrapper (a block collection).
func prepareEntry(kind yaml.Kind, entry []*yaml.Node) {
	if kind == yaml.MappingNode && len(entry) == 2 {
		prepareKey(entry[0], entry[1])
	}
	for _, n := range entry {
		prepare(n, false)
	}
}

// requote writes double-quoted the scalars yaml.v3's encoder would get
// wrong:
//   - a scalar starting with a line break printed as a block: the
//     encoder drops that first break ("|\n\n  x" comes back as "x");
//   - a folded scalar with more-indented lines: the encoder folds them
//     differently from how they were read (an extra line break).
func requote(n *yaml.Node, inFlow bool) {
	if n.Kind != yaml.ScalarNode || n.Style&yaml.DoubleQuotedStyle != 0 {
		return
	}
	leadingBreak := strings.HasPrefix(n.Value, "\n")
	indentedLine := strings.Contains(n.Value, "\n ") || strings.Contains(n.Value, "\n\t")
	if !leadingBreak && !indentedLine {
		return
	}
	printed := printedAs(n, inFlow)
	if (leadingBreak && (printed == '|' || printed == '>')) || (indentedLine && printed == '>') {
		n.Style = yaml.DoubleQuotedStyle
	}
}

// printedAs is the first byte yaml.v3's encoder prints for the scalar:
// '"' double-quoted, '|' or '>' a block, else plain or single-quoted.
// Inside a flow collection a multi-line scalar is always double-quoted.
func printedAs(n *yaml.Node, inFlow bool) byte {
	if inFlow && strings.Contains(n.Value, "\n") {
		return '"'
	}
	probe := &yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: n.Value, Style: n.Style}
	out, err := yaml.Marshal(probe)
	if err != nil || len(out) == 0 {
		return 0
	}
	return out[0]
}

// envsubstBackslashes is what drone/envsubst does to backslashes in
// text: "\\" becomes "\" and "\/" becomes "/", left to right.
func envsubstBackslashes(text []byte) []byte {
	if bytes.IndexByte(text, '\\') < 0 {
		return text
	}
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' && i+1 < len(text) && (text[i+1] == '\\' || text[i+1] == '/') {
			i++
		}
		out = append(out, text[i])
	}
	return out
}

// doubleBackslashes readies the tree for Drone's envsubst. The tree
// holds what Drone parses after envsubst has halved "\\" (Parse);
// doubling every backslash of every value makes the encoded text, raw or
// escaped, halve back to it, and keeps it valid YAML for the Drone
// server, which parses the text as it is. doubled holds the scalars
// already doubled: a scalar a transform placed twice is doubled once.
func doubleBackslashes(n *yaml.Node, doubled map[*yaml.Node]bool) {
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.IndexByte(n.Value, '\\') >= 0 && !doubled[n] {
		doubled[n] = true
		n.Value = strings.ReplaceAll(n.Value, `\`, `\\`)
	}
	for _, child := range n.Content {
		doubleBackslashes(child, doubled)
	}
}

func spellNull(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" {
		n.Value = "null"
	}
}

var chunkLine = regexp.MustCompile(`line (\d+)`)

// fileLines rewrites the parser's line numbers, which count from the
// start of the document, into lines of the whole file, which is what the
// author's editor shows.
// tabLine corrects the line of yaml.v3's "found a tab character" error:
// it names the line where the scalar it was scanning began, often the
// one before the tab. The line to fix is the first from there on with a
// tab in its indentation.
func tabLine(err error, body []byte) error {
	msg := err.Error()
	if !strings.Contains(msg, "found a tab character") {
		return err
	}
	m := chunkLine.FindStringIndex(msg)
	if m == nil {
		return err
	}
	reported, convErr := strconv.Atoi(msg[m[0]+len("line ") : m[1]])
	if convErr != nil {
		return err
	}
	for n, line := range strings.Split(string(body), "\n") {
		if n+1 < reported {
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") {
			return errors.New(msg[:m[0]] + "line " + strconv.Itoa(n+1) + msg[m[1]:])
		}
	}
	return err
}

func fileLines(err error, first int) string {
	return chunkLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, convErr := strconv.Atoi(m[len("line "):])
		if convErr != nil {
			return m
		}
		return "line " + strconv.Itoa(n+first-1)
	})
}

// Lookup returns the value under key in mapping m the way a YAML 1.1
// reader sees it: explicit keys first, then keys brought in by merge
// keys ("<<: *anchor"), which Drone's YAML library honours.
func Lookup(m *yaml.Node, key string) *yaml.Node {
	m = Resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	// buildkite/yaml applies a mapping's entries in document order, a
	// merge key setting every key of its sources where it stands (unlike
	// the YAML spec, where explicit keys always win), and a key written
	// twice keeps the last value. So the last entry that sets key wins.
	for i := len(m.Content) - 2; i >= 0; i -= 2 {
		k := m.Content[i]
		if !IsMergeKey(k) {
			if k.Value == key {
				return m.Content[i+1]
			}
			continue
		}
		for _, s := range sourcesOf(m.Content[i+1]) {
			if v := Lookup(s, key); v != nil {
				return v
			}
		}
	}
	return nil
}

// sourcesOf lists the mappings one merge key's value brings in, in
// precedence order.
func sourcesOf(value *yaml.Node) []*yaml.Node {
	source := Resolve(value)
	if source != nil && source.Kind == yaml.SequenceNode {
		return source.Content
	}
	return []*yaml.Node{source}
}

// LateMerge returns the first merge key of the document that comes after
// an explicit key its sources also set, and that key's name. The YAML
// spec lets the explicit key win; buildkite/yaml, which Drone reads
// configs with, lets the merge win. Editing such a document would mean
// choosing one reading.
func (d *Document) LateMerge() (*yaml.Node, string) {
	if d.Root == nil {
		return nil, ""
	}
	return lateMerge(d.Root, map[*yaml.Node]bool{})
}

func lateMerge(n *yaml.Node, seen map[*yaml.Node]bool) (*yaml.Node, string) {
	if n == nil || seen[n] {
		return nil, ""
	}
	seen[n] = true
	if m, key := lateMergeIn(n); m != nil {
		return m, key
	}
	for _, child := range n.Content {
		if m, key := lateMerge(child, seen); m != nil {
			return m, key
		}
	}
	return nil, ""
}

// lateMergeIn is lateMerge for mapping n alone.
func lateMergeIn(n *yaml.Node) (*yaml.Node, string) {
	if n.Kind != yaml.MappingNode {
		return nil, ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !IsMergeKey(n.Content[i]) {
			continue
		}
		for j := 0; j < i; j += 2 {
			k := n.Content[j]
			if IsMergeKey(k) {
				continue
			}
			for _, s := range sourcesOf(n.Content[i+1]) {
				if Lookup(s, k.Value) != nil {
					return n.Content[i], k.Value
				}
			}
		}
	}
	return nil, ""
}

// LastKey returns the index in m.Content of the last explicit (not
// merged) key named key, -1 when there is none.
func LastKey(m *yaml.Node, key string) int {
	for i := len(m.Content) - 2; i >= 0; i -= 2 {
		if m.Content[i].Value == key && !IsMergeKey(m.Content[i]) {
			return i
		}
	}
	return -1
}

// MergeSources lists, in precedence order, the mappings that m's merge
// keys bring in ("<<: *a" or "<<: [*a, *b]", earlier sources winning).
func MergeSources(m *yaml.Node) []*yaml.Node {
	var sources []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if IsMergeKey(m.Content[i]) {
			sources = append(sources, sourcesOf(m.Content[i+1])...)
		}
	}
	return sources
}

// Resolve follows an alias to the node it names.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// Subset encodes a document holding only the given top-level keys of the
// mapping body, aliases expanded (so it stands alone), for reading those
// keys with another YAML library without re-encoding the whole document.
// Expansion is bounded by the limits Parse already checked.
func Subset(body *yaml.Node, keys ...string) ([]byte, error) {
	sub := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, key := range keys {
		if v := Lookup(body, key); v != nil {
			sub.Content = append(sub.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, expand(v))
		}
	}
	// Headers are mostly plain strings in block mappings, which the
	// direct writer takes without yaml.v3's encoder.
	if out, ok := appendSimple(nil, sub, nil); ok {
		return out, nil
	}
	prepare(sub, false)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	if err := enc.Encode(sub); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// expand copies n with every alias replaced by a copy of its target,
// without comments.
func expand(n *yaml.Node) *yaml.Node {
	n = Resolve(n)
	c := *n
	c.Anchor, c.HeadComment, c.LineComment, c.FootComment = "", "", "", ""
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, child := range n.Content {
			c.Content[i] = expand(child)
		}
	}
	return &c
}
