package e2e

import (
	"strings"
	"testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/dronecli"
)

// TestDroneCLI drives the service with `drone plugins convert` from
// drone-cli v1.8.0, the second real client. It prints the converted YAML
// on stderr and a blank line for 204.
func TestDroneCLI(t *testing.T) {
	bin := dronecli.Build(t)
	cfg := config.Default()
	cfg.Repos = []string{"octo/listed"}
	srv := startService(t, cfg, nil)
	tests := []struct {
		name, repo, file, secret string
		wantErr                  bool
		stderr                   string // substring; "" means a blank answer
	}{
		{name: "converted", repo: "octo/hello", file: "../testdata/convert/opted_in.yml", secret: secret, stderr: "virtual-kubelet.io/provider"},
		{name: "repo list", repo: "octo/listed", file: "../testdata/convert/not_opted.yml", secret: secret, stderr: "type: virtual-kubelet"},
		{name: "unchanged", repo: "octo/hello", file: "../testdata/convert/not_opted.yml", secret: secret},
		{name: "wrong secret", repo: "octo/hello", file: "../testdata/convert/opted_in.yml", secret: "wrong", wantErr: true, stderr: "invalid http signature"},
		{name: "cannot convert", repo: "octo/hello", file: "../testdata/convert/bad_tolerations.yml", secret: secret, wantErr: true, stderr: `pipeline "bad": tolerations: expected a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := dronecli.Convert(t, bin, srv.URL, tt.secret, tt.repo, tt.file)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v; stdout %q stderr %q", err, tt.wantErr, stdout, stderr)
			}
			if tt.stderr == "" {
				if strings.TrimSpace(stderr) != "" {
					t.Errorf("want a blank answer for 204, got %q", stderr)
				}
				return
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
		})
	}
}
