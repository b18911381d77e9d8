package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Splicing: an edited document is written as its original text with
// only the changed parts re-encoded. Re-encoding a whole document costs
// about twice parsing it, and most of a converted pipeline (its
// commands, comments, layout) is not touched.
//
// The unit of change is an entry of a block mapping (key and value) or
// an item of a block sequence. BeginEdit records every node as parsed;
// Encode compares the tree with that record from the document's body
// down, keeps the text of every unchanged unit, descends into changed
// block collections whose own node is unchanged, and re-encodes the
// rest: a changed entry or item is replaced by its encoding, indented
// where the original stood; a new one is inserted after its
// predecessor; a dropped one is cut out. Whatever this cannot place with
// certainty (flow collections, complex keys, properties before a key, a
// sequence item whose content starts on a later line than its dash)
// makes the whole document re-encoded instead, which is always correct.

// errNoSplice: the document cannot be spliced; it is re-encoded whole.
var errNoSplice = errors.New("cannot splice")

// nodeRecord is what a node held when it was parsed. Comments are not
// recorded: a changed comment alone changes no meaning. A record is
// kept for every node of every edited document, so it is small: the
// common tags are a code, and what most nodes lack (an anchor, an
// alias, another tag) is kept aside.
type nodeRecord struct {
	value                  string
	extra                  *nodeExtra // nil: no anchor or alias, a common tag
	contentStart, contentN int32      // into record.content
	size                   int32      // records in the subtree: its own and its content's
	kind, style, tag       uint8      // tag: an index into commonTags
}

// nodeExtra holds what a node's record has no room for.
type nodeExtra struct {
	tag, anchor string
	alias       *yaml.Node
	kind        yaml.Kind // kind and style, when one is too wide for a byte
	style       yaml.Style
	wide        bool
}

// commonTags are the tags the decoder gives almost every node; index 0
// is no tag.
var commonTags = [...]string{"", "!!str", "!!map", "!!seq", "!!int", "!!bool", "!!null", "!!float", "!!merge"}

func tagCode(tag string) (uint8, bool) {
	for i, t := range commonTags {
		if t == tag {
			return uint8(i), true
		}
	}
	return 0, false
}

// record is the parsed tree of one document. Its nodes are in document
// order (a node, then its content's subtrees), so the splicer, which
// walks down from the top, finds a child's record from its parent's:
// the first child's follows the parent's, each next one the previous
// one's subtree. Only the nodes found by pointer are indexed: the
// numbers and booleans the direct writer writes as parsed when they
// still are, wherever a transform moved them. A map entry for every
// node was most of the record's cost.
type record struct {
	root    *yaml.Node // the document node, recorded first
	index   map[*yaml.Node]int32
	nodes   []nodeRecord
	content []*yaml.Node
}

func newRecord(nodes int) *record {
	return &record{
		index:   map[*yaml.Node]int32{},
		nodes:   make([]nodeRecord, 0, nodes),
		content: make([]*yaml.Node, 0, nodes),
	}
}

// indexed: found by pointer (see record).
func indexed(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!bool" || n.Tag == "!!float")
}

// add records n and its subtree, in document order, calling visit on
// each node.
func (r *record) add(n *yaml.Node, visit func(*yaml.Node)) {
	visit(n)
	i := int32(len(r.nodes))
	if i == 0 {
		r.root = n
	}
	if indexed(n) {
		r.index[n] = i
	}
	rec := nodeRecord{
		value: n.Value, kind: uint8(n.Kind), style: uint8(n.Style),
		contentStart: int32(len(r.content)), contentN: int32(len(n.Content)),
	}
	code, common := tagCode(n.Tag)
	rec.tag = code
	wide := n.Kind > 0xff || n.Style > 0xff
	if !common || n.Anchor != "" || n.Alias != nil || wide {
		rec.extra = &nodeExtra{tag: n.Tag, anchor: n.Anchor, alias: n.Alias, kind: n.Kind, style: n.Style, wide: wide}
	}
	r.nodes = append(r.nodes, rec)
	r.content = append(r.content, n.Content...)
	for _, c := range n.Content {
		r.add(c, visit)
	}
	r.nodes[i].size = int32(len(r.nodes)) - i
}

