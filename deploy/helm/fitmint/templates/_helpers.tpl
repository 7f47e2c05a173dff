{{/* Names and labels */}}
{{- define "fitmint.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "fitmint.name" -}}{{ include "fitmint.fullname" .root }}-{{ .component }}{{- end -}}

{{- define "fitmint.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "fitmint.labels" -}}
{{ include "fitmint.selectorLabels" . }}
app.kubernetes.io/part-of: fitmint
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "fitmint.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{ printf "%s:%s" .Values.image.repository $tag | quote }}
{{- end -}}

{{/* The chart's facts: where each process listens (fitmint/defaults.env's ports), and the listeners other
     processes reach ("flows" name them). */}}
{{- define "fitmint.metricsPorts" -}}
{"api": 8000, "worker": 59465, "indexer": 59464, "txqueue": 59466, "analytics": 59467, "recommend": 59468}
{{- end -}}

{{- define "fitmint.listeners" -}}
{"api": {"component": "api", "port": 8000},
 "recommend": {"component": "recommend", "port": 59468},
 "acapy-admin": {"component": "acapy", "port": 8021},
 "acapy-didcomm": {"component": "acapy", "port": 8020}}
{{- end -}}

{{/* A URL's port: explicit, else the scheme's. */}}
{{- define "fitmint.urlPort" -}}
{{- $url := urlParse . -}}
{{- $hostport := splitList ":" $url.host -}}
{{- if gt (len $hostport) 1 -}}{{ last $hostport }}{{- else if eq $url.scheme "https" -}}443{{- else -}}80{{- end -}}
{{- end -}}

{{/* The ports of an endpoint (a flow's destination outside the chart), as a JSON list. */}}
{{- define "fitmint.endpointPorts" -}}
{{- $root := .root -}}{{- $e := $root.Values.endpoints -}}
{{- $ports := list -}}
{{- if eq .name "postgres" -}}{{- $ports = list (int $e.postgres.port) -}}
{{- else if eq .name "redis" -}}{{- $ports = list (int $e.redis.port) -}}
{{- else if eq .name "smtp" -}}{{- $ports = list (int $e.smtp.port) -}}
{{- else if eq .name "kafka" -}}
  {{- range splitList "," $e.kafka.bootstrap -}}{{- $ports = append $ports (int (last (splitList ":" (trim .)))) -}}{{- end -}}
{{- else if eq .name "ipfs" -}}{{- $ports = list (int (include "fitmint.urlPort" $e.ipfs.apiUrl)) -}}
{{- else if eq .name "rpc" -}}{{- $ports = list (int (include "fitmint.urlPort" $e.rpc.url)) -}}
{{- else if eq .name "otlp" -}}
  {{- range (list $e.otlp.tracesEndpoint $e.otlp.logsEndpoint) -}}{{- if . -}}{{- $ports = append $ports (int (include "fitmint.urlPort" .)) -}}{{- end -}}{{- end -}}
{{- else if eq .name "didcomm-peers" -}}{{- $ports = $root.Values.networkPolicy.didcommPorts -}}
{{- else if eq .name "attestor-signer" -}}{{- $ports = list (int (include "fitmint.urlPort" (required "flows: attestor-signer needs endpoints.attestorSigner.url" $e.attestorSigner.url))) -}}
{{- else if eq .name "operator-signer" -}}{{- $ports = list (int (include "fitmint.urlPort" (required "flows: operator-signer needs endpoints.operatorSigner.url" $e.operatorSigner.url))) -}}
{{- else -}}{{- fail (printf "flows: %q is neither a listener of the chart (api, recommend, acapy-admin, acapy-didcomm) nor an endpoint (postgres, redis, kafka, ipfs, rpc, smtp, otlp, didcomm-peers, attestor-signer, operator-signer)" .name) -}}
{{- end -}}
{{ uniq $ports | toJson }}
{{- end -}}

{{/* Pod-level and container-level hardening */}}
{{- define "fitmint.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsGroup | default .runAsUser }}
fsGroup: {{ .fsGroup | default .runAsUser }}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "fitmint.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* Pod annotations: Prometheus scrape, Linkerd, a checksum of the manifest (a new deployment rolls the pods). */}}
{{- define "fitmint.podAnnotations" -}}
{{- $root := .root -}}
{{- $metrics := include "fitmint.metricsPorts" . | fromJson -}}
{{- if and $root.Values.metrics.annotations (hasKey $metrics .component) }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ get $metrics .component | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- if $root.Values.mesh.linkerd.enabled }}
linkerd.io/inject: enabled
{{- $opaque := list (int $root.Values.endpoints.postgres.port) (int $root.Values.endpoints.redis.port) -}}
{{- range (include "fitmint.endpointPorts" (dict "root" $root "name" "kafka") | fromJsonArray) }}{{ $opaque = append $opaque (int .) }}{{ end }}
{{- if $root.Values.endpoints.smtp.host }}{{ $opaque = append $opaque (int $root.Values.endpoints.smtp.port) }}{{ end }}
config.linkerd.io/opaque-ports: {{ uniq $opaque | sortAlpha | join "," | quote }}
{{- end }}
{{- if $root.Values.mesh.istio.enabled }}
sidecar.istio.io/inject: "true"
{{- end }}
{{- if and $root.Values.secrets.vaultAgent.enabled .files }}
{{ include "fitmint.vaultAnnotations" . }}
{{- end }}
checksum/manifest: {{ include "fitmint.manifestChecksum" $root }}
{{- end -}}

{{- define "fitmint.manifestChecksum" -}}
{{- .Values.chain.manifest.json | default .Values.chain.manifest.existingConfigMap | sha256sum | trunc 16 -}}
{{- end -}}

{{- define "fitmint.manifestConfigMap" -}}
{{- .Values.chain.manifest.existingConfigMap | default (printf "%s-deployment" (include "fitmint.fullname" .)) -}}
{{- end -}}

{{- define "fitmint.policyConfigMap" -}}
{{- printf "%s-policy" (include "fitmint.fullname" .) -}}
{{- end -}}

{{/* Environment. Every name here is a field of the process's settings class (tests/deploy/test_chart.py). */}}
{{- define "fitmint.env.telemetry" -}}
{{- $o := .Values.endpoints.otlp -}}
{{- if or $o.tracesEndpoint $o.logsEndpoint }}
{{- with $o.tracesEndpoint }}
- {name: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, value: {{ . | quote }}}
{{- end }}
{{- with $o.logsEndpoint }}
- {name: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, value: {{ . | quote }}}
{{- end }}
{{- if not $o.logsEndpoint }}
- {name: OTEL_LOGS_EXPORTER, value: none}
{{- end }}
{{- else }}
- {name: OTEL_SDK_DISABLED, value: "true"}
{{- end }}
- {name: FITMINT_LOG_LEVEL, value: {{ .Values.telemetry.logLevel | quote }}}
- {name: FITMINT_TRACE_SAMPLE_RATIO, value: {{ .Values.telemetry.traceSampleRatio | quote }}}
{{- end -}}

{{/* fitmint.settings.KernelSettings: state, chain, manifest, PostgreSQL, Kafka. */}}
{{- define "fitmint.env.kernel" -}}
{{- $e := .Values.endpoints -}}
- {name: FITMINT_STATE_DIR, value: /state}
- {name: CHAIN_ID, value: {{ .Values.chain.id | quote }}}
- {name: MANIFEST, value: {{ printf "/etc/fitmint/deployment/%s" .Values.chain.manifest.key | quote }}}
- {name: POSTGRES_HOST, value: {{ $e.postgres.host | quote }}}
- {name: POSTGRES_PORT, value: {{ $e.postgres.port | quote }}}
- {name: POSTGRES_USER, value: {{ $e.postgres.user | quote }}}
- {name: POSTGRES_PASSWORD_FILE, value: /run/secrets/fitmint/postgres-password}
- {name: INDEXER_DATABASE, value: {{ $e.postgres.databases.indexer | quote }}}
- {name: ANALYTICS_DATABASE, value: {{ $e.postgres.databases.analytics | quote }}}
{{- end -}}

{{/* Only for the processes that call them (a process is given the endpoints it reaches and no others: the
     network policies allow exactly those). */}}
{{- define "fitmint.env.rpc" -}}
- {name: FITMINT_RPC_URL, value: {{ .Values.endpoints.rpc.url | quote }}}
{{- end -}}
{{- define "fitmint.env.kafka" -}}
- {name: KAFKA_BOOTSTRAP, value: {{ .Values.endpoints.kafka.bootstrap | quote }}}
{{- end -}}
{{- define "fitmint.env.redis" -}}
- {name: REDIS_HOST, value: {{ .Values.endpoints.redis.host | quote }}}
- {name: REDIS_PORT, value: {{ .Values.endpoints.redis.port | quote }}}
{{- end -}}

{{/* backend.app.core.config.Settings: the API's and the worker's (one class); then what only one of them calls. */}}
{{- define "fitmint.env.backend" -}}
{{- $e := .Values.endpoints -}}
{{ include "fitmint.env.kernel" . }}
{{ include "fitmint.env.rpc" . }}
{{ include "fitmint.env.kafka" . }}
{{ include "fitmint.env.redis" . }}
- {name: BACKEND_DATABASE, value: {{ $e.postgres.databases.backend | quote }}}
- {name: JWT_KEYS_DIR, value: /run/secrets/fitmint-jwt-keys}
{{- with $e.attestorSigner.url }}
- {name: FITMINT_ATTESTOR_SIGNER_URL, value: {{ . | quote }}}
- {name: FITMINT_ATTESTOR_ADDRESS, value: {{ $e.attestorSigner.address | quote }}}
{{- else }}
- {name: FITMINT_ATTESTOR_KEY_FILE, value: /run/secrets/fitmint/attestor.key}
{{- end }}
- {name: ACAPY_ADMIN_URL, value: {{ printf "http://%s:8021" (include "fitmint.name" (dict "root" . "component" "acapy")) | quote }}}
- {name: ACAPY_ADMIN_KEY_FILE, value: /run/secrets/fitmint/acapy-admin-key}
- {name: DEFAULT_TENANT, value: {{ .Values.api.defaultTenant | quote }}}
{{- end -}}

{{- define "fitmint.env.api" -}}
{{- $e := .Values.endpoints -}}
{{ include "fitmint.env.backend" . }}
- {name: IPFS_API_URL, value: {{ $e.ipfs.apiUrl | quote }}}
- {name: PUBLIC_RPC_URL, value: {{ $e.rpc.publicUrl | default $e.rpc.url | quote }}}
- {name: RECOMMEND_URL, value: {{ printf "http://%s:59468" (include "fitmint.name" (dict "root" . "component" "recommend")) | quote }}}
- {name: SIWE_DOMAIN, value: {{ .Values.api.siwe.domain | quote }}}
- {name: SIWE_URI, value: {{ .Values.api.siwe.uri | quote }}}
- {name: OPA_URL, value: "unix:///run/opa/opa.sock"}
{{- with .Values.api.siwe.statement }}
- {name: SIWE_STATEMENT, value: {{ . | quote }}}
{{- end }}
{{- with .Values.api.corsOrigins }}
- {name: CORS_ORIGINS, value: {{ join "," . | quote }}}
{{- end }}
{{- with .Values.api.trustedProxies }}
- {name: TRUSTED_PROXIES, value: {{ join "," . | quote }}}
{{- end }}
{{- end -}}

{{- define "fitmint.env.worker" -}}
{{- $e := .Values.endpoints -}}
{{ include "fitmint.env.backend" . }}
- {name: SMTP_HOST, value: {{ $e.smtp.host | quote }}}
- {name: SMTP_PORT, value: {{ $e.smtp.port | quote }}}
- {name: SMTP_STARTTLS, value: {{ $e.smtp.starttls | quote }}}
- {name: MAIL_FROM, value: {{ $e.smtp.mailFrom | quote }}}
{{- with $e.smtp.username }}
- {name: SMTP_USERNAME, value: {{ . | quote }}}
{{- end }}
{{- if .Values.secrets.smtpPassword.name }}
- {name: SMTP_PASSWORD_FILE, value: /run/secrets/fitmint/smtp-password}
{{- end }}
- {name: WORKER_METRICS_HOST, value: 0.0.0.0}
- {name: WORKER_METRICS_PORT, value: "59465"}
{{- end -}}

{{- define "fitmint.env.extra" -}}
{{- range $name, $value := . }}
- {name: {{ $name }}, value: {{ $value | toString | quote }}}
{{- end }}
{{- end -}}

{{/* The attestor's key file, unless a remote signer holds the key (endpoints.attestorSigner): as a list. */}}
{{- define "fitmint.attestorKeyFiles" -}}
{{ ternary list (list "attestor.key") (not (empty .Values.endpoints.attestorSigner.url)) | toJson }}
{{- end -}}

{{/* The secret files a process reads (names under /run/secrets/fitmint), as a JSON list. */}}
{{- define "fitmint.secretFiles" -}}
{{- $s := .root.Values.secrets -}}
{{- $names := list -}}
{{- range .files -}}
  {{- if eq . "operator-keys" }}{{ $names = concat $names $s.operatorKeys.keys }}
  {{- else if eq . "smtp-password" }}{{ if $s.smtpPassword.name }}{{ $names = append $names . }}{{ end }}
  {{- else if eq . "jwt-keys" }}{{/* a whole Secret, always mounted from Kubernetes: fitmint.volumes */}}
  {{- else }}{{ $names = append $names . }}{{ end -}}
{{- end -}}
{{ toJson $names }}
{{- end -}}

{{/* With secrets.vaultAgent: the Vault Agent injector writes each file the pod reads into /run/secrets/fitmint
     (its in-memory volume) instead of the projected Secret volume; 0440 like that volume (the agent's own
     default, 0644, lets every user read it, and the processes refuse to start on that: fitmint/secrets.py). */}}
{{- define "fitmint.vaultAnnotations" -}}
{{- $vault := .root.Values.secrets.vaultAgent -}}
vault.hashicorp.com/agent-inject: "true"
vault.hashicorp.com/role: {{ $vault.role | quote }}
vault.hashicorp.com/secret-volume-path: /run/secrets/fitmint
{{- if .job }}
vault.hashicorp.com/agent-pre-populate-only: "true"
{{- end }}
{{- range (include "fitmint.secretFiles" . | fromJsonArray) }}
{{- $source := get $vault.files . }}
{{- if not $source }}{{ fail (printf "secrets.vaultAgent.files.%s: name the Vault secret holding it ({path: ..., field: ...})" .) }}{{ end }}
vault.hashicorp.com/agent-inject-secret-{{ . }}: {{ $source.path | quote }}
vault.hashicorp.com/agent-inject-template-{{ . }}: {{ printf "{{- with secret %q -}}{{ .Data.data.%s }}{{- end }}" $source.path $source.field | quote }}
vault.hashicorp.com/agent-inject-perms-{{ . }}: "0440"
{{- end }}
{{- end -}}

{{/* The secrets a process reads, as one projected volume of files under /run/secrets/fitmint. 0440, owned by
     root, group fsGroup: what fitmint/secrets.py allows a file another user owns (group read, nothing for others). */}}
{{- define "fitmint.secretsVolume" -}}
{{- if not .root.Values.secrets.vaultAgent.enabled -}}
{{- $s := .root.Values.secrets -}}
{{- $wanted := dict -}}
{{- range .files -}}
  {{- if eq . "postgres-password" }}{{ $_ := set $wanted . $s.postgresPassword }}{{ end -}}
  {{- if eq . "attestor.key" }}{{ $_ := set $wanted . $s.attestorKey }}{{ end -}}
  {{- if eq . "acapy-admin-key" }}{{ $_ := set $wanted . $s.acapyAdminKey }}{{ end -}}
  {{- if and (eq . "smtp-password") $s.smtpPassword.name }}{{ $_ := set $wanted . $s.smtpPassword }}{{ end -}}
{{- end }}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
{{- range $file, $ref := $wanted }}
      - secret:
          name: {{ $ref.name | quote }}
          items: [{key: {{ $ref.key | quote }}, path: {{ $file | quote }}}]
{{- end }}
{{- if has "operator-keys" .files }}
      - secret:
          name: {{ $s.operatorKeys.name | quote }}
          items:
{{- range $s.operatorKeys.keys }}
            - {key: {{ . | quote }}, path: {{ . | quote }}}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Volumes every fitmint pod has: the secrets, the manifest, and emptyDirs for what the processes write
     (the state folder: the SMS sink, Feast's registry; /tmp). */}}
{{- define "fitmint.volumes" -}}
{{ include "fitmint.secretsVolume" . }}
{{- if has "jwt-keys" .files }}
{{/* The access tokens' signing key ring: every key of the Secret (ed25519-<unix seconds>), one file each. A
     plain Secret volume (no subPath), so kubelet brings a rotated ring to running pods, which re-read it. */}}
- name: jwt-keys
  secret:
    secretName: {{ .root.Values.secrets.jwtKeys.name | quote }}
    defaultMode: 0440
{{- end }}
- name: deployment
  configMap:
    name: {{ include "fitmint.manifestConfigMap" .root }}
- name: state
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "fitmint.volumeMounts" -}}
{{- if not .root.Values.secrets.vaultAgent.enabled }}
- {name: secrets, mountPath: /run/secrets/fitmint, readOnly: true}
{{- end }}
{{- if has "jwt-keys" .files }}
- {name: jwt-keys, mountPath: /run/secrets/fitmint-jwt-keys, readOnly: true}
{{- end }}
- {name: deployment, mountPath: /etc/fitmint/deployment, readOnly: true}
- {name: state, mountPath: /state}
- {name: tmp, mountPath: /tmp}
{{- end -}}

{{/* Process env that is not a setting: the interpreter's home and bytecode (the root filesystem is read-only). */}}
{{- define "fitmint.env.process" -}}
- {name: HOME, value: /tmp}
- {name: PYTHONDONTWRITEBYTECODE, value: "1"}
{{- end -}}

{{/* The pod spec's common part. */}}
{{- define "fitmint.podCommon" -}}
serviceAccountName: {{ include "fitmint.name" . }}
automountServiceAccountToken: false
securityContext:
  {{- include "fitmint.podSecurityContext" (.podSecurity | default .root.Values.securityContext) | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.topologySpread }}
{{- if .enabled }}
# Replicas on different nodes: a node lost takes one API, one worker, one indexer candidate at most.
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ .topologyKey }}
    whenUnsatisfiable: {{ .whenUnsatisfiable }}
    labelSelector:
      matchLabels: {{- include "fitmint.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A PodDisruptionBudget for a component, from its `pdb` values. */}}
{{- define "fitmint.pdb" -}}
{{- $pdb := .values.pdb -}}
{{- if $pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "fitmint.name" . }}
  labels: {{- include "fitmint.labels" . | nindent 4 }}
spec:
  {{- if hasKey $pdb "minAvailable" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels: {{- include "fitmint.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A Service for a component's port (ClusterIP; the metrics port is named for ServiceMonitors). */}}
{{- define "fitmint.service" -}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "fitmint.name" . }}
  labels: {{- include "fitmint.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector: {{- include "fitmint.selectorLabels" . | nindent 4 }}
  ports:
{{- range .ports }}
    - {name: {{ .name }}, port: {{ .port }}, targetPort: {{ .name }}, protocol: TCP{{ with .appProtocol }}, appProtocol: {{ . }}{{ end }}}
{{- end }}
{{- end -}}

{{/* An httpGet probe. */}}
{{- define "fitmint.httpProbe" -}}
httpGet: {path: {{ .path }}, port: {{ .port }}}
periodSeconds: {{ .period | default 10 }}
timeoutSeconds: {{ .timeout | default 5 }}
failureThreshold: {{ .failures | default 3 }}
{{- end -}}
