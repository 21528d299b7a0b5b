{{/* Chart name, truncated to the 63-character DNS label limit. */}}
{{- define "btc-volatility.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>" unless the release name already contains the chart name. */}}
{{- define "btc-volatility.fullname" -}}
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

{{- define "btc-volatility.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels; pass (dict "ctx" $ "component" "ui"). */}}
{{- define "btc-volatility.labels" -}}
helm.sh/chart: {{ include "btc-volatility.chart" .ctx }}
{{ include "btc-volatility.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: btc-volatility
{{- end }}

{{- define "btc-volatility.selectorLabels" -}}
app.kubernetes.io/name: {{ include "btc-volatility.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "btc-volatility.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "btc-volatility.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "repository:tag" from an image block. */}}
{{- define "btc-volatility.image" -}}
{{- printf "%s:%s" .repository (toString .tag) }}
{{- end }}

{{/* Name of one component's resources: (dict "ctx" $ "component" "ui"). */}}
{{- define "btc-volatility.componentName" -}}
{{- printf "%s-%s" (include "btc-volatility.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The model's storage URI: must be s3:// or gs://, never a registry alias. */}}
{{- define "btc-volatility.storageUri" -}}
{{- $uri := .Values.inferenceService.storageUri | default "" | trim }}
{{- if not $uri }}
{{- fail "inferenceService.storageUri is empty: set it to the champion's s3:// or gs:// artifact folder (`bvp deploy kserve --dry-run` prints it), or set inferenceService.enabled=false" }}
{{- else if hasPrefix "models:/" $uri }}
{{- fail (printf "inferenceService.storageUri %q is an MLflow registry URI: KServe's storage initializer cannot resolve models:/ aliases; use the artifact location (s3:// or gs://) printed by `bvp deploy kserve --dry-run`" $uri) }}
{{- else if not (or (hasPrefix "s3://" $uri) (hasPrefix "gs://" $uri)) }}
{{- fail (printf "inferenceService.storageUri %q: expected a URI starting with s3:// or gs://" $uri) }}
{{- end }}
{{- $uri }}
{{- end }}

{{/* Transformer base URL inside the namespace (KServe Standard mode: Service "<isvc>-transformer" on port 80). */}}
{{- define "btc-volatility.uiServerUrl" -}}
{{- if .Values.ui.serverUrl }}
{{- .Values.ui.serverUrl }}
{{- else if .Values.inferenceService.transformer.enabled }}
{{- printf "http://%s-transformer.%s.svc.cluster.local" .Values.inferenceService.name .Release.Namespace }}
{{- else }}
{{- printf "http://%s-predictor.%s.svc.cluster.local" .Values.inferenceService.name .Release.Namespace }}
{{- end }}
{{- end }}
