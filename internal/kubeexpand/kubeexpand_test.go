package kubeexpand

import (
	"slices"
	"strings"
	"testing"
)

// The cases of the kubelet's own expansion tests (k8s.io/kubernetes
// third_party/forked/golang/expansion expand_test.go, doExpansionTest),
// with the same context, and the cases of issue 17.
func TestExpand(t *testing.T) {
	context := map[string]string{
		"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": "",
		"KUBERNETES_SERVICE_HOST": "10.96.0.1",
	}
	lookup := func(name string) (string, bool) { v, ok := context[name]; return v, ok }
	for _, c := range []struct{ name, in, want string }{
		// The kubelet's cases.
		{"whole string", "$(VAR_A)", "A"},
		{"repeat", "$(VAR_A)-$(VAR_A)", "A-A"},
		{"beginning", "$(VAR_A)-1", "A-1"},
		{"middle", "___$(VAR_B)___", "___B___"},
		{"end", "___$(VAR_C)", "___C"},
		{"compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"},
		{"escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"},
		{"compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"},
		{"mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"},
		{"backslash escape ignored", `foo\$(VAR_C)bar`, `foo\Cbar`},
		{"backslash escape ignored 2", `foo\\$(VAR_C)bar`, `foo\\Cbar`},
		{"lots of backslashes", `foo\\\\$(VAR_A)bar`, `foo\\\\Abar`},
		{"nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"},
		{"nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
		{"value is a reference", "$(VAR_REF)", "$(VAR_A)"},
		{"value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"},
		{"empty var", "foo$(VAR_EMPTY)bar", "foobar"},
		{"unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"},
		{"expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"},
		{"shell special vars pass through", "$?_boo_$!", "$?_boo_$!"},
		{"bare operators are ignored", "$VAR_A", "$VAR_A"},
		{"undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"},
		{"multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"},
		{"multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"},
		{"multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"},
		{"multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"},
		{"missing open expression", "$VAR_A)", "$VAR_A)"},
		{"shell syntax ignored", "${VAR_A}", "${VAR_A}"},
		{"trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"},
		{"trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("},
		{"operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"},
		{"shell escaped incomplete expr", `foo-\$(VAR_A`, `foo-\$(VAR_A`},
		{"lots of $( in middle", "--$($($($($--", "--$($($($($--"},
		{"lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("},
		{"lots of $( at end", "foo0--$($($($(", "foo0--$($($($("},
		{"escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"},
		{"newline not expanded", "\n", "\n"},
		// Issue 17.
		{"commit message", "Escape $$ in Makefile", "Escape $ in Makefile"},
		{"password", "pa$$word", "pa$word"},
		{"doubled by the YAML's own escape", "x$$y", "x$y"},
		{"escaped reference", "$$(KUBERNETES_SERVICE_HOST)", "$(KUBERNETES_SERVICE_HOST)"},
		{"service-link reference", "$(KUBERNETES_SERVICE_HOST)", "10.96.0.1"},
		{"trailing operator", "a$", "a$"},
		{"lone operator", "$", "$"},
		{"empty", "", ""},
		{"operator then paren at the end", "a$(", "a$("},
		{"non-ASCII after the operator, as kubelets from 1.34.4 keep it", "$é", "$é"},
		{"shell command substitution", "$(date +%s)", "$(date +%s)"},
		{"quotes and tab", "'\"\t$$\r", "'\"\t$\r"},
	} {
		if got := Expand(c.in, lookup); got != c.want {
			t.Errorf("%s: Expand(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestRefsPortableLiteral(t *testing.T) {
	for _, c := range []struct {
		in       string
		refs     []string
		portable bool
		literal  string
		ok       bool
	}{
		{"plain", nil, true, "plain", true},
		{"x$$y", nil, true, "x$y", true},
		{"x$$$$y", nil, true, "x$$y", true},
		{"$$(KREF)", nil, true, "$(KREF)", true},
		{"$(KREF)", []string{"KREF"}, true, "", false},
		{"$$$(A)-$(B c)", []string{"A", "B c"}, true, "", false},
		{"$(A$(B)", []string{"A$(B"}, true, "", false},
		{"a$", nil, true, "a$", true},
		{"$(", nil, true, "$(", true},
		{"$é", nil, false, "", false},
		{"$$é", nil, true, "$é", true},
		{"é$", nil, true, "é$", true},
		{"$(é)", []string{"é"}, true, "", false},
		{"$(\xff", nil, true, "$(\xff", true},
		{"$\xff", nil, false, "", false},
		{"100%", nil, true, "100%", true},
	} {
		if got := Refs(c.in); !slices.Equal(got, c.refs) {
			t.Errorf("Refs(%q) = %q, want %q", c.in, got, c.refs)
		}
		if got := Portable(c.in); got != c.portable {
			t.Errorf("Portable(%q) = %v", c.in, got)
		}
		if got, ok := Literal(c.in); got != c.literal || ok != c.ok {
			t.Errorf("Literal(%q) = %q, %v, want %q, %v", c.in, got, ok, c.literal, c.ok)
		}
	}
	big := strings.Repeat("a$$b", 25<<10) // 100 KiB
	if got, ok := Literal(big); !ok || got != strings.Repeat("a$b", 25<<10) {
		t.Errorf("a 100 KiB value: ok %v, %d bytes", ok, len(got))
	}
}

// Resolve follows the kubelet's makeEnvironmentVariables: entries in
// order, each reading the latest earlier entry, the kubelet's own
// mapping test (FOO, ZOO, BLU) included.
func TestResolve(t *testing.T) {
	type want struct {
		value string
		known bool
	}
	for _, c := range []struct {
		name    string
		entries []Entry
		open    bool
		want    []want
	}{
		{"the kubelet's chain", []Entry{{"FOO", "bar", true}, {"ZOO", "$(FOO)-1", true}, {"BLU", "$(ZOO)-2", true}}, false,
			[]want{{"bar", true}, {"bar-1", true}, {"bar-1-2", true}}},
		{"a later entry is not seen", []Entry{{"A", "$(B)", true}, {"B", "b", true}}, false,
			[]want{{"$(B)", true}, {"b", true}}},
		{"the latest earlier entry wins", []Entry{{"A", "1", true}, {"A", "2", true}, {"B", "$(A)", true}}, false,
			[]want{{"1", true}, {"2", true}, {"2", true}}},
		{"an unseen entry", []Entry{{"S", "", false}, {"B", "x$(S)", true}, {"C", "$$", true}}, false,
			[]want{{"", false}, {"x", false}, {"$", true}}},
		{"an uncertain entry makes its readers uncertain", []Entry{{"A", "$(X_PORT)", true}, {"B", "$(A)", true}}, false,
			[]want{{"$(X_PORT)", false}, {"$(X_PORT)", false}}},
		{"a possible service link", []Entry{{"A", "$(KUBERNETES_SERVICE_HOST)", true}}, false,
			[]want{{"$(KUBERNETES_SERVICE_HOST)", false}}},
		{"undefined and no service link", []Entry{{"A", "$(NOPE)", true}, {"B", "$(lower_port)", true}}, false,
			[]want{{"$(NOPE)", true}, {"$(lower_port)", true}}},
		{"open: any undefined name may be set", []Entry{{"A", "$(NOPE)", true}, {"B", "$$", true}}, true,
			[]want{{"$(NOPE)", false}, {"$", true}}},
		{"not portable", []Entry{{"A", "$ü", true}}, false, []want{{"$ü", false}}},
	} {
		values, known := Resolve(c.entries, c.open)
		for i, w := range c.want {
			if w.known && (values[i] != w.value || !known[i]) || !w.known && known[i] {
				t.Errorf("%s: entry %d = %q (known %v), want %q (known %v)", c.name, i, values[i], known[i], w.value, w.known)
			}
		}
	}
}

func TestMayBeServiceLink(t *testing.T) {
	for name, want := range map[string]bool{
		"KUBERNETES_SERVICE_HOST": true, "KUBERNETES_SERVICE_PORT": true, "KUBERNETES_SERVICE_PORT_HTTPS": true,
		"KUBERNETES_PORT": true, "KUBERNETES_PORT_443_TCP": true, "KUBERNETES_PORT_443_TCP_ADDR": true,
		"REDIS_DB_PORT_6379_TCP_PROTO": true, "MY_SVC_SERVICE_HOST": true,
		"PORT": false, "HOST": false, "DRONE_COMMIT": false, "my_svc_SERVICE_HOST": false, "SUPPORT": false,
	} {
		if got := MayBeServiceLink(name); got != want {
			t.Errorf("MayBeServiceLink(%q) = %v", name, got)
		}
	}
}
