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
