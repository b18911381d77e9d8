package plugin

import (
	"github.com/drone-convert-eci/drone-convert-eci/internal/config"
	"github.com/drone-convert-eci/drone-convert-eci/transform"
)

// kanikoTransform is the docker-plugin → kaniko transform the
// configuration asks for. It runs first: the transforms after it size
// and pin the images it chose.
func kanikoTransform(cfg config.Config) transform.Kaniko {
	return transform.Kaniko{
		Images: map[string]string{
			"docker": cfg.KanikoImage,
			"ecr":    cfg.KanikoECRImage,
			"gcr":    cfg.KanikoGCRImage,
			"gar":    cfg.KanikoGARImage,
			"acr":    cfg.KanikoACRImage,
		},
		CacheRepo:      cfg.KanikoCacheRepo,
		HostPathClaims: cfg.HostPathClaims,
		DropPrivileged: cfg.PrivilegedPolicy == config.PrivilegedDrop,
		RemoteDocker: transform.RemoteDocker{
			Host:      cfg.DockerHost,
			PlainTCP:  cfg.DockerPlainTCP,
			TLSSecret: cfg.DockerTLSSecret,
			TLSFromSecrets: transform.DockerTLSSecrets{
				CA:   cfg.DockerTLSFromSecrets["ca"],
				Cert: cfg.DockerTLSFromSecrets["cert"],
				Key:  cfg.DockerTLSFromSecrets["key"],
			},
		},
	}
}
