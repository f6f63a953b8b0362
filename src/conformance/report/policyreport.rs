//! PolicyReports (`wgpolicyk8s.io/v1alpha2`, the API of the Kubernetes Policy working group that Policy
//! Reporter, Kyverno and many platform UIs read): one report per namespace with the namespace's findings.
//!
//! Pure. The controller keeps one `PolicyReport` named [`NAME`] in every onboarded namespace;
//! `check --format policyreport` writes the same objects offline (a `ClusterPolicyReport` for findings on
//! cluster-scoped objects).
//!
//! Mapping from a [`Report`]:
//! - `policy` is the rule id, `category` the first BSI requirement the rule serves (all of them in
//!   `properties.bsi`), `severity` `high`/`medium`/`info` for `error`/`warning`/`info`;
//! - `result` is `fail` for an error finding, `warn` for a warning or info finding, `skip` for a finding an
//!   exception or ignore annotation silenced, and `pass` for every (object, rule) pair evaluated without
//!   a finding; so `summary.fail` equals the onboarding's `status.conformance.errors`, `summary.warn` its
//!   `warnings + infos` and `summary.skip` its `silenced`, summed over its namespaces;
//! - results are listed most important first and at most [`MAX_RESULTS`] per report: the summary counts
//!   every result, `properties` of the report say how many were left out;
//! - a result keeps the timestamp of the report it was first listed in, so that a report whose results did
//!   not change is equal to the one before and is not written again ([`carry_over`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Finding, ObjectRef, Report};
use crate::conformance::rules::Severity;

/// `apiVersion` of the reports.
pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// The API group.
pub const GROUP: &str = "wgpolicyk8s.io";
/// The version.
pub const VERSION: &str = "v1alpha2";
/// The name of the operator's report in each namespace.
pub const NAME: &str = "conplus-conformance";
/// `results[].source`: who produced the result.
pub const SOURCE: &str = "conplus-operator";
/// Most results listed in one report; the rest are counted in the summary.
pub const MAX_RESULTS: usize = 500;
/// Report property: results counted but not listed.
pub const OMITTED: &str = "conplus.niedersachsen.de/results-omitted";

/// A `PolicyReport` or `ClusterPolicyReport`: what the operator writes and reads back.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// `wgpolicyk8s.io/v1alpha2`.
    pub api_version: String,
    /// `PolicyReport` or `ClusterPolicyReport`.
    pub kind: String,
    /// Name, namespace, labels.
    pub metadata: ObjectMeta,
    /// Counts of all results, listed or not.
    #[serde(default)]
    pub summary: Summary,
    /// The results, most important first.
    #[serde(default)]
    pub results: Vec<PolicyReportResult>,
}

/// `summary`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Summary {
    /// Evaluated without a finding.
    #[serde(default)]
    pub pass: i64,
    /// Error findings.
    #[serde(default)]
    pub fail: i64,
    /// Warning and info findings.
    #[serde(default)]
    pub warn: i64,
    /// Not used by the operator (a rule that could not run is a finding of its own).
    #[serde(default)]
    pub error: i64,
    /// Silenced findings.
    #[serde(default)]
    pub skip: i64,
}

/// `results[]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReportResult {
    /// [`SOURCE`].
    pub source: String,
    /// The rule id.
    pub policy: String,
    /// The first BSI requirement the rule serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `high`, `medium` or `info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// `pass`, `fail`, `warn` or `skip`.
    pub result: String,
    /// Whether the result counts towards a score (always true here).
    #[serde(default)]
    pub scored: bool,
    /// What is wrong, or why it was silenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The object the result is about.
    #[serde(default)]
    pub resources: Vec<ObjectReference>,
    /// `bsi` (all requirements), `container`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// When the result was first reported.
    #[serde(default)]
    pub timestamp: Timestamp,
}

/// `results[].timestamp`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[serde(default)]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[serde(default)]
    pub nanos: i32,
}

impl Timestamp {
    /// From a jiff timestamp.
    pub fn of(t: jiff::Timestamp) -> Timestamp {
        Timestamp {
            seconds: t.as_second(),
            nanos: t.subsec_nanosecond(),
        }
    }
}

/// The namespace a result belongs to: the object's, or for a Namespace object (namespace-level rules)
/// its name. `None` for other cluster-scoped objects.
pub fn namespace_of(object: &ObjectRef) -> Option<&str> {
    match &object.namespace {
        Some(ns) => Some(ns),
        None if object.kind == "Namespace" && object.api_version == "v1" => Some(&object.name),
        None => None,
    }
}

