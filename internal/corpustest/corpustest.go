// Package corpustest finds the corpus of real .drone.yml files that some
// tests also run over. The corpus is not part of the project: a clone on
// its own has none, and the project's testdata covers every behaviour
// without it. Tests that only make sense over the corpus skip when it is
// absent; tests over testdata and corpus together keep their testdata.
//
// ECI_TEST_CORPUS (outside the service's DRONE_ECI_ prefix: the service
// never reads it) names the directory, relative to the repository root
// unless absolute. Unset, it is ../shared/corpus/public, where a checkout
// beside the project's shared material finds it. Set, the corpus is
// required: a missing or empty directory fails the test instead of
// skipping it, which is how CI makes sure the corpus tests ran.
package corpustest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Variable is the environment variable naming the corpus directory.
const Variable = "ECI_TEST_CORPUS"

// DefaultDir is the corpus directory, relative to the repository root,
// when Variable is unset.
const DefaultDir = "../shared/corpus/public"

var (
	once     sync.Once
	dir      string
	files    []string
	absent   string // why there is no corpus, when there is none
	required bool
)

func find() {
	name, set := os.LookupEnv(Variable)
	required = set && name != ""
	if !required {
		name = DefaultDir
	}
	dir = name
	if !filepath.IsAbs(name) {
		root, err := repoRoot()
		if err != nil {
			absent = err.Error()
			return
		}
		dir = filepath.Join(root, name)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		absent = "no corpus at " + dir + " (" + Variable + " names a directory of .drone.yml files)"
		return
	}
	for _, e := range entries {
		// The corpus keeps its index as a .tsv beside the configs.
		if e.Type().IsRegular() && filepath.Ext(e.Name()) != ".tsv" {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		absent = "no config in the corpus at " + dir + " (" + Variable + " names a directory of .drone.yml files)"
	}
}

// repoRoot is the nearest directory above the working directory (a
// test's package directory) holding go.mod.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", &os.PathError{Op: "find repository root", Path: wd, Err: os.ErrNotExist}
		}
	}
}

// Files returns the corpus configs (every file but the .tsv index),
// sorted by name. Without a corpus it returns nil and logs why in one
// line, so a test over testdata and corpus together runs on testdata
// alone; when Variable is set it fails the test instead.
func Files(tb testing.TB) []string {
	tb.Helper()
	once.Do(find)
	if absent != "" {
		if required {
			tb.Fatalf("corpus required (%s is set) but absent: %s", Variable, absent)
		}
		tb.Logf("corpus: %s; testdata only", absent)
		return nil
	}
	return files
}

// Require returns the corpus configs like Files, for a test that only
// makes sense over the corpus: without one it skips the test in one line
// (fails it when Variable is set).
func Require(tb testing.TB) []string {
	tb.Helper()
	once.Do(find)
	if absent != "" {
		if required {
			tb.Fatalf("corpus required (%s is set) but absent: %s", Variable, absent)
		}
		tb.Skipf("corpus test skipped: %s", absent)
	}
	return files
}
