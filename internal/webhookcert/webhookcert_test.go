package webhookcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/drone-convert-eci/drone-convert-eci/internal/leader"
	"github.com/drone-convert-eci/drone-convert-eci/internal/leader/leadertest"
)

const (
	testNamespace = "drone"
	testSecret    = "drone-convert-eci-webhook-tls"
	testWebhook   = "drone-convert-eci"
	testService   = "drone-convert-eci"
)

// cluster is what the chart renders: the empty Secret
// and a webhook configuration with two webhooks and no caBundle.
func cluster() []runtime.Object {
	entry := func(name string) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{Name: name, ClientConfig: admissionregistrationv1.WebhookClientConfig{
			Service: &admissionregistrationv1.ServiceReference{Namespace: testNamespace, Name: testService},
		}}
	}
	return []runtime.Object{
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testSecret},
			// As the chart renders it: Opaque, no data.
			Type: corev1.SecretTypeOpaque,
		},
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testWebhook},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{entry("pods.drone-convert-eci.io"), entry("other.drone-convert-eci.io")},
		},
	}
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func newManager(client *fake.Clientset, now func() time.Time) *Manager {
	return &Manager{
		Client: client, Namespace: testNamespace, Secret: testSecret, WebhookConfiguration: testWebhook, Service: testService,
		CALifetime: 300 * 24 * time.Hour, CertLifetime: 30 * 24 * time.Hour, Now: now, Log: quietLog(),
	}
}

// state is what the API server holds.
type state struct {
	secret   map[string][]byte
	caBundle [][]byte // per webhook entry
}

