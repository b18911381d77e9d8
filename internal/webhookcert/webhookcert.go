// Package webhookcert keeps the admission webhook's TLS without an
// operator: a CA and a serving certificate for the webhook's Service in
// one Secret (keys tls.crt, tls.key, ca.crt as in a kubernetes.io/tls
// Secret, plus ca.key), renewed well before they expire, and the
// CA in the MutatingWebhookConfiguration's caBundle, as the certificate
// controllers of Gatekeeper and Kyverno do.
//
// One replica at a time (the holder of a coordination.k8s.io Lease, see
// internal/leader) writes: it issues what is missing or ageing and
// patches the caBundle whenever it differs, so a caBundle lost on
// `helm upgrade` heals within a minute. Every replica reads the Secret
// and serves its certificate.
package webhookcert

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/drone-convert-eci/drone-convert-eci/internal/leader"
)

// Keys of the Secret besides tls.crt and tls.key. ca.crt is the bundle
// the API server trusts: the current CA first, then earlier CAs until
// they expire, so a certificate signed by the previous CA still verifies
// while replicas move to the new one. ca.key is the current CA's key.
const (
	KeyCABundle = "ca.crt"
	KeyCAKey    = "ca.key"
)

// Default lifetimes. Each is renewed when less than a third of it
// remains: the CA with about 20 months left, the serving certificate
// with about 4 months left, leaving months to notice a leader that
// cannot write (the certificate-expiry metric) before anything expires.
const (
	DefaultCALifetime   = 5 * 365 * 24 * time.Hour
	DefaultCertLifetime = 365 * 24 * time.Hour
)

// backdate covers clocks that run behind the leader's.
const backdate = time.Hour

// caSettle is how long a new CA is in the caBundle before a certificate
// it signed is served. Each API server verifies against the caBundle its
// informer last saw, not the one just written: a certificate signed by
// the new CA in the same pass as the patch would fail the webhook's
// calls (admitted unmutated, failurePolicy Ignore) until every API
// server had caught up. Meanwhile the previous certificate, signed by
// the previous CA that stays in the bundle, is served.
const caSettle = 5 * time.Minute

// ErrNotIssued is what a replica serves before the leader has written a
// certificate into the Secret.
var ErrNotIssued = errors.New("webhook certificate not issued yet: the replica holding the Lease writes it into the Secret")

// Manager keeps one webhook's certificate.
type Manager struct {
	Client kubernetes.Interface
	// Namespace holds the Secret and the webhook's Service.
	Namespace string
	// Secret holds everything. It must exist, since creating it would
	// need create on every Secret of the namespace: the chart renders
	// it Opaque with no data, because Helm's three-way merge resets any
	// key it renders (so an empty tls.crt would wipe the certificate on
	// every upgrade) while it keeps keys it never rendered, and a
	// kubernetes.io/tls Secret cannot be created without its keys.
	Secret string
	// WebhookConfiguration is the MutatingWebhookConfiguration whose
	// every webhook entry gets the CA bundle.
	WebhookConfiguration string
	// Service names the certificate's DNS names: <Service>.<Namespace>.svc
	// and .svc.cluster.local.
	Service string
	// Lifetimes of what is issued; zero: the defaults above.
	CALifetime, CertLifetime time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	Log logrus.FieldLogger

	served atomic.Pointer[tls.Certificate]
	// writing serialises Reconcile and Refresh calls of one process: a
	// Refresh whose read preceded a Reconcile's renewal would otherwise
	// serve the replaced certificate again after it.
	writing sync.Mutex
}

// DNSNames are the names the serving certificate carries, the ones the
// API server dials for a service reference.
func (m *Manager) DNSNames() []string {
	base := m.Service + "." + m.Namespace + ".svc"
	return []string{base, base + ".cluster.local"}
}

// GetCertificate implements tls.Config.GetCertificate with the
// certificate last read from the Secret.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := m.served.Load(); c != nil {
		return c, nil
	}
	return nil, ErrNotIssued
}

