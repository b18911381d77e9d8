package registry

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

type basicEverywhere struct{}

func (basicEverywhere) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: "u", Password: "p"}, nil
}

func TestNoCredentialsOverPlainHTTP(t *testing.T) {
	r := New(Options{Insecure: []string{"10.0.0.9:5000"}})
	kc := secureOnly{basicEverywhere{}, r}
	for host, wantCreds := range map[string]bool{
		"registry.example.com": true,  // HTTPS
		"10.0.0.5:5000":        false, // private: go-containerregistry may use HTTP
		"10.0.0.9:5000":        true,  // listed insecure by the operator
		"127.0.0.1:5000":       true,  // loopback
		"localhost:5000":       true,
	} {
		reg, err := name.NewRegistry(host)
		if err != nil {
			t.Fatal(err)
		}
		auth, err := kc.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		if got := auth != authn.Anonymous; got != wantCreds {
			t.Errorf("%s: credentials given %v, want %v", host, got, wantCreds)
		}
	}
}