func read(t *testing.T, client *fake.Clientset) state {
	t.Helper()
	ctx := context.Background()
	s, err := client.CoreV1().Secrets(testNamespace).Get(ctx, testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testWebhook, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := state{secret: s.Data}
	for _, w := range c.Webhooks {
		st.caBundle = append(st.caBundle, w.ClientConfig.CABundle)
	}
	return st
}

func (s state) leaf(t *testing.T) *x509.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(s.secret[corev1.TLSCertKey], s.secret[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatalf("tls.crt / tls.key: %v", err)
	}
	return pair.Leaf
}

func (s state) cas() []*x509.Certificate { return parseCerts(s.secret[KeyCABundle]) }

// checkBundlePatched: every webhook entry carries the Secret's ca.crt.
func (s state) checkBundlePatched(t *testing.T) {
	t.Helper()
	for i, b := range s.caBundle {
		if string(b) != string(s.secret[KeyCABundle]) || len(b) == 0 {
			t.Errorf("webhook %d: caBundle %q, Secret's ca.crt %q", i, b, s.secret[KeyCABundle])
		}
	}
}

// verifies checks leaf against the webhook's caBundle for the Service
// name, as the API server does.
func verifies(t *testing.T, bundle []byte, leaf *x509.Certificate, at time.Time) error {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatalf("caBundle holds no certificate: %q", bundle)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: testService + "." + testNamespace + ".svc", CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	client := fake.NewSimpleClientset(cluster()...)
	m := newManager(client, clk.Now)

	// An empty Secret: a CA and a certificate are issued, the caBundle
	// of every webhook is patched, and the certificate is served.
	if _, err := m.GetCertificate(nil); !errors.Is(err, ErrNotIssued) {
		t.Fatalf("before issuing: %v", err)
	}
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	first := read(t, client)
	first.checkBundlePatched(t)
	leaf1 := first.leaf(t)
	ca1 := first.cas()
	if len(ca1) != 1 || !ca1[0].IsCA || len(first.secret[KeyCAKey]) == 0 {
		t.Fatalf("after issuing: %d CAs in ca.crt, ca.key %d bytes", len(ca1), len(first.secret[KeyCAKey]))
	}
	if want := []string{"drone-convert-eci.drone.svc", "drone-convert-eci.drone.svc.cluster.local"}; !slices.Equal(leaf1.DNSNames, want) {
		t.Errorf("DNS names %v, want %v", leaf1.DNSNames, want)
	}
	if err := verifies(t, first.caBundle[0], leaf1, start); err != nil {
		t.Errorf("issued certificate does not verify against the patched caBundle: %v", err)
	}
	if !m.NotAfter().Equal(leaf1.NotAfter) {
		t.Errorf("NotAfter %s, leaf's %s", m.NotAfter(), leaf1.NotAfter)
	}

	// Nothing ageing: nothing written.
	client.ClearActions()
	clk.Set(start.Add(10 * 24 * time.Hour))
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if w := writes(client); len(w) != 0 {
		t.Errorf("a pass with nothing to renew wrote %v", w)
	}

	// A caBundle lost (helm upgrade without it) is put back, the Secret
	// left alone.
	wipe(t, client)
	client.ClearActions()
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	read(t, client).checkBundlePatched(t)
	if w := writes(client); !slices.Equal(w, []string{"patch mutatingwebhookconfigurations"}) {
		t.Errorf("healing the caBundle wrote %v", w)
	}

	// The certificate with less than a third of its life left (30-day
	// certificate, day 21): replaced under the same CA.
	clk.Set(start.Add(21 * 24 * time.Hour))
	wipe(t, client)
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	second := read(t, client)
	second.checkBundlePatched(t)
	leaf2 := second.leaf(t)
	if leaf2.SerialNumber.Cmp(leaf1.SerialNumber) == 0 || !leaf2.NotAfter.After(leaf1.NotAfter) {
		t.Fatalf("ageing certificate not replaced: serial %s -> %s", leaf1.SerialNumber, leaf2.SerialNumber)
	}
	if cas := second.cas(); len(cas) != 1 || !cas[0].Equal(ca1[0]) {
		t.Errorf("renewing the certificate changed the CA bundle to %d CAs", len(cas))
	}
	if c, _ := m.GetCertificate(nil); c.Leaf.SerialNumber.Cmp(leaf2.SerialNumber) != 0 {
		t.Error("the leader does not serve the certificate it just issued")
	}

	// The CA with less than a third of its life left (300 days, day
	// 201): a new CA joins the caBundle, but the certificate stays the
	// previous CA's until the new one has been in the caBundle for
	// caSettle: an API server verifies against the caBundle its informer
	// last saw, so a certificate signed by the new CA in the same pass
	// would fail there until it caught up.
	clk.Set(start.Add(195 * 24 * time.Hour))
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	before := read(t, client)
	previous := before.leaf(t)
	if previous.CheckSignatureFrom(ca1[0]) != nil {
		t.Fatal("on day 195 the certificate should still come from the first CA")
	}
	day201 := start.Add(201 * 24 * time.Hour)
	clk.Set(day201)
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	third := read(t, client)
	third.checkBundlePatched(t)
	cas := third.cas()
	if len(cas) != 2 || cas[0].Equal(ca1[0]) || !cas[1].Equal(ca1[0]) {
		t.Fatalf("after CA rotation ca.crt holds %d CAs; want the new one, then the old one", len(cas))
	}
	if err := verifies(t, before.caBundle[0], third.leaf(t), day201); err != nil {
		t.Errorf("in the pass that added the new CA, the Secret's certificate does not verify against the caBundle an API server may still hold: %v", err)
	}
	if c, _ := m.GetCertificate(nil); !c.Leaf.Equal(previous) {
		t.Error("the leader serves another certificate than the previous one while the new CA settles")
	}
	// Passes within caSettle keep it.
	clk.Set(day201.Add(caSettle - time.Minute))
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if leaf := read(t, client).leaf(t); !leaf.Equal(previous) {
		t.Error("the certificate changed before the new CA settled")
	}
	// The first pass after caSettle: a certificate from the new CA, which
	// verifies against the caBundle written caSettle before.
	settled := day201.Add(caSettle)
	clk.Set(settled)
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	switched := read(t, client)
	switched.checkBundlePatched(t)
	leaf3 := switched.leaf(t)
	if err := leaf3.CheckSignatureFrom(cas[0]); err != nil {
		t.Errorf("new certificate not signed by the new CA: %v", err)
	}
	if c, _ := m.GetCertificate(nil); !c.Leaf.Equal(leaf3) {
		t.Error("the leader does not serve the new CA's certificate")
	}
	for name, leaf := range map[string]*x509.Certificate{"new": leaf3, "previous": previous} {
		if err := verifies(t, third.caBundle[0], leaf, settled); err != nil {
			t.Errorf("%s certificate does not verify against the caBundle during the CA overlap: %v", name, err)
		}
	}

	// Once the old CA has expired, it leaves the bundle.
	clk.Set(ca1[0].NotAfter.Add(time.Hour))
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	fourth := read(t, client)
	fourth.checkBundlePatched(t)
	if cas := fourth.cas(); len(cas) != 1 || !cas[0].Equal(third.cas()[0]) {
		t.Errorf("after the old CA expired ca.crt holds %d CAs", len(cas))
	}
}

// wipe removes the caBundle of every webhook, as `helm upgrade` may.
func wipe(t *testing.T, client *fake.Clientset) {
	t.Helper()
	ctx := context.Background()
	c, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testWebhook, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Webhooks {
		c.Webhooks[i].ClientConfig.CABundle = nil
	}
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A Secret someone else filled with a broken or foreign pair is
// reissued, never served.
func TestBrokenSecretReissued(t *testing.T) {
	client := fake.NewSimpleClientset(cluster()...)
	ctx := context.Background()
	s, _ := client.CoreV1().Secrets(testNamespace).Get(ctx, testSecret, metav1.GetOptions{})
	s.Data = map[string][]byte{corev1.TLSCertKey: []byte("not a certificate"), corev1.TLSPrivateKeyKey: []byte("nor a key"), KeyCABundle: []byte("junk")}
	if _, err := client.CoreV1().Secrets(testNamespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := newManager(client, nil)
	if err := m.Refresh(ctx); err == nil {
		t.Fatal("a broken pair was served")
	}
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	st := read(t, client)
	st.checkBundlePatched(t)
	if err := verifies(t, st.caBundle[1], st.leaf(t), time.Now()); err != nil {
		t.Error(err)
	}
}

func TestMissingSecretNamed(t *testing.T) {
	m := newManager(fake.NewSimpleClientset(cluster()[1]), nil)
	err := m.Reconcile(context.Background())
	if err == nil || !strings.Contains(err.Error(), "drone/"+testSecret) {
		t.Errorf("got %v, want an error naming the Secret", err)
	}
}

// replica is one process's client: its own action log over the shared
// API server (tracker).
func replica(tracker k8stesting.ObjectTracker) *fake.Clientset {
	c := &fake.Clientset{}
	c.AddReactor("*", "*", k8stesting.ObjectReaction(tracker))
	return c
}

// Two replicas on one API server: the one holding the Lease issues and
// patches; the other only reads, serves the same certificate, and a
// TLS handshake with it verifies against the patched caBundle for the
// Service's DNS name.
func TestTwoReplicas(t *testing.T) {
	tracker := k8stesting.NewObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder())
	for _, o := range cluster() {
		if err := tracker.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clients := []*fake.Clientset{replica(tracker), replica(tracker)}
	leadertest.OptimisticLeases(tracker, clients...)
	managers := []*Manager{newManager(clients[0], nil), newManager(clients[1], nil)}
	var wg sync.WaitGroup
	for i, id := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := leader.Election{Client: clients[i], Namespace: testNamespace, Lease: testSecret, Identity: id,
				LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond, Log: quietLog()}
			if err := managers[i].Run(ctx, e, 200*time.Millisecond, 100*time.Millisecond); err != nil {
				t.Error(err)
			}
		}()
	}
	// Wait until both serve.
	for managers[0].NotAfter().IsZero() || managers[1].NotAfter().IsZero() {
		select {
		case <-ctx.Done():
			t.Fatal("the replicas serve no certificate")
		case <-time.After(50 * time.Millisecond):
		}
	}
	st := read(t, replica(tracker))
	st.checkBundlePatched(t)
	cancel()
	wg.Wait()

	writers := 0
	for i, c := range clients {
		var certWrites []string
		for _, w := range writes(c) {
			if w != "create leases" && w != "update leases" {
				certWrites = append(certWrites, w)
			}
		}
		if len(certWrites) > 0 {
			writers++
		}
		a, _ := managers[i].GetCertificate(nil)
		if !a.Leaf.Equal(st.leaf(t)) {
			t.Errorf("replica %d serves another certificate than the Secret's", i)
		}
		handshake(t, managers[i], st.caBundle[0])
	}
	if writers != 1 {
		t.Errorf("%d replicas wrote the Secret or the webhook configuration, want exactly 1", writers)
	}
}

// handshake serves m's certificate on loopback and dials it as the API
// server does: trusting only caBundle, for the Service's DNS name.
func handshake(t *testing.T, m *Manager, caBundle []byte) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: m.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caBundle)
	dial := func(name string) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(testService + "." + testNamespace + ".svc"); err != nil {
		t.Errorf("handshake for the Service name against the caBundle: %v", err)
	}
	if err := dial("other.drone.svc"); err == nil {
		t.Error("the certificate verified for a name it does not carry")
	}
}

