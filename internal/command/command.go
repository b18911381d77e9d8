// Package command implements the binary's subcommands: serve (the
// conversion extension Drone calls) and convert (the same conversion on
// a local file), which share one configuration.
package command

import (
	"fmt"
	"io"
)

// Exit codes of the convert subcommand, documented in the README.
const (
	exitOK       = 0
	exitRefused  = 1 // a pipeline cannot be converted, or serving failed
	exitUsage    = 2
	usageMessage = `usage:
  drone-convert-eci [serve]                    run the conversion extension (the default)
  drone-convert-eci convert [flags] [FILE|-]   convert a config locally and print it
  drone-convert-eci images [flags] [FILE...]   list the images converted configs use, for an ECI ImageCache
  drone-convert-eci webhook                    serve the pod admission webhook (HTTPS)
  drone-convert-eci mutate-pod [FILE|-]        apply the webhook's mutation to a Pod (YAML or JSON)

convert flags:
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

images flags:
  --manifest               print an ImageCache manifest instead of the list
  --name NAME              the ImageCache name (default: drone-ci-<hash of the list>)
  --size GiB               spec.imageCacheSize (20-32768)
  --retention-days N       spec.retentionDays
  --pull-secret ns:name    spec.imagePullSecrets entry, repeatable
  --migrate-docker         include Docker-runner pipelines, migrated

Settings come from DRONE_* environment variables; see the README.
`
)

// Run dispatches to a subcommand and returns the process exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(nil, stderr)
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
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageMessage)
		return exitOK
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usageMessage)
	return exitUsage
}
