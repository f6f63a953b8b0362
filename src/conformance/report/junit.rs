//! `--format junit`: JUnit XML, one `<testsuite>` per object, one `<testcase>` per rule evaluated on it,
//! a `<failure>` per finding (Jenkins, GitLab and Azure DevOps read this shape).

use std::fmt::Write;

use super::{Finding, ObjectResult, Report};
use crate::conformance::rules::RuleId;

/// Escapes text for XML attributes and content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

struct Suite<'a> {
    name: String,
    file: Option<String>,
    cases: Vec<(RuleId, Vec<&'a Finding>)>,
}

/// Renders the report as JUnit XML. Findings outside any evaluated object (unreadable documents, schema
/// errors, expired exceptions) get a suite per object they name.
pub fn render(report: &Report) -> String {
    let mut suites: Vec<Suite<'_>> = Vec::new();
    let mut index: std::collections::HashMap<(&super::ObjectRef, Option<&super::Location>), usize> =
        std::collections::HashMap::new();
    let suite_for = |r: &ObjectResult| Suite {
        name: r.object.to_string(),
        file: r
            .location
            .as_ref()
            .map(|l| format!("{}:{}", l.file, l.line)),
        cases: r.checked.iter().map(|id| (id, Vec::new())).collect(),
    };
    // An object no rule read has no test case: it is listed among the skipped, not as an empty suite.
    for r in report.results.iter().filter(|r| !r.checked.is_empty()) {
        index.insert((&r.object, r.location.as_ref()), suites.len());
        suites.push(suite_for(r));
    }
    for f in &report.findings {
        let key = (&f.object, f.location.as_ref());
        let i = match index.get(&key) {
            Some(i) => *i,
            None => {
                index.insert(key, suites.len());
                suites.push(Suite {
                    name: f.object.to_string(),
                    file: f
                        .location
                        .as_ref()
                        .map(|l| format!("{}:{}", l.file, l.line)),
                    cases: Vec::new(),
                });
                suites.len() - 1
            }
        };
        let suite = &mut suites[i];
        match suite.cases.iter_mut().find(|(id, _)| *id == f.rule) {
            Some((_, fs)) => fs.push(f),
            None => suite.cases.push((f.rule, vec![f])),
        }
    }
    let skipped = skipped_cases(report);
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum::<usize>() + skipped.len();
    let failures: usize = suites
        .iter()
        .map(|s| s.cases.iter().filter(|(_, f)| !f.is_empty()).count())
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"conplus-operator check ({})\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{}\">",
        escape(&report.profile),
        skipped.len()
    );
    for s in &suites {
        let fails = s.cases.iter().filter(|(_, f)| !f.is_empty()).count();
        let file = s
            .file
            .as_deref()
            .map_or_else(String::new, |f| format!(" file=\"{}\"", escape(f)));
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"0\"{file}>",
            escape(&s.name),
            s.cases.len()
        );
        for (id, fs) in &s.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"",
                id,
                escape(&s.name)
            );
            if fs.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            for f in fs {
                let container = f
                    .container
                    .as_ref()
                    .map_or_else(String::new, |c| format!("container {c}: "));
                let loc = f
                    .location
                    .as_ref()
                    .map_or_else(String::new, |l| format!("{}:{}: ", l.file, l.line));
                let refs = f.bsi.join(", ");
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{}\">{}{}{} [{}]</failure>",
                    f.severity,
                    escape(&format!("{container}{}", f.message)),
                    escape(&loc),
                    escape(&container),
                    escape(&f.message),
                    escape(&refs)
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"not checked\" tests=\"{0}\" failures=\"0\" errors=\"0\" skipped=\"{0}\">",
            skipped.len()
        );
        for (name, why) in &skipped {
            let _ = writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"not checked\">\n      <skipped message=\"{}\"/>\n    </testcase>",
                escape(name),
                escape(why)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// The objects no rule read and the namespaces whose rules were not evaluated, with why.
fn skipped_cases(report: &Report) -> Vec<(String, String)> {
    let objects = report.not_checked().map(|r| {
        (
            r.object.to_string(),
            format!("no rule reads {}", r.object.kind),
        )
    });
    let namespaces = report.namespaces_not_evaluated.iter().map(|ns| {
        (
            format!("Namespace {ns}"),
            "namespace rules not evaluated: neither the Namespace nor an onboarding creating it is in the input".to_owned(),
        )
    });
    objects.chain(namespaces).collect()
}
