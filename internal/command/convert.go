package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
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
	if err := flags.Parse(args); err != nil {
		fmt.Fprintf(stderr, "convert: %v\n%s", err, usageMessage)
		return exitUsage
	}
	if flags.NArg() > 1 {
		fmt.Fprintf(stderr, "convert: one file at most, got %d\n%s", flags.NArg(), usageMessage)
		return exitUsage
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
	result, err := plugin.NewConverter(cfg).Convert(plugin.Input{
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
