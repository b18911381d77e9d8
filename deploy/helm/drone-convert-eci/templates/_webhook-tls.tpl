{{/*
The webhook's TLS mode (webhook.tls.mode), checked: every mode leaves
the API server a way to get the CA, or the chart refuses to render.
  self-managed  the service issues and renews the CA and the certificate
                in webhook-tls.yaml's Secret and patches the caBundle
  cert-manager  cert-manager issues the certificate, its cainjector fills
                the caBundle (cert-manager.io/inject-ca-from)
  secret        an existing kubernetes.io/tls Secret, with webhook.caBundle
                or an injector's annotation in webhook.annotations
*/}}
{{- define "dce.webhookTLSMode" -}}
{{- $mode := .Values.webhook.tls.mode }}
{{- $injected := or (hasKey .Values.webhook.annotations "cert-manager.io/inject-ca-from") (hasKey .Values.webhook.annotations "cert-manager.io/inject-ca-from-secret") }}
{{- if eq $mode "secret" }}
{{- if not .Values.webhook.tls.secretName }}
{{- fail "webhook.tls.secretName: with webhook.tls.mode secret, name the kubernetes.io/tls Secret (tls.crt, tls.key) for the webhook's Service DNS name" }}
{{- end }}
{{- if not (or .Values.webhook.caBundle $injected) }}
{{- fail "webhook.caBundle: with webhook.tls.mode secret the API server needs the CA that signed the certificate: set webhook.caBundle (base64 PEM) or a CA injector's annotation in webhook.annotations (cert-manager.io/inject-ca-from); or use webhook.tls.mode self-managed (the default) or cert-manager" }}
{{- end }}
{{- else if has $mode (list "self-managed" "cert-manager") }}
{{- if .Values.webhook.caBundle }}
{{- fail (printf "webhook.caBundle: with webhook.tls.mode %s the caBundle is kept for you; leave it empty (it is for mode secret)" $mode) }}
{{- end }}
{{- if $injected }}
{{- fail (printf "webhook.annotations: a cert-manager.io/inject-ca-from annotation with webhook.tls.mode %s would give the caBundle two writers; remove it (mode cert-manager adds its own)" $mode) }}
{{- end }}
{{- else }}
{{- fail (printf "webhook.tls.mode: %q is not self-managed, cert-manager or secret" $mode) }}
{{- end }}
{{- $mode }}
{{- end }}

{{/* The Secret holding the webhook's certificate: given, or <fullname>-webhook-tls. */}}
{{- define "dce.webhookTLSSecret" -}}
{{- .Values.webhook.tls.secretName | default (printf "%s-webhook-tls" (include "dce.fullname" .)) }}
{{- end }}

{{/* The serving certificate's DNS names: what the API server dials for the Service. */}}
{{- define "dce.webhookDNSNames" -}}
{{- $svc := printf "%s.%s.svc" (include "dce.fullname" .) .Release.Namespace }}
{{- toJson (list $svc (printf "%s.cluster.local" $svc)) }}
{{- end }}