// get finds an indexed node's record.
func (r *record) get(n *yaml.Node) (*nodeRecord, bool) {
	i, ok := r.index[n]
	if !ok {
		return nil, false
	}
	return &r.nodes[i], true
}

// lastChild is the record index of the last content node of the node
// recorded at i, which has content.
func (r *record) lastChild(i int32) int32 {
	j := i + 1
	for k := int32(1); k < r.nodes[i].contentN; k++ {
		j += r.nodes[j].size
	}
	return j
}

// original is n's content as parsed.
func (r *record) original(rec *nodeRecord) []*yaml.Node {
	return r.content[rec.contentStart : rec.contentStart+rec.contentN]
}

// same reports whether n's own fields are as parsed (content aside).
func (rec *nodeRecord) same(n *yaml.Node) bool {
	if rec.value != n.Value {
		return false
	}
	if x := rec.extra; x != nil {
		if x.wide {
			return x.kind == n.Kind && x.style == n.Style && x.tag == n.Tag && x.anchor == n.Anchor && x.alias == n.Alias
		}
		return yaml.Kind(rec.kind) == n.Kind && yaml.Style(rec.style) == n.Style && x.tag == n.Tag && x.anchor == n.Anchor && x.alias == n.Alias
	}
	return yaml.Kind(rec.kind) == n.Kind && yaml.Style(rec.style) == n.Style && commonTags[rec.tag] == n.Tag &&
		n.Anchor == "" && n.Alias == nil
}

// clean reports whether the subtree under n, the node recorded at i, is
// exactly as parsed, so its original text still says what it holds.
func (r *record) clean(n *yaml.Node, i int32) bool {
	rec := &r.nodes[i]
	if !rec.same(n) || int(rec.contentN) != len(n.Content) {
		return false
	}
	j := i + 1
	for k, c := range r.original(rec) {
		if n.Content[k] != c || !r.clean(c, j) {
			return false
		}
		j += r.nodes[j].size
	}
	return true
}

// splice is one change to the original text: [start, end) replaced by
// the encoding of entry (one key and value of a mapping, or one item of
// a sequence, as kind says; nil cuts the range out), its lines after
// the first indented by indent spaces (the first too when atLineStart).
type splice struct {
	start, end  int
	entry       []*yaml.Node
	kind        yaml.Kind
	indent      int
	atLineStart bool
	// multiline: the encoding may end in a block scalar, which blank
	// lines or deeper comments right after it would extend.
	multiline bool
	// strip lists comments the encoding must not repeat: they stay in
	// the original text around the replaced range. Nil for most.
	strip *strippedComments
}

type strippedComments struct {
	head, foot []*yaml.Node
}

// splicer plans the splices of one document.
type splicer struct {
	rec   *record
	body  []byte // the document's original text, separator line removed
	lines []int  // offset of each line's start (line 1 at index 0), then len(body)
	proc  []byte // body after envsubst's backslash rule (what nodes' columns count in)
	// procLines are proc's line starts (lines, when proc is body's length).
	procLines []int
	splices   []splice
	shape     []int32 // indentOf's answers by line
	// units is a stack the nested block calls take their units from:
	// each leaves it as it found it, so one array serves the document.
	units []unit
}

