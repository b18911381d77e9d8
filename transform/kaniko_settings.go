package transform

// The docker plugin → kaniko plugin setting table, in one place. Every
// entry was read from drone-plugins/drone-docker v21.3.4
// (cmd/drone-docker/main.go flags, docker.go commandBuild, and the
// cmd/drone-{ecr,gcr,gar,acr} wrappers) and drone/drone-kaniko v1.13.9
// (cmd/kaniko-*/main.go flags, kaniko.go Plugin.Exec); docs/how-it-works.md's
// "Docker plugin steps → kaniko" section is this table in prose.

// settingAction is what the conversion does with one docker setting.
type settingAction int

const (
	// keep copies the setting unchanged (same name, same meaning).
	keep settingAction = iota
	// rename copies the value under another name.
	rename
	// daemonOnly drops a setting that only configured the Docker daemon
	// or the plugin's own output: the built image is the same.
	daemonOnly
	// lossy drops a setting with a warning: image metadata or a side
	// feature differs, what a user pulls and runs does not.
	lossy
	// refuse fails the conversion: the image would differ.
	refuse
	// special settings are handled by code in kaniko.go.
	special
)

// settingRule is one row of the table. flavours, when set, lists the
// plugin flavours that read the setting; the others ignore it (and so
// does the conversion, reporting the drop).
type settingRule struct {
	action   settingAction
	to       string
	why      string
	flavours []string
}

// Plugin flavours: the docker plugin image's suffix, and the kaniko one.
const (
	flavourDocker = "docker"
	flavourECR    = "ecr"
	flavourGCR    = "gcr"
	flavourGAR    = "gar"
	flavourACR    = "acr"
)

var dockerPluginFlavours = map[string]string{
	"plugins/docker": flavourDocker,
	"plugins/ecr":    flavourECR,
	"plugins/gcr":    flavourGCR,
	"plugins/gar":    flavourGAR,
	"plugins/acr":    flavourACR,
}

var (
	onlyDockerECR = []string{flavourDocker, flavourECR}
	onlyDocker    = []string{flavourDocker}
	onlyECR       = []string{flavourECR}
	onlyGoogle    = []string{flavourGCR, flavourGAR}
	onlyGAR       = []string{flavourGAR}
	onlyACR       = []string{flavourACR}
)