fn reference(object: &ObjectRef) -> ObjectReference {
    ObjectReference {
        api_version: Some(object.api_version.clone()).filter(|s| !s.is_empty()),
        kind: Some(object.kind.clone()).filter(|s| !s.is_empty()),
        namespace: object.namespace.clone(),
        name: Some(object.name.clone()).filter(|s| !s.is_empty()),
        ..ObjectReference::default()
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "high",
        Severity::Warning => "medium",
        Severity::Info => "info",
    }
}

fn outcome(s: Severity) -> &'static str {
    match s {
        Severity::Error => "fail",
        Severity::Warning | Severity::Info => "warn",
    }
}

/// The order of results: fail, warn, skip, pass.
fn rank(result: &str) -> u8 {
    match result {
        "fail" => 0,
        "warn" => 1,
        "error" => 2,
        "skip" => 3,
        _ => 4,
    }
}

fn from_finding(f: &Finding, result: &str, message: String) -> PolicyReportResult {
    let mut properties = BTreeMap::new();
    if !f.bsi.is_empty() {
        properties.insert("bsi".to_string(), f.bsi.join(", "));
    }
    if let Some(c) = &f.container {
        properties.insert("container".to_string(), c.clone());
    }
    PolicyReportResult {
        source: SOURCE.to_string(),
        policy: f.rule.as_str().to_string(),
        category: f.bsi.first().map(|s| (*s).to_string()),
        severity: Some(severity(f.severity).to_string()),
        result: result.to_string(),
        scored: true,
        message: Some(message),
        resources: vec![reference(&f.object)],
        properties,
        timestamp: Timestamp::default(),
    }
}

/// Every result of `report`, grouped by the namespace it belongs to (`None`: cluster-scoped objects),
/// most important first within each group, timestamps unset.
pub fn results_by_namespace(report: &Report) -> BTreeMap<Option<String>, Vec<PolicyReportResult>> {
    let mut out: BTreeMap<Option<String>, Vec<PolicyReportResult>> = BTreeMap::new();
    let mut push = |object: &ObjectRef, r: PolicyReportResult| {
        out.entry(namespace_of(object).map(str::to_string))
            .or_default()
            .push(r);
    };
    for f in &report.findings {
        push(
            &f.object,
            from_finding(f, outcome(f.severity), f.message.clone()),
        );
    }
    for s in &report.silenced {
        let why = match &s.by {
            super::Silence::Exception {
                justification,
                approved_by,
                ..
            } => format!("exception approved by {approved_by}: {justification}"),
            super::Silence::Annotation { reason } => format!("ignored by annotation: {reason}"),
        };
        let f = &s.finding;
        push(
            &f.object,
            from_finding(f, "skip", format!("{} ({why})", f.message)),
        );
    }
    for r in &report.results {
        for id in r.checked.iter().filter(|id| !r.failed.contains(*id)) {
            let rule = id.rule();
            push(
                &r.object,
                PolicyReportResult {
                    source: SOURCE.to_string(),
                    policy: id.as_str().to_string(),
                    category: rule.bsi.first().map(|s| (*s).to_string()),
                    severity: Some(severity(rule.severity).to_string()),
                    result: "pass".to_string(),
                    scored: true,
                    message: None,
                    resources: vec![reference(&r.object)],
                    properties: BTreeMap::new(),
                    timestamp: Timestamp::default(),
                },
            );
        }
    }
    for results in out.values_mut() {
        // A total order, so that the same evaluation gives the same report however the objects
        // came in (the live stores hand them out in no fixed order): by kind of result, then
        // findings keep the report's order (severity, rule, object), passes by rule and object.
        results.sort_by(|a, b| {
            let subject = |r: &PolicyReportResult| {
                r.resources
                    .iter()
                    .map(|o| (o.kind.clone(), o.namespace.clone(), o.name.clone()))
                    .collect::<Vec<_>>()
            };
            rank(&a.result).cmp(&rank(&b.result)).then_with(|| {
                if a.result == "pass" && b.result == "pass" {
                    (&a.policy, subject(a)).cmp(&(&b.policy, subject(b)))
                } else {
                    std::cmp::Ordering::Equal
                }
            })
        });
    }
    out
}

/// The summary of `results` (before any are left out).
pub fn summarise(results: &[PolicyReportResult]) -> Summary {
    let mut s = Summary::default();
    for r in results {
        match r.result.as_str() {
            "pass" => s.pass += 1,
            "fail" => s.fail += 1,
            "warn" => s.warn += 1,
            "skip" => s.skip += 1,
            _ => s.error += 1,
        }
    }
    s
}

