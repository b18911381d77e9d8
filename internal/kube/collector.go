package kube

import (
	"cmp"
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

// CollectorLease is the coordination.k8s.io Lease, in the service's own
// namespace, under which one replica at a time collects env Secrets; the
// chart's Role grants get and update on this name only.
// (the default; DRONE_ECI_ENV_COLLECTOR_LEASE names another).
const CollectorLease = "drone-convert-eci-env-collector"

// Collector collects env Secrets in every namespace the Secret carrier
// may write, soon after it starts leading and then every Interval. Run
// its Lead under a leader.Election for CollectorLease, so that replicas
// do not collect side by side.
type Collector struct {
	Secrets *Secrets
	// Namespaces lists where to collect, asked before each pass.
	Namespaces func() []string
	Retention  time.Duration
	// Delay is the wait before the first pass once leading: short, so
	// pods restarted daily still collect, yet past the start-up burst.
	// Interval is the wait between passes. Zero: 1 minute and 24 hours.
	Delay, Interval time.Duration
	Log             logrus.FieldLogger
	// Metrics may be nil.
	Metrics *metrics.EnvSecrets
}

// Lead runs passes until ctx is done (the Lease lost, or shutdown).
func (c Collector) Lead(ctx context.Context) {
	wait := cmp.Or(c.Delay, time.Minute)
	for {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		c.Pass(ctx)
		wait = cmp.Or(c.Interval, 24*time.Hour)
	}
}

// Pass collects once in each namespace, logging what it deleted; a
// namespace that fails is logged and the others still collected.
func (c Collector) Pass(ctx context.Context) {
	log := c.Log
	if log == nil {
		log = logrus.StandardLogger()
	}
	done := map[string]bool{}
	for _, ns := range c.Namespaces() {
		if done[ns] || ctx.Err() != nil {
			continue
		}
		done[ns] = true
		res, err := c.Secrets.Collect(ctx, ns, c.Retention)
		nsLog := log.WithField("namespace", ns)
		if c.Metrics != nil {
			c.Metrics.Deleted.Add(float64(len(res.Deleted)))
			if res.Entries > 0 || res.Bytes > 0 {
				c.Metrics.IndexBytes.WithLabelValues(ns).Set(float64(res.Bytes))
			}
		}
		if err != nil && ctx.Err() != nil {
			return // the Lease lost or shutdown: the next leader collects
		}
		if err != nil {
			if c.Metrics != nil {
				c.Metrics.Errors.Inc()
			}
			nsLog.WithError(err).Warn("env Secret collection")
		}
		if len(res.Deleted) > 0 {
			nsLog.WithFields(logrus.Fields{"deleted": res.Deleted, "count": len(res.Deleted)}).Info("env Secrets unused for longer than DRONE_ECI_ENV_SECRET_RETENTION deleted")
		}
		if len(res.Foreign) > 0 {
			nsLog.WithField("entries", res.Foreign).Warn("the env Secret index " + IndexName + " named Secrets drone-convert-eci did not create; entries dropped, Secrets left alone")
		}
		if res.Bytes > IndexCapacity*3/4 {
			nsLog.WithFields(logrus.Fields{"entries": res.Entries, "bytes": res.Bytes}).Warn("the env Secret index " + IndexName + " is over three quarters of the 1.5 MiB etcd stores: when full, conversions needing a new env Secret there fail; lower DRONE_ECI_ENV_SECRET_RETENTION")
		}
		nsLog.WithFields(logrus.Fields{"deleted": len(res.Deleted), "dropped": res.Dropped, "skipped": res.Skipped, "entries": res.Entries}).Debug("env Secret collection pass")
	}
}
