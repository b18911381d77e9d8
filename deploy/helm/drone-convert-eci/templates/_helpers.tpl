{{/* Chart name, shortened to what a label value allows. */}}
{{- define "dce.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of every object; the release name alone when it already holds the chart name. */}}
{{- define "dce.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dce.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dce.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dce.labels" -}}
{{ include "dce.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: converter
app.kubernetes.io/part-of: drone
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dce.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dce.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding DRONE_SECRET: the operator's own, or the one this chart creates. */}}
{{- define "dce.secretName" -}}
{{- if and .Values.secret.value .Values.secret.existingSecret }}
{{- fail "secret: set secret.value or secret.existingSecret, not both" }}
{{- end }}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- $_ := required "secret.value: set the shared secret (the Drone server's DRONE_CONVERT_PLUGIN_SECRET, e.g. from `openssl rand -hex 16`) or name a Secret holding it in secret.existingSecret" .Values.secret.value }}
{{- include "dce.fullname" . }}
{{- end }}
{{- end }}

{{/*
The port the service listens on, taken from DRONE_BIND so the probes,
the container port and the Service cannot disagree with it. In a pod the
service must listen on every interface (":3000"), not on loopback.
*/}}
{{- define "dce.port" -}}
{{- $bind := toString (default ":3000" .Values.env.DRONE_BIND) }}
{{- if not (regexMatch "^(0\\.0\\.0\\.0|\\[::\\])?:[0-9]+$" $bind) }}
{{- fail (printf "env.DRONE_BIND: %q must listen on every interface (e.g. \":3000\"), or the probes and the Service cannot reach it" $bind) }}
{{- end }}
{{- regexFind "[0-9]+$" $bind }}
{{- end }}

{{/*
An env value as the service reads it. Helm decodes unquoted numbers in
values files as floats, which would print 1048576 as 1.048576e+06.
*/}}
{{- define "dce.envValue" -}}
{{- if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ printf "%.0f" . }}{{ else }}{{ . }}{{ end }}
{{- else if kindIs "slice" . }}
{{- join "," . }}
{{- else if kindIs "map" . }}
{{- $pairs := list }}
{{- range $k, $v := . }}{{ $pairs = append $pairs (printf "%s:%v" $k $v) }}{{ end }}
{{- join "," $pairs }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* Namespaces the pipelines run in: needed by the Secrets RBAC and the webhook. */}}
{{- define "dce.pipelineNamespaces" -}}
{{- if not .Values.pipelineNamespaces }}
{{- fail "pipelineNamespaces: list the namespaces drone-runner-kube creates build pods in (its DRONE_NAMESPACE_DEFAULT and any DRONE_NAMESPACE_RULES targets); rbac.secrets and webhook need them" }}
{{- end }}
{{- toJson .Values.pipelineNamespaces }}
{{- end }}

{{/*
Secret access (the carrier's create/get/patch/delete, the registry
lookups' get) in kube-system or the release's own namespace would reach
cluster credentials, this service's DRONE_SECRET and the runner's RPC
secret: refused unless rbac.allowSensitiveNamespaces forces it.
Called with (list $root $namespace).
*/}}
{{- define "dce.refuseSensitiveNamespace" -}}
{{- $root := index . 0 }}
{{- $ns := index . 1 }}
{{- if and (has $ns (list "kube-system" $root.Release.Namespace)) (not $root.Values.rbac.allowSensitiveNamespaces) }}
{{- fail (printf "pipelineNamespaces: %q would give this service Secret access in %s, where it could read %s; run pipelines in a namespace of their own, or set rbac.allowSensitiveNamespaces=true to force it" $ns $ns (ternary "cluster credentials" "its own DRONE_SECRET and the runner's RPC secret" (eq $ns "kube-system"))) }}
{{- end }}
{{- end }}

{{/*
Whether the pod gets a ServiceAccount token: only for the Secret env
carrier or registry lookups with pull secrets, through the chart's RBAC
or the operator's own, and for self-managed webhook TLS.
*/}}
{{- define "dce.automountToken" -}}
{{- $inCluster := eq (toString .Values.env.DRONE_ECI_ENV_IN_CLUSTER) "true" }}
{{- if and .Values.rbac.registry.enabled (not $inCluster) }}
{{- fail "rbac.registry.enabled: the Role is for registry lookups with pull secrets; set env.DRONE_ECI_ENV_IN_CLUSTER=true so the service uses it" }}
{{- end }}
{{- /* With cluster access the auto carrier creates env Secrets (and campaigns for the collector's Lease), which only rbac.secrets allows. */}}
{{- if and .Values.rbac.registry.enabled (not .Values.rbac.secrets.enabled) (ne (toString .Values.env.DRONE_ECI_ENV_CARRIER) "annotations") }}
{{- fail (printf "rbac.registry.enabled without rbac.secrets.enabled: with DRONE_ECI_ENV_IN_CLUSTER the %q env carrier creates Secrets, which the registry Role does not allow; set rbac.secrets.enabled=true, or env.DRONE_ECI_ENV_CARRIER=annotations" (toString .Values.env.DRONE_ECI_ENV_CARRIER)) }}
{{- end }}
{{- if .Values.rbac.secrets.enabled }}
{{- if not $inCluster }}
{{- fail "rbac.secrets.enabled: the Role is for the Secret env carrier; set env.DRONE_ECI_ENV_IN_CLUSTER=true so the service uses it" }}
{{- end }}
{{- $ns := toString .Values.env.DRONE_ECI_ENV_NAMESPACE }}
{{- if not (has $ns .Values.pipelineNamespaces) }}
{{- fail (printf "pipelineNamespaces: env.DRONE_ECI_ENV_NAMESPACE %q is not among them, so the service could not create its env Secrets there" $ns) }}
{{- end }}
{{- end }}
{{- $selfManagedTLS := and .Values.webhook.enabled (eq (toString .Values.webhook.tls.mode) "self-managed") }}
{{- or .Values.rbac.secrets.enabled $inCluster $selfManagedTLS }}
{{- end }}

{{/*
The service's image reference. The repository is required and must name
its registry: the project publishes no image, and a bare name resolves
to Docker Hub's library, where anyone could publish one.
*/}}
{{- define "dce.image" -}}
{{- $repo := .Values.image.repository | default "" | toString }}
{{- if not $repo }}
{{- fail "image.repository: the project publishes no image; build the repository's Dockerfile, push it to a registry your cluster pulls from (e.g. ACR in its region) and set image.repository to it, e.g. registry-vpc.cn-hangzhou.aliyuncs.com/acme/drone-convert-eci" }}
{{- end }}
{{- $first := first (splitList "/" $repo) }}
{{- if or (not (contains "/" $repo)) (not (or (contains "." $first) (contains ":" $first) (eq $first "localhost"))) }}
{{- fail (printf "image.repository %q names no registry host, so it would be pulled from Docker Hub; give the registry you pushed the image to, e.g. registry-vpc.cn-hangzhou.aliyuncs.com/acme/drone-convert-eci (docker.io/<you>/drone-convert-eci for Docker Hub)" $repo) }}
{{- end }}
{{- if .Values.image.digest -}}
{{ $repo }}@{{ .Values.image.digest }}
{{- else -}}
{{ $repo }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/*
The Lease the env Secret collector campaigns for: named after the
release, so two releases in one namespace each collect their own.
*/}}
{{- define "dce.collectorLease" -}}
{{- .Values.env.DRONE_ECI_ENV_COLLECTOR_LEASE | default (printf "%s-env-collector" (include "dce.fullname" .)) }}
{{- end }}
