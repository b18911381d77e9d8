package command

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

func convert(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("convert", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	optIn := flags.Bool("opt-in", false, "")
	repo := flags.String("repo", "", "")
	trusted := flags.Bool("trusted", false, "")
	protected := flags.Bool("protected", false, "")
	migrateDocker := flags.Bool("migrate-docker", false, "")
	dockerHost := flags.String("docker-host", "", "")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usages["convert"])
		return exitOK
	} else if err != nil {
		return usageError(stderr, "convert", "%v", err)
	}
	if flags.NArg() > 1 {
		return usageError(stderr, "convert", "one file at most, got %d", flags.NArg())
	}
	cfg, err := config.Load(func(c *config.Config) {
		if *dockerHost != "" {
			c.DockerHost = *dockerHost
		}
	})
	if err != nil {
		fmt.Fprintln(stderr, "convert:", err)
		return exitUsage
	}
	name := flags.Arg(0)
	data, err := readInput(name, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "convert:", err)
		return exitUsage
	}
	if err := bodyLimit(data, cfg.MaxBodyBytes); err != nil {
		fmt.Fprintln(stderr, "convert:", err)
		plugin.WriteRefusalNotes(stderr, err)
		return exitRefused
	}
	conv := plugin.NewConverter(cfg)
	resolver, err := imageResolver(cfg, newLogger(cfg, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "convert:", err)
		return exitUsage
	}
	if resolver != nil {
		conv.WithResolver(resolver)
	}
	result, err := conv.Convert(plugin.Input{
		Config:    data,
		Repo:      *repo,
		Trusted:   *trusted,
		Protected: *protected,
		OptInAll:  *optIn,

		MigrateDocker: *migrateDocker,
		DryRun:        true,
	})
	if err != nil {
		fmt.Fprintln(stderr, "convert:", err)
		plugin.WriteRefusalNotes(stderr, err)
		return exitRefused
	}
	out := result.Config
	if out == nil {
		out = data
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, "convert:", err)
		return exitRefused
	}
	result.WriteSummary(stderr)
	return exitOK
}

// bodyLimit refuses, as the server does, a config whose request body
// would exceed DRONE_ECI_MAX_BODY_BYTES: Drone sends the config
// JSON-encoded, with the repo and build around it (a few hundred bytes
// more, not counted here, so a config at the very edge may still pass
// here and be refused there).
func bodyLimit(data []byte, limit int64) error {
	encoded, err := json.Marshal(string(data))
	if err != nil {
		return err
	}
	if int64(len(encoded)) <= limit {
		return nil
	}
	return transform.WithNote(fmt.Errorf("config refused: the config is %d bytes as Drone sends it (JSON-encoded), and this service refuses request bodies larger than %d bytes", len(encoded), limit),
		"DRONE_ECI_MAX_BODY_BYTES", "a config of %d bytes (JSON-encoded) was over the limit", len(encoded))
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "" || name == "-" {
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file", name)
	}
	return data, err
}
