package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/internal/logline"
	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
	"github.com/drone-convert-eci/drone-convert-eci/internal/reqid"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// Option adjusts the plugin New builds.
type Option func(*plugin)

// WithMetrics makes the plugin count conversions, their duration and the
// transforms applied.
func WithMetrics(m *metrics.Metrics) Option {
	return func(p *plugin) { p.metrics = m }
}

// New returns the converter.Plugin the server mounts.
func New(cfg config.Config, log logrus.FieldLogger, opts ...Option) converter.Plugin {
	p := &plugin{
		converter: NewConverter(cfg),
		gate:      newGate(cfg.MaxConcurrent, cfg.MaxConcurrentPerRepo, cfg.QueueTimeout),
		shadow:    cfg.Shadow,
		timeout:   cfg.ConvertTimeout,
		log:       log,
	}
	for _, opt := range opts {
		opt(p)
	}
	return p
}

type plugin struct {
	converter *Converter
	gate      *gate
	shadow    bool
	timeout   time.Duration
	log       logrus.FieldLogger
	metrics   *metrics.Metrics
}

// noteOperator logs the notes for the operator (which setting would
// help) and counts them by setting, when metrics are on. They never
// reach the pipeline author, who cannot change a setting.
func (p *plugin) noteOperator(log logrus.FieldLogger, notes []transform.OperatorNote) {
	for _, n := range notes {
		log.WithField("setting", n.Setting).Info("operator: " + n.Text)
		if p.metrics != nil {
			p.metrics.OperatorNotes.WithLabelValues(n.Setting).Inc()
		}
	}
}

// count records one conversion result, when metrics are on.
func (p *plugin) count(result string) {
	if p.metrics != nil {
		p.metrics.Conversions.WithLabelValues(result).Inc()
	}
}

// Convert implements converter.Plugin. Its error text becomes the build's
// error message in Drone, so it is written for the pipeline author.
func (p *plugin) Convert(ctx context.Context, req *converter.Request) (*drone.Config, error) {
	log := p.log.WithFields(logrus.Fields{
		"request_id": reqid.From(ctx),
		"repo":       req.Repo.Slug,
		"build":      req.Build.Number,
		"event":      req.Build.Event,
	})
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	release, err := p.gate.enter(ctx, req.Repo.Slug)
	if err != nil {
		p.count("busy")
		log.WithError(err).Warn("conversion not started")
		p.noteOperator(log, transform.OperatorNotes(err))
		return nil, err
	}
	defer release()
	start := time.Now()
	if p.metrics != nil {
		defer func() { p.metrics.Duration.Observe(time.Since(start).Seconds()) }()
	}

	in := []byte(req.Config.Data)
	result, err := p.converter.Convert(Input{
		Config:    in,
		Repo:      req.Repo.Slug,
		Trusted:   req.Repo.Trusted,
		Protected: req.Repo.Protected,
		Event:     req.Build.Event,
		Context:   ctx,
		DryRun:    p.shadow,
	})
	if err != nil {
		if errors.Is(err, ErrHostile) {
			p.count("refused")
			log.WithError(err).Warn("config refused")
		} else {
			p.count("failed")
			log.WithError(err).Info("pipeline cannot run on ECI")
		}
		p.noteOperator(log, transform.OperatorNotes(err))
		return nil, fmt.Errorf("drone-convert-eci: %w", err)
	}
	if result.Skipped != "" {
		log.Info(result.Skipped)
	}
	p.noteOperator(log, result.Operator)
	for _, o := range result.Outcomes {
		entry := log.WithFields(logrus.Fields{"document": o.Document, "pipeline": o.Pipeline})
		for i, f := range o.LookupFailures {
			if i == maxLookupFailureLines {
				entry.Warnf("registry lookup failed for %d more images (drone-convert-eci images lists them all)", len(o.LookupFailures)-i)
				break
			}
			entry.Warn("registry lookup failed: " + logline.Cut(f, maxLogValue))
		}
		if p.metrics != nil {
			p.metrics.LookupFailures.Add(float64(len(o.LookupFailures)))
		}
		switch {
		case o.Converted:
			entry.WithField("report", logReport(o.Report)).Info("pipeline converted")
			p.noteOperator(entry, o.Report.Operator)
			if p.metrics != nil {
				for _, name := range o.Applied {
					p.metrics.Transforms.WithLabelValues(name).Inc()
				}
			}
		case o.Kept:
			entry.WithField("why", o.Reason).Warn("Docker pipeline kept on the Docker runner, unchanged: it cannot move to ECI (DRONE_ECI_MIGRATE_UNMOVABLE=keep)")
			if p.metrics != nil {
				p.metrics.Kept.Inc()
			}
		default:
			entry.Debug(o.Reason)
		}
	}
	if result.Config == nil {
		p.count("unchanged")
		return nil, nil
	}
	if p.shadow {
		p.count("shadow")
		log.WithField("diff", logline.Lines(diff(in, result.Config), maxLogValue)).Info("shadow mode: converted, answering unchanged")
		return nil, nil
	}
	p.count("converted")
	return &drone.Config{Data: string(result.Config)}, nil
}

// What one conversion may put in a log line, so that the line stays under
// logline.MaxBytes with its other fields. The author's report is whole in
// the dry-run CLI's output and (up to its own limit) in the pod's report
// annotation; the log is for operators, who need its gist and its size.
const (
	maxLogValue           = 48 << 10
	maxLogReportList      = 20 << 10 // changes, and warnings, each
	maxLookupFailureLines = 10
)

// logReport is the report for the "pipeline converted" line: the same
// form as the annotation's, each list cut after maxLogReportList bytes
// with the count of the items left out.
func logReport(r transform.Report) string {
	cut := transform.Report{}
	if len(r.Changes) > 0 {
		cut.Changes = []string{logline.List(r.Changes, "; ", maxLogReportList)}
	}
	if len(r.Warnings) > 0 {
		cut.Warnings = []string{logline.List(r.Warnings, "; ", maxLogReportList)}
	}
	return cut.String()
}

// diff is a unified diff of the config, for shadow mode's log line.
func diff(before, after []byte) string {
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(before)),
		B:        difflib.SplitLines(string(after)),
		FromFile: "original",
		ToFile:   "converted",
		Context:  2,
	})
	if err != nil {
		return err.Error()
	}
	return string(bytes.TrimSpace([]byte(text)))
}
