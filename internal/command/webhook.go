package command

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/admission"
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/kube"
	"github.com/drone-convert-eci/drone-convert-eci/internal/leader"
	"github.com/drone-convert-eci/drone-convert-eci/internal/lifecycle"
	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
	"github.com/drone-convert-eci/drone-convert-eci/internal/webhookcert"
)

// admissionOptions are the webhook's options from validated settings.
func admissionOptions(cfg config.Config) admission.Options {
	o := admission.DefaultOptions()
	o.Budget = cfg.EnvFiles.Budget
	o.NodeSelector = cfg.NodeSelector
	o.LoaderImage = cfg.Webhook.LoaderImage
	o.LoaderPullSecret = cfg.Webhook.LoaderPullSecret
	o.UnknownImages = cfg.Webhook.UnknownImages
	o.LiveStatus = cfg.Webhook.LiveStatus
	return o
}

// webhook serves the mutating admission webhook over HTTPS, and its
// health and metrics over plain HTTP on DRONE_BIND (newOpsServer).
func webhook(args []string, stderr io.Writer) int {
	cfg, log, ok := loadSettings("webhook", args, stderr)
	if !ok {
		return exitUsage
	}
	registry := processRegistry()
	hook, err := newWebhook(cfg, admission.DefaultLimits(), registry, log)
	if err != nil {
		log.Error(err)
		return exitUsage
	}
	ops, err := newOpsServer(cfg.Bind, registry)
	if err != nil {
		hook.Listener.Close()
		log.Error(err)
		return exitRefused
	}
	ready := lifecycle.NewReadiness(webhookAnswers(hook.Listener.Addr()))
	hook.HTTP.Handler = ready.Handler(hook.HTTP.Handler)
	ops.HTTP.Handler = ready.Handler(ops.HTTP.Handler)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopBackground := startBackground(ctx, hook.Background)
	defer stopBackground(backgroundStopLimit)
	log.Infof("drone-convert-eci webhook health and metrics on %s (plain HTTP)", cfg.Bind)
	if err := lifecycle.Run(ctx, log, ready, cfg.ShutdownDrain, cfg.ShutdownGrace, hook.Server, ops); err != nil {
		log.WithError(err).Error("webhook stopped")
		return exitRefused
	}
	return exitOK
}

// webhookService is the admission webhook's listener and what keeps its
// certificate.
type webhookService struct {
	lifecycle.Server
	// Certs serves the certificate; its NotAfter is the served
	// certificate's expiry.
	Certs webhookCerts
	// Background keeps the certificate (self-managed TLS); run it for
	// the process's lifetime. Nil when there is nothing to run.
	Background func(context.Context)
}

// webhookCerts is what serves the webhook's certificate: file reload or
// the self-managed Secret.
type webhookCerts interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	NotAfter() time.Time
}

// newWebhook makes the HTTPS admission webhook's listener and server (the
// webhook subcommand, and serve with DRONE_ECI_WEBHOOK_ENABLED), its
// metrics registered on reg.
func newWebhook(cfg config.Config, limits admission.Limits, reg prometheus.Registerer, log *logrus.Logger) (webhookService, error) {
	certs, background, err := webhookTLS(cfg, log)
	if err != nil {
		return webhookService{}, err
	}
	return listenWebhook(cfg, limits, reg, log, certs, background)
}

