//! `--format json`: `{"summary": {...}, "findings": [...]}` with the field names of issue 4.

use serde::Serialize;
use serde_json::Value;

use super::{Finding, ObjectRef, Report, SeverityCounts};
use crate::conformance::rules::PssLevel;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    summary: Summary<'a>,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    objects: usize,
    findings: usize,
    by_severity: SeverityCounts,
    score: u8,
    /// Findings silenced by exceptions or ignore annotations.
    silenced: usize,
    profile: &'a str,
    /// Objects no rule read.
    not_checked: usize,
    /// Namespaces whose namespace-level rules were not evaluated.
    namespace_rules_not_evaluated: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonFinding<'a> {
    rule: &'static str,
    severity: &'static str,
    bsi: &'static [&'static str],
    /// `baseline`, `restricted` or null.
    pss: Option<&'static str>,
    object: &'a ObjectRef,
    container: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<usize>,
    message: &'a str,
}

fn finding(f: &Finding) -> JsonFinding<'_> {
    JsonFinding {
        rule: f.rule.as_str(),
        severity: f.severity.as_str(),
        bsi: f.bsi,
        pss: (f.pss != PssLevel::None).then(|| f.pss.as_str()),
        object: &f.object,
        container: f.container.as_deref(),
        file: f.location.as_ref().map(|l| &*l.file),
        line: f.location.as_ref().map(|l| l.line),
        message: &f.message,
    }
}

/// The report as a JSON value.
pub fn to_value(report: &Report) -> Value {
    let r = JsonReport {
        summary: Summary {
            objects: report.objects,
            findings: report.findings.len(),
            by_severity: report.by_severity,
            score: report.score,
            silenced: report.silenced_count(),
            profile: &report.profile,
            not_checked: report.not_checked_count(),
            namespace_rules_not_evaluated: &report.namespaces_not_evaluated,
        },
        findings: report.findings.iter().map(finding).collect(),
    };
    // Serialising plain structs of strings and numbers cannot fail; Null is unreachable.
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// The report as pretty-printed JSON, newline-terminated.
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(report)).unwrap_or_default();
    s.push('\n');
    s
}