// NotAfter is when the served certificate expires; zero before one is
// served.
func (m *Manager) NotAfter() time.Time {
	if c := m.served.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// Refresh reads the Secret and serves its certificate when it differs
// from the one served. An empty Secret is ErrNotIssued; a broken pair
// keeps the one served.
func (m *Manager) Refresh(ctx context.Context) error {
	m.writing.Lock()
	defer m.writing.Unlock()
	s, err := m.Client.CoreV1().Secrets(m.Namespace).Get(ctx, m.Secret, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the webhook certificate Secret %s/%s: %w", m.Namespace, m.Secret, err)
	}
	if len(s.Data[corev1.TLSCertKey]) == 0 {
		return ErrNotIssued
	}
	return m.serve(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
}

func (m *Manager) serve(certPEM, keyPEM []byte) error {
	if c := m.served.Load(); c != nil && bytes.Equal(pemCert(c.Certificate[0]), firstPEM(certPEM)) {
		return nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("webhook certificate Secret %s/%s: tls.crt / tls.key: %w", m.Namespace, m.Secret, err)
	}
	m.served.Store(&pair)
	m.log().WithFields(logrus.Fields{"serial": pair.Leaf.SerialNumber.Text(16), "notAfter": pair.Leaf.NotAfter.UTC().Format(time.RFC3339)}).Info("serving the webhook certificate from the Secret")
	return nil
}

// Follow calls Refresh every interval until ctx is done, logging a
// failure once until it changes.
func (m *Manager) Follow(ctx context.Context, interval time.Duration) {
	m.every(ctx, interval, "reading the webhook certificate", m.Refresh)
}

// Lead calls Reconcile every interval until ctx is done: the task of the
// replica holding the Lease.
func (m *Manager) Lead(ctx context.Context, interval time.Duration) {
	m.every(ctx, interval, "keeping the webhook certificate", m.Reconcile)
}

func (m *Manager) every(ctx context.Context, interval time.Duration, what string, f func(context.Context) error) {
	last := ""
	for {
		err := f(ctx)
		wait := interval
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			last = ""
		case errors.Is(err, ErrNotIssued):
			// Nothing to serve yet: the pod is not ready until there
			// is, so look again soon.
			wait = min(wait, notIssuedRetry)
			fallthrough
		case err.Error() != last:
			if err.Error() != last {
				m.log().WithError(err).Warn(what)
			}
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// notIssuedRetry is how soon a replica with nothing to serve reads the
// Secret again.
const notIssuedRetry = 2 * time.Second

// Run serves the Secret's certificate and, whenever this replica holds
// the election's Lease, keeps it (Lead every leadEvery), until ctx is
// done. Every replica reads the Secret every followEvery.
func (m *Manager) Run(ctx context.Context, e leader.Election, leadEvery, followEvery time.Duration) error {
	go m.Follow(ctx, followEvery)
	return e.Run(ctx, func(lead context.Context) { m.Lead(lead, leadEvery) })
}

// Reconcile is one pass of the writer: it issues a CA when there is
// none or it is ageing (keeping the previous CA in the bundle until it
// expires), a serving certificate when there is none, it is ageing, or
// it no longer matches the CA or the DNS names; it writes the caBundle
// into every webhook of the configuration, then the Secret, and serves
// the result. The caBundle goes first, and a certificate signed by a new
// CA only once that CA has been in it for caSettle (a later pass), so
// that every API server trusts a new CA before any replica serves a
// certificate signed by it.
func (m *Manager) Reconcile(ctx context.Context) error {
	m.writing.Lock()
	defer m.writing.Unlock()
	now := m.now()
	secrets := m.Client.CoreV1().Secrets(m.Namespace)
	s, err := secrets.Get(ctx, m.Secret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the webhook certificate Secret %s/%s does not exist: create it, empty (the chart renders it; the service fills it)", m.Namespace, m.Secret)
	}
	if err != nil {
		return fmt.Errorf("reading the webhook certificate Secret %s/%s: %w", m.Namespace, m.Secret, err)
	}
	next, issued, err := m.plan(s.Data, now)
	if err != nil {
		return err
	}
	if err := m.patchCABundle(ctx, next[KeyCABundle]); err != nil {
		return err
	}
	if len(issued) > 0 {
		s = s.DeepCopy()
		s.Data = next
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("writing the webhook certificate Secret %s/%s: %w", m.Namespace, m.Secret, err)
		}
		m.log().WithField("issued", issued).Info("webhook certificate Secret updated")
	}
	return m.serve(next[corev1.TLSCertKey], next[corev1.TLSPrivateKeyKey])
}

// plan returns the Secret's data as it should be at now, and what had
// to change (empty: nothing).
func (m *Manager) plan(data map[string][]byte, now time.Time) (map[string][]byte, []string, error) {
	var changed []string
	bundle := parseCerts(data[KeyCABundle])
	ca, caKey := currentCA(bundle, data[KeyCAKey], now)
	if ca == nil || ageing(ca, now) {
		var err error
		if ca, caKey, err = m.issueCA(now); err != nil {
			return nil, nil, err
		}
		changed = append(changed, "CA")
	}
	// The current CA, then every other CA that has not expired.
	keep := []*x509.Certificate{ca}
	for _, c := range bundle {
		if c.IsCA && now.Before(c.NotAfter) && !c.Equal(ca) {
			keep = append(keep, c)
		}
	}
	var bundlePEM []byte
	for _, c := range keep {
		bundlePEM = append(bundlePEM, pemCert(c.Raw)...)
	}
	if !bytes.Equal(bundlePEM, data[KeyCABundle]) && len(changed) == 0 {
		changed = append(changed, "CA bundle")
	}
	certPEM, keyPEM := data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey]
	if !m.leafFits(certPEM, keyPEM, ca, now) && !(unsettled(ca, now) && m.leafServes(certPEM, keyPEM, keep, now)) {
		var err error
		if certPEM, keyPEM, err = m.issueLeaf(ca, caKey, now); err != nil {
			return nil, nil, err
		}
		changed = append(changed, "serving certificate")
	}
	caKeyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the webhook CA key: %w", err)
	}
	next := map[string][]byte{}
	for k, v := range data {
		next[k] = v
	}
	next[corev1.TLSCertKey], next[corev1.TLSPrivateKeyKey] = certPEM, keyPEM
	next[KeyCABundle], next[KeyCAKey] = bundlePEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: caKeyDER})
	return next, changed, nil
}

