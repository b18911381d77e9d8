// Command executor stands in for /kaniko/executor in the semantic test:
// it records its arguments and the environment it was given (bare
// --build-arg values come from there) and writes a digest file.
package main

import (
	"os"
	"strings"
)

func main() {
	_ = os.WriteFile("/executor-args", []byte(strings.Join(os.Args[1:], "\n")+"\n"), 0o644)
	_ = os.WriteFile("/executor-env", []byte(strings.Join(os.Environ(), "\n")+"\n"), 0o644)
	_ = os.WriteFile("/kaniko/digest-file", []byte("sha256:0"), 0o644)
}
