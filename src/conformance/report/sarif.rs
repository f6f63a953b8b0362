//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning and GitLab accept it.
//!
//! Every rule of the catalogue is listed in `tool.driver.rules` (so that `ruleIndex` is stable between
//! runs); results carry `ruleId`, `ruleIndex`, `level`, `message.text` and a physical location with the
//! file as a relative URI and the object's line as `region.startLine`.

use serde_json::{Value, json};

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

fn rule_descriptor(r: &Rule) -> Value {
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
    json!({
        "id": r.id.as_str(),
        "name": pascal(r.id.as_str()),
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.rationale},
        "help": {
            "text": format!("{}{bsi}", r.remediation),
            "markdown": format!("**{}**\n\n{}\n\n**Fix:** {}{bsi}", r.title, r.rationale, r.remediation),
        },
        "helpUri": format!("{}/blob/main/docs/rules.md#{}", env!("CARGO_PKG_REPOSITORY"), r.id.as_str()),
        "defaultConfiguration": {"level": level(r.severity)},
        "properties": {
            "tags": tags,
            "precision": "high",
            "problem.severity": match r.severity { Severity::Error => "error", Severity::Warning => "warning", Severity::Info => "recommendation" },
            "security-severity": security_severity(r.severity),
        },
    })
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

fn result(f: &Finding) -> Value {
    let container = f
        .container
        .as_ref()
        .map_or_else(String::new, |c| format!(" (container {c})"));
    let fqn = match &f.object.namespace {
        Some(ns) => format!("{}/{}/{}", f.object.kind, ns, f.object.name),
        None => format!("{}/{}", f.object.kind, f.object.name),
    };
    let mut loc = json!({"logicalLocations": [{"fullyQualifiedName": fqn, "kind": "object"}]});
    if let Some(l) = &f.location {
        loc["physicalLocation"] = json!({
            "artifactLocation": {"uri": uri(&l.file)},
            "region": {"startLine": l.line.max(1)},
        });
    }
    json!({
        "ruleId": f.rule.as_str(),
        "ruleIndex": f.rule as usize,
        "level": level(f.severity),
        "message": {"text": format!("{}{container}: {}", f.object, f.message)},
        "locations": [loc],
        // Stable across runs even when lines move, so code scanning tracks a finding rather than reopening it.
        "partialFingerprints": {"conplusFinding/v1": format!("{}|{}|{}", f.rule, fqn, f.container.as_deref().unwrap_or(""))},
        "properties": {"bsi": f.bsi},
    })
}

/// The report as a SARIF 2.1.0 log.
pub fn to_value(report: &Report) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "conplus-operator",
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": RULES.iter().map(rule_descriptor).collect::<Vec<_>>(),
            }},
            "results": report.findings.iter().map(result).collect::<Vec<_>>(),
            "properties": {
                "score": report.score,
                "profile": report.profile,
                "silenced": report.silenced_count(),
                "notChecked": report.not_checked_count(),
                "namespaceRulesNotEvaluated": report.namespaces_not_evaluated,
            },
        }],
    })
}

/// The SARIF log, pretty-printed and newline-terminated.
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(report)).unwrap_or_default();
    s.push('\n');
    s
}
