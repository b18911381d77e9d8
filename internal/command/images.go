package command

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
	"github.com/drone-convert-eci/drone-convert-eci/plugin"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// imageCache is an ECI ImageCache object (CRD imagecaches.eci.alibabacloud.com,
// apiVersion eci.alibabacloud.com/v1, cluster-scoped): spec.images is
// required; imageCacheSize is in GiB, 20–32768, default 20;
// retentionDays is 1–65536, unset means never expires ("kubernetes
// ImageCache API" and "Manage ImageCaches", Elastic Container Instance
// docs, 2022–2026: https://www.alibabacloud.com/help/en/eci/user-guide/kubernetes-imagecache-api).
type imageCache struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Images           []string `yaml:"images"`
		ImagePullSecrets []string `yaml:"imagePullSecrets,omitempty"`
		ImageCacheSize   int      `yaml:"imageCacheSize,omitempty"`
		RetentionDays    int      `yaml:"retentionDays,omitempty"`
	} `yaml:"spec"`
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// images lists the images a set of configs would run on ECI once
// converted (every kubernetes pipeline treated as opted in, an explicit
// opt-out kept), plus the runner's clone and placeholder images, or
// prints an ImageCache manifest covering them.
func images(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("images", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	manifest := flags.Bool("manifest", false, "")
	name := flags.String("name", "", "")
	size := flags.Int("size", 0, "")
	retention := flags.Int("retention-days", 0, "")
	migrateDocker := flags.Bool("migrate-docker", false, "")
	var pullSecrets stringList
	flags.Var(&pullSecrets, "pull-secret", "")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usages["images"])
		return exitOK
	} else if err != nil {
		return usageError(stderr, "images", "%v", err)
	}
	switch {
	case *name != "" && (len(*name) > 253 || !dns1123.MatchString(*name)):
		fmt.Fprintf(stderr, "images: --name %q is not a Kubernetes object name (lowercase letters, digits, - and .)\n", *name)
		return exitUsage
	case *size != 0 && (*size < 20 || *size > 32768):
		fmt.Fprintf(stderr, "images: --size %d: ECI takes 20 to 32768 GiB\n", *size)
		return exitUsage
	case *retention != 0 && (*retention < 1 || *retention > 65536):
		fmt.Fprintf(stderr, "images: --retention-days %d: ECI takes 1 to 65536\n", *retention)
		return exitUsage
	}
	for _, s := range pullSecrets {
		if ns, n, ok := strings.Cut(s, ":"); !ok || ns == "" || n == "" {
			fmt.Fprintf(stderr, "images: --pull-secret %q: want namespace:secretName\n", s)
			return exitUsage
		}
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(stderr, "images:", err)
		return exitUsage
	}
	files := flags.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	conv := plugin.NewConverter(cfg)
	resolver, err := imageResolver(cfg, newLogger(cfg, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "images:", err)
		return exitUsage
	}
	if resolver != nil {
		// Pods pull the pinned references: an ImageCache of anything
		// else would not match them.
		conv.WithResolver(resolver)
	}
	seen := map[string]bool{}
	var list []string
	add := func(image, from string) {
		if image == "" || seen[image] {
			return
		}
		seen[image] = true
		list = append(list, image)
		if transform.Floating(image) {
			fmt.Fprintf(stderr, "images: warning: %s (%s) floats: a cache holds whatever it pointed to when the cache was built\n", image, from)
		}
	}
	for _, file := range files {
		data, err := readInput(file, stdin)
		if err != nil {
			fmt.Fprintln(stderr, "images:", err)
			return exitUsage
		}
		if err := bodyLimit(data, cfg.MaxBodyBytes); err != nil {
			fmt.Fprintf(stderr, "images: %s: %v\n", file, err)
			plugin.WriteRefusalNotes(stderr, err)
			return exitRefused
		}
		found, err := configImages(conv, data, *migrateDocker, func(failure string) {
			fmt.Fprintf(stderr, "images: warning: %s: %s\n", file, failure)
		})
		if err != nil {
			fmt.Fprintf(stderr, "images: %s: %v\n", file, err)
			return exitRefused
		}
		for _, image := range found {
			if strings.Contains(image, "$") {
				fmt.Fprintf(stderr, "images: warning: %s: %s is substituted at build time; left out\n", file, image)
				continue
			}
			add(image, file)
		}
	}
	// Not in any config: the runner's own images (its DRONE_IMAGE_CLONE
	// and DRONE_IMAGE_PLACEHOLDER, mirrored in our settings).
	add(cfg.Images.CloneImage, "DRONE_ECI_CLONE_IMAGE, the runner's DRONE_IMAGE_CLONE")
	add(cfg.Images.PlaceholderImage, "DRONE_ECI_PLACEHOLDER_IMAGE, the runner's DRONE_IMAGE_PLACEHOLDER")
	slices.Sort(list)

	if !*manifest {
		for _, image := range list {
			fmt.Fprintln(stdout, image)
		}
		return exitOK
	}
	var ic imageCache
	ic.APIVersion = "eci.alibabacloud.com/v1"
	ic.Kind = "ImageCache"
	ic.Metadata.Name = *name
	if ic.Metadata.Name == "" {
		// Named after its content: the same images give the same
		// name, a changed list a new cache beside the old one.
		sum := sha256.Sum256([]byte(strings.Join(list, "\n")))
		ic.Metadata.Name = "drone-ci-" + hex.EncodeToString(sum[:])[:10]
	}
	ic.Spec.Images = list
	ic.Spec.ImagePullSecrets = pullSecrets
	ic.Spec.ImageCacheSize = *size
	ic.Spec.RetentionDays = *retention
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	if err := enc.Encode(&ic); err != nil {
		fmt.Fprintln(stderr, "images:", err)
		return exitRefused
	}
	if err := enc.Close(); err != nil {
		fmt.Fprintln(stderr, "images:", err)
		return exitRefused
	}
	return exitOK
}

// configImages converts one config and returns the step and service
// images of its pipelines that would run on ECI, in order; migrate
// includes its Docker-runner pipelines, migrated.
func configImages(conv *plugin.Converter, data []byte, migrate bool, lookupFailed func(string)) ([]string, error) {
	result, err := conv.Convert(plugin.Input{Config: data, OptInAll: true, MigrateDocker: migrate})
	if err != nil {
		return nil, err
	}
	for _, o := range result.Outcomes {
		for _, f := range o.LookupFailures {
			lookupFailed(f)
		}
	}
	if result.Skipped != "" {
		return nil, nil
	}
	opted := map[int]bool{}
	for _, o := range result.Outcomes {
		if !o.Kept && (o.Converted || !(strings.HasPrefix(o.Reason, "opted out") || strings.HasPrefix(o.Reason, "not opted in"))) {
			opted[o.Document] = true
		}
	}
	out := result.Config
	if out == nil {
		out = data
	}
	docs, err := yamldoc.Parse(out, yamldoc.Limits{MaxDocuments: 1 << 20, MaxDepth: 1 << 10, MaxExpandedNodes: 1 << 30, AliasRatio: 1 << 10})
	if err != nil {
		return nil, err
	}
	var images []string
	for _, d := range docs {
		if opted[d.Number] && d.Body() != nil {
			images = append(images, transform.ContainerImages(d.Body())...)
		}
	}
	return images, nil
}
