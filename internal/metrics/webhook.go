package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Review outcomes: every review the webhook answers 200 is counted under
// exactly one.
const (
	// ReviewMutated: a container of the pod was changed.
	ReviewMutated = "mutated"
	// ReviewUnchanged: the webhook's pod, no container changed: every
	// one within the budget, or those over it kept as they are (counted
	// in containers_over_budget_total; the pod gets only the report
	// annotation).
	ReviewUnchanged = "unchanged"
	// ReviewSkipped: not the webhook's pod (no io.drone label, another
	// node, already mutated) or not a pod creation.
	ReviewSkipped = "skipped"
	// ReviewUnreadablePod: a review whose pod could not be decoded,
	// allowed untouched with a warning.
	ReviewUnreadablePod = "unreadable_pod"
	// ReviewFailed: the patch could not be computed; allowed untouched
	// with a warning (a bug: see the log).
	ReviewFailed = "failed"
)

// Refusal reasons: requests the webhook answers with an error status.
// The API server then applies the webhook's failurePolicy.
const (
	RefusedTooLarge   = "too_large"   // body over admission.MaxReviewBytes
	RefusedEmpty      = "empty"       // no body
	RefusedMalformed  = "malformed"   // not JSON, or not an AdmissionReview
	RefusedNoRequest  = "no_request"  // an AdmissionReview without request
	RefusedBodyError  = "body_error"  // the body could not be read (client went away, timeout)
	RefusedBusySlots  = "busy_slots"  // no review slot free within the queue timeout
	RefusedBusyMemory = "busy_memory" // no memory budget free within the queue timeout
	RefusedMethod     = "method"      // not a POST
)

// refusalCodes are the status each reason is answered with, so that
// every series exists at 0 from the start (an alert on increase() then
// sees the first refusal).
var refusalCodes = map[string]int{
	RefusedTooLarge: 400, RefusedEmpty: 400, RefusedMalformed: 400, RefusedNoRequest: 400, RefusedBodyError: 400,
	RefusedBusySlots: 503, RefusedBusyMemory: 503,
	RefusedMethod: 405,
}

// Webhook are the admission webhook's metrics. A nil *Webhook counts
// nothing, so the handler's callers without a registry (tests,
// mutate-pod, benchmarks) need none.
type Webhook struct {
	// Reviews counts reviews answered 200, by outcome (Review*).
	Reviews *prometheus.CounterVec
	// Refusals counts requests answered with an error, by status code
	// and reason (Refused*).
	Refusals *prometheus.CounterVec
	// Duration is the time from a request's arrival to its answer,
	// queueing included: what counts against the webhook's
	// timeoutSeconds at the API server.
	Duration prometheus.Histogram
	// OverBudget counts containers the webhook left over the env budget
	// (ECI refuses them; the log names the pod and why).
	OverBudget prometheus.Counter
}

// NewWebhook creates the webhook's metrics and registers them on reg,
// with a gauge of the served certificate's expiry read from notAfter at
// each scrape (any certificate source can feed it; a zero time, no
// certificate yet, reads 0).
func NewWebhook(reg prometheus.Registerer, notAfter func() time.Time) *Webhook {
	m := &Webhook{
		Reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "webhook_reviews_total",
			Help: "Admission reviews answered, by outcome: mutated, unchanged, skipped, unreadable_pod, failed.",
		}, []string{"outcome"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "webhook_refusals_total",
			Help: "Requests the webhook refused, by status code and reason; the API server applied failurePolicy to each.",
		}, []string{"code", "reason"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "drone_convert_eci", Name: "webhook_review_duration_seconds",
			Help: "Time from a request's arrival at the webhook to its answer, queueing included.",
			// Half a millisecond (a small pod) to 8 s (past the chart's
			// 5 s timeoutSeconds, where the queue timeout answers 503).
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		OverBudget: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drone_convert_eci", Name: "webhook_containers_over_budget_total",
			Help: "Containers the webhook left over the env budget; ECI refuses them (the log names pod and reason).",
		}),
	}
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "drone_convert_eci", Name: "webhook_certificate_expiry_timestamp_seconds",
		Help: "NotAfter of the certificate the webhook serves, in Unix seconds (0 while none is loaded).",
	}, func() float64 {
		t := notAfter()
		if t.IsZero() {
			return 0
		}
		return float64(t.Unix())
	})
	for _, o := range []string{ReviewMutated, ReviewUnchanged, ReviewSkipped, ReviewUnreadablePod, ReviewFailed} {
		m.Reviews.WithLabelValues(o)
	}
	for reason, code := range refusalCodes {
		m.Refusals.WithLabelValues(strconv.Itoa(code), reason)
	}
	reg.MustRegister(m.Reviews, m.Refusals, m.Duration, m.OverBudget, expiry)
	return m
}

// Reviewed counts one review answered 200 with its outcome and the
// containers it left over the budget.
func (m *Webhook) Reviewed(outcome string, overBudget int) {
	if m == nil {
		return
	}
	m.Reviews.WithLabelValues(outcome).Inc()
	m.OverBudget.Add(float64(overBudget))
}

// Refused counts one request answered code for reason.
func (m *Webhook) Refused(code int, reason string) {
	if m == nil {
		return
	}
	m.Refusals.WithLabelValues(strconv.Itoa(code), reason).Inc()
}

// Observe records how long one request took, from its arrival.
func (m *Webhook) Observe(since time.Time) {
	if m == nil {
		return
	}
	m.Duration.Observe(time.Since(since).Seconds())
}
