package transform

import (
	"testing"

	"github.com/distribution/reference"
)

var imageSeeds = []string{
	"alpine", "alpine:3.20", "golang:1.22", "plugins/kaniko:1.13.9", "docker:24.0.7-dind",
	"registry.cn-hangzhou.aliyuncs.com/team/tool:2", "docker.io/library/golang", "docker.io/golang",
	"index.docker.io/golang", "localhost/x", "localhost:5000/x:1", "[::1]:5000/x", "a__b/c--d/e.f_g:t",
	"a___b", "a..b", "-a", "a-", "A/b", "a/B", "a:B", "x:.t", "x:_t", "x:", ":t", "/x", "x/", "x//y",
	"a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"-foo.com/x", "foo-.com/x", "foo..com/x", "foo.com:80/x", "web:${DRONE_COMMIT_SHA}", "x:latest",
}

// FuzzParseImage checks parseImage against reference.ParseNormalizedNamed:
// same name, tag, digest, familiar name, or the same error.
func FuzzParseImage(f *testing.F) {
	for _, s := range imageSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gerr := parseImage(s)
		want, werr := reference.ParseNormalizedNamed(s)
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("%q: error %v, library %v", s, gerr, werr)
		}
		if werr != nil {
			return
		}
		tag, digest := "", ""
		if x, ok := want.(reference.Tagged); ok {
			tag = x.Tag()
		}
		if x, ok := want.(reference.Digested); ok {
			digest = x.Digest().String()
		}
		if got.domain != reference.Domain(want) || got.path != reference.Path(want) || got.name() != want.Name() ||
			got.tag != tag || got.digest != digest || got.familiarName() != reference.FamiliarName(want) {
			t.Fatalf("%q: got %+v (%s, %s), library %s %s tag %q digest %q familiar %s",
				s, got, got.name(), got.familiarName(), reference.Domain(want), reference.Path(want), tag, digest, reference.FamiliarName(want))
		}
	})
}

func TestParseImageFastPath(t *testing.T) {
	for _, s := range []string{"alpine:3.20", "plugins/kaniko:1.13.9", "registry.cn-hangzhou.aliyuncs.com/team/tool:2", "a__b/c--d/e.f_g:t"} {
		if _, ok := parseSimpleImage(s); !ok {
			t.Errorf("%q: not parsed by hand", s)
		}
	}
}