// listenWebhook is newWebhook once the certificate's source is known.
func listenWebhook(cfg config.Config, limits admission.Limits, reg prometheus.Registerer, log *logrus.Logger, certs webhookCerts, background func(context.Context)) (webhookService, error) {
	o := admissionOptions(cfg)
	srv := &http.Server{
		Handler:           admission.Handler(o, limits, metrics.NewWebhook(reg, certs.NotAfter), log),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	listener, err := net.Listen("tcp", cfg.Webhook.Bind)
	if err != nil {
		return webhookService{}, fmt.Errorf("DRONE_ECI_WEBHOOK_BIND: %w", err)
	}
	log.Infof("drone-convert-eci admission webhook listening on %s (budget %d, loader image %q)", cfg.Webhook.Bind, o.Budget, o.LoaderImage)
	if o.LiveStatus && o.LoaderImage == "" {
		log.Warn("DRONE_ECI_WEBHOOK_LOADER_IMAGE is empty: plugin containers get no live build status on converted pods (one warning per pod; DRONE_ECI_WEBHOOK_LIVE_STATUS=false turns it off)")
	}
	return webhookService{
		Server:     lifecycle.Server{Name: "webhook", HTTP: srv, Listener: listener, TLS: true},
		Certs:      certs,
		Background: background,
	}, nil
}

// webhookTLS is where the webhook's certificate comes from
// (DRONE_ECI_WEBHOOK_TLS_MODE): files re-read when they change, or the
// self-managed Secret, with the task that keeps it.
func webhookTLS(cfg config.Config, log *logrus.Logger) (webhookCerts, func(context.Context), error) {
	if cfg.Webhook.TLSMode != config.TLSSelfManaged {
		certs := &admission.CertReloader{CertFile: cfg.Webhook.TLSCert, KeyFile: cfg.Webhook.TLSKey, Interval: 10 * time.Second, Log: log}
		if err := certs.Load(); err != nil {
			return nil, nil, fmt.Errorf("DRONE_ECI_WEBHOOK_TLS_CERT / DRONE_ECI_WEBHOOK_TLS_KEY: %w", err)
		}
		return certs, nil, nil
	}
	// The pod's service account, or DRONE_ECI_ENV_KUBECONFIG when the
	// service runs outside the cluster.
	client, err := kube.NewClient(cfg.EnvFiles.Kubeconfig == "", cfg.EnvFiles.Kubeconfig)
	if err != nil {
		hint := ""
		if cfg.EnvFiles.Kubeconfig == "" {
			hint = " (outside a cluster, set DRONE_ECI_ENV_KUBECONFIG and DRONE_ECI_NAMESPACE)"
		}
		return nil, nil, fmt.Errorf("DRONE_ECI_WEBHOOK_TLS_MODE=%s: %w%s", config.TLSSelfManaged, err, hint)
	}
	return selfManagedTLS(cfg, client, log)
}

// selfManagedTLS serves the certificate of DRONE_ECI_WEBHOOK_CERT_SECRET
// and returns the task that reads it on every replica and keeps it on
// the one holding the Lease.
func selfManagedTLS(cfg config.Config, client kubernetes.Interface, log *logrus.Logger) (webhookCerts, func(context.Context), error) {
	namespace, err := leader.OwnNamespace(cfg.Namespace)
	if err != nil {
		return nil, nil, err
	}
	w := cfg.Webhook
	m := &webhookcert.Manager{
		Client: client, Namespace: namespace, Secret: w.CertSecret, WebhookConfiguration: w.Configuration, Service: w.Service,
		Log: log.WithField("webhook-certificate", namespace+"/"+w.CertSecret),
	}
	election := leader.Election{Client: client, Namespace: namespace, Lease: w.CertSecret, Log: log}
	log.Infof("webhook certificate: self-managed in Secret %s/%s for %s, caBundle of MutatingWebhookConfiguration %s", namespace, w.CertSecret, strings.Join(m.DNSNames(), ", "), w.Configuration)
	return m, func(ctx context.Context) {
		// The writer checks every minute, so a caBundle lost on
		// `helm upgrade` is back within one; readers look every 10 s.
		if err := m.Run(ctx, election, time.Minute, 10*time.Second); err != nil {
			log.WithError(err).Error("webhook certificate: leader election")
		}
	}, nil
}

// webhookAnswers is the readiness check of the webhook listener: it
// completes a TLS handshake there, so a listener that stopped accepting
// or has no certificate to serve takes the pod out of the Service.
// Certificate expiry is deliberately not checked: failing readiness for
// it would take the conversion endpoint, which shares the Service, down
// on every replica at once.
func webhookAnswers(addr net.Addr) func(context.Context) error {
	target := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		target = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return func(ctx context.Context) error {
		// The chain is the API server's to verify, with the caBundle;
		// this only asks whether our own listener serves a certificate.
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // self-check on loopback
		conn, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return fmt.Errorf("webhook listener %s: %w", target, err)
		}
		return conn.Close()
	}
}

// mutatePod applies exactly the webhook's mutation to a Pod (YAML or
// JSON): it is sent as an AdmissionReview to the webhook's own handler
// code, and the answer's JSON patch is applied to it. The mutated Pod
// goes to stdout as YAML, the report to stderr.
func mutatePod(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		return usageError(stderr, "mutate-pod", "one file at most, got %d", len(args))
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(stderr, "mutate-pod:", err)
		return exitUsage
	}
	name := ""
	if len(args) == 1 {
		name = args[0]
	}
	data, err := readInput(name, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "mutate-pod:", err)
		return exitUsage
	}
	raw, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		fmt.Fprintln(stderr, "mutate-pod: not YAML or JSON:", err)
		return exitRefused
	}
	// What yaml.UnmarshalStrict does, from the JSON already converted
	// (duplicate keys were refused there): parsing the YAML a second time
	// doubled the preview's time.
	var pod corev1.Pod
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pod); err != nil || pod.Kind != "Pod" {
		fmt.Fprintf(stderr, "mutate-pod: not a v1 Pod (kind %q): %v\n", pod.Kind, err)
		return exitRefused
	}
	review := &admissionv1.AdmissionReview{Request: &admissionv1.AdmissionRequest{
		UID: "mutate-pod", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: pod.Namespace, Name: pod.Name,
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}}
	out, report, err := admission.ReviewResponse(review, admissionOptions(cfg))
	if err != nil {
		fmt.Fprintln(stderr, "mutate-pod:", err)
		return exitRefused
	}
	mutated := raw
	if len(out.Response.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(out.Response.Patch)
		if err == nil {
			mutated, err = patch.Apply(raw)
		}
		if err != nil {
			fmt.Fprintln(stderr, "mutate-pod: applying the patch:", err)
			return exitRefused
		}
	}
	var obj any
	if err := json.Unmarshal(mutated, &obj); err != nil {
		fmt.Fprintln(stderr, "mutate-pod:", err)
		return exitRefused
	}
	text, err := yaml.Marshal(obj)
	if err != nil {
		fmt.Fprintln(stderr, "mutate-pod:", err)
		return exitRefused
	}
	_, _ = stdout.Write(text)
	fmt.Fprintln(stderr, report.String())
	for _, w := range out.Response.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	return exitOK
}