func newSplicer(rec *record, body []byte) *splicer {
	// A converted pipeline has about a splice for every eight nodes
	// (a step's env moved: its environment cut, a command and an
	// annotation added); growing the list by doubling would allocate it
	// twice over.
	s := &splicer{rec: rec, body: body, splices: make([]splice, 0, max(8, len(rec.nodes)/8)), units: make([]unit, 0, 16)}
	s.lines = append(make([]int, 0, bytes.Count(body, []byte("\n"))+2), 0)
	for off := 0; ; {
		i := bytes.IndexByte(body[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
		s.lines = append(s.lines, off)
	}
	if s.lines[len(s.lines)-1] != len(body) {
		s.lines = append(s.lines, len(body))
	}
	return s
}

// numLines is the number of lines of the body.
func (s *splicer) numLines() int { return len(s.lines) - 1 }

// lineText is line l (1-based) without its line break.
func (s *splicer) lineText(l int) []byte {
	line := s.body[s.lines[l-1]:s.lines[l]]
	return bytes.TrimRight(line, "\r\n")
}

// lineOf is the 1-based line holding offset off.
func (s *splicer) lineOf(off int) int { return lineIn(s.lines, off) }

// lineIn is the 1-based line holding offset off, by the line starts of
// its text.
func lineIn(starts []int, off int) int {
	lo, hi := 0, len(starts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1
}

// indentOf is the number of spaces starting line l, and whether the line
// holds nothing else (blank) or only a comment.
//
// Units nested in each other ask about the same lines again, so the
// answers are kept (in shape, indent<<2 | blank<<1 | comment, plus one;
// 0 for not yet known).
func (s *splicer) indentOf(l int) (indent int, blank, comment bool) {
	if s.shape == nil {
		s.shape = make([]int32, len(s.lines))
	}
	if v := s.shape[l-1]; v != 0 {
		v--
		return int(v >> 2), v&2 != 0, v&1 != 0
	}
	text := s.lineText(l)
	for indent < len(text) && text[indent] == ' ' {
		indent++
	}
	rest := bytes.TrimLeft(text[indent:], " \t")
	blank, comment = len(rest) == 0, len(rest) > 0 && rest[0] == '#'
	v := int32(indent) << 2
	if blank {
		v |= 2
	}
	if comment {
		v |= 1
	}
	s.shape[l-1] = v + 1
	return indent, blank, comment
}

// offset is the byte offset of a node's position, when everything before
// it on its line is indentation or sequence dashes (so the original and
// the envsubst'd text agree on it), -1 otherwise.
func (s *splicer) offset(line, column int) int {
	if line < 1 || line > s.numLines() || column < 1 {
		return -1
	}
	start := s.lines[line-1]
	off := start + column - 1
	if off >= s.lines[line] {
		return -1
	}
	for i := start; i < off; i++ {
		if c := s.body[i]; c != ' ' && !(c == '-' && i+1 < len(s.body) && s.body[i+1] == ' ') {
			return -1
		}
	}
	return off
}

// spacesFrom reports whether body[start:off] is all spaces.
func (s *splicer) spacesFrom(start, off int) bool {
	for i := start; i < off; i++ {
		if s.body[i] != ' ' {
			return false
		}
	}
	return true
}

func (s *splicer) lineStart(off int) int { return s.lines[s.lineOf(off)-1] }

// keyStart is where key k's text starts, -1 when something (a property,
// "? ") stands before it.
func (s *splicer) keyStart(k *yaml.Node) int {
	if k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Style&(yaml.TaggedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.FlowStyle) != 0 {
		return -1
	}
	off := s.offset(k.Line, k.Column)
	if off < 0 {
		return -1
	}
	c := s.body[off]
	switch {
	case k.Style&yaml.DoubleQuotedStyle != 0:
		if c != '"' {
			return -1
		}
	case k.Style&yaml.SingleQuotedStyle != 0:
		if c != '\'' {
			return -1
		}
	case c == '?' || c == '&' || c == '!' || c == '*' || c == '-' || c == '#' || c == '"' || c == '\'' || c == '{' || c == '[':
		return -1
	}
	return off
}

// dashStart is where the dash of sequence item n stands, -1 unless it is
// on n's own line with only spaces between.
func (s *splicer) dashStart(n *yaml.Node) int {
	off := s.offset(n.Line, n.Column)
	if off < 0 {
		return -1
	}
	start := s.lines[n.Line-1]
	i := off - 1
	for i >= start && s.body[i] == ' ' {
		i--
	}
	if i < start || i == off-1 || s.body[i] != '-' {
		return -1
	}
	return i
}

// unit is one entry or item of a block collection in the original text.
type unit struct {
	start int          // its first byte: the key or the dash
	end   int          // where the next unit starts (a line start)
	line  int          // the line of start
	last  int          // the line of end-1 (units are looked at by line)
	nodes []*yaml.Node // key and value, or the item
	recs  [2]int32     // their records' indices
	cut   int          // end of its own text: trailing blank and comment lines excluded; 0 until computed
}

// lastRec is the record index of u's last node (its value, or the item).
func (u *unit) lastRec() int32 { return u.recs[len(u.nodes)-1] }

// block descends into the block collection n, which stands where the
// node recorded at ri was parsed, with its own fields unchanged; end is
// where its text ends.
func (s *splicer) block(n *yaml.Node, ri int32, end int) error {
	rec := &s.rec.nodes[ri]
	orig := s.rec.original(rec)
	if len(orig) == 0 || len(n.Content) == 0 {
		// An emptied block collection has no text of its own left: it is
		// written "{}" or "[]" by its parent's re-encoding.
		return errNoSplice
	}
	step := 1
	if n.Kind == yaml.MappingNode {
		step = 2
	}
	base := len(s.units)
	defer func() { s.units = s.units[:base] }()
	// Grown once for the whole collection, rather than by doubling
	// through a collection of thousands of entries.
	s.units = slices.Grow(s.units, len(orig)/step)
	column := -1
	child := ri + 1 // the record of orig[i]
	for i := 0; i+step <= len(orig); i += step {
		// Both stand on the line of the node they start.
		var start int
		if step == 2 {
			start = s.keyStart(orig[i])
		} else {
			start = s.dashStart(orig[i])
		}
		if start < 0 {
			return errNoSplice
		}
		line := orig[i].Line
		lineStart := s.lines[line-1]
		col := start - lineStart
		if column >= 0 && (col != column || !s.spacesFrom(lineStart, start)) {
			return errNoSplice
		}
		column = col
		if len(s.units) > base {
			prev := &s.units[len(s.units)-1]
			if start <= prev.start {
				return errNoSplice
			}
			prev.end, prev.last = lineStart, line-1
		}
		u := unit{start: start, line: line, nodes: orig[i : i+step]}
		for k := 0; k < step; k++ {
			u.recs[k] = child
			child += s.rec.nodes[child].size
		}
		s.units = append(s.units, u)
	}
	// Nested calls push past this slice's end; should that move the
	// stack, this slice keeps the old array, which only it still uses.
	units := s.units[base:len(s.units):len(s.units)]
	if units[len(units)-1].start >= end {
		return errNoSplice
	}
	units[len(units)-1].end, units[len(units)-1].last = end, s.lineOf(end-1)
	for i := range units {
		if !s.indented(&units[i], column, step == 2) {
			return errNoSplice
		}
	}
	// Before the first unit, text can be inserted only when it starts
	// its line.
	firstAtLineStart := s.spacesFrom(s.lines[units[0].line-1], units[0].start)

	next := 0 // first original unit not yet matched
	after := -1
	if firstAtLineStart {
		after = s.lines[units[0].line-1]
	}
	// A wide collection (a config can hold thousands of entries in one)
	// is matched through maps; the searches below are linear, and would
	// make a mostly new one quadratic.
	var unitOf, lastAt map[*yaml.Node]int
	if len(units) > 32 || len(n.Content) > 64 {
		unitOf, lastAt = make(map[*yaml.Node]int, len(units)), make(map[*yaml.Node]int, len(n.Content))
		for k := range units {
			unitOf[units[k].nodes[0]] = k // a parsed tree shares no node
		}
		for i, c := range n.Content {
			lastAt[c] = i
		}
	}
	for i := 0; i+step <= len(n.Content); i += step {
		entry := n.Content[i : i+step]
		j := -1
		if unitOf != nil {
			if k, ok := unitOf[entry[0]]; ok && k >= next {
				j = k
			}
		} else {
			for k := next; k < len(units); k++ {
				if units[k].nodes[0] == entry[0] {
					j = k
					break
				}
			}
		}
		later := func(x *yaml.Node) bool {
			if lastAt != nil {
				at, ok := lastAt[x]
				return ok && at > i
			}
			return contains(n.Content[i+1:], x)
		}
		if j < 0 && step == 1 && next < len(units) && !later(units[next].nodes[0]) {
			// A new item where an original one goes: when it is a copy of
			// it, edited, only the differences are written.
			if u := &units[next]; s.within(n.Kind, u, entry[0], nil) {
				next++
				after = s.cut(u)
				continue
			}
		}
		if j < 0 {
			// New: inserted after what precedes it.
			if after < 0 {
				return errNoSplice
			}
			s.splices = append(s.splices, splice{start: after, end: after, entry: entry, kind: n.Kind, indent: column, atLineStart: true, multiline: endsMultiline(entry[len(entry)-1])})
			continue
		}
		for k := next; k < j; k++ {
			if err := s.drop(&units[k], k == 0 && !firstAtLineStart); err != nil {
				return err
			}
		}
		u := &units[j]
		next = j + 1
		if err := s.unit(n.Kind, u, entry, column); err != nil {
			return err
		}
		after = s.cut(u)
	}
	for k := next; k < len(units); k++ {
		if err := s.drop(&units[k], k == 0 && !firstAtLineStart); err != nil {
			return err
		}
	}
	return nil
}

// indented reports whether every line of u after its first that holds
// more than a comment is indented deeper than column (or, in a mapping,
// is a dash of a sequence written at the key's indentation), so that u's
// text ends where the next unit or an inserted one begins.
func (s *splicer) indented(u *unit, column int, mapping bool) bool {
	first, last := u.line, u.last
	for l := first + 1; l <= last; l++ {
		indent, blank, comment := s.indentOf(l)
		if blank || comment || indent > column {
			continue
		}
		text := s.lineText(l)
		if mapping && indent == column && text[indent] == '-' && (indent+1 == len(text) || text[indent+1] == ' ') {
			continue
		}
		return false
	}
	return true
}

// unit keeps, descends into or replaces one original unit, now holding
// entry.
func (s *splicer) unit(kind yaml.Kind, u *unit, entry []*yaml.Node, column int) error {
	value, orig := entry[len(entry)-1], u.nodes[len(u.nodes)-1]
	// entry[0] is u's first node: it was matched by pointer.
	keyClean := kind == yaml.SequenceNode || s.rec.clean(entry[0], u.recs[0])
	if keyClean {
		if value == orig && s.rec.clean(value, u.lastRec()) {
			return nil
		}
		if s.within(kind, u, value, entry[0]) {
			return nil
		}
	}
	sp := splice{start: u.start, end: s.cut(u), entry: entry, kind: kind, indent: column, multiline: endsMultiline(value)}
	if head, foot := s.aroundComments(u); head != nil || foot != nil {
		sp.strip = &strippedComments{head: head, foot: foot}
	}
	s.splices = append(s.splices, sp)
	return nil
}

// within edits u's text in place when value, now standing where u's
// collection was, is a block collection of the same kind, tag, style
// and anchor: the collection edited inside, or a copy a transform made
// of it and edited. Its entries are matched with the original's, and
// only those that differ are written.
func (s *splicer) within(kind yaml.Kind, u *unit, value, key *yaml.Node) bool {
	orig, ri := u.nodes[len(u.nodes)-1], u.lastRec()
	if !s.rec.nodes[ri].same(value) || value.Style&yaml.FlowStyle != 0 ||
		(value.Kind != yaml.MappingNode && value.Kind != yaml.SequenceNode) || (kind == yaml.MappingNode && orig.Line <= key.Line) {
		return false
	}
	mark := len(s.splices)
	if err := s.block(value, ri, u.end); err != nil {
		s.splices = s.splices[:mark]
		return false
	}
	return true
}

// drop cuts an original unit out, from the start of its line.
func (s *splicer) drop(u *unit, midLine bool) error {
	if midLine {
		return errNoSplice
	}
	s.splices = append(s.splices, splice{start: s.lines[u.line-1], end: s.cut(u)})
	return nil
}

// cut is where u's own text ends: after its last line that is not blank
// or a comment, unless that line ends inside a scalar that goes on.
func (s *splicer) cut(u *unit) int {
	if u.cut > 0 {
		return u.cut
	}
	first, last := u.line, u.last
	l := last
	for l > first {
		if _, blank, comment := s.indentOf(l); !blank && !comment {
			break
		}
		l--
	}
	// The last scalar may go on over lines that look blank or like
	// comments.
	leaf, parent, pi := s.lastLeaf(u.nodes[len(u.nodes)-1], u.lastRec())
	if leaf != nil && leaf.Kind == yaml.ScalarNode {
		switch {
		case leaf.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			// A block scalar holds every following line that is blank or
			// indented deeper than its parent collection.
			parentIndent := -1
			if parent != nil {
				parentIndent = s.collectionIndent(parent, pi)
			}
			for l < last {
				indent, blank, _ := s.indentOf(l + 1)
				if !blank && indent <= parentIndent {
					break
				}
				l++
			}
		case leaf.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
			if e := s.quotedEnd(leaf); e > l {
				l = min(e, last)
			}
		}
	}
	u.cut = s.lines[l]
	return u.cut
}

// lastLeaf is the node that ends n's text, and the collection holding it.
// n is the node recorded at ri; pi is parent's record index.
func (s *splicer) lastLeaf(n *yaml.Node, ri int32) (leaf, parent *yaml.Node, pi int32) {
	for {
		orig := s.rec.original(&s.rec.nodes[ri])
		if n.Kind == yaml.AliasNode || len(orig) == 0 {
			return n, parent, pi
		}
		parent, pi = n, ri
		n, ri = orig[len(orig)-1], s.rec.lastChild(ri)
	}
}

// collectionIndent is the indentation of a block collection's lines
// (n, recorded at ri): the column of its first key or dash, less one.
func (s *splicer) collectionIndent(n *yaml.Node, ri int32) int {
	if n.Style&yaml.FlowStyle != 0 {
		return 1 << 30 // not a block collection: nothing ends the scalar early
	}
	orig := s.rec.original(&s.rec.nodes[ri])
	if len(orig) == 0 {
		return 1 << 30
	}
	var start int
	if n.Kind == yaml.MappingNode {
		start = s.offset(orig[0].Line, orig[0].Column)
	} else {
		start = s.dashStart(orig[0])
	}
	if start < 0 {
		return 1 << 30
	}
	return start - s.lineStart(start)
}

// quotedEnd is the line on which the quoted scalar n closes, 0 when it
// cannot tell.
func (s *splicer) quotedEnd(n *yaml.Node) int {
	if n.Line < 1 || n.Line > s.numLines() {
		return 0
	}
	// Columns count characters of the envsubst'd text.
	if s.proc == nil {
		s.proc, s.procLines = envsubstBackslashes(s.body), s.lines
		if len(s.proc) != len(s.body) {
			s.procLines = lineStarts(s.proc)
		}
	}
	procLines := s.procLines
	if n.Line >= len(procLines) {
		return 0
	}
	off := procLines[n.Line-1]
	for col := 1; col < n.Column && off < len(s.proc); col++ {
		_, w := utf8.DecodeRune(s.proc[off:])
		off += w
	}
	quote := byte('"')
	if n.Style&yaml.SingleQuotedStyle != 0 {
		quote = '\''
	}
	for off < len(s.proc) && s.proc[off] != quote {
		off++
	}
	for off++; off < len(s.proc); off++ {
		switch c := s.proc[off]; {
		case quote == '"' && c == '\\':
			off++
		case c == quote:
			if quote == '\'' && off+1 < len(s.proc) && s.proc[off+1] == '\'' {
				off++
				continue
			}
			return lineIn(procLines, off)
		}
	}
	return 0
}

func lineStarts(text []byte) []int {
	starts := []int{0}
	for i, c := range text {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	if starts[len(starts)-1] != len(text) {
		starts = append(starts, len(text))
	}
	return starts
}

// aroundComments lists the nodes of u whose comments are written outside
// its replaced range: head comments of what starts on its first line
// (above it) and foot comments of what ends it (below its last line).
func (s *splicer) aroundComments(u *unit) (head, foot []*yaml.Node) {
	first := u.line
	var onFirst func(n *yaml.Node, ri int32)
	onFirst = func(n *yaml.Node, ri int32) {
		if n.Line != first {
			return
		}
		if n.HeadComment != "" {
			head = append(head, n)
		}
		ci := ri + 1
		for _, c := range s.rec.original(&s.rec.nodes[ri]) {
			onFirst(c, ci)
			ci += s.rec.nodes[ci].size
		}
	}
	for k, n := range u.nodes {
		onFirst(n, u.recs[k])
	}
	// The last spine: the unit's nodes, then the last key and value of
	// each last collection.
	spine := append([]*yaml.Node(nil), u.nodes...)
	for n, ri := u.nodes[len(u.nodes)-1], u.lastRec(); n.Kind != yaml.AliasNode; {
		orig := s.rec.original(&s.rec.nodes[ri])
		if len(orig) == 0 {
			break
		}
		if n.Kind == yaml.MappingNode && len(orig) >= 2 {
			spine = append(spine, orig[len(orig)-2])
		}
		n, ri = orig[len(orig)-1], s.rec.lastChild(ri)
		spine = append(spine, n)
	}
	for _, n := range spine {
		if n.FootComment != "" {
			foot = append(foot, n)
		}
	}
	return head, foot
}

// wrap is what encodes as one entry or one item at the left margin.
func wrap(kind yaml.Kind, entry []*yaml.Node) *yaml.Node {
	if kind == yaml.MappingNode {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: entry}
	}
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: entry}
}

// endsMultiline reports whether n's encoding may end in a block scalar:
// its last scalar holds a line break.
func endsMultiline(n *yaml.Node) bool {
	for n != nil {
		switch n.Kind {
		case yaml.ScalarNode:
			return strings.IndexByte(n.Value, '\n') >= 0
		case yaml.AliasNode:
			return false
		}
		if len(n.Content) == 0 || n.Style&yaml.FlowStyle != 0 {
			return false
		}
		n = n.Content[len(n.Content)-1]
	}
	return false
}

// splice writes the edited document (without its separator line) as its
// original text with the changed units re-encoded, or errNoSplice.
func (d *Document) splice() ([]byte, error) {
	body := d.Raw[len(separatorLine(d.Raw)):]
	root := d.Root
	rootRec := &d.parsed.nodes[0]
	if root != d.parsed.root || !rootRec.same(root) || len(root.Content) != 1 || int(rootRec.contentN) != 1 || d.parsed.original(rootRec)[0] != root.Content[0] {
		return nil, errNoSplice
	}
	// The root is recorded first, and its one child, top, next.
	top, topRec := root.Content[0], int32(1)
	if d.parsed.clean(top, topRec) {
		return body, nil
	}
	if !d.parsed.nodes[topRec].same(top) || top.Style&yaml.FlowStyle != 0 || (top.Kind != yaml.MappingNode && top.Kind != yaml.SequenceNode) {
		return nil, errNoSplice
	}
	s := newSplicer(d.parsed, body)
	if err := s.block(top, topRec, len(body)); err != nil {
		return nil, err
	}
	splices := s.splices
	for i := 1; i < len(splices); i++ {
		if splices[i].start < splices[i-1].end {
			return nil, errNoSplice
		}
	}
	// A block scalar ending a fragment would take in the blank lines
	// after it, and comment lines deeper than the fragment: blank lines
	// go; such a comment makes the document re-encoded whole.
	var blanks []splice
	for i, sp := range splices {
		if sp.entry == nil || !sp.multiline {
			continue
		}
		f, k := sp.end, i+1
		for k < len(splices) && splices[k].start == f && splices[k].entry == nil {
			f = splices[k].end
			k++
		}
		if k < len(splices) && splices[k].start == f {
			continue // another fragment follows, at this indentation or less
		}
		limit := len(body)
		if k < len(splices) {
			limit = splices[k].start
		}
		g := f
		for g < limit {
			l := s.lineOf(g)
			indent, blank, comment := s.indentOf(l)
			if blank {
				g = s.lines[l]
				continue
			}
			if comment && indent > sp.indent {
				return nil, errNoSplice
			}
			break
		}
		if g > f {
			blanks = append(blanks, splice{start: f, end: min(g, limit)})
		}
	}
	if len(blanks) > 0 {
		splices = mergeSplices(splices, blanks)
	}
	// From here on the tree is changed for encoding: comments kept in the
	// original text are not repeated, merge keys untagged, backslashes
	// doubled.
	for _, sp := range splices {
		if sp.strip == nil {
			continue
		}
		for _, n := range sp.strip.head {
			n.HeadComment = ""
		}
		for _, n := range sp.strip.foot {
			n.FootComment = ""
		}
	}
	// Fragments of one-line scalars in block collections are written
	// directly into the output, indented where they stand; one yaml.v3
	// encoder writes the others, each as a document of its own (an
	// encoder costs kilobytes to set up), put in their places after.
	doubled := map[*yaml.Node]bool{}
	size := len(body)
	for _, sp := range splices {
		for _, n := range sp.entry {
			size += sizeHint(n, sp.indent)
		}
	}
	out := make([]byte, 0, size)
	var encoded bytes.Buffer
	var enc *yaml.Encoder
	var later []int // where each encoded fragment goes in out, and its splice
	prev := 0
	for i, sp := range splices {
		out = append(out, body[prev:sp.start]...)
		prev = sp.end
		if sp.entry == nil {
			continue
		}
		// An encoded fragment to go where out ends closes its line.
		deferredHere := len(later) > 0 && later[len(later)-2] == len(out)
		if sp.atLineStart && len(out) > 0 && out[len(out)-1] != '\n' && !deferredHere {
			out = append(out, '\n')
		}
		prepareEntry(sp.kind, sp.entry)
		for _, n := range sp.entry {
			doubleBackslashes(n, doubled)
		}
		mark := len(out)
		var ok bool
		if out, ok = appendSimpleIndented(out, sp.kind, sp.entry, d.parsed, sp.indent, sp.atLineStart); ok {
			continue
		}
		out = out[:mark]
		if enc == nil {
			enc = yaml.NewEncoder(&encoded)
			enc.SetIndent(2)
		}
		if err := enc.Encode(wrap(sp.kind, sp.entry)); err != nil {
			return nil, err
		}
		later = append(later, mark, i)
	}
	out = append(out, body[prev:]...)
	if enc == nil {
		return out, nil
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	fragments := len(later) / 2
	pieces := splitDocuments(encoded.Bytes(), fragments)
	if len(pieces) != fragments {
		return nil, fmt.Errorf("encoder wrote %d documents for %d fragments", len(pieces), fragments)
	}
	whole := make([]byte, 0, len(out)+encoded.Len()+encoded.Len()/4)
	prev = 0
	for k, piece := range pieces {
		if len(piece) == 0 || piece[len(piece)-1] != '\n' {
			// Not errNoSplice: the tree is already readied for encoding
			// (backslashes doubled), and readying it again for the whole
			// document would double them twice.
			return nil, fmt.Errorf("encoder wrote a fragment that does not end its line: %q", piece)
		}
		at, sp := later[2*k], splices[later[2*k+1]]
		whole = append(whole, out[prev:at]...)
		prev = at
		whole = appendIndented(whole, piece, sp.indent, sp.atLineStart)
	}
	return append(whole, out[prev:]...), nil
}

// sizeHint is about the number of bytes fragment n takes written at
// indent: every scalar's text, a key's or dash's line and its
// indentation.
func sizeHint(n *yaml.Node, indent int) int {
	size := len(n.Value) + indent + 4
	for _, c := range n.Content {
		size += sizeHint(c, indent+2)
	}
	return size
}

// splitDocuments cuts an encoder's stream of documents at its "---"
// lines. Nothing else the encoder writes starts a line with "---": the
// fragments' own lines at the margin are keys, dashes and comments.
func splitDocuments(stream []byte, n int) [][]byte {
	pieces := make([][]byte, 0, n)
	start := 0
	for off := 0; off < len(stream); {
		end := bytes.IndexByte(stream[off:], '\n')
		next := len(stream)
		if end >= 0 {
			next = off + end + 1
		}
		if string(bytes.TrimRight(stream[off:next], "\n")) == "---" {
			pieces = append(pieces, stream[start:off])
			start = next
		}
		off = next
	}
	return append(pieces, stream[start:])
}

// appendIndented appends text's lines indented by indent spaces, the
// first line too when first is set; empty lines stay empty.
func appendIndented(out, text []byte, indent int, first bool) []byte {
	for i := 0; len(text) > 0; i++ {
		line := text
		if j := bytes.IndexByte(text, '\n'); j >= 0 {
			line = text[:j+1]
		}
		text = text[len(line):]
		if (i > 0 || first) && len(line) > 1 {
			for k := 0; k < indent; k++ {
				out = append(out, ' ')
			}
		}
		out = append(out, line...)
	}
	return out
}

// mergeSplices merges two lists ordered by start; at equal starts a
// ends before b's, as b's start where a's end.
func mergeSplices(a, b []splice) []splice {
	out := make([]splice, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j >= len(b) || (i < len(a) && a[i].start <= b[j].start) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

func contains(nodes []*yaml.Node, n *yaml.Node) bool {
	for _, c := range nodes {
		if c == n {
			return true
		}
	}
	return false
}
