package transform

import (
	"strings"

	"github.com/distribution/reference"
)

// imageRef is what the transforms use of a parsed image reference.
type imageRef struct {
	domain, path, tag, digest string
}

// name is the fully qualified repository (docker.io/library/golang).
func (r imageRef) name() string {
	if r.domain == "" {
		// The library leaves the domain empty when the first component
		// looks like one but is not ("0_0.0/x"); its Name is the path.
		return r.path
	}
	return r.domain + "/" + r.path
}

// familiarName is reference.FamiliarName: the name without docker.io
// and, for official images, without library/.
func (r imageRef) familiarName() string {
	if r.domain != "docker.io" {
		return r.name()
	}
	if rest, ok := strings.CutPrefix(r.path, "library/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return r.path
}

// parseImage parses like reference.ParseNormalizedNamed, whose regular
// expressions were a tenth of a conversion. The common shape (lower
// case, no digest, no port, no IP address, a plain tag) is parsed by
// hand; anything else, and every error, is left to the library.
// FuzzParseImage checks that both agree.
func parseImage(s string) (imageRef, error) {
	if r, ok := parseSimpleImage(s); ok {
		return r, nil
	}
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return imageRef{}, err
	}
	r := imageRef{domain: reference.Domain(ref), path: reference.Path(ref)}
	if t, ok := ref.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := ref.(reference.Digested); ok {
		r.digest = d.Digest().String()
	}
	return r, nil
}

// parseSimpleImage parses [domain/]path[:tag] where every character is
// one of a-z 0-9 . _ - / :, the domain is a plain domain name and the
// tag a plain tag; ok is false for anything else.
func parseSimpleImage(s string) (r imageRef, ok bool) {
	if len(s) == 0 || len(s) > 255 {
		return imageRef{}, false
	}
	hex := len(s) == 64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if c > 'f' {
				hex = false
			}
		case c == '.' || c == '_' || c == '-' || c == '/' || c == ':':
			hex = false
		default:
			return imageRef{}, false
		}
	}
	if hex {
		return imageRef{}, false // a 64-digit identifier: the library's error
	}
	rest := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		first := s[:i]
		if strings.IndexByte(first, ':') >= 0 || first == "localhost" {
			return imageRef{}, false
		}
		if strings.IndexByte(first, '.') >= 0 {
			if first == "index.docker.io" || !domainName(first) {
				return imageRef{}, false
			}
			r.domain, rest = first, s[i+1:]
		}
	}
	if r.domain == "" {
		r.domain = "docker.io"
	}
	path := rest
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		path, r.tag = rest[:i], rest[i+1:]
		if !plainTag(r.tag) {
			return imageRef{}, false
		}
	}
	if r.domain == "docker.io" && strings.IndexByte(path, '/') < 0 {
		path = "library/" + path
	}
	if !remoteName(path) || len(r.domain)+1+len(path) > 255 {
		return imageRef{}, false
	}
	r.path = path
	return r, true
}

// domainName matches components of [a-z0-9-], not starting or ending
// with "-", joined by single dots (s has no upper case).
func domainName(s string) bool {
	for _, c := range strings.Split(s, ".") {
		if c == "" || c[0] == '-' || c[len(c)-1] == '-' {
			return false
		}
		for i := 0; i < len(c); i++ {
			if !(c[i] >= 'a' && c[i] <= 'z' || c[i] >= '0' && c[i] <= '9' || c[i] == '-') {
				return false
			}
		}
	}
	return true
}

// plainTag matches [a-z0-9_][a-z0-9_.-]{0,127} (s has no upper case).
func plainTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// remoteName matches components joined by "/", each alphanumeric runs
// joined by ".", "_", "__" or any number of "-".
func remoteName(s string) bool {
	for _, c := range strings.Split(s, "/") {
		if c == "" || !alnum(c[0]) || !alnum(c[len(c)-1]) {
			return false
		}
		for i := 0; i < len(c); i++ {
			if alnum(c[i]) {
				continue
			}
			j := i
			for j < len(c) && !alnum(c[j]) {
				j++
			}
			switch sep := c[i:j]; {
			case sep == "." || sep == "_" || sep == "__":
			case strings.Trim(sep, "-") == "":
			default:
				return false
			}
			i = j - 1
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
