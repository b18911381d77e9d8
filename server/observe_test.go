package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
	"github.com/drone-convert-eci/drone-convert-eci/internal/reqid"
)

type panickyPlugin struct{ seen chan string }

func (p panickyPlugin) Convert(ctx context.Context, _ *converter.Request) (*drone.Config, error) {
	p.seen <- reqid.From(ctx)
	panic("a transform bug")
}

// TestPanicBecomes500: a panic while converting answers 500 for that
// request, says so in words, is counted, and the server keeps serving.
func TestPanicBecomes500(t *testing.T) {
	registry := prometheus.NewRegistry()
	m := metrics.New(registry)
	log := logrus.New()
	log.SetOutput(io.Discard)
	seen := make(chan string, 1)
	srv := httptest.NewServer(Handler(panickyPlugin{seen: seen}, Options{Secret: "s", Metrics: m, Gatherer: registry}, log))
	defer srv.Close()

	_, err := converter.Client(srv.URL, "s", false).Convert(context.Background(), &converter.Request{Config: drone.Config{Data: "kind: pipeline"}})
	var derr *drone.Error
	if !errorsAs(err, &derr) || derr.Code != http.StatusInternalServerError || !strings.Contains(derr.Message, "internal error") {
		t.Fatalf("got %v, want a 500 naming an internal error", err)
	}
	if id := <-seen; id == "" || !strings.Contains(derr.Message, id) {
		t.Errorf("the request ID %q is not in the answer %q", id, derr.Message)
	}
	if got := testutil.ToFloat64(m.Panics); got != 1 {
		t.Errorf("panics_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("500")); got != 1 {
		t.Errorf(`http_requests_total{code="500"} = %v, want 1`, got)
	}

	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "drone_convert_eci_panics_total 1") {
		t.Errorf("/metrics: %d\n%s", res.StatusCode, body)
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the answer")
	}
}

func errorsAs(err error, target **drone.Error) bool {
	e, ok := err.(*drone.Error)
	if ok {
		*target = e
	}
	return ok
}