var settingTable = map[string]settingRule{
	// Same name, same meaning on both sides.
	"repo":                {action: special},
	"registry":            {action: special},
	"dockerfile":          {action: keep},
	"context":             {action: keep},
	"target":              {action: keep},
	"build_args":          {action: special},
	"build_args_new":      {action: keep},
	"multiple_build_args": {action: keep},
	"custom_labels":       {action: keep},
	"platform":            {action: special},
	"artifact_file":       {action: keep},
	"env_file":            {action: keep},
	"docker_username":     {action: keep},
	"docker_password":     {action: keep},
	"docker_registry":     {action: keep},
	"base_image_username": {action: keep},
	"base_image_password": {action: keep},
	"base_image_registry": {action: keep},
	// kaniko-gcr, -gar and -acr have no username/password and only
	// kaniko-docker reads config: losing push credentials is refused.
	// On ecr they are the push login too, which kaniko-ecr reads as a
	// base-image login (see ecrLogin).
	"username": {action: special, flavours: onlyDockerECR, why: "push credentials"},
	"password": {action: special, flavours: onlyDockerECR, why: "push credentials"},
	"config":   {action: keep, flavours: onlyDocker, why: "registry credentials (docker config.json)"},
	// ECR
	"region":            {action: keep, flavours: onlyECR},
	"access_key":        {action: keep, flavours: onlyECR},
	"secret_key":        {action: keep, flavours: onlyECR},
	"assume_role":       {action: keep, flavours: onlyECR},
	"external_id":       {action: keep, flavours: onlyECR},
	"create_repository": {action: keep, flavours: onlyECR},
	"lifecycle_policy":  {action: keep, flavours: onlyECR},
	"repository_policy": {action: keep, flavours: onlyECR},
	"oidc_token_id":     {action: special},
	"scan_on_push":      {action: lossy, flavours: onlyECR, why: "kaniko-ecr cannot switch on image scanning; set it on the ECR repository"},
	"skip_push_if_tag_exists": {action: lossy, flavours: onlyECR,
		why: "kaniko-ecr pushes even when the tag exists"},
	// GCR / GAR
	"json_key":              {action: special, flavours: onlyGoogle},
	"location":              {action: special, flavours: onlyGAR},
	"workload_identity":     {action: lossy, flavours: onlyGoogle, why: "kaniko-gcr/-gar authenticate with json_key only"},
	"project_number":        {action: lossy, flavours: onlyGoogle, why: "kaniko-gcr/-gar authenticate with json_key only"},
	"pool_id":               {action: lossy, flavours: onlyGoogle, why: "kaniko-gcr/-gar authenticate with json_key only"},
	"provider_id":           {action: lossy, flavours: onlyGoogle, why: "kaniko-gcr/-gar authenticate with json_key only"},
	"service_account_email": {action: lossy, flavours: onlyGoogle, why: "kaniko-gcr/-gar authenticate with json_key only"},
	// ACR
	"client_id":            {action: keep, flavours: onlyACR},
	"client_secret":        {action: keep, flavours: onlyACR},
	"client_certificate":   {action: keep, flavours: onlyACR},
	"tenant_id":            {action: keep, flavours: onlyACR},
	"subscription_id":      {action: keep, flavours: onlyACR},
	"azure_authority_host": {action: keep, flavours: onlyACR},
	"daemon_registry":      {action: daemonOnly, flavours: onlyACR, why: "only the artifact file's public URL"},

	// Renamed or rewritten.
	"tag":                 {action: special},
	"tags":                {action: special},
	"auto_tag":            {action: special},
	"default_tags":        {action: special},
	"auto_tag_suffix":     {action: special},
	"default_suffix":      {action: special},
	"dry_run":             {action: special},
	"no_push":             {action: special},
	"mirror":              {action: special},
	"debug":               {action: special},
	"build_args_from_env": {action: special},
	"insecure":            {action: special},
	"cache_from":          {action: special},
	"no_cache":            {action: special},
	"squash":              {action: special},
	"auto_label":          {action: special},
	"label_schema":        {action: lossy, why: "OCI labels added by the docker plugin's auto_label; kaniko adds none (use custom_labels)"},
	"repo_link":           {action: lossy, why: "only fed the org.opencontainers.image.url label, which kaniko does not add (use custom_labels)"},
	"add_host":            {action: lossy, why: "RUN instructions lose these /etc/hosts entries (pipeline host_aliases can carry them)"},
	"custom_dns":          {action: lossy, why: "RUN instructions use the pod's DNS (pipeline dns_config can set it)"},
	"custom_dns_search":   {action: lossy, why: "RUN instructions use the pod's DNS (pipeline dns_config can set it)"},
	"cosign_private_key":  {action: lossy, why: "the kaniko plugin does not sign images: the image is pushed unsigned"},
	"cosign_password":     {action: lossy, why: "the kaniko plugin does not sign images: the image is pushed unsigned"},
	"cosign_params":       {action: lossy, why: "the kaniko plugin does not sign images: the image is pushed unsigned"},
	"purge":               {action: daemonOnly, why: "Docker daemon clean-up"},
	"compress":            {action: daemonOnly, why: "build context compression on the way to the daemon"},
	"pull_image":          {action: daemonOnly, why: "kaniko always fetches base images from the registry"},
	"quiet":               {action: daemonOnly, why: "build output verbosity"},
	"email":               {action: daemonOnly, why: "obsolete docker login flag"},
	"storage_driver":      {action: daemonOnly, why: "Docker daemon storage"},
	"storage_path":        {action: daemonOnly, why: "Docker daemon storage"},
	"bip":                 {action: daemonOnly, why: "Docker daemon bridge network"},
	"mtu":                 {action: daemonOnly, why: "Docker daemon bridge network"},
	"ipv6":                {action: daemonOnly, why: "Docker daemon network"},
	"experimental":        {action: daemonOnly, why: "Docker daemon feature flag"},
	"daemon_off":          {action: daemonOnly, why: "there is no daemon to start"},
	"daemon_retry_count":  {action: daemonOnly, why: "there is no daemon to wait for"},
	"registry_type":       {action: daemonOnly, why: "only the artifact file's registry type"},
	"secret":              {action: refuse, why: "BuildKit build secrets; the kaniko plugin has no such setting"},
	"secrets_from_env":    {action: refuse, why: "BuildKit build secrets; the kaniko plugin has no such setting"},
	"secrets_from_file":   {action: refuse, why: "BuildKit build secrets; the kaniko plugin has no such setting"},
	"ssh_agent_key":       {action: refuse, why: "BuildKit SSH forwarding; the kaniko plugin has no such setting"},
	"push_only":           {action: refuse, why: "pushes an image built by an earlier step into a Docker daemon; kaniko has no daemon to take it from"},
	"source_image":        {action: refuse, why: "pushes an image built by an earlier step into a Docker daemon; kaniko has no daemon to take it from"},
}

