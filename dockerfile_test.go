package main

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// pinnedImage is name:tag@sha256:<64 hex>: a tag a reader can recognise
// and the digest that makes it reproducible.
var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)

// The image's bases float no more than the pipelines the service
// converts: every FROM is a pinned ARG or an earlier stage, and the Go
// image is at least go.mod's Go version.
func TestDockerfileBasesArePinned(t *testing.T) {
	args, froms := readDockerfile(t, "Dockerfile")
	stages := map[string]bool{}
	for _, from := range froms {
		fields := strings.Fields(from)
		image := fields[0]
		switch {
		case stages[image]:
		case strings.HasPrefix(image, "${") && strings.HasSuffix(image, "}"):
			name := strings.TrimSuffix(strings.TrimPrefix(image, "${"), "}")
			value, ok := args[name]
			if !ok {
				t.Errorf("FROM %s: no ARG %s with a default", from, name)
			} else if !pinnedImage.MatchString(value) {
				t.Errorf("ARG %s=%s: not name:tag@sha256:digest", name, value)
			}
		default:
			t.Errorf("FROM %s: name the image through a pinned ARG", from)
		}
		if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
			stages[fields[2]] = true
		}
	}

	goImage := args["GO_IMAGE"]
	tag := strings.SplitN(strings.TrimPrefix(goImage, "golang:"), "@", 2)[0]
	imageGo := versionOf(t, strings.SplitN(tag, "-", 2)[0])
	modGo := versionOf(t, goModVersion(t))
	if less(imageGo, modGo) {
		t.Errorf("GO_IMAGE %s is older than go.mod's go %s", goImage, goModVersion(t))
	}
}

func readDockerfile(t *testing.T, name string) (args map[string]string, froms []string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args = map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		switch {
		case strings.HasPrefix(line, "ARG "):
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "ARG "), "="); ok {
				args[k] = v
			}
		case strings.HasPrefix(line, "FROM "):
			froms = append(froms, strings.TrimPrefix(line, "FROM "))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(froms) == 0 {
		t.Fatalf("%s: no FROM", name)
	}
	return args, froms
}

func goModVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod: no go line")
	return ""
}

func versionOf(t *testing.T, v string) []int {
	t.Helper()
	var parts []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("version %q: %v", v, err)
		}
		parts = append(parts, n)
	}
	return parts
}

func less(a, b []int) bool {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}
