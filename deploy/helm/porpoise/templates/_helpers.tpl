{{/* Names and labels. */}}
{{- define "porpoise.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "porpoise.fullname" -}}
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

{{- define "porpoise.selectorLabels" -}}
app.kubernetes.io/name: {{ include "porpoise.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "porpoise.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "porpoise.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: porpoise
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "api") */}}
{{- define "porpoise.componentSelector" -}}
{{ include "porpoise.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "porpoise.componentLabels" -}}
{{ include "porpoise.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "porpoise.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "porpoise.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "porpoise.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret the containers read: the chart's own or existingSecret. */}}
{{- define "porpoise.secretName" -}}
{{- default (include "porpoise.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* Whether the store is Postgres (always in cluster mode; in all mode when postgres.url or existingSecret is given). */}}
{{- define "porpoise.usesPostgres" -}}
{{- if or (eq .Values.mode "cluster") .Values.postgres.url .Values.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Required values, checked once (values.schema.json checks their shape). */}}
{{- define "porpoise.validate" -}}
{{- if and (eq .Values.mode "cluster") (not .Values.existingSecret) -}}
{{- if not .Values.postgres.url -}}{{- fail "postgres.url is required in cluster mode: postgres://user:password@host:5432/database (or set existingSecret)" -}}{{- end -}}
{{- if not .Values.redis.url -}}{{- fail "redis.url is required in cluster mode: redis://host:6379 or rediss://… (or set existingSecret)" -}}{{- end -}}
{{- if not .Values.clusterSecret -}}{{- fail "clusterSecret is required in cluster mode: at least 16 characters, e.g. openssl rand -hex 24 (or set existingSecret)" -}}{{- end -}}
{{- end -}}
{{- if and (eq .Values.mode "all") .Values.redis.url (not .Values.postgres.url) (not .Values.existingSecret) -}}
{{- fail "redis.url in all mode needs postgres.url too: Redis shares queues between nodes, and nodes share only a Postgres store" -}}
{{- end -}}
{{- $names := dict -}}
{{- range $i, $entry := .Values.workers -}}
{{- $w := mergeOverwrite (deepCopy $.Values.workerDefaults) $entry -}}
{{- if hasKey $names $w.name -}}{{- fail (printf "workers[%d].name %q is used twice: each worker entry needs its own name" $i $w.name) -}}{{- end -}}
{{- $_ := set $names $w.name true -}}
{{- if and $w.keda $w.keda.enabled (not $.Values.keda.redis.address) -}}
{{- fail (printf "workers[%d].keda.enabled needs keda.redis.address (host:port of the Redis in redis.url)" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A secret-backed variable: (dict "root" $ "name" "PORPOISE_DB" "key" "postgresUrl" "optional" false) */}}
{{- define "porpoise.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "porpoise.secretName" .root }}
      key: {{ index .root.Values.existingSecretKeys .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/*
Environment of one serving mode (all, api, master, worker): (dict "root" $ "mode" "worker"). Only settings the mode accepts
(src/config/settings.ts modeKeys; test/deploy/helm-chart.test.ts resolves every container with
porpoise's own configuration code), and only the secrets the mode needs.
*/}}
{{- define "porpoise.env" -}}
{{- $v := .root.Values -}}
{{- $mode := .mode -}}
{{- if or (ne $mode "all") (include "porpoise.usesPostgres" .root) }}
{{ include "porpoise.secretEnv" (dict "root" .root "name" "PORPOISE_DB" "key" "postgresUrl") }}
{{- end }}
{{- if or (ne $mode "all") $v.redis.url $v.existingSecret }}
{{ include "porpoise.secretEnv" (dict "root" .root "name" "PORPOISE_REDIS" "key" "redisUrl" "optional" (eq $mode "all")) }}
{{- end }}
{{- if or (ne $mode "all") $v.clusterSecret $v.existingSecret }}
{{ include "porpoise.secretEnv" (dict "root" .root "name" "PORPOISE_SECRET" "key" "clusterSecret" "optional" (eq $mode "all")) }}
{{- end }}
{{- if and (or (eq $mode "api") (eq $mode "all")) (or $v.adminToken $v.existingSecret) }}
{{ include "porpoise.secretEnv" (dict "root" .root "name" "PORPOISE_ADMIN_TOKEN" "key" "adminToken" "optional" true) }}
{{- end }}
- name: PORPOISE_SLOTS
  value: {{ $v.config.slots | quote }}
- name: PORPOISE_LEASE
  value: {{ $v.config.leaseSeconds | quote }}
- name: PORPOISE_SHUTDOWN_TIMEOUT
  value: {{ $v.config.shutdownTimeoutSeconds | quote }}
- name: PORPOISE_NODE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if or (eq $mode "worker") (eq $mode "all") }}
- name: PORPOISE_DATA_DIR
  value: {{ ternary "/var/lib/porpoise/data" "/scratch/data" (eq $mode "all") }}
{{- end }}
{{- if or (eq $mode "worker") (eq $mode "all") }}
- name: PORPOISE_WORK_DIR
  value: /scratch/work
{{- with $v.config.taskEnvPass }}
- name: PORPOISE_TASK_ENV_PASS
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}
{{- $baseUrl := include "porpoise.baseUrl" .root }}
{{- if and $baseUrl (ne $mode "worker") }}
- name: PORPOISE_BASE_URL
  value: {{ $baseUrl | quote }}
{{- end }}
{{- if and $v.config.accessLog (or (eq $mode "api") (eq $mode "all")) }}
- name: PORPOISE_ACCESS_LOG
  value: "true"
{{- end }}
{{- if and $v.config.trustedProxies (or (eq $mode "api") (eq $mode "all")) }}
- name: PORPOISE_TRUSTED_PROXIES
  value: {{ join "," $v.config.trustedProxies | quote }}
{{- end }}
{{- $r := $v.config.retention }}
{{- if and (toString $r.age) (or (eq $mode "master") (eq $mode "all")) }}
- name: PORPOISE_RETENTION_AGE
  value: {{ $r.age | toString | quote }}
{{- end }}
{{- if and (toString $r.count) (or (eq $mode "master") (eq $mode "all")) }}
- name: PORPOISE_RETENTION_COUNT
  value: {{ $r.count | toString | quote }}
{{- end }}
{{- if and (toString $r.interval) (ne $mode "api") }}
- name: PORPOISE_RETENTION_INTERVAL
  value: {{ $r.interval | toString | quote }}
{{- end }}
{{- if and (toString $r.workDirAge) (or (eq $mode "worker") (eq $mode "all")) }}
- name: PORPOISE_WORK_DIR_RETENTION
  value: {{ $r.workDirAge | toString | quote }}
{{- end }}
- name: PORPOISE_LOG_LEVEL
  value: {{ $v.config.logLevel | quote }}
- name: PORPOISE_LOG_FORMAT
  value: {{ $v.config.logFormat | quote }}
- name: TMPDIR
  value: /tmp
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* config.baseUrl, else the first ingress host. */}}
{{- define "porpoise.baseUrl" -}}
{{- if .Values.config.baseUrl -}}
{{- .Values.config.baseUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) (first .Values.ingress.hosts).host -}}
{{- end -}}
{{- end -}}

{{/* Probes on the real endpoints (src/api/routes/health.ts). */}}
{{- define "porpoise.probes" -}}
{{- $p := .Values.probes -}}
startupProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
readinessProbe:
  httpGet: { path: /readyz, port: http }
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
livenessProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
{{- end -}}

{{/* Pod-level parts shared by every Deployment and the Job. */}}
{{- define "porpoise.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* The read-only root filesystem leaves these writable. */}}
{{- define "porpoise.scratchVolumes" -}}
- name: scratch
  emptyDir:
    sizeLimit: {{ .Values.scratch.sizeLimit }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end -}}

{{- define "porpoise.scratchMounts" -}}
- name: scratch
  mountPath: /scratch
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "porpoise.terminationGrace" -}}
{{- add .Values.config.shutdownTimeoutSeconds 15 -}}
{{- end -}}

{{/* Spread pods of one component over nodes: (dict "root" $ "component" "master") */}}
{{- define "porpoise.affinity" -}}
{{- if .root.Values.affinity -}}
{{- toYaml .root.Values.affinity -}}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "porpoise.componentSelector" . | nindent 12 }}
{{- end -}}
{{- end -}}

{{/* master and worker serve /healthz, /readyz and /metrics on a listener of their own. */}}
{{- define "porpoise.listenArgs" -}}
- --host
- 0.0.0.0
- --metrics-port
- {{ .Values.metricsPort | quote }}
{{- end -}}