/// The report of one namespace (`None`: the `ClusterPolicyReport` of cluster-scoped objects), results
/// bounded by [`MAX_RESULTS`], every result stamped `now`. `labels` go on the report's metadata.
pub fn report(
    namespace: Option<&str>,
    mut results: Vec<PolicyReportResult>,
    labels: BTreeMap<String, String>,
    now: Timestamp,
) -> PolicyReport {
    let summary = summarise(&results);
    let omitted = results.len().saturating_sub(MAX_RESULTS);
    results.truncate(MAX_RESULTS);
    for r in &mut results {
        r.timestamp = now;
    }
    let mut annotations = BTreeMap::new();
    if omitted > 0 {
        annotations.insert(OMITTED.to_string(), omitted.to_string());
    }
    PolicyReport {
        api_version: API_VERSION.to_string(),
        kind: if namespace.is_some() {
            "PolicyReport"
        } else {
            "ClusterPolicyReport"
        }
        .to_string(),
        metadata: ObjectMeta {
            name: Some(NAME.to_string()),
            namespace: namespace.map(str::to_string),
            labels: Some(labels).filter(|l| !l.is_empty()),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..ObjectMeta::default()
        },
        summary,
        results,
    }
}

/// A result without its timestamp, for comparing reports.
fn key(r: &PolicyReportResult) -> PolicyReportResult {
    PolicyReportResult {
        timestamp: Timestamp::default(),
        ..r.clone()
    }
}

/// Gives every result of `desired` that `previous` listed already the timestamp it had there, so that
/// an unchanged set of findings yields a report equal to `previous` (and the caller writes nothing).
pub fn carry_over(desired: &mut PolicyReport, previous: &PolicyReport) {
    let mut seen: BTreeMap<String, Timestamp> = BTreeMap::new();
    for r in &previous.results {
        if let Ok(k) = serde_json::to_string(&key(r)) {
            seen.entry(k).or_insert(r.timestamp);
        }
    }
    for r in &mut desired.results {
        if let Some(t) = serde_json::to_string(&key(r))
            .ok()
            .and_then(|k| seen.get(&k))
        {
            r.timestamp = *t;
        }
    }
}

/// Whether `previous` already says what `desired` says: the same summary, results (timestamps
/// included, after [`carry_over`]), labels and annotations.
pub fn unchanged(desired: &PolicyReport, previous: &PolicyReport) -> bool {
    let labels = |m: &ObjectMeta| m.labels.clone().unwrap_or_default();
    let wanted_annotations = desired.metadata.annotations.clone().unwrap_or_default();
    let have_annotations = previous.metadata.annotations.clone().unwrap_or_default();
    desired.summary == previous.summary
        && desired.results == previous.results
        && labels(&desired.metadata)
            .iter()
            .all(|(k, v)| labels(&previous.metadata).get(k) == Some(v))
        && have_annotations.get(OMITTED) == wanted_annotations.get(OMITTED)
}

/// Offline (`check --format policyreport`): one report per namespace named in the input and one
/// `ClusterPolicyReport` for cluster-scoped objects, as a `v1` `List` in JSON.
pub fn render(report_: &Report, now: jiff::Timestamp) -> String {
    let now = Timestamp::of(now);
    let items: Vec<PolicyReport> = results_by_namespace(report_)
        .into_iter()
        .map(|(ns, results)| report(ns.as_deref(), results, BTreeMap::new(), now))
        .collect();
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {},
        "items": items,
    });
    let mut s = serde_json::to_string_pretty(&list).unwrap_or_default();
    s.push('\n');
    s
}

/// The name of the `PolicyReport` CRD.
pub const CRD_NAME: &str = "policyreports.wgpolicyk8s.io";

