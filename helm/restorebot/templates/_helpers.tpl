{{/*
Names. Kubernetes names are at most 63 characters; the release name is reused when it already
contains the chart name.
*/}}
{{- define "restorebot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "restorebot.fullname" -}}
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

{{/* Name of one component's objects: <fullname>-bot, <fullname>-worker. Call with (dict "ctx" $ "component" "bot"). */}}
{{- define "restorebot.componentName" -}}
{{- printf "%s-%s" (include "restorebot.fullname" .ctx | trunc 56 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "restorebot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "restorebot.labels" -}}
helm.sh/chart: {{ include "restorebot.chart" . }}
app.kubernetes.io/name: {{ include "restorebot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: restorebot
{{- end -}}

{{/* Selector labels of one component; never change them after the first release (selectors are immutable). */}}
{{- define "restorebot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "restorebot.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "restorebot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "restorebot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount for the bot and worker pods" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "restorebot.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "restorebot.devSecretName" -}}
{{- printf "%s-dev" (include "restorebot.fullname" .) -}}
{{- end -}}

{{/* Where the config file is mounted; RESTOREBOT_CONFIG points at it. */}}
{{- define "restorebot.configDir" -}}/etc/restorebot{{- end -}}
{{- define "restorebot.kubeconfigDir" -}}/var/run/secrets/restorebot/kubeconfig{{- end -}}

{{/*
Stops the render with one clear line when a required value is missing. Optional keys of a
target are read with `get`, so `helm lint --strict` (missingkey=error) passes too. Included by every
workload template, so `helm install` fails before anything is applied.
*/}}
{{- define "restorebot.validate" -}}
{{- if not .Values.config.targets -}}
{{- fail "config.targets is empty: add at least one target (name, kind, namespace and the keys of its kind, docs/<kind>.md); see the example in values.yaml" -}}
{{- end -}}
{{- $globalApprovers := .Values.config.policy.approvers -}}
{{- $managedEnv := list "SLACK_SIGNING_SECRET" "SLACK_BOT_TOKEN" "SLACK_APP_TOKEN" "SLACK_API_URL" "PORT" "WORKER_PORT" "REDIS_URL" "RESTOREBOT_QUEUE_PREFIX" "DATABASE_URL" "RESTOREBOT_CONFIG" "KUBECONFIG" "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "AWS_REGION" "LOG_LEVEL" "NODE_ENV" "TMPDIR" -}}
{{- range $i, $target := .Values.config.targets -}}
{{- $name := required (printf "config.targets[%d].name is required: a lowercase name such as prod" $i) (get $target "name") -}}
{{- $_ := required (printf "config.targets[%d].namespace (target %q) is required: the Kubernetes namespace of the system it restores" $i $name) (get $target "namespace") -}}
{{- $catalog := required (printf "config.targets[%d].catalog.dsnEnv (target %q) is required: the name of the variable holding the catalog DSN" $i $name) (get $target "catalog") -}}
{{- $dsnEnv := required (printf "config.targets[%d].catalog.dsnEnv (target %q) is required: the name of the variable holding the catalog DSN" $i $name) (get $catalog "dsnEnv") -}}
{{- if has $dsnEnv $managedEnv -}}
{{- fail (printf "config.targets[%d].catalog.dsnEnv (target %q) is %s, which the chart already sets; choose a name of its own such as %s_CATALOG_DSN" $i $name $dsnEnv (upper (replace "-" "_" $name))) -}}
{{- end -}}
{{- $approvers := $globalApprovers -}}
{{- $policy := get $target "policy" -}}
{{- if $policy -}}
{{- if hasKey $policy "approvers" -}}
{{- $approvers = $policy.approvers -}}
{{- end -}}
{{- end -}}
{{- if not $approvers -}}
{{- fail (printf "no approvers for target %q: set config.policy.approvers (or config.targets[%d].policy.approvers) to the Slack user or user-group IDs allowed to approve a restore" $name $i) -}}
{{- end -}}
{{- $kubeContext := get $target "kubeContext" -}}
{{- if and $kubeContext (not $.Values.kubeconfig.existingSecret) -}}
{{- fail (printf "config.targets[%d] (target %q) sets kubeContext %q, so the pods need a kubeconfig: set kubeconfig.existingSecret to a Secret holding it (key %s)" $i $name $kubeContext $.Values.kubeconfig.key) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.slack.socketMode .Values.bot.ingress.enabled -}}
{{- fail "bot.ingress.enabled is true but slack.socketMode is true: in Socket Mode Slack sends nothing to the bot over HTTP; disable the ingress or Socket Mode" -}}
{{- end -}}
{{- if and .Values.bot.ingress.enabled (not .Values.bot.ingress.host) -}}
{{- fail "bot.ingress.host is required when bot.ingress.enabled is true: the public host name of the Slack request URL (https://<host>/slack/events)" -}}
{{- end -}}
{{- end -}}

{{/*
A secretKeyRef for one variable. Call with (dict "ctx" $ "secret" <name or ""> "key" <key>
"missing" <message>). An empty secret name falls back to the development Secret when
devSecret.create is true, and otherwise fails with `missing`.
*/}}
{{- define "restorebot.secretKeyRef" -}}
{{- $secret := .secret -}}
{{- if not $secret -}}
{{- if .ctx.Values.devSecret.create -}}
{{- if not (hasKey .ctx.Values.devSecret.stringData .key) -}}
{{- fail (printf "devSecret.stringData.%s is missing: the development Secret stands in for an empty existingSecret, so it must hold this key (%s)" .key .missing) -}}
{{- end -}}
{{- $secret = include "restorebot.devSecretName" .ctx -}}
{{- else -}}
{{- fail .missing -}}
{{- end -}}
{{- end -}}
valueFrom:
  secretKeyRef:
    name: {{ $secret | quote }}
    key: {{ .key | quote }}
{{- end -}}

{{/*
The port each process serves its health endpoints (and, for the bot, /slack/events) on: the bot
binds PORT, the worker WORKER_PORT, so the one shared environment also works on one machine.
*/}}
{{- define "restorebot.containerPort" -}}
{{- if eq . "worker" -}}3001{{- else -}}3000{{- end -}}
{{- end -}}

{{/*
The environment of every restorebot process (DESIGN.md, "Environment"): bot and worker get the
same variables and the same config file.
*/}}
{{- define "restorebot.env" -}}
- name: PORT
  value: {{ include "restorebot.containerPort" "bot" | quote }}
- name: WORKER_PORT
  value: {{ include "restorebot.containerPort" "worker" | quote }}
- name: RESTOREBOT_CONFIG
  value: {{ printf "%s/restorebot.yaml" (include "restorebot.configDir" .) | quote }}
- name: RESTOREBOT_QUEUE_PREFIX
  value: {{ .Values.redis.queuePrefix | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: TMPDIR
  value: /tmp
{{- if .Values.slack.apiUrl }}
- name: SLACK_API_URL
  value: {{ .Values.slack.apiUrl | quote }}
{{- end }}
- name: SLACK_BOT_TOKEN
  {{- include "restorebot.secretKeyRef" (dict "ctx" . "secret" .Values.slack.existingSecret "key" .Values.slack.botTokenKey "missing" "slack.existingSecret is required: name the Secret holding the Slack bot token (xoxb-…) and signing secret, e.g. kubectl create secret generic restorebot-slack --from-literal=SLACK_BOT_TOKEN=… --from-literal=SLACK_SIGNING_SECRET=…") | nindent 2 }}
{{- if .Values.slack.socketMode }}
- name: SLACK_APP_TOKEN
  {{- include "restorebot.secretKeyRef" (dict "ctx" . "secret" .Values.slack.existingSecret "key" .Values.slack.appTokenKey "missing" "slack.existingSecret is required: name the Secret holding the Slack bot token (xoxb-…) and, for Socket Mode, the app-level token (xapp-…)") | nindent 2 }}
{{- else }}
- name: SLACK_SIGNING_SECRET
  {{- include "restorebot.secretKeyRef" (dict "ctx" . "secret" .Values.slack.existingSecret "key" .Values.slack.signingSecretKey "missing" "slack.existingSecret is required: name the Secret holding the Slack bot token (xoxb-…) and signing secret") | nindent 2 }}
{{- end }}
- name: DATABASE_URL
  {{- include "restorebot.secretKeyRef" (dict "ctx" . "secret" .Values.database.existingSecret "key" .Values.database.urlKey "missing" "database.existingSecret is required: name the Secret holding restorebot's PostgreSQL URL, e.g. kubectl create secret generic restorebot-db --from-literal=DATABASE_URL=postgres://…") | nindent 2 }}
- name: REDIS_URL
  {{- include "restorebot.secretKeyRef" (dict "ctx" . "secret" .Values.redis.existingSecret "key" .Values.redis.urlKey "missing" "redis.existingSecret is required: name the Secret holding the Redis URL, e.g. kubectl create secret generic restorebot-redis --from-literal=REDIS_URL=redis://…") | nindent 2 }}
{{- if .Values.aws.region }}
- name: AWS_REGION
  value: {{ .Values.aws.region | quote }}
{{- end }}
{{- if or .Values.aws.existingSecret (and .Values.devSecret.create (hasKey .Values.devSecret.stringData .Values.aws.accessKeyIdKey)) }}
- name: AWS_ACCESS_KEY_ID
  {{- include "restorebot.secretKeyRef" (dict "ctx" . "secret" .Values.aws.existingSecret "key" .Values.aws.accessKeyIdKey "missing" "aws.existingSecret is required for static S3 credentials") | nindent 2 }}
- name: AWS_SECRET_ACCESS_KEY
  {{- include "restorebot.secretKeyRef" (dict "ctx" . "secret" .Values.aws.existingSecret "key" .Values.aws.secretAccessKeyKey "missing" "aws.existingSecret is required for static S3 credentials") | nindent 2 }}
{{- end }}
{{- if .Values.kubeconfig.existingSecret }}
- name: KUBECONFIG
  value: {{ printf "%s/%s" (include "restorebot.kubeconfigDir" .) .Values.kubeconfig.key | quote }}
{{- end }}
{{- $dsnEnvs := list }}
{{- range .Values.config.targets }}
{{- $dsnEnvs = append $dsnEnvs .catalog.dsnEnv }}
{{- end }}
{{- range $dsnEnv := uniq $dsnEnvs }}
{{- $override := dict }}
{{- if hasKey $.Values.catalogDsns.byVariable $dsnEnv }}
{{- $override = index $.Values.catalogDsns.byVariable $dsnEnv }}
{{- end }}
- name: {{ $dsnEnv }}
  {{- include "restorebot.secretKeyRef" (dict "ctx" $ "secret" (default $.Values.catalogDsns.existingSecret (get $override "secret")) "key" (default $dsnEnv (get $override "key")) "missing" (printf "catalogDsns.existingSecret is required: name the Secret whose key %s holds the catalog DSN of the targets using catalog.dsnEnv %s (or set catalogDsns.byVariable.%s)" $dsnEnv $dsnEnv $dsnEnv)) | nindent 2 }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec shared by bot and worker. Call with (dict "ctx" $ "component" "bot" "values" .Values.bot "args" (list "bot")). */}}
{{- define "restorebot.podSpec" -}}
{{- $ctx := .ctx -}}
serviceAccountName: {{ include "restorebot.serviceAccountName" $ctx }}
automountServiceAccountToken: true
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
containers:
  - name: {{ .component }}
    image: {{ include "restorebot.image" $ctx | quote }}
    imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    ports:
      - name: http
        containerPort: {{ include "restorebot.containerPort" .component }}
        protocol: TCP
    env:
      {{- include "restorebot.env" $ctx | nindent 6 }}
    startupProbe:
      httpGet:
        path: /healthz
        port: http
      {{- toYaml $ctx.Values.probes.startup | nindent 6 }}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      {{- toYaml $ctx.Values.probes.liveness | nindent 6 }}
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      {{- toYaml $ctx.Values.probes.readiness | nindent 6 }}
    resources:
      {{- toYaml .values.resources | nindent 6 }}
    securityContext:
      {{- toYaml $ctx.Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: {{ include "restorebot.configDir" $ctx }}
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- if $ctx.Values.kubeconfig.existingSecret }}
      - name: kubeconfig
        mountPath: {{ include "restorebot.kubeconfigDir" $ctx }}
        readOnly: true
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "restorebot.fullname" $ctx }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $ctx.Values.tmpVolume.sizeLimit }}
  {{- if $ctx.Values.kubeconfig.existingSecret }}
  - name: kubeconfig
    secret:
      secretName: {{ $ctx.Values.kubeconfig.existingSecret }}
      items:
        - key: {{ $ctx.Values.kubeconfig.key }}
          path: {{ $ctx.Values.kubeconfig.key }}
  {{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod annotations: roll the pods when the config (or the development Secret) changes. */}}
{{- define "restorebot.podAnnotations" -}}
checksum/config: {{ toYaml .ctx.Values.config | sha256sum }}
{{- if .ctx.Values.devSecret.create }}
checksum/dev-secret: {{ toYaml .ctx.Values.devSecret.stringData | sha256sum }}
{{- end }}
{{- if .ctx.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "restorebot.containerPort" .component | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