// envSetting maps step environment variables the docker plugins read as
// settings (urfave/cli EnvVar lists, or getenv in the wrappers) to the
// setting that carries the same value to the kaniko plugin. The setting,
// when also given, wins, as it does in the docker plugin (its name comes
// first in every list), and so does a variable listed earlier for the
// same setting. DOCKER_USERNAME/PASSWORD/REGISTRY must not stay:
// kaniko reads them as base-image pull credentials. keep leaves the
// variable in the step's environment too, for variables the kaniko
// plugin's own libraries also read.
type envSetting struct {
	env, setting string
	flavours     []string
	keep         bool
}

var envSettings = []envSetting{
	// drone-docker M:234-244 reads these after PLUGIN_*; the ecr, gcr,
	// gar and acr wrappers set PLUGIN_REGISTRY themselves (E:118 G:104
	// R:111 A:126) and overwrite DOCKER_USERNAME/PASSWORD (E:119-120,
	// A:127-128, G:98-101 and R:105-108 when a key is given): see
	// wrapperDockerEnv for those flavours.
	{env: "DOCKER_USERNAME", setting: "username", flavours: onlyDocker},
	{env: "DOCKER_PASSWORD", setting: "password", flavours: onlyDocker},
	{env: "DOCKER_REGISTRY", setting: "registry", flavours: onlyDocker},
	{env: "DOCKER_EMAIL", setting: "email"},
	{env: "DOCKER_PLUGIN_CONFIG", setting: "config"},
	{env: "DOCKER_PLUGIN_MIRROR", setting: "mirror"},
	{env: "DOCKER_LAUNCH_DEBUG", setting: "debug"},
	{env: "DOCKER_BASE_IMAGE_USERNAME", setting: "base_image_username"},
	{env: "DOCKER_BASE_IMAGE_PASSWORD", setting: "base_image_password"},
	{env: "DOCKER_BASE_IMAGE_REGISTRY", setting: "base_image_registry"},
	// drone-ecr E:40 reads PLUGIN_REGION, ECR_REGION, AWS_REGION;
	// kaniko-ecr reads PLUGIN_REGION only, default us-east-1 (ecr
	// main.go 158-163). AWS_REGION stays: the AWS SDK reads it too.
	{env: "ECR_REGION", setting: "region", flavours: onlyECR},
	{env: "AWS_REGION", setting: "region", flavours: onlyECR, keep: true},
	{env: "ECR_ACCESS_KEY", setting: "access_key", flavours: onlyECR},
	{env: "ECR_SECRET_KEY", setting: "secret_key", flavours: onlyECR},
	{env: "ECR_CREATE_REPOSITORY", setting: "create_repository", flavours: onlyECR},
	{env: "GCR_JSON_KEY", setting: "json_key", flavours: onlyGoogle},
	{env: "GOOGLE_CREDENTIALS", setting: "json_key", flavours: onlyGoogle},
	{env: "TOKEN", setting: "json_key", flavours: onlyGoogle},
}

// wrapperDockerEnv are the variables drone-docker reads as push
// registry and login (M:234-244) but the ecr, gcr, gar and acr wrappers
// override; the kaniko plugins read them as base-image pull credentials
// (kaniko-ecr main.go 77-88, -gcr 117-129, -gar 133-145, -acr 140-152).
var wrapperDockerEnv = []string{"DOCKER_REGISTRY", "DOCKER_USERNAME", "DOCKER_PASSWORD"}

// aliases lists docker settings that are read as one flag, in the order
// the docker plugin reads them (the first one set wins), and the kaniko
// name the value goes to.
var aliases = []struct {
	names []string
	to    string
}{
	{[]string{"tag", "tags"}, "tags"},
	{[]string{"default_tags", "auto_tag"}, "auto_tag"},
	{[]string{"default_suffix", "auto_tag_suffix"}, "auto_tag_suffix"},
	{[]string{"dry_run", "no_push"}, "no_push"},
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
