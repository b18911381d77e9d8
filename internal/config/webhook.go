package config

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// Webhook is the admission webhook's settings (docs/how-it-works.md "Admission
// webhook"), and the converter's side of it: recording each step's
// entrypoint. Its budget is DRONE_ECI_ENV_BUDGET and its node selector
// DRONE_ECI_NODE_SELECTOR, shared with the converter.
type Webhook struct {
	// Enabled makes serve also serve the webhook (the webhook
	// subcommand serves it alone).
	Enabled bool `envconfig:"DRONE_ECI_WEBHOOK_ENABLED"`
	// Bind is the webhook's HTTPS listen address.
	Bind string `envconfig:"DRONE_ECI_WEBHOOK_BIND"`
	// TLSMode is where the webhook's certificate comes from: files
	// (TLSCert and TLSKey, e.g. a mounted cert-manager Secret) or
	// self-managed (the service issues and renews it in CertSecret and
	// patches Configuration's caBundle, internal/webhookcert).
	TLSMode string `envconfig:"DRONE_ECI_WEBHOOK_TLS_MODE"`
	// TLSCert and TLSKey are PEM files, re-read when they change.
	TLSCert string `envconfig:"DRONE_ECI_WEBHOOK_TLS_CERT"`
	TLSKey  string `envconfig:"DRONE_ECI_WEBHOOK_TLS_KEY"`
	// CertSecret is the self-managed mode's Secret (tls.crt, tls.key, ca.crt, ca.key) in
	// DRONE_ECI_NAMESPACE; its name is also the Lease's that elects the
	// one replica renewing it.
	CertSecret string `envconfig:"DRONE_ECI_WEBHOOK_CERT_SECRET"`
	// Configuration is the MutatingWebhookConfiguration whose caBundle
	// the self-managed mode keeps.
	Configuration string `envconfig:"DRONE_ECI_WEBHOOK_CONFIGURATION"`
	// Service is the webhook's Service, in DRONE_ECI_NAMESPACE: the
	// self-managed certificate names <Service>.<namespace>.svc.
	Service string `envconfig:"DRONE_ECI_WEBHOOK_SERVICE"`
	// LoaderImage is the image holding /eci-env-loader (this service's
	// own image); empty leaves containers without a shell as they are.
	LoaderImage string `envconfig:"DRONE_ECI_WEBHOOK_LOADER_IMAGE"`
	// LoaderPullSecret is a pull Secret for LoaderImage that the webhook
	// adds to the pods it gives the loader; it must exist in each
	// pipeline namespace.
	LoaderPullSecret string `envconfig:"DRONE_ECI_WEBHOOK_LOADER_PULL_SECRET"`
	// RecordEntrypoints makes the converter record each plugin step's
	// image entrypoint in the pipeline annotation the webhook reads.
	RecordEntrypoints bool `envconfig:"DRONE_ECI_RECORD_ENTRYPOINTS"`
	// Entrypoints adds or overrides entries of the entrypoint table, as
	// JSON: {"repo/name": {"entrypoint": ["/bin/x"], "cmd": []}}.
	Entrypoints string `envconfig:"DRONE_ECI_ENTRYPOINTS"`
	// CloneImage is the runner's clone image (its DRONE_IMAGE_CLONE).
	CloneImage string `envconfig:"DRONE_ECI_CLONE_IMAGE"`
	// UnknownImages is what the webhook does with a container over the
	// budget whose entrypoint nobody recorded: keep, or drop-legacy
	// (remove the runner's legacy CI_* aliases when that is enough).
	UnknownImages string `envconfig:"DRONE_ECI_WEBHOOK_UNKNOWN_IMAGES"`
	// LiveStatus puts plugin containers within the budget on the static
	// loader, on pods godotenv v1.5 cannot read, for the runner's live
	// build status (docs/how-it-works.md "Admission webhook"); false leaves them as
	// they are (no loader init container or image pull for them).
	LiveStatus bool `envconfig:"DRONE_ECI_WEBHOOK_LIVE_STATUS"`
}

// DRONE_ECI_WEBHOOK_TLS_MODE values.
const (
	TLSFiles       = "files"
	TLSSelfManaged = "self-managed"
)

func defaultWebhook() Webhook {
	return Webhook{
		Bind:          ":8443",
		TLSMode:       TLSFiles,
		TLSCert:       "/etc/drone-convert-eci/webhook-tls/tls.crt",
		TLSKey:        "/etc/drone-convert-eci/webhook-tls/tls.key",
		CloneImage:    "drone/git:latest",
		UnknownImages: "keep",
		LiveStatus:    true,
	}
}

// EntrypointTable is the default table with DRONE_ECI_ENTRYPOINTS over it.
func (w Webhook) EntrypointTable() (map[string]transform.Entrypoint, error) {
	extra, err := transform.ParseEntrypoints(w.Entrypoints)
	if err != nil {
		return nil, fmt.Errorf("DRONE_ECI_ENTRYPOINTS: %w", err)
	}
	table := transform.DefaultEntrypoints()
	for k, v := range extra {
		table[k] = v
	}
	return table, nil
}

func (w Webhook) validate() error {
	switch w.TLSMode {
	case TLSFiles:
	case TLSSelfManaged:
		for _, name := range []struct {
			setting, value string
			check          func(string) []string
		}{
			{"DRONE_ECI_WEBHOOK_CERT_SECRET", w.CertSecret, validation.IsDNS1123Subdomain},
			{"DRONE_ECI_WEBHOOK_CONFIGURATION", w.Configuration, validation.IsDNS1123Subdomain},
			{"DRONE_ECI_WEBHOOK_SERVICE", w.Service, validation.IsDNS1035Label},
		} {
			if name.value == "" {
				return fmt.Errorf("%s: required with DRONE_ECI_WEBHOOK_TLS_MODE=%s", name.setting, TLSSelfManaged)
			}
			if errs := name.check(name.value); len(errs) > 0 {
				return fmt.Errorf("%s: %q is not a valid name: %s", name.setting, name.value, strings.Join(errs, "; "))
			}
		}
	default:
		return fmt.Errorf("DRONE_ECI_WEBHOOK_TLS_MODE: %q is neither %s nor %s", w.TLSMode, TLSFiles, TLSSelfManaged)
	}
	switch w.UnknownImages {
	case "keep", "drop-legacy":
	default:
		return fmt.Errorf("DRONE_ECI_WEBHOOK_UNKNOWN_IMAGES: %q is neither keep nor drop-legacy", w.UnknownImages)
	}
	if w.LoaderPullSecret != "" {
		if errs := validation.IsDNS1123Subdomain(w.LoaderPullSecret); len(errs) > 0 {
			return fmt.Errorf("DRONE_ECI_WEBHOOK_LOADER_PULL_SECRET: %q is not a Secret name: %s", w.LoaderPullSecret, strings.Join(errs, "; "))
		}
	}
	_, err := w.EntrypointTable()
	return err
}
