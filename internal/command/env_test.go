package command

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/kube"
)

// kubeconfig writes a kubeconfig for an API server that is never called.
func kubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnvSecretsCollectorSetup(t *testing.T) {
	log, _ := test.NewNullLogger()
	cfg := config.Default()
	if opts, collect, err := envSecrets(cfg, nil, log); opts != nil || collect != nil || err != nil {
		t.Errorf("no cluster access: %v %v %v", opts, collect != nil, err)
	}
	cfg.EnvFiles.Kubeconfig = kubeconfig(t)
	cfg.Namespace = "drone"
	opts, collect, err := envSecrets(cfg, nil, log)
	if err != nil || len(opts) != 1 || collect == nil {
		t.Errorf("with a namespace: %d options, collector %v, %v", len(opts), collect != nil, err)
	}
	cfg.EnvFiles.Retention = 0
	if _, collect, err := envSecrets(cfg, nil, log); collect != nil || err != nil {
		t.Errorf("retention 0: collector %v, %v", collect != nil, err)
	}
	cfg.EnvFiles.Retention = config.Default().EnvFiles.Retention
	cfg.EnvFiles.Carrier = "annotations"
	if _, collect, err := envSecrets(cfg, nil, log); collect != nil || err != nil {
		t.Errorf("annotations carrier: collector %v, %v", collect != nil, err)
	}
	cfg.EnvFiles.Carrier = "auto"
	cfg.Namespace = ""
	if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		t.Skip("running in a pod: the service account's namespace is readable")
	}
	if _, _, err := envSecrets(cfg, nil, log); err == nil || !strings.Contains(err.Error(), "DRONE_ECI_NAMESPACE") {
		t.Errorf("no namespace for the Lease: %v", err)
	}
}

func TestCollectionNamespaces(t *testing.T) {
	store := &kube.Secrets{Client: fake.NewClientset()}
	if err := store.Ensure(context.Background(), "team", "drone-convert-eci-env-x", map[string][]byte{"env": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	env := config.Default().EnvFiles
	env.Namespace = "builds"
	if got := collectionNamespaces(env, store)(); !reflect.DeepEqual(got, []string{"builds", "team"}) {
		t.Errorf("unlisted: %v, want the default namespace and those written", got)
	}
	env.SecretNamespaces = []string{"builds", "other"}
	if got := collectionNamespaces(env, store)(); !reflect.DeepEqual(got, []string{"builds", "other"}) {
		t.Errorf("listed: %v, want exactly the list", got)
	}
}
