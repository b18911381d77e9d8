package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/drone/drone-go/drone"
	"github.com/drone/drone-go/plugin/converter"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/sirupsen/logrus"

	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
)

// New returns the converter.Plugin the server mounts.
func New(cfg config.Config, log logrus.FieldLogger) converter.Plugin {
	return &plugin{
		converter: NewConverter(cfg),
		gate:      newGate(cfg.MaxConcurrent, cfg.MaxConcurrentPerRepo, cfg.QueueTimeout),
		shadow:    cfg.Shadow,
		log:       log,
	}
}

type plugin struct {
	converter *Converter
	gate      *gate
	shadow    bool
	log       logrus.FieldLogger
}

// Convert implements converter.Plugin. Its error text becomes the build's
// error message in Drone, so it is written for the pipeline author.
func (p *plugin) Convert(ctx context.Context, req *converter.Request) (*drone.Config, error) {
	log := p.log.WithFields(logrus.Fields{
		"repo":  req.Repo.Slug,
		"build": req.Build.Number,
		"event": req.Build.Event,
	})
	release, err := p.gate.enter(ctx, req.Repo.Slug)
	if err != nil {
		log.WithError(err).Warn("conversion not started")
		return nil, err
	}
	defer release()

	in := []byte(req.Config.Data)
	result, err := p.converter.Convert(Input{
		Config:    in,
		Repo:      req.Repo.Slug,
		Trusted:   req.Repo.Trusted,
		Protected: req.Repo.Protected,
	})
	if err != nil {
		if errors.Is(err, ErrHostile) {
			log.WithError(err).Warn("config refused")
		} else {
			log.WithError(err).Info("pipeline cannot run on ECI")
		}
		return nil, fmt.Errorf("drone-convert-eci: %w", err)
	}
	if result.Skipped != "" {
		log.Info(result.Skipped)
	}
	for _, o := range result.Outcomes {
		entry := log.WithFields(logrus.Fields{"document": o.Document, "pipeline": o.Pipeline})
		switch {
		case o.Converted:
			entry.WithField("report", o.Report.String()).Info("pipeline converted")
		default:
			entry.Debug(o.Reason)
		}
	}
	if result.Config == nil {
		return nil, nil
	}
	if p.shadow {
		log.WithField("diff", diff(in, result.Config)).Info("shadow mode: converted, answering unchanged")
		return nil, nil
	}
	return &drone.Config{Data: string(result.Config)}, nil
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
