package plugin

import (
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// entrypointsTransform builds the "entrypoints" transform from validated
// settings; with DRONE_ECI_RECORD_ENTRYPOINTS off it records nothing.
func entrypointsTransform(cfg config.Config) transform.Transform {
	if !cfg.Webhook.RecordEntrypoints {
		return transform.Entrypoints{}
	}
	table, _ := cfg.Webhook.EntrypointTable() // validated at load
	return transform.Entrypoints{Table: table, CloneImage: cfg.Webhook.CloneImage, Mirror: cfg.Images.RegistryMirror}
}
