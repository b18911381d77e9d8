package envfile

import (
	"strconv"
	"strings"
)

// StatusKeys are the runner's live status variables: drone-runner-kube
// writes them as pod annotations each time it starts a step
// (engine/const.go statusesWhiteList, engine/launcher), so that they
// reach running containers through /run/drone/env, where plugins read
// them with godotenv.Overload. A container's env holds their values at
// pod creation.
var StatusKeys = []string{"DRONE_BUILD_STATUS", "DRONE_BUILD_FINISHED", "DRONE_STAGE_STATUS", "DRONE_STAGE_FINISHED"}

// ReadStatus returns the runner's status keys found in the downward-API
// file (its content) with the values godotenv.Overload would set: the
// line `KEY="value"`, unquoted. Only values of letters, digits and
// "._-" are taken (the runner writes statuses and Unix times): for
// those, the kubelet's Go quoting and every godotenv version's parsing
// agree; any other value is left out rather than guessed.
func ReadStatus(file string) []Var {
	var out []Var
	for _, line := range strings.Split(file, "\n") {
		name, quoted, ok := strings.Cut(line, "=")
		if !ok || !isStatusKey(name) {
			continue
		}
		value, err := strconv.Unquote(quoted)
		if err != nil || !plainWord(value) {
			continue
		}
		out = append(out, Var{Name: name, Value: value})
	}
	return out
}

func isStatusKey(name string) bool {
	for _, k := range StatusKeys {
		if k == name {
			return true
		}
	}
	return false
}

func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// StatusLoader is the shell counterpart of ReadStatus, for containers
// started through a shell loader in front of their image's ENTRYPOINT
// and CMD (the webhook's services: sh -c 'LOADER; STATUS; exec "$0"
// "$@"'): it reads the runner's downward-API file and exports each of
// StatusKeys found there whose value ReadStatus would take, so that the
// entrypoint sees the runner's live status as godotenv.Overload would
// have set it. Like the annotation loader it is a function with local
// helpers (a user's __dc* variables are left as they were) and holds no
// backslash; the character class is spelt out, not a range, so that no
// shell's locale can widen it. A missing file is the annotation
// loader's failure: it runs first.
func StatusLoader() string {
	keys := strings.Join(StatusKeys, `="*|`) + `="*`
	return `__dcs() { local __dcl= __dcv=; while IFS= read -r __dcl || [ -n "$__dcl" ]; do case $__dcl in ` + strings.ReplaceAll(keys, `"`, `'"'`) +
		`) __dcv=${__dcl#*=}; case $__dcv in '"'*'"') __dcv=${__dcv#'"'}; __dcv=${__dcv%'"'};; *) continue;; esac; case $__dcv in *[!` + plainWordBytes + `]*) continue;; esac; export "${__dcl%%=*}=$__dcv";; esac; done <` + DownwardFile +
		`; }; __dcs; unset -f __dcs`
}

// plainWordBytes are the bytes plainWord accepts, "-" last so that a
// bracket expression reads it literally.
const plainWordBytes = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
