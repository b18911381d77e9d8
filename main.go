// Command drone-convert-eci is a Drone conversion extension that
// rewrites opted-in kubernetes pipelines to run on Alibaba Cloud ECI.
package main

import (
	"os"

	"github.com/drone-convert-eci/drone-convert-eci/internal/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
