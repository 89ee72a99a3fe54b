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

{{/* A number from --set (int64) or a values file (float64: 1048576 would print as 1.048576e+06), or a string, quoted. */}}
{{- define "tio.wholeNumber" -}}{{ if kindIs "string" . }}{{ . | quote }}{{ else }}{{ . | int64 | toString | quote }}{{ end }}{{- end }}

{{- define "tio.metricsPort" -}}{{ if .Values.metrics.secure }}8443{{ else }}8080{{ end }}{{- end }}
{{- define "tio.metricsPortName" -}}{{ if .Values.metrics.secure }}https{{ else }}http{{ end }}{{- end }}

{{/* Fail at render time on values this operator version cannot honour, rather than ignore them. */}}
{{- define "tio.validate" -}}
{{- if and (not .Values.metrics.enabled) (or .Values.metrics.certSecret .Values.monitoring.serviceMonitor.enabled .Values.monitoring.prometheusRule.enabled) }}
{{- fail "metrics.enabled=false: no metrics listener, so neither metrics.certSecret nor monitoring.serviceMonitor.enabled nor monitoring.prometheusRule.enabled (its alerts read the metrics) can be honoured" }}
{{- end }}
{{- if and .Values.metrics.certSecret (not .Values.metrics.secure) }}
{{- fail "metrics.certSecret: needs metrics.secure=true (a certificate is only used for HTTPS)" }}
{{- end }}
{{- /* Without a lease every replica reconciles: they race on the same objects and each sends the Events. */}}
{{- range .Values.extraArgs }}
{{- if regexMatch "^--(no-)?(leader-elect|leader-election-namespace|metrics-bind-address|metrics-secure|metrics-cert-path|health-probe-bind-address|log-level|reserved-namespaces)(=|$)" . }}
{{- fail (printf "extraArgs: %s is set by the chart from its values (leaderElection, metrics, logLevel, reservedNamespaces): set those instead" .) }}
{{- end }}
{{- end }}
{{- if and .Values.monitoring.serviceMonitor.enabled .Values.metrics.secure .Values.metrics.certSecret (not .Values.monitoring.serviceMonitor.tlsConfig) }}
{{- fail "monitoring.serviceMonitor.tlsConfig: with metrics.certSecret, say how Prometheus checks the certificate: ca and serverName (tenant-isolation-operator-metrics.<namespace>.svc), or insecureSkipVerify: true" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "leaderElection.enabled=false: needs replicas=1 (without a lease every replica would reconcile)" }}
{{- end }}
{{- end }}