/// The `PolicyReport` CustomResourceDefinition (`wgpolicyk8s.io/v1alpha2`, namespaced, short name
/// `polr`), for clusters that have none yet: the chart installs it only when the cluster does not
/// serve it already (`policyReports.installCRD`), `deploy/policyreport-crd/` holds it for kustomize.
///
/// Other tools (Kyverno, Policy Reporter) write and read the same API with fields the operator does
/// not use: the schema types what the operator writes and keeps everything else
/// (`x-kubernetes-preserve-unknown-fields`), so no other writer loses a field to pruning. Helm keeps
/// it on uninstall (`helm.sh/resource-policy: keep`): removing it would delete every report in the
/// cluster, other tools' too.
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let int = |format: &str| serde_json::json!({"type": "integer", "format": format});
    let string = serde_json::json!({"type": "string"});
    let count = serde_json::json!({"type": "integer", "minimum": 0});
    let result = serde_json::json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "required": ["policy"],
        "properties": {
            "source": string, "policy": string, "rule": string, "category": string,
            "severity": {"type": "string", "enum": ["critical", "high", "low", "medium", "info"]},
            "result": {"type": "string", "enum": ["pass", "fail", "warn", "error", "skip"]},
            "scored": {"type": "boolean"},
            "message": string,
            "timestamp": {"type": "object", "properties": {"seconds": int("int64"), "nanos": int("int32")}},
            "resources": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "properties": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let column = |name: &str, path: &str, type_: &str| serde_json::json!({"name": name, "jsonPath": path, "type": type_});
    let value = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "annotations": {"helm.sh/resource-policy": "keep"}
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": "PolicyReport", "listKind": "PolicyReportList",
                "plural": "policyreports", "singular": "policyreport", "shortNames": ["polr"]
            },
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "additionalPrinterColumns": [
                    column("Pass", ".summary.pass", "integer"),
                    column("Fail", ".summary.fail", "integer"),
                    column("Warn", ".summary.warn", "integer"),
                    column("Error", ".summary.error", "integer"),
                    column("Skip", ".summary.skip", "integer"),
                    column("Age", ".metadata.creationTimestamp", "date")
                ],
                "schema": {"openAPIV3Schema": {
                    "description": "Results of policy checks of the objects of one namespace (wgpolicyk8s.io).",
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {
                        "apiVersion": string, "kind": string, "metadata": {"type": "object"},
                        "scope": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "summary": {"type": "object", "properties": {
                            "pass": count, "fail": count, "warn": count, "error": count, "skip": count
                        }},
                        "results": {"type": "array", "items": result}
                    }
                }}
            }]
        }
    });
    serde_json::from_value(value).unwrap_or_default()
}

