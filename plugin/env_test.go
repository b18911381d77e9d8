package plugin

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
)

type failingStore struct{}

func (failingStore) Ensure(context.Context, string, string, map[string][]byte) error {
	return errors.New("secrets is forbidden")
}

// An API failure fails the conversion: no config mounting a Secret that
// was not created ever leaves.
func TestEnvSecretFailureFailsConversion(t *testing.T) {
	input, err := os.ReadFile("../testdata/convert/env_secret_trusted.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.EnvFiles.When = "always"
	result, err := NewConverter(cfg).WithSecretStore(failingStore{}).Convert(Input{Config: input, Repo: "octo/x", Trusted: true})
	if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "drone-convert-eci-env-") {
		t.Fatalf("err = %v", err)
	}
	if result.Config != nil {
		t.Error("a config came back")
	}
	// Untrusted repos never need the store.
	if _, err := NewConverter(cfg).WithSecretStore(failingStore{}).Convert(Input{Config: input, Repo: "octo/x"}); err != nil {
		t.Errorf("untrusted: %v", err)
	}
	// No store at all: annotations, whatever the repo.
	if _, err := NewConverter(cfg).Convert(Input{Config: input, Repo: "octo/x", Trusted: true}); err != nil {
		t.Errorf("no store: %v", err)
	}
}

// A dry run (shadow mode, the CLI) creates nothing: the store is never
// called, and the report names the Secret it would have needed.
func TestEnvSecretDryRunCreatesNothing(t *testing.T) {
	input, err := os.ReadFile("../testdata/convert/env_secret_trusted.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.EnvFiles.When = "always"
	result, err := NewConverter(cfg).WithSecretStore(failingStore{}).Convert(Input{Config: input, Repo: "octo/x", Trusted: true, DryRun: true})
	if err != nil {
		t.Fatalf("the store was called: %v", err)
	}
	var warned bool
	for _, o := range result.Outcomes {
		for _, w := range o.Report.Warnings {
			warned = warned || strings.Contains(w, "dry run: Secret")
		}
	}
	if result.Config == nil || !warned {
		t.Errorf("converted %v, dry-run warning %v", result.Config != nil, warned)
	}
}
