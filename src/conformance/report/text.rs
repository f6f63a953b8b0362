//! `--format text`: findings grouped by object, each object headed by `file:line`.

use std::fmt::Write;

use super::{Finding, Report};
use crate::conformance::rules::{PssLevel, Severity};

/// Renders the report for a terminal.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    findings(report, &mut out);
    summary(report, &mut out);
    out
}

/// The findings, grouped by object in input order (file, line), not by severity: that is how people fix
/// them.
fn findings(report: &Report, out: &mut String) {
    let mut order: Vec<&Finding> = report.findings.iter().collect();
    order.sort_by(|a, b| {
        a.location
            .cmp(&b.location)
            .then_with(|| a.object.cmp(&b.object))
            .then(b.severity.cmp(&a.severity))
            .then(a.rule.cmp(&b.rule))
    });
    let mut prev: Option<(&Option<_>, &_)> = None;
    for f in order {
        let key = (&f.location, &f.object);
        if prev != Some(key) {
            if prev.is_some() {
                out.push('\n');
            }
            let loc = f
                .location
                .as_ref()
                .map_or_else(|| "-".to_owned(), |l| format!("{}:{}", l.file, l.line));
            let _ = writeln!(out, "{loc}: {}", f.object);
            prev = Some(key);
        }
        finding_line(f, out);
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
}

fn finding_line(f: &Finding, out: &mut String) {
    let mut refs: Vec<&str> = f.bsi.to_vec();
    let pss;
    if f.pss != PssLevel::None {
        pss = format!("PSS {}", f.pss.as_str());
        refs.push(&pss);
    }
    let container = f
        .container
        .as_ref()
        .map_or_else(String::new, |c| format!("container {c}: "));
    let refs = if refs.is_empty() {
        String::new()
    } else {
        format!(" [{}]", refs.join(", "))
    };
    let _ = writeln!(
        out,
        "  {:<7} {}: {container}{}{refs}",
        f.severity.as_str(),
        f.rule,
        f.message
    );
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// What was not judged, then the totals, which stay the last line.
fn summary(report: &Report, out: &mut String) {
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|s| format!("{} {}", report.by_severity.get(*s), s.as_str()))
        .collect();
    let not_checked = report.not_checked_count();
    if not_checked > 0 {
        let mut kinds: Vec<&str> = report
            .not_checked()
            .map(|r| r.object.kind.as_str())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        let _ = writeln!(
            out,
            "{} not checked: no rule reads {}",
            plural(not_checked, "object"),
            kinds.join(", ")
        );
    }
    if !report.namespaces_not_evaluated.is_empty() {
        let _ = writeln!(
            out,
            "namespace rules not evaluated for {}: neither its Namespace nor an onboarding creating it is in the input (--namespace-rules evaluates them)",
            report.namespaces_not_evaluated.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{}, {} ({}), {} silenced, score {}/100, profile {}",
        plural(report.objects, "object"),
        plural(report.findings.len(), "finding"),
        counts.join(", "),
        report.silenced_count(),
        report.score,
        report.profile
    );
}
