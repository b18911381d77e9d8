// Package command implements the binary's subcommands: serve (the
// conversion extension Drone calls) and convert (the same conversion on
// a local file), which share one configuration.
package command

import (
	"fmt"
	"io"
)

// Exit codes of the convert subcommand, documented in its usage and the README.
const (
	exitOK      = 0
	exitRefused = 1 // a pipeline cannot be converted, or serving failed
	exitUsage   = 2
)

// usageMessage lists the subcommands; each has its own usage (usages),
// printed by "COMMAND --help" and with its usage errors.
const usageMessage = `usage:
  drone-convert-eci [serve]                    run the conversion extension (the default)
  drone-convert-eci convert [flags] [FILE|-]   convert a config locally and print it
  drone-convert-eci images [flags] [FILE...]   list the images converted configs use, for an ECI ImageCache
  drone-convert-eci webhook                    serve the pod admission webhook (HTTPS)
  drone-convert-eci mutate-pod [FILE|-]        apply the webhook's mutation to a Pod (YAML or JSON)

Run drone-convert-eci COMMAND --help for a command's flags.
Settings come from DRONE_* environment variables; see docs/operators.md.
`

var usages = map[string]string{
	"serve": `usage: drone-convert-eci [serve]

Runs the conversion extension Drone calls. It takes no arguments:
settings come from DRONE_* environment variables (docs/operators.md).
`,
	"convert": `usage: drone-convert-eci convert [flags] [FILE|-]

Converts a config (FILE, or standard input) as the server would, with
the same settings and limits, prints it on standard output and, on
standard error, what changed for the pipeline author, then notes for
the operator marked "operator:". Exit 0 converted or unchanged,
1 refused, 2 usage or settings error.

flags:
  --opt-in            treat every kubernetes pipeline as opted in
  --repo owner/name   the repository slug (matched against DRONE_ECI_REPOS)
  --trusted           the repo is trusted, as Drone's repo.trusted
  --protected         the repo is protected, as Drone's repo.protected
  --migrate-docker    migrate every Docker-runner pipeline (type docker or
                      untyped) to kubernetes, as DRONE_ECI_MIGRATE_DOCKER_REPOS
                      does for listed repos; with --opt-in, every pipeline
                      of the file is converted
  --docker-host URL   a remote Docker daemon (tcp://host:2376) for steps that
                      used a docker:dind service, as DRONE_ECI_DOCKER_HOST
                      (TLS settings still come from DRONE_ECI_DOCKER_TLS_*)
`,
	"images": `usage: drone-convert-eci images [flags] [FILE...]

Lists the images the configs (or standard input) run once converted,
with the runner's clone and placeholder images, for an ECI ImageCache.

flags:
  --manifest               print an ImageCache manifest instead of the list
  --name NAME              the ImageCache name (default: drone-ci-<hash of the list>)
  --size GiB               spec.imageCacheSize (20-32768)
  --retention-days N       spec.retentionDays
  --pull-secret ns:name    spec.imagePullSecrets entry, repeatable
  --migrate-docker         include Docker-runner pipelines, migrated
`,
	"webhook": `usage: drone-convert-eci webhook

Serves the pod admission webhook over HTTPS on DRONE_ECI_WEBHOOK_BIND,
and GET /healthz, /readyz and /metrics over plain HTTP on DRONE_BIND. It
takes no arguments: settings come from DRONE_ECI_WEBHOOK_* and other
DRONE_* variables.
`,
	"mutate-pod": `usage: drone-convert-eci mutate-pod [FILE|-]

Applies the admission webhook's mutation to a Pod (YAML or JSON, from
FILE or standard input) and prints the result.
`,
}

// usageError reports a usage error of one subcommand with that
// subcommand's usage only.
func usageError(stderr io.Writer, command string, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n\n%s", command, fmt.Sprintf(format, args...), usages[command])
	return exitUsage
}

// helpAsked reports whether a subcommand without flags was asked for
// its usage.
func helpAsked(args []string) bool {
	return len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
}

// Run dispatches to a subcommand and returns the process exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(nil, stderr)
	}
	if _, ok := usages[args[0]]; ok && args[0] != "convert" && args[0] != "images" && helpAsked(args[1:]) {
		fmt.Fprint(stdout, usages[args[0]])
		return exitOK
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "convert":
		return convert(args[1:], stdin, stdout, stderr)
	case "images":
		return images(args[1:], stdin, stdout, stderr)
	case "webhook":
		return webhook(args[1:], stderr)
	case "mutate-pod":
		return mutatePod(args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) == 2 {
			if usage, ok := usages[args[1]]; ok {
				fmt.Fprint(stdout, usage)
				return exitOK
			}
		}
		fmt.Fprint(stdout, usageMessage)
		return exitOK
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usageMessage)
	return exitUsage
}
