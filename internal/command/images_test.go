package command

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/registry/registrytest"
)

func TestImagesCommand(t *testing.T) {
	const td = "../../testdata/convert/"
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		stdin  string
		code   int
		stdout string // exact, when set
		stderr string // substring
	}{
		{
			name: "pinned images of several configs, plus the runner's own",
			args: []string{"images", td + "images_pins.yml", td + "sizing_dag.yml"},
			env:  map[string]string{"DRONE_ECI_IMAGE_PINS": "golang:1.22,alpine:3.20", "DRONE_ECI_CLONE_IMAGE": "drone/git:1.3.0"},
			stdout: strings.Join([]string{
				"alpine:3.20", "drone/git:1.3.0", "drone/placeholder:1", "golang:1.13", "golang:1.22", "golang:1.22.5",
				"golangci/golangci-lint:v1.59.1", "node:22.14.0", "plugins/s3:1.4.0", "postgres", "redis:7",
			}, "\n") + "\n",
			stderr: "postgres (../../testdata/convert/images_pins.yml) floats",
		},
		{
			name:   "the runner's default clone image floats, and says where to pin it",
			args:   []string{"images", td + "opted_in.yml"},
			stdout: "drone/git:latest\ndrone/placeholder:1\ngolang:1.22\n",
			stderr: "DRONE_IMAGE_CLONE",
		},
		{
			name:   "Docker pipelines only with --migrate-docker",
			args:   []string{"images", td + "migrate_opted_out.yml"},
			stdout: "drone/git:latest\ndrone/placeholder:1\n",
			stderr: "DRONE_IMAGE_CLONE",
		},
		{
			name:   "migrated Docker pipelines, an opted-out one left out",
			args:   []string{"images", "--migrate-docker", td + "migrate_basic.yml", td + "migrate_opted_out.yml"},
			stdout: "drone/git:latest\ndrone/placeholder:1\ngolang:1.22\nnode:22.14.0\nplugins/slack:1.4.1\npostgres:16\nredis:7\n",
			stderr: "DRONE_IMAGE_CLONE",
		},
		{
			name:   "a Docker pipeline kept on the Docker runner is left out",
			args:   []string{"images", "--migrate-docker", td + "migrate_unmovable.yml"},
			stdout: "drone/git:latest\ndrone/placeholder:1\ngolang:1.22\nplugins/kaniko:1.13.9\n",
			stderr: "DRONE_IMAGE_CLONE",
		},
		{
			name:   "opted-out pipelines run elsewhere",
			args:   []string{"images", td + "opted_out.yml"},
			env:    map[string]string{"DRONE_ECI_CLONE_IMAGE": "drone/git:1.3.0"},
			stdout: "drone/git:1.3.0\ndrone/placeholder:1\n",
		},
		{name: "stdin", args: []string{"images"}, stdin: "kind: pipeline\ntype: kubernetes\nname: x\nsteps:\n- {name: a, image: 'alpine:3.20'}\n", code: 0},
		{name: "a config that cannot be converted", args: []string{"images", td + "limits_containers.yml"}, code: 1, stderr: "21 containers"},
		{name: "bad name", args: []string{"images", "--manifest", "--name", "Bad_Name"}, code: 2, stderr: "not a Kubernetes object name"},
		{name: "bad size", args: []string{"images", "--manifest", "--size", "10"}, code: 2, stderr: "20 to 32768"},
		{name: "bad pull secret", args: []string{"images", "--pull-secret", "nocolon"}, code: 2, stderr: "namespace:secretName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"DRONE_ECI_IMAGE_PINS", "DRONE_ECI_CLONE_IMAGE"} {
				t.Setenv(k, "") // restored after the test
				os.Unsetenv(k)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := Run(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if tt.stdout != "" && stdout.String() != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
		})
	}
}

func TestImagesManifest(t *testing.T) {
	t.Setenv("DRONE_ECI_IMAGE_PINS", "golang:1.22")
	t.Setenv("DRONE_ECI_CLONE_IMAGE", "drone/git:1.3.0")
	var stdout, stderr bytes.Buffer
	args := []string{"images", "--manifest", "--size", "40", "--retention-days", "7", "--pull-secret", "drone:regcred", "../../testdata/convert/images_mirror.yml"}
	if code := Run(args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := `apiVersion: eci.alibabacloud.com/v1
kind: ImageCache
metadata:
  name: drone-ci-`
	if !strings.HasPrefix(stdout.String(), want) {
		t.Fatalf("manifest:\n%s", stdout.String())
	}
	var ic imageCache
	if err := yaml.Unmarshal(stdout.Bytes(), &ic); err != nil {
		t.Fatal(err)
	}
	if ic.Spec.ImageCacheSize != 40 || ic.Spec.RetentionDays != 7 || len(ic.Spec.ImagePullSecrets) != 1 || len(ic.Spec.Images) != 6 {
		t.Errorf("spec: %+v", ic.Spec)
	}
	// The same input names the same cache.
	var again bytes.Buffer
	Run(args, nil, &again, &stderr)
	if again.String() != stdout.String() {
		t.Error("manifest is not deterministic")
	}
}

// TestImagesWithRegistryLookups: with lookups on, the list holds the
// references pods will pull (floating images pinned to the registry's
// digest), and a lookup that fails is named on stderr.
func TestImagesWithRegistryLookups(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	digest := reg.Push(t, "ci/python-dev:latest", registrytest.Image(t, "linux/amd64", nil, []string{"python3"}))
	config := "kind: pipeline\ntype: kubernetes\nname: x\nsteps:\n" +
		"- {name: a, image: " + reg.Host + "/ci/python-dev, commands: [make]}\n" +
		"- {name: b, image: " + reg.Host + "/ci/missing, commands: [make]}\n"
	t.Setenv("DRONE_ECI_REGISTRY_LOOKUP", "true")
	t.Setenv("DRONE_ECI_CLONE_IMAGE", "drone/git:1.3.0")
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"images"}, strings.NewReader(config), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := reg.Host + "/ci/missing\n" + reg.Host + "/ci/python-dev:latest@" + digest + "\ndrone/git:1.3.0\ndrone/placeholder:1\n"
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "images: warning: -: image "+reg.Host+"/ci/missing: registry "+reg.Host+": 404 not found (NAME_UNKNOWN)") {
		t.Errorf("stderr does not name the failed lookup:\n%s", stderr.String())
	}
}

func TestImageResolverFollowsTheSwitch(t *testing.T) {
	cfg := config.Default()
	if r, err := imageResolver(cfg, newLogger(cfg, io.Discard)); err != nil || r != nil {
		t.Errorf("lookups off: resolver %v, err %v; want none", r, err)
	}
	cfg.Registry.Lookup = true
	if r, err := imageResolver(cfg, newLogger(cfg, io.Discard)); err != nil || r == nil {
		t.Errorf("lookups on: resolver %v, err %v", r, err)
	}
	cfg.Registry.AuthFile = "/nonexistent/config.json"
	if _, err := imageResolver(cfg, newLogger(cfg, io.Discard)); err == nil || !strings.Contains(err.Error(), "registry auth file") {
		t.Errorf("a missing auth file: %v", err)
	}
}
