//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning and GitLab accept it, built from the types
//! `serde-sarif` generates from the official schema (and validated against it in tests/check_cli.rs).
//!
//! Every rule of the catalogue is listed in `tool.driver.rules` (so that `ruleIndex` is stable between
//! runs); results carry `ruleId`, `ruleIndex`, `level`, `message.text` and a physical location with the
//! file as a relative URI and the object's line as `region.startLine`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use serde_sarif::sarif::{
    ArtifactLocation, Location, LogicalLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
    Result as SarifResult, ResultLevel, Run, Sarif, Tool, ToolComponent,
};

use super::{Finding, Report};
use crate::conformance::rules::{PssLevel, RULES, Rule, Severity};

/// The SARIF `level` of a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// GitHub's `security-severity` (0–10) so that code scanning ranks findings as critical/high/medium/low.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "8.0",
        Severity::Warning => "5.0",
        Severity::Info => "2.0",
    }
}

/// `privileged-container` → `PrivilegedContainer` (SARIF's `name` is meant to be an identifier).
fn pascal(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

fn text(t: impl Into<String>) -> MultiformatMessageString {
    MultiformatMessageString::builder().text(t).build()
}

/// A property bag of `tags` and further properties.
fn bag(tags: Option<Vec<String>>, props: Value) -> PropertyBag {
    let additional_properties = match props {
        Value::Object(m) => m.into_iter().collect(),
        _ => Default::default(),
    };
    PropertyBag {
        tags,
        additional_properties,
    }
}

fn rule_descriptor(r: &Rule) -> ReportingDescriptor {
    let mut tags: Vec<String> = vec!["security".into(), "kubernetes".into()];
    tags.extend(r.bsi.iter().map(|b| (*b).to_owned()));
    if r.pss != PssLevel::None {
        tags.push(format!("pss-{}", r.pss.as_str()));
    }
    let bsi = if r.bsi.is_empty() {
        String::new()
    } else {
        format!("\n\nBSI IT-Grundschutz: {}", r.bsi.join(", "))
    };
    let problem = match r.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "recommendation",
    };
    ReportingDescriptor::builder()
        .id(r.id.as_str())
        .name(pascal(r.id.as_str()))
        .short_description(text(r.title))
        .full_description(text(r.rationale))
        .help(
            MultiformatMessageString::builder()
                .text(format!("{}{bsi}", r.remediation))
                .markdown(format!(
                    "**{}**\n\n{}\n\n**Fix:** {}{bsi}",
                    r.title, r.rationale, r.remediation
                ))
                .build(),
        )
        .help_uri(format!(
            "{}/blob/main/docs/rules.md#{}",
            env!("CARGO_PKG_REPOSITORY"),
            r.id.as_str()
        ))
        .default_configuration(
            ReportingConfiguration::builder()
                .level(json!(level(r.severity)))
                .build(),
        )
        .properties(bag(
            Some(tags),
            json!({
                "precision": "high",
                "problem.severity": problem,
                "security-severity": security_severity(r.severity),
            }),
        ))
        .build()
}

/// A file path as a relative URI reference (`./a b.yaml` → `a%20b.yaml`; stdin → `stdin`).
pub fn uri(file: &str) -> String {
    if file == "-" {
        return "stdin".to_owned();
    }
    let path = file.replace('\\', "/");
    let path = path.trim_start_matches("./");
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn result(f: &Finding) -> SarifResult {
    let container = f
        .container
        .as_ref()
        .map_or_else(String::new, |c| format!(" (container {c})"));
    let fqn = match &f.object.namespace {
        Some(ns) => format!("{}/{}/{}", f.object.kind, ns, f.object.name),
        None => format!("{}/{}", f.object.kind, f.object.name),
    };
    let logical = LogicalLocation::builder()
        .fully_qualified_name(fqn.as_str())
        .kind("object")
        .build();
    let physical = f.location.as_ref().map(|l| {
        PhysicalLocation::builder()
            .artifact_location(ArtifactLocation::builder().uri(uri(&l.file)).build())
            .region(
                Region::builder()
                    .start_line(i64::try_from(l.line.max(1)).unwrap_or(i64::MAX))
                    .build(),
            )
            .build()
    });
    let location = Location {
        physical_location: physical,
        ..Location::builder().logical_locations(vec![logical]).build()
    };
    // Stable across runs even when lines move, so code scanning tracks a finding rather than reopening it.
    let fingerprint = format!(
        "{}|{}|{}",
        f.rule,
        fqn,
        f.container.as_deref().unwrap_or("")
    );
    SarifResult::builder()
        .rule_id(f.rule.as_str())
        .rule_index(f.rule as i64)
        .level(sarif_level(f.severity))
        .message(
            Message::builder()
                .text(format!("{}{container}: {}", f.object, f.message))
                .build(),
        )
        .locations(vec![location])
        .partial_fingerprints(BTreeMap::from([(
            "conplusFinding/v1".to_owned(),
            fingerprint,
        )]))
        .properties(bag(None, json!({"bsi": f.bsi})))
        .build()
}

fn sarif_level(s: Severity) -> ResultLevel {
    match s {
        Severity::Error => ResultLevel::Error,
        Severity::Warning => ResultLevel::Warning,
        Severity::Info => ResultLevel::Note,
    }
}

/// The report as a SARIF 2.1.0 log.
pub fn to_log(report: &Report) -> Sarif {
    let driver = ToolComponent::builder()
        .name("conplus-operator")
        .information_uri(env!("CARGO_PKG_REPOSITORY"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(RULES.iter().map(rule_descriptor).collect::<Vec<_>>())
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(report.findings.iter().map(result).collect::<Vec<_>>())
        .properties(bag(
            None,
            json!({
                "score": report.score,
                "profile": report.profile,
                "silenced": report.silenced_count(),
                "notChecked": report.not_checked_count(),
                "namespaceRulesNotEvaluated": report.namespaces_not_evaluated,
            }),
        ))
        .build();
    Sarif::builder()
        .schema("https://json.schemastore.org/sarif-2.1.0.json")
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build()
}

/// The report as a SARIF 2.1.0 log (JSON).
pub fn to_value(report: &Report) -> Value {
    // Serialising plain structs of strings and numbers cannot fail; Null is unreachable.
    serde_json::to_value(to_log(report)).unwrap_or(Value::Null)
}

/// The SARIF log, pretty-printed and newline-terminated.
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(&to_log(report)).unwrap_or_default();
    s.push('\n');
    s
}