// A replica's periodic read that got the Secret just before the leader's
// own pass renewed it must not, finishing after that pass, put the
// replaced certificate back in service.
func TestReadDoesNotUndoRenewal(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	client := fake.NewSimpleClientset(cluster()...)
	m := newManager(client, clk.Now)
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	// The next read of the Secret returns what it held, but only once
	// released.
	got, release := make(chan struct{}), make(chan struct{})
	var hooked atomic.Bool
	m.Client = heldReads{Interface: client, hold: func() {
		if hooked.CompareAndSwap(false, true) {
			close(got)
			<-release
		}
	}}
	refreshed := make(chan error, 1)
	go func() { refreshed <- m.Refresh(ctx) }()
	<-got
	// The leader's pass renews the certificate (a third of its life left)
	// meanwhile.
	clk.Set(start.Add(21 * 24 * time.Hour))
	reconciled := make(chan error, 1)
	go func() { reconciled <- m.Reconcile(ctx) }()
	select {
	case err := <-reconciled:
		reconciled <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if err := <-reconciled; err != nil {
		t.Fatal(err)
	}
	secret := read(t, client).leaf(t)
	if secret.NotBefore.Before(start.Add(20 * 24 * time.Hour)) {
		t.Fatal("the pass did not renew the certificate")
	}
	if c, _ := m.GetCertificate(nil); !c.Leaf.Equal(secret) {
		t.Errorf("serving serial %s, the Secret holds %s: a stale read replaced the renewed certificate", c.Leaf.SerialNumber.Text(16), secret.SerialNumber.Text(16))
	}
}

// heldReads calls hold after each Secret read returns, before its caller
// goes on.
type heldReads struct {
	kubernetes.Interface
	hold func()
}

func (c heldReads) CoreV1() corev1client.CoreV1Interface {
	return heldCore{CoreV1Interface: c.Interface.CoreV1(), hold: c.hold}
}

type heldCore struct {
	corev1client.CoreV1Interface
	hold func()
}

func (c heldCore) Secrets(namespace string) corev1client.SecretInterface {
	return heldSecrets{SecretInterface: c.CoreV1Interface.Secrets(namespace), hold: c.hold}
}

type heldSecrets struct {
	corev1client.SecretInterface
	hold func()
}

func (s heldSecrets) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error) {
	secret, err := s.SecretInterface.Get(ctx, name, opts)
	s.hold()
	return secret, err
}