// currentCA is the bundle's first certificate when it is a CA valid at
// now whose key is keyPEM.
func currentCA(bundle []*x509.Certificate, keyPEM []byte, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	if len(bundle) == 0 || !bundle[0].IsCA || now.Before(bundle[0].NotBefore) || !now.Before(bundle[0].NotAfter) {
		return nil, nil
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(bundle[0].PublicKey) {
		return nil, nil
	}
	return bundle[0], key
}

// leafFits: the pair parses and matches, is signed by ca, names exactly
// the DNS names, and has a third of its life or more left.
func (m *Manager) leafFits(certPEM, keyPEM []byte, ca *x509.Certificate, now time.Time) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || pair.Leaf == nil {
		return false
	}
	leaf := pair.Leaf
	return leaf.CheckSignatureFrom(ca) == nil &&
		slices.Equal(leaf.DNSNames, m.DNSNames()) &&
		!now.Before(leaf.NotBefore) && !ageing(leaf, now)
}

// unsettled: ca was issued (NotBefore is its issue time backdated)
// less than caSettle ago, so API servers may not trust it yet.
func unsettled(ca *x509.Certificate, now time.Time) bool {
	return now.Before(ca.NotBefore.Add(backdate + caSettle))
}

// leafServes: the pair parses and matches, names exactly the DNS names,
// is signed by one of cas and stays valid past caSettle: it may go on
// being served while a new CA settles.
func (m *Manager) leafServes(certPEM, keyPEM []byte, cas []*x509.Certificate, now time.Time) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || pair.Leaf == nil {
		return false
	}
	leaf := pair.Leaf
	if !slices.Equal(leaf.DNSNames, m.DNSNames()) || now.Before(leaf.NotBefore) || !now.Add(caSettle).Before(leaf.NotAfter) {
		return false
	}
	return slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return leaf.CheckSignatureFrom(ca) == nil })
}

// ageing: less than a third of the certificate's life remains.
func ageing(c *x509.Certificate, now time.Time) bool {
	return c.NotAfter.Sub(now) < c.NotAfter.Sub(c.NotBefore)/3
}

func (m *Manager) issueCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("drone-convert-eci webhook CA %s/%s %s", m.Namespace, m.Service, now.UTC().Format("20060102T150405Z"))},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(cmp.Or(m.CALifetime, DefaultCALifetime)),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func (m *Manager) issueLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook certificate key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	names := m.DNSNames()
	notAfter := now.Add(cmp.Or(m.CertLifetime, DefaultCertLifetime))
	if notAfter.After(ca.NotAfter) {
		// Never outlive the signer: the chain would stop verifying first.
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the webhook certificate key: %w", err)
	}
	return pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// patchCABundle sets bundle as the caBundle of every webhook of the
// configuration that has another. Each replacement is guarded by a test
// of the entry's name, so a concurrent reordering fails the patch
// instead of writing into the wrong entry.
func (m *Manager) patchCABundle(ctx context.Context, bundle []byte) error {
	configs := m.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	c, err := configs.Get(ctx, m.WebhookConfiguration, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", m.WebhookConfiguration, err)
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	var ops []op
	var names []string
	for i, w := range c.Webhooks {
		if bytes.Equal(w.ClientConfig.CABundle, bundle) {
			continue
		}
		ops = append(ops,
			op{"test", fmt.Sprintf("/webhooks/%d/name", i), w.Name},
			op{"add", fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), bundle})
		names = append(names, w.Name)
	}
	if len(ops) == 0 {
		return nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if _, err := configs.Patch(ctx, m.WebhookConfiguration, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patching the caBundle of MutatingWebhookConfiguration %s: %w", m.WebhookConfiguration, err)
	}
	m.log().WithField("webhooks", names).Infof("caBundle of MutatingWebhookConfiguration %s set", m.WebhookConfiguration)
	return nil
}

func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// firstPEM is the first certificate of a PEM chain, re-encoded.
func firstPEM(data []byte) []byte {
	if certs := parseCerts(data); len(certs) > 0 {
		return pemCert(certs[0].Raw)
	}
	return nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate serial number: %w", err)
	}
	return n, nil
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) log() logrus.FieldLogger {
	if m.Log != nil {
		return m.Log
	}
	return logrus.StandardLogger()
}
