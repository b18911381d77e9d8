package logline

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestCut(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "abc", 3, "abc"},
		{"cut with the count", strings.Repeat("x", 200), 60, strings.Repeat("x", 26) + " … (200 bytes, the last 174 cut)"},
		{"on a rune boundary", strings.Repeat("é", 100), 60, strings.Repeat("é", 13) + " … (200 bytes, the last 174 cut)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Cut(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Cut = %q, want %q", got, tt.want)
			}
			if len(got) > tt.max {
				t.Errorf("len %d > max %d", len(got), tt.max)
			}
		})
	}
}

func TestLines(t *testing.T) {
	in := "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight"
	if got := Lines(in, 100); got != in {
		t.Errorf("Lines of a short text = %q", got)
	}
	got := Lines(in, 30)
	if want := "one\n… (7 more lines cut)"; got != want || len(got) > 30 {
		t.Errorf("Lines = %q, want %q", got, want)
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		name  string
		items []string
		max   int
		want  string
	}{
		{"all fit", []string{"a", "b", "c"}, 100, "a; b; c"},
		{"exactly fits", []string{"aaaa", "bbbb"}, 10, "aaaa; bbbb"},
		{"count of the rest", []string{"aaaa", "bbbb", "cccc", "dddd"}, 20, "aaaa; … and 3 more"},
		{"a long first item is cut", []string{strings.Repeat("z", 200), "b"}, 80, strings.Repeat("z", 30) + " … (200 bytes, the last 170 cut); … and 1 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := List(tt.items, "; ", tt.max)
			if got != tt.want {
				t.Errorf("List = %q, want %q", got, tt.want)
			}
			if len(got) > tt.max {
				t.Errorf("len %d > max %d", len(got), tt.max)
			}
		})
	}
}

// TestBounded writes entries far over the limit through both of the
// service's formatters and checks every line: under MaxBytes, still
// parseable, every field present and saying it was cut.
func TestBounded(t *testing.T) {
	huge := strings.Repeat("step \"x\": setting dropped; ", 40000) // ~1 MB
	control := strings.Repeat("\x00", 200000)                      // 6× longer once JSON-escaped
	entries := []struct {
		name   string
		msg    string
		fields logrus.Fields
	}{
		{"long field", "pipeline converted", logrus.Fields{"report": huge, "repo": "octo/hello"}},
		{"long message and error", huge, logrus.Fields{logrus.ErrorKey: errors.New(huge)}},
		{"escaping grows the line", "x", logrus.Fields{"diff": control}},
		{"many long fields", "x", logrus.Fields{"a": huge, "b": huge, "c": huge, "d": huge}},
	}
	formatters := map[string]logrus.Formatter{
		"text": &logrus.TextFormatter{DisableColors: true},
		"json": &logrus.JSONFormatter{},
	}
	for fname, f := range formatters {
		for _, e := range entries {
			t.Run(fname+"/"+e.name, func(t *testing.T) {
				var out bytes.Buffer
				log := logrus.New()
				log.SetOutput(&out)
				log.SetFormatter(Bounded(f))
				log.WithFields(e.fields).Info(e.msg)
				line := out.Bytes()
				if len(line) > MaxBytes {
					t.Fatalf("line is %d bytes, more than %d", len(line), MaxBytes)
				}
				if bytes.Count(line, []byte("\n")) != 1 {
					t.Fatalf("want one line, got %d newlines", bytes.Count(line, []byte("\n")))
				}
				if !bytes.Contains(line, []byte("cut)")) {
					t.Errorf("line does not say it was cut: %.200s", line)
				}
				if fname == "json" {
					var v map[string]any
					if err := json.Unmarshal(line, &v); err != nil {
						t.Fatalf("cut JSON line does not parse: %v", err)
					}
					for k := range e.fields {
						if _, ok := v[k]; !ok {
							t.Errorf("field %q lost", k)
						}
					}
				}
			})
		}
	}
}

func TestBoundedLeavesShortLinesAlone(t *testing.T) {
	e := logrus.NewEntry(logrus.New()).WithField("report", "changed: a")
	e.Message = "pipeline converted"
	f := &logrus.JSONFormatter{}
	want, _ := f.Format(e)
	got, err := Bounded(f).Format(e)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("short line changed: %s, want %s (%v)", got, want, err)
	}
}
