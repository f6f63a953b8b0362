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

/// The report as pretty-printed JSON, newline-terminated: [`to_value`] printed, with its keys in the order
/// of a JSON object (sorted), written straight from the report without building the value first.
pub fn render(report: &Report) -> String {
    let r = Sorted {
        findings: report.findings.iter().map(sorted_finding).collect(),
        summary: SortedSummary {
            by_severity: SortedCounts {
                error: report.by_severity.error,
                info: report.by_severity.info,
                warning: report.by_severity.warning,
            },
            findings: report.findings.len(),
            namespace_rules_not_evaluated: &report.namespaces_not_evaluated,
            not_checked: report.not_checked_count(),
            objects: report.objects,
            profile: &report.profile,
            score: report.score,
            silenced: report.silenced_count(),
        },
    };
    let mut out = Vec::with_capacity(256 + 512 * report.findings.len());
    // Writing plain structs of strings and numbers into a vector cannot fail.
    let _ = serde_json::to_writer_pretty(&mut out, &r);
    out.push(b'\n');
    String::from_utf8(out).unwrap_or_default()
}

// The same report as `JsonReport`, fields in sorted order (as `serde_json::Map` keeps them).

#[derive(Serialize)]
struct Sorted<'a> {
    findings: Vec<SortedFinding<'a>>,
    summary: SortedSummary<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SortedSummary<'a> {
    by_severity: SortedCounts,
    findings: usize,
    namespace_rules_not_evaluated: &'a [String],
    not_checked: usize,
    objects: usize,
    profile: &'a str,
    score: u8,
    silenced: usize,
}

#[derive(Serialize)]
struct SortedCounts {
    error: usize,
    info: usize,
    warning: usize,
}

#[derive(Serialize)]
struct SortedFinding<'a> {
    bsi: &'static [&'static str],
    container: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<usize>,
    message: &'a str,
    object: SortedObject<'a>,
    pss: Option<&'static str>,
    rule: &'static str,
    severity: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SortedObject<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
}

fn sorted_finding(f: &Finding) -> SortedFinding<'_> {
    let j = finding(f);
    SortedFinding {
        bsi: j.bsi,
        container: j.container,
        file: j.file,
        line: j.line,
        message: j.message,
        object: SortedObject {
            api_version: &f.object.api_version,
            kind: &f.object.kind,
            name: &f.object.name,
            namespace: f.object.namespace.as_deref(),
        },
        pss: j.pss,
        rule: j.rule,
        severity: j.severity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_written_directly_is_the_json_value_printed() {
        let fixtures =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance");
        let inputs = crate::conformance::input::read_paths(&[fixtures], std::io::empty());
        for level in [
            crate::api::ProtectionLevel::Normal,
            crate::api::ProtectionLevel::VeryHigh,
        ] {
            let profile = crate::conformance::resolve_profile(None, level, None).unwrap();
            let mut report = crate::conformance::evaluate(
                &inputs.objects,
                &profile,
                jiff::Timestamp::UNIX_EPOCH,
            );
            report.namespaces_not_evaluated = vec!["a\"b".to_owned(), "ü\n".to_owned()];
            assert!(report.findings.len() > 20);
            let mut printed = serde_json::to_string_pretty(&to_value(&report)).unwrap();
            printed.push('\n');
            assert_eq!(render(&report), printed);
        }
    }
}
