{{/* Labels on every object: config/default's two, plus Helm's. */}}
{{- define "tio.labels" -}}
app.kubernetes.io/name: tenant-isolation-operator
app.kubernetes.io/part-of: tenant-isolation-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The operator's pods; a Deployment's selector is immutable, so it never changes with the release. */}}
{{- define "tio.selectorLabels" -}}
app.kubernetes.io/name: tenant-isolation-operator
app.kubernetes.io/component: operator
{{- end }}

{{- define "tio.serviceAccountName" -}}tenant-isolation-operator{{- end }}

{{- define "tio.metricsPort" -}}{{ if .Values.metrics.secure }}8443{{ else }}8080{{ end }}{{- end }}
{{- define "tio.metricsPortName" -}}{{ if .Values.metrics.secure }}https{{ else }}http{{ end }}{{- end }}

{{/* Fail at render time on values this operator version cannot honour, rather than ignore them. */}}
{{- define "tio.validate" -}}
{{- if and .Values.metrics.certSecret (not .Values.metrics.secure) }}
{{- fail "metrics.certSecret: needs metrics.secure=true (a certificate is only used for HTTPS)" }}
{{- end }}
{{- end }}
