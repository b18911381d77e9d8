// Command godotenvplugin stands in, in tests, for a Drone plugin that
// reads the runner's live status as drone-slack's main branch does:
// godotenv.Overload of the runner's downward-API file (the path may be
// given as the first argument), its error ignored, then the variable.
// It is no part of the service.
package main

import (
	"fmt"
	"os"

	"github.com/joho/godotenv"
)

func main() {
	file := "/run/drone/env"
	if len(os.Args) > 1 {
		file = os.Args[1]
	}
	err := godotenv.Overload(file)
	fmt.Printf("DRONE_BUILD_STATUS=%s\n", os.Getenv("DRONE_BUILD_STATUS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "godotenv:", err)
	}
}
