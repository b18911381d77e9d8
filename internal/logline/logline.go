// Package logline keeps every log line the service writes under a size
// limit. A conversion's report, a shadow diff or an error naming a field
// grows with the config, and a config is attacker-sized: without a bound
// one request writes megabytes of log, and collectors split or drop lines
// past their own limits (64 KiB is a common one).
package logline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
)

// MaxBytes is the longest log line the service writes, newline included.
const MaxBytes = 64 << 10

// Cut returns s when it fits in max bytes, else its head (on a rune
// boundary) and a note of how many bytes were left out. The result is at
// most max bytes long unless max is too small to hold the note.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	note := " … (" + strconv.Itoa(len(s)) + " bytes, the last "
	// The count in the note depends on where the cut falls; the width of
	// len(s) bounds it.
	keep := max - len(note) - len(strconv.Itoa(len(s))) - len(" cut)")
	keep = runeStart(s, keep)
	return s[:keep] + note + strconv.Itoa(len(s)-keep) + " cut)"
}

// Lines returns s when it fits in max bytes, else its first whole lines
// and how many lines were left out.
func Lines(s string, max int) string {
	if len(s) <= max {
		return s
	}
	total := strings.Count(s, "\n") + 1
	note := fmt.Sprintf("\n… (%d more lines cut)", total)
	head := s[:runeStart(s, max-len(note))]
	if i := strings.LastIndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	} else {
		return Cut(s, max)
	}
	return head + fmt.Sprintf("\n… (%d more lines cut)", total-strings.Count(head, "\n")-1)
}

// List joins items with sep while they fit in max bytes, then says how
// many items were left out ("… and 35000 more"). A first item longer than
// the room is cut by Cut, so something always shows.
func List(items []string, sep string, max int) string {
	// Measured before joined: a report can hold tens of thousands of
	// items, and joining them all to find out they do not fit cost as
	// much as the conversion's own report.
	whole := 0
	for i, item := range items {
		if i > 0 {
			whole += len(sep)
		}
		whole += len(item)
		if whole > max {
			break
		}
	}
	if whole <= max {
		return strings.Join(items, sep)
	}
	more := func(n int) string { return "… and " + strconv.Itoa(n) + " more" }
	var b strings.Builder
	for i, item := range items {
		left := len(items) - i - 1
		need := len(item)
		if i > 0 {
			need += len(sep)
		}
		reserve := 0
		if left > 0 {
			reserve = len(sep) + len(more(left))
		}
		if b.Len()+need+reserve <= max {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(item)
			continue
		}
		if i == 0 {
			b.WriteString(Cut(item, max-reserve))
			if left > 0 {
				b.WriteString(sep + more(left))
			}
			return b.String()
		}
		b.WriteString(sep + more(left+1))
		return b.String()
	}
	return b.String()
}

func runeStart(s string, i int) int {
	if i <= 0 {
		return 0
	}
	if i >= len(s) {
		return len(s)
	}
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// Bounded wraps a formatter so that no line it returns is longer than
// MaxBytes. A line that would be longer is formatted again with its
// longest values (message included) cut by Cut, each to a fair share of
// the room, so every field still shows and says how much of it is gone.
func Bounded(next logrus.Formatter) logrus.Formatter {
	return &bounded{next: next, max: MaxBytes}
}

type bounded struct {
	next logrus.Formatter
	max  int
}

func (f *bounded) Format(e *logrus.Entry) ([]byte, error) {
	out, err := f.next.Format(e)
	if err != nil || len(out) <= f.max {
		return out, err
	}
	// Escaping (JSON's \u0000, text's %q) can make a value longer in the
	// line than in the entry, so the room shrinks until the line fits.
	for room := f.max - 1024; room >= f.max/64; room /= 2 {
		c := *e
		c.Buffer = nil
		c.Message, c.Data = share(e.Message, e.Data, room)
		out, err = f.next.Format(&c)
		if err != nil || len(out) <= f.max {
			return out, err
		}
	}
	c := *e
	c.Buffer = nil
	c.Data = logrus.Fields{"log_line_cut": fmt.Sprintf("%d bytes of fields left out", len(out))}
	c.Message = Cut(e.Message, 1024)
	return f.next.Format(&c)
}

// share cuts the message and the field values so that together they take
// at most room bytes: short values stay whole and the long ones split
// what is left equally.
func share(msg string, data logrus.Fields, room int) (string, logrus.Fields) {
	type value struct {
		key  string // "" for the message
		text string
	}
	values := []value{{"", msg}}
	for k, v := range data {
		var text string
		switch v := v.(type) {
		case string:
			text = v
		case error:
			text = v.Error()
		case fmt.Stringer:
			text = v.String()
		default:
			text = fmt.Sprint(v)
		}
		values = append(values, value{k, text})
		room -= len(k)
	}
	slices.SortFunc(values, func(a, b value) int { return len(a.text) - len(b.text) })
	out := make(logrus.Fields, len(data))
	for k, v := range data {
		out[k] = v
	}
	for i, v := range values {
		fair := room / (len(values) - i)
		text := v.text
		if len(text) > fair {
			text = Cut(text, max(fair, 64))
		}
		room -= len(text)
		if v.key == "" {
			msg = text
		} else if text != v.text {
			out[v.key] = text
		}
	}
	return msg, out
}
