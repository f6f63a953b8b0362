{{/* The chart name, shortened to the 63 characters of a label value. */}}
{{- define "conplus-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's resources. */}}
{{- define "conplus-operator.fullname" -}}
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

{{/* Labels selecting the operator pods; never change them after an install (selectors are immutable). */}}
{{- define "conplus-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "conplus-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every resource of the chart. */}}
{{- define "conplus-operator.labels" -}}
{{ include "conplus-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: conplus
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "conplus-operator.serviceAccountName" -}}
{{- default (include "conplus-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The image reference: by digest when one is given, else by tag (default: appVersion). */}}
{{- define "conplus-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Leader election is on whenever more than one replica runs. */}}
{{- define "conplus-operator.leaderElection" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/* A list of strings as a CEL list literal: ['a', 'b']. values.schema.json keeps quotes and backslashes out. */}}
{{- define "conplus-operator.celList" -}}
[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ $v | squote }}{{ end }}]
{{- end }}

{{/* The matchCondition that lets the identities exempt from every admission policy pass: the operator's
ServiceAccount, admission.exemptUsers and the platform team's groups (admission.platformGroups). kube-apiserver does
not let matchConditions read `variables`, so the lists are in the expression. */}}
{{- define "conplus-operator.admission.notExempt" -}}
{{- $users := prepend (.Values.admission.exemptUsers | default list) (printf "system:serviceaccount:%s:%s" .Release.Namespace (include "conplus-operator.serviceAccountName" .)) -}}
- name: not-exempt
  expression: >-
    !(request.userInfo.username in {{ include "conplus-operator.celList" $users }}) &&
    !request.userInfo.groups.exists(g, g in {{ include "conplus-operator.celList" (.Values.admission.platformGroups | default list) }})
{{- end }}

{{/* Labels and annotations before and after the request; empty where there is no object. */}}
{{- define "conplus-operator.admission.metadataVariables" -}}
- name: labelsBefore
  expression: "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}"
- name: labelsAfter
  expression: "object != null && has(object.metadata.labels) ? object.metadata.labels : {}"
- name: annotationsBefore
  expression: "oldObject != null && has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {}"
- name: annotationsAfter
  expression: "object != null && has(object.metadata.annotations) ? object.metadata.annotations : {}"
{{- end }}
