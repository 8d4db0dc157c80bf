{{/* Names, labels and the merged daemon configuration of aks-backup-companion. */}}

{{- define "abc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "abc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "abc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "abc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "abc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "abc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "abc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "abc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* "true" when more than one pod runs: leader election and the quota ConfigMap. */}}
{{- define "abc.ha" -}}
{{- if or (gt (int .Values.replicas) 1) (eq .Values.workload.kind "DaemonSet") -}}true{{- end -}}
{{- end -}}

{{- define "abc.tokenPath" -}}/var/run/secrets/aks-backup-companion/token{{- end -}}

{{/*
The daemon's configuration: the chart's copy of config/aks-backup-companion.yaml,
then .Values.config over it, then what the chart decides (leader election and
the quota ConfigMap with several pods, the write-API token file, admission off).
Other templates read it back with `include "abc.config" . | fromYaml`.
*/}}
{{- define "abc.config" -}}
{{- $cfg := .Files.Get "files/aks-backup-companion.yaml" | fromYaml -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy .Values.config) -}}
{{- if include "abc.ha" . -}}
{{- $_ := set $cfg.leader_election "enabled" true -}}
{{- if not $cfg.accounting.state_configmap -}}
{{- $_ := set $cfg.accounting "state_configmap" .Values.quota.stateConfigMap -}}
{{- end -}}
{{- end -}}
{{- if .Values.writeApi.enabled -}}
{{- $_ := set $cfg.api "token_file" (include "abc.tokenPath" .) -}}
{{- end -}}
{{- if not .Values.admission.enabled -}}
{{- $_ := set $cfg.admission "warnings_configmap" "" -}}
{{- end -}}
{{- if .Values.azure.enabled -}}
{{- $az := dict "enabled" true "vault_id" .Values.azure.vaultId "cluster_id" .Values.azure.clusterId "storage_account_id" .Values.azure.storageAccountId "resource_manager_url" .Values.azure.resourceManagerUrl "authority_host" .Values.azure.authorityHost "poll_seconds" .Values.azure.pollSeconds "jobs_poll_seconds" .Values.azure.jobsPollSeconds -}}
{{- $_ := set $cfg "azure" (mergeOverwrite (default dict $cfg.azure) $az) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "abc.validate" -}}
{{- if not (has .Values.workload.kind (list "Deployment" "DaemonSet")) -}}
{{- fail (printf "workload.kind must be Deployment or DaemonSet, not %q" .Values.workload.kind) -}}
{{- end -}}
{{- if and .Values.azure.enabled (not .Values.azure.vaultId) -}}
{{- fail "azure.enabled needs azure.vaultId (the Backup vault's ARM resource id)" -}}
{{- end -}}
{{- if and .Values.writeApi.enabled (not .Values.writeApi.existingSecret) (not .Values.writeApi.token) -}}
{{- fail "writeApi.enabled needs writeApi.existingSecret or writeApi.token" -}}
{{- end -}}
{{- if and .Values.writeApi.token (lt (len .Values.writeApi.token) 32) -}}
{{- fail "writeApi.token must be at least 32 characters (the daemon refuses a shorter one)" -}}
{{- end -}}
{{- end -}}

{{/* The namespace every namespaced object goes to. */}}
{{- define "abc.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* registry/repository:tag, or @digest when image.digest is set. */}}
{{- define "abc.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The port of a HOST:PORT or [v6]:PORT listen address. */}}
{{- define "abc.portOf" -}}
{{- $parts := splitList ":" . -}}
{{- $port := last $parts -}}
{{- if not (regexMatch "^[0-9]+$" $port) -}}
{{- fail (printf "http listen address %q has no port" .) -}}
{{- end -}}
{{- if or (lt (int $port) 1) (gt (int $port) 65535) -}}
{{- fail (printf "http listen address %q: the chart needs a fixed port from 1 to 65535" .) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/* The container port of http.listen (the metrics port), as configured. */}}
{{- define "abc.metricsPort" -}}
{{- $cfg := include "abc.config" . | fromYaml -}}
{{- include "abc.portOf" (default "0.0.0.0:8080" $cfg.http.listen) -}}
{{- end -}}

{{/* The container port the probes use: http.health_listen's when set, else http.listen's. */}}
{{- define "abc.healthPort" -}}
{{- $cfg := include "abc.config" . | fromYaml -}}
{{- if $cfg.http.health_listen -}}
{{- include "abc.portOf" $cfg.http.health_listen -}}
{{- else -}}
{{- include "abc.metricsPort" . -}}
{{- end -}}
{{- end -}}

{{/* Labels of the Service (the ServiceMonitor's jobLabel is read from them). */}}
{{- define "abc.serviceLabels" -}}
{{ include "abc.labels" . }}
{{- with .Values.service.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The job label Prometheus gives the scraped series, which AKSBackupCompanionDown
selects: prometheusRule.job when set; else what the chart's ServiceMonitor
produces, the value of the Service label named by serviceMonitor.jobLabel, or
the Service's name when jobLabel is "".
*/}}
{{- define "abc.job" -}}
{{- if .Values.prometheusRule.job -}}
{{- .Values.prometheusRule.job -}}
{{- else if .Values.serviceMonitor.jobLabel -}}
{{- $labels := include "abc.serviceLabels" . | fromYaml -}}
{{- $v := index $labels .Values.serviceMonitor.jobLabel -}}
{{- if not $v -}}
{{- fail (printf "serviceMonitor.jobLabel %q is not a label of the Service: add it with service.labels or set prometheusRule.job" .Values.serviceMonitor.jobLabel) -}}
{{- end -}}
{{- $v -}}
{{- else -}}
{{- include "abc.fullname" . -}}
{{- end -}}
{{- end -}}
