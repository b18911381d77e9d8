package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
)

type nilPlugin struct{}

func (nilPlugin) Convert(context.Context, *converter.Request) (*drone.Config, error) {
	return nil, nil
}

// FuzzHandler: arbitrary bodies and header values never crash the
// handler, and nothing unsigned ever reaches the plugin.
func FuzzHandler(f *testing.F) {
	f.Add([]byte(`{"config":{"data":"kind: pipeline"}}`), "SHA-256=abc", "Thu, 26 Nov 2026 12:00:00 GMT", `keyId="hmac-key",algorithm="hmac-sha256",headers="date digest",signature="AAAA"`)
	f.Add([]byte(""), "", "", "")
	f.Add([]byte("\x00\xff"), "SHA-256=", "garbage", `keyId="hmac-key",algorithm="hmac-sha256",headers="(request-target) date digest accept",signature=""`)
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	handler := Handler(nilPlugin{}, Options{Secret: "fuzz", MaxBodyBytes: 4096, MaxClockSkew: time.Minute, Now: now}, nil)
	f.Fuzz(func(t *testing.T, body []byte, digest, date, signature string) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Digest", digest)
		req.Header.Set("Date", date)
		req.Header.Set("Signature", signature)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		// Without the secret no request can be valid, so every answer is
		// a refusal.
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("status %d for an unsigned request", rec.Code)
		}
	})
}
