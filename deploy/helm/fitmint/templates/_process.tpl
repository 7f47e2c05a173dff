{{/* A Deployment of one of the project's background processes, its metrics Service and its PDB.
     ctx: root, component, values (the component's values), command, env (rendered env entries), files (secrets),
     probes (rendered probes), python (an interpreter other than the image's first). */}}
{{- define "fitmint.process" -}}
{{- $root := .root -}}
{{- $port := get (include "fitmint.metricsPorts" . | fromJson) .component -}}
{{- $portName := .portName | default "metrics" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "fitmint.name" . }}
  labels: {{- include "fitmint.labels" . | nindent 4 }}
spec:
  replicas: {{ .values.replicas }}
  {{- with .strategy }}
  strategy: {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels: {{- include "fitmint.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels: {{- include "fitmint.labels" . | nindent 8 }}
      annotations: {{- include "fitmint.podAnnotations" . | nindent 8 }}
    spec:
      {{- include "fitmint.podCommon" . | nindent 6 }}
      terminationGracePeriodSeconds: {{ .grace | default 30 }}
      containers:
        - name: {{ .component }}
          image: {{ include "fitmint.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: {{ toJson .command }}
          ports:
            - {name: {{ $portName }}, containerPort: {{ $port }}, protocol: TCP}
          env:
            {{- .env | nindent 12 }}
            {{- include "fitmint.env.telemetry" $root | nindent 12 }}
            {{- include "fitmint.env.process" $root | nindent 12 }}
            {{- include "fitmint.env.extra" .values.extraEnv | nindent 12 }}
          {{- .probes | nindent 10 }}
          resources: {{- toYaml .values.resources | nindent 12 }}
          securityContext: {{- include "fitmint.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            {{- include "fitmint.volumeMounts" (dict "root" $root "files" .files) | nindent 12 }}
            {{- with .extraMounts }}{{ . | nindent 12 }}{{ end }}
      volumes:
        {{- include "fitmint.volumes" (dict "root" $root "files" .files) | nindent 8 }}
        {{- with .extraVolumes }}{{ . | nindent 8 }}{{ end }}
{{ include "fitmint.service" (merge (dict "ports" (list (dict "name" $portName "port" $port "appProtocol" "http"))) .) }}
{{- include "fitmint.pdb" . }}
{{- end -}}
