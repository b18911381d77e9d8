package transform

import (
	"strings"

	"github.com/drone-convert-eci/drone-convert-eci/internal/envfile"
)

// The env file and its loader live in internal/envfile, shared with the
// admission webhook and cmd/eci-env-loader; these adapt the transform's
// envVar to it.

func fileVars(vars []envVar) []envfile.Var {
	out := make([]envfile.Var, len(vars))
	for i, v := range vars {
		out[i] = envfile.Var{Name: v.name, Value: v.literal}
	}
	return out
}

// annotationScript is the snippet carried in an annotation.
func annotationScript(vars []envVar) string { return envfile.AnnotationScript(fileVars(vars)) }

// secretFile is the snippet carried in a Secret.
func secretFile(vars []envVar) string { return envfile.SecretFile(fileVars(vars)) }

// annotationLoader reads the step's line from the runner's downward-API
// file and evaluates it.
func annotationLoader(key string) string { return envfile.AnnotationLoader(key) }

// escapedLoaderParts is the annotation loader escaped for Drone's
// substitution, cut where the key goes:
// joined with a key, they make its loader. Steps differ only in the key
// (which holds no "$"), so one escape serves every step.
func escapedLoaderParts() []string {
	const mark = "\x00key\x00"
	return strings.Split(escapeDollars(annotationLoader(mark)), mark)
}

// secretLoader sources the mounted file.
func secretLoader(path string) string { return envfile.SecretLoader(path) }