/// [`crd`] as YAML, as `deploy/policyreport-crd/` and the chart's template hold it.
pub fn crd_yaml() -> Result<String, serde_saphyr::ser::Error> {
    Ok(format!("---\n{}", crate::api::to_yaml(&crd())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::report::{ObjectResult, SeverityCounts, SilencedFinding};
    use crate::conformance::rules::{PssLevel, RuleId, RuleSet};

    fn object(kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: if kind == "Namespace" { "v1" } else { "apps/v1" }.to_string(),
            kind: kind.to_string(),
            namespace: ns.map(str::to_string),
            name: name.to_string(),
        }
    }

    fn finding(rule: RuleId, severity: Severity, obj: ObjectRef) -> Finding {
        Finding {
            rule,
            severity,
            bsi: rule.rule().bsi,
            pss: PssLevel::None,
            object: obj,
            container: Some("app".to_string()),
            message: format!("{} broken", rule.as_str()),
            location: None,
        }
    }

    fn sample() -> Report {
        let rules: Vec<RuleId> = RuleId::ALL.iter().copied().take(3).collect();
        let web = object("Deployment", Some("mk-a-dev"), "web");
        let db = object("Deployment", Some("mk-a-prod"), "db");
        let mut checked = RuleSet::default();
        for r in &rules {
            checked.insert(*r);
        }
        let mut failed = RuleSet::default();
        failed.insert(rules[0]);
        Report {
            profile: "dvc-basis".to_string(),
            objects: 2,
            results: vec![
                ObjectResult {
                    object: web.clone(),
                    location: None,
                    checked,
                    failed,
                },
                ObjectResult {
                    object: db.clone(),
                    location: None,
                    checked,
                    failed: RuleSet::default(),
                },
            ],
            findings: vec![finding(rules[0], Severity::Error, web.clone())],
            silenced: vec![SilencedFinding {
                finding: finding(rules[1], Severity::Warning, db),
                by: crate::conformance::report::Silence::Annotation {
                    reason: "accepted".to_string(),
                },
            }],
            by_severity: SeverityCounts {
                error: 1,
                warning: 0,
                info: 0,
            },
            score: 50,
            namespaces_not_evaluated: Vec::new(),
        }
    }

    #[test]
    fn results_are_split_by_namespace_with_fail_first_and_counts_matching_the_report() {
        let by_ns = results_by_namespace(&sample());
        let dev = &by_ns[&Some("mk-a-dev".to_string())];
        assert_eq!(dev[0].result, "fail");
        assert_eq!(
            dev[0].properties.get("container").map(String::as_str),
            Some("app")
        );
        let s = summarise(dev);
        assert_eq!((s.fail, s.warn, s.skip, s.pass), (1, 0, 0, 2));
        let prod = summarise(&by_ns[&Some("mk-a-prod".to_string())]);
        // The silenced finding is a skip; the pair it silenced was evaluated without an unsilenced finding.
        assert_eq!((prod.fail, prod.skip, prod.pass), (0, 1, 3));
    }

    #[test]
    fn an_unchanged_set_of_findings_yields_an_equal_report_whatever_the_time() {
        let by_ns = results_by_namespace(&sample());
        let results = by_ns[&Some("mk-a-dev".to_string())].clone();
        let first = report(
            Some("mk-a-dev"),
            results.clone(),
            BTreeMap::new(),
            Timestamp {
                seconds: 100,
                nanos: 0,
            },
        );
        let mut second = report(
            Some("mk-a-dev"),
            results,
            BTreeMap::new(),
            Timestamp {
                seconds: 200,
                nanos: 0,
            },
        );
        assert!(!unchanged(&second, &first));
        carry_over(&mut second, &first);
        assert!(unchanged(&second, &first));
        assert_eq!(second.results[0].timestamp.seconds, 100);
    }

    #[test]
    fn a_new_finding_is_a_change_and_only_it_gets_the_new_time() {
        let mut rep = sample();
        let before = results_by_namespace(&rep)[&Some("mk-a-dev".to_string())].clone();
        let old = report(
            Some("mk-a-dev"),
            before,
            BTreeMap::new(),
            Timestamp {
                seconds: 100,
                nanos: 0,
            },
        );
        let extra = finding(
            RuleId::ALL[2],
            Severity::Warning,
            object("Deployment", Some("mk-a-dev"), "web"),
        );
        rep.findings.push(extra);
        let after = results_by_namespace(&rep)[&Some("mk-a-dev".to_string())].clone();
        let mut new = report(
            Some("mk-a-dev"),
            after,
            BTreeMap::new(),
            Timestamp {
                seconds: 200,
                nanos: 0,
            },
        );
        carry_over(&mut new, &old);
        assert!(!unchanged(&new, &old));
        let stamps: Vec<i64> = new
            .results
            .iter()
            .filter(|r| r.result != "pass")
            .map(|r| r.timestamp.seconds)
            .collect();
        assert_eq!(stamps, vec![100, 200]);
    }

    #[test]
    fn results_over_the_limit_are_counted_in_the_summary_not_listed() {
        let one = results_by_namespace(&sample())[&Some("mk-a-dev".to_string())][0].clone();
        let many = vec![one; MAX_RESULTS + 7];
        let r = report(Some("ns"), many, BTreeMap::new(), Timestamp::default());
        assert_eq!(r.results.len(), MAX_RESULTS);
        assert_eq!(r.summary.fail, i64::try_from(MAX_RESULTS + 7).unwrap_or(0));
        let omitted = r.metadata.annotations.unwrap_or_default();
        assert_eq!(omitted.get(OMITTED).map(String::as_str), Some("7"));
    }

    #[test]
    fn the_crd_serves_policyreports_and_keeps_fields_of_other_writers() {
        let crd = crd();
        assert_eq!(crd.metadata.name.as_deref(), Some(CRD_NAME));
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.plural, "policyreports");
        let version = &crd.spec.versions[0];
        assert_eq!(
            (version.name.as_str(), version.served, version.storage),
            (VERSION, true, true)
        );
        let schema = version.schema.clone().unwrap().open_api_v3_schema.unwrap();
        assert_eq!(schema.x_kubernetes_preserve_unknown_fields, Some(true));
        // What the operator writes is typed and survives: a report written and read back is equal.
        let results = results_by_namespace(&sample())[&Some("mk-a-dev".to_string())].clone();
        let written = report(
            Some("mk-a-dev"),
            results,
            BTreeMap::new(),
            Timestamp::default(),
        );
        let back: PolicyReport =
            serde_json::from_value(serde_json::to_value(&written).unwrap()).unwrap();
        assert!(unchanged(&written, &back));
    }

    #[test]
    fn namespace_level_findings_belong_to_the_namespace_they_name() {
        assert_eq!(
            namespace_of(&object("Namespace", None, "mk-a-dev")),
            Some("mk-a-dev")
        );
        assert_eq!(namespace_of(&object("ClusterRole", None, "x")), None);
    }
}
