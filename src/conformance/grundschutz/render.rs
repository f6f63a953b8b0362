//! Renderings of an [`Assessment`] (text, Markdown, JSON) and of the catalogue (`docs/grundschutz.md`).
//! Pure: they return strings.

use std::fmt::Write;

use serde::Serialize;

use super::assess::{Assessment, Counts, Outcome, RequirementResult};
use super::catalogue::{CATALOGUE, Coverage, EDITION, Level, Module, Provision, Requirement};
use crate::conformance::report::{Finding, ObjectRef, Silence, SilencedFinding};

fn heading(a: &Assessment<'_>) -> String {
    format!(
        "profile {}, protection level {}, {} object{}",
        a.profile,
        a.protection_level.as_str(),
        a.objects,
        if a.objects == 1 { "" } else { "s" }
    )
}

fn location(f: &Finding) -> String {
    f.location
        .as_ref()
        .map_or_else(String::new, |l| format!(" ({}:{})", l.file, l.line))
}

fn finding_line(f: &Finding) -> String {
    let container = f
        .container
        .as_ref()
        .map_or_else(String::new, |c| format!(" container {c}"));
    format!(
        "{} {}: {}{container}: {}{}",
        f.severity,
        f.rule,
        f.object,
        f.message,
        location(f)
    )
}

fn silenced_line(s: &SilencedFinding) -> String {
    let by = match &s.by {
        Silence::Exception {
            index,
            justification,
            approved_by,
        } => format!("exception {index} approved by {approved_by}: {justification}"),
        Silence::Annotation { reason } => format!("ignore annotation: {reason}"),
    };
    format!("{}: {} — {by}", s.finding.rule, s.finding.object)
}

/// Short requirement id within its module: `A7`.
fn short_id(req: &Requirement) -> &'static str {
    req.id.rsplit('.').next().unwrap_or(req.id)
}

// -------------------------------------------------------------------------------------------------
// text

/// For a terminal: one line per requirement, findings and reasons below it, totals per level.
pub fn text(a: &Assessment<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BSI IT-Grundschutz APP.4.4 and SYS.1.6 ({EDITION}): {}",
        heading(a)
    );
    for module in Module::ALL {
        let _ = writeln!(
            out,
            "\n{} {}\n  id   L  result         coverage       title",
            module.id(),
            module.title(),
        );
        for r in a
            .results
            .iter()
            .filter(|r| r.requirement.module() == module)
        {
            text_requirement(&mut out, r);
        }
    }
    let _ = writeln!(out, "\n{:<14}{}", "", totals_header().join("  "));
    for (label, c) in totals_rows(a) {
        let cells: Vec<String> = totals_header()
            .iter()
            .zip(counts_cells(&c))
            .map(|(h, v)| format!("{v:>w$}", w = h.len()))
            .collect();
        let _ = writeln!(out, "{label:<14}{}", cells.join("  "));
    }
    out
}

fn text_requirement(out: &mut String, r: &RequirementResult<'_>) {
    let req = r.requirement;
    let _ = writeln!(
        out,
        "  {:<4} {}  {:<14} {:<14} {}",
        short_id(req),
        req.level.letter(),
        r.outcome.as_str(),
        req.coverage.as_str(),
        req.title
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "         {reason}");
    }
    for f in &r.findings {
        let _ = writeln!(out, "         {}", finding_line(f));
    }
    for f in &r.advice {
        let _ = writeln!(out, "         advice: {}", finding_line(f));
    }
    for s in &r.exceptions {
        let _ = writeln!(out, "         silenced: {}", silenced_line(s));
    }
}

fn totals_header() -> [&'static str; 6] {
    [
        "requirements",
        "pass",
        "fail",
        "not evaluated",
        "organisational",
        "not applicable",
    ]
}

fn counts_cells(c: &Counts) -> [usize; 6] {
    [
        c.requirements,
        c.pass,
        c.fail,
        c.not_evaluated,
        c.organisational,
        c.not_applicable,
    ]
}

fn totals_rows(a: &Assessment<'_>) -> Vec<(String, Counts)> {
    let mut rows: Vec<(String, Counts)> = Level::ALL
        .into_iter()
        .map(|l| (format!("{} ({})", l.letter(), l.name()), a.totals(l)))
        .collect();
    rows.push(("all".to_owned(), a.total()));
    rows
}

// -------------------------------------------------------------------------------------------------
// Markdown

/// Table cells must not contain `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn rule_links(rules: impl Iterator<Item = String>) -> String {
    let links: Vec<String> = rules.collect();
    if links.is_empty() {
        "–".to_owned()
    } else {
        links.join(", ")
    }
}

/// For an audit file or a merge request: totals, a table of every requirement, then the failures,
/// the requirements not evaluated, the silenced findings and the organisational evidence still owed.
pub fn markdown(a: &Assessment<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# BSI IT-Grundschutz: APP.4.4 and SYS.1.6\n\n{EDITION}; {}.\n",
        heading(a)
    );
    let _ = writeln!(out, "| Level | {} |", totals_header().join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(totals_header().len()));
    for (label, c) in totals_rows(a) {
        let cells: Vec<String> = counts_cells(&c).iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    }
    for module in Module::ALL {
        let _ = writeln!(
            out,
            "\n## {} {}\n\n| Requirement | Level | Title | Coverage | Result | Rules |\n|---|---|---|---|---|---|",
            module.id(),
            module.title()
        );
        for r in a
            .results
            .iter()
            .filter(|r| r.requirement.module() == module)
        {
            let req = r.requirement;
            let rules = rule_links(
                r.rules
                    .iter()
                    .map(|x| format!("`{}` {}", x.rule, x.state.as_str())),
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | **{}** | {} |",
                req.id,
                req.level.letter(),
                cell(req.title),
                req.coverage.as_str(),
                r.outcome.as_str(),
                rules
            );
        }
    }
    markdown_sections(&mut out, a);
    out
}

fn markdown_sections(out: &mut String, a: &Assessment<'_>) {
    let with = |o: Outcome| a.results.iter().filter(move |r| r.outcome == o);
    if a.failed() {
        out.push_str("\n## Failed\n");
        for r in with(Outcome::Fail) {
            let _ = writeln!(
                out,
                "\n### {} {}\n",
                r.requirement.id,
                cell(r.requirement.title)
            );
            for f in &r.findings {
                let _ = writeln!(out, "- {}", cell(&finding_line(f)));
            }
        }
    }
    if with(Outcome::NotEvaluated).next().is_some() {
        out.push_str("\n## Not evaluated\n\n");
        for r in with(Outcome::NotEvaluated) {
            let _ = writeln!(
                out,
                "- **{}**: {}",
                r.requirement.id,
                r.reason.as_deref().unwrap_or_default()
            );
        }
    }
    let advised: Vec<&RequirementResult<'_>> = a
        .results
        .iter()
        .filter(|r| !r.advice.is_empty() || !r.exceptions.is_empty())
        .collect();
    if !advised.is_empty() {
        out.push_str("\n## Advice and silenced findings\n\n");
        for r in advised {
            for f in &r.advice {
                let _ = writeln!(
                    out,
                    "- **{}** advice: {}",
                    r.requirement.id,
                    finding_line(f)
                );
            }
            for s in &r.exceptions {
                let _ = writeln!(
                    out,
                    "- **{}** silenced: {}",
                    r.requirement.id,
                    silenced_line(s)
                );
            }
        }
    }
    out.push_str("\n## Evidence the platform operator provides\n\n");
    for r in a
        .results
        .iter()
        .filter(|r| !r.requirement.remaining.is_empty())
    {
        let _ = writeln!(
            out,
            "- **{}**: {}",
            r.requirement.id, r.requirement.remaining
        );
    }
}

// -------------------------------------------------------------------------------------------------
// JSON

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonAssessment<'a> {
    edition: &'static str,
    profile: &'a str,
    protection_level: &'static str,
    objects: usize,
    totals: JsonTotals,
    requirements: Vec<JsonRequirement<'a>>,
    /// Inputs that could not be read (`file:line: message`).
    input_errors: &'a [String],
}

#[derive(Serialize)]
struct JsonTotals {
    #[serde(rename = "B")]
    basis: Counts,
    #[serde(rename = "S")]
    standard: Counts,
    #[serde(rename = "H")]
    elevated: Counts,
    all: Counts,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequirement<'a> {
    id: &'static str,
    module: Module,
    level: Level,
    title: &'static str,
    title_de: Option<&'static str>,
    withdrawn: bool,
    coverage: &'static str,
    provisioned: &'static [Provision],
    how: &'static str,
    remaining: &'static str,
    result: &'static str,
    reason: Option<&'a str>,
    rules: Vec<JsonRule<'a>>,
    findings: Vec<JsonFinding<'a>>,
    advice: Vec<JsonFinding<'a>>,
    silenced: Vec<JsonSilenced<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRule<'a> {
    id: &'static str,
    state: &'static str,
    reason: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonFinding<'a> {
    rule: &'static str,
    severity: &'static str,
    object: &'a ObjectRef,
    container: Option<&'a str>,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSilenced<'a> {
    finding: JsonFinding<'a>,
    /// `exception` or `annotation`.
    by: &'static str,
    justification: &'a str,
    approved_by: Option<&'a str>,
}

fn json_finding(f: &Finding) -> JsonFinding<'_> {
    JsonFinding {
        rule: f.rule.as_str(),
        severity: f.severity.as_str(),
        object: &f.object,
        container: f.container.as_deref(),
        message: &f.message,
        file: f.location.as_ref().map(|l| &*l.file),
        line: f.location.as_ref().map(|l| l.line),
    }
}

fn json_silenced(s: &SilencedFinding) -> JsonSilenced<'_> {
    let (by, justification, approved_by) = match &s.by {
        Silence::Exception {
            justification,
            approved_by,
            ..
        } => (
            "exception",
            justification.as_str(),
            Some(approved_by.as_str()),
        ),
        Silence::Annotation { reason } => ("annotation", reason.as_str(), None),
    };
    JsonSilenced {
        finding: json_finding(&s.finding),
        by,
        justification,
        approved_by,
    }
}

fn json_requirement<'a>(r: &'a RequirementResult<'a>) -> JsonRequirement<'a> {
    let req = r.requirement;
    JsonRequirement {
        id: req.id,
        module: req.module(),
        level: req.level,
        title: req.title,
        title_de: req.title_de,
        withdrawn: req.withdrawn,
        coverage: req.coverage.as_str(),
        provisioned: req.provisioned,
        how: req.how,
        remaining: req.remaining,
        result: r.outcome.as_str(),
        reason: r.reason.as_deref(),
        rules: r
            .rules
            .iter()
            .map(|x| JsonRule {
                id: x.rule.as_str(),
                state: x.state.as_str(),
                reason: x.reason.as_deref(),
            })
            .collect(),
        findings: r.findings.iter().map(|f| json_finding(f)).collect(),
        advice: r.advice.iter().map(|f| json_finding(f)).collect(),
        silenced: r.exceptions.iter().map(|s| json_silenced(s)).collect(),
    }
}

/// The assessment as JSON: metadata, totals per level (`B`, `S`, `H`, `all`) and one entry per
/// requirement; pretty-printed and newline-terminated.
pub fn json(a: &Assessment<'_>, input_errors: &[String]) -> String {
    let doc = JsonAssessment {
        edition: EDITION,
        profile: &a.profile,
        protection_level: a.protection_level.as_str(),
        objects: a.objects,
        totals: JsonTotals {
            basis: a.totals(Level::Basis),
            standard: a.totals(Level::Standard),
            elevated: a.totals(Level::Elevated),
            all: a.total(),
        },
        requirements: a.results.iter().map(json_requirement).collect(),
        input_errors,
    };
    // Plain structs of strings and numbers always serialise.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

// -------------------------------------------------------------------------------------------------
// docs/grundschutz.md

fn provision_text(p: &Provision) -> String {
    format!("{} `{}`: {}", p.kind, p.name, p.what)
}

/// The Markdown of `docs/grundschutz.md`, generated from the catalogue and the rules' BSI references.
pub fn catalogue_markdown() -> String {
    let mut out = String::new();
    let count = |m: Module| CATALOGUE.iter().filter(|r| r.module() == m).count();
    let withdrawn = CATALOGUE.iter().filter(|r| r.withdrawn).count();
    let _ = write!(
        out,
        r#"# BSI IT-Grundschutz: APP.4.4 and SYS.1.6

<!-- Generated from src/conformance/grundschutz/catalogue.rs and the rules' BSI references. Do not edit: run `UPDATE_DOCS=1 cargo test -p conplus-operator --lib conformance::grundschutz` -->

Every requirement of the modules APP.4.4 *Kubernetes* ({app} requirements) and SYS.1.6
*Containerisierung* ({sys} requirements) of the {EDITION}, and how CONPlus meets it. Ids, levels and
withdrawn status follow the BSI's text of that edition ({withdrawn}); titles and explanations are our
own words. Level B (basis) and S (standard) apply from protection level `normal`; level H (elevated) is
considered from `high`.

Coverage says how CONPlus meets a requirement:

- **automated**: rules check it on the Fachverfahren's objects ([`docs/rules.md`](rules.md));
- **provisioned**: the operator creates the objects that meet it, in every environment of an onboarding;
- **partial**: rules or provisioning cover a part; *Remaining* names the rest;
- **organisational**: nothing on the objects shows it; *Remaining* names the evidence the platform operator
  produces;
- **not applicable**: does not apply to CONPlus, with the reason.

The rules of a requirement are the rules whose BSI references name it. `conplus-operator grundschutz
PATH...` judges every requirement for a set of manifests: `pass` or `fail` (with the findings) from its
rules, `not evaluated` when none of its rules ran (the reason says why: a level H requirement at protection
level `normal`, a profile setting that is empty, no object of a kind the rules read), or `organisational`.
`conplus-operator grundschutz --kubeconfig FILE [--onboarding NAME]` judges the live objects of the
onboarded namespaces, one report per onboarding, under the profile the controller uses for it; the
onboarding's `status.conformance.grundschutz` carries the counts (`passed`, `failed`, `notEvaluated`,
`organisationalOpen`).

Which namespaces a NetworkPolicy may admit traffic from (APP.4.4.A7): its own, the platform's (ingress,
DNS, monitoring; `--ingress-namespace` and the other platform flags), and those the onboarding declares in
`spec.network.allowFromNamespaces` — live from the onboarding, on manifests from an onboarding in the input
that creates the namespace or from the operator's record on the Namespace (annotation
`conplus.niedersachsen.de/allow-from-namespaces`, as `conplus-operator render` prints it).

## Summary

| Coverage | B | S | H | all |
|---|---:|---:|---:|---:|
"#,
        app = count(Module::App44),
        sys = count(Module::Sys16),
        withdrawn = if withdrawn == 0 {
            "no requirement of either module is withdrawn".to_owned()
        } else {
            format!("{withdrawn} are withdrawn (ENTFALLEN) and marked below")
        },
    );
    summary_rows(&mut out);
    module_tables(&mut out);
    out.push_str("\n## Requirements\n");
    for req in CATALOGUE {
        catalogue_section(&mut out, req);
    }
    out
}

/// The rows of the coverage summary table.
fn summary_rows(out: &mut String) {
    for coverage in Coverage::ALL {
        let n = |level: Option<Level>| {
            CATALOGUE
                .iter()
                .filter(|r| r.coverage == coverage && level.is_none_or(|l| r.level == l))
                .count()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            coverage.as_str(),
            n(Some(Level::Basis)),
            n(Some(Level::Standard)),
            n(Some(Level::Elevated)),
            n(None)
        );
    }
}

/// One table of requirements per module.
fn module_tables(out: &mut String) {
    for module in Module::ALL {
        let _ = writeln!(
            out,
            "\n## {} {}\n\n| Requirement | Level | Title | Coverage | Rules |\n|---|---|---|---|---|",
            module.id(),
            module.title()
        );
        for req in CATALOGUE.iter().filter(|r| r.module() == module) {
            let rules = rule_links(
                req.rules()
                    .iter()
                    .map(|id| format!("[`{id}`](rules.md#{id})")),
            );
            let _ = writeln!(
                out,
                "| [{id}](#{anchor}) | {} | {} | {} | {rules} |",
                req.level.letter(),
                cell(req.title),
                req.coverage.as_str(),
                id = req.id,
                anchor = req.id.to_lowercase().replace('.', ""),
            );
        }
    }
}

fn catalogue_section(out: &mut String, req: &Requirement) {
    let _ = writeln!(out, "\n### {}\n\n{}.", req.id, req.title);
    let mut facts = vec![
        format!("- Level: {} ({})", req.level.letter(), req.level.name()),
        format!("- Coverage: {}", req.coverage.as_str()),
    ];
    if let Some(de) = req.title_de {
        facts.insert(0, format!("- BSI title: {de}"));
    }
    if req.withdrawn {
        facts.push("- Withdrawn (ENTFALLEN) in this edition".to_owned());
    }
    let rules = req.rules();
    if !rules.is_empty() {
        let links: Vec<String> = rules
            .iter()
            .map(|id| format!("[`{id}`](rules.md#{id})"))
            .collect();
        facts.push(format!("- Rules: {}", links.join(", ")));
    }
    for p in req.provisioned {
        facts.push(format!("- Provisioned: {}", provision_text(p)));
    }
    let _ = writeln!(out, "\n{}", facts.join("\n"));
    if !req.how.is_empty() {
        let _ = writeln!(out, "\n**How.** {}", req.how);
    }
    if !req.remaining.is_empty() {
        let _ = writeln!(out, "\n**Remaining.** {}", req.remaining);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::grundschutz::{Evaluation, assess};
    use crate::conformance::rules::{ProtectionLevel, RuleId};

    /// Compares `generated` with the file at `rel` (from the crate root); `UPDATE_DOCS=1` rewrites it.
    fn assert_file_is_current(rel: &str, generated: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, generated).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == generated,
            "{rel} is stale: regenerate it with `UPDATE_DOCS=1 cargo test -p conplus-operator --lib conformance::grundschutz`"
        );
    }

    #[test]
    fn docs_grundschutz_md_is_generated_from_the_catalogue() {
        assert_file_is_current("docs/grundschutz.md", &catalogue_markdown());
    }

    #[test]
    fn the_catalogue_document_has_one_row_and_one_section_per_requirement() {
        let md = catalogue_markdown();
        for r in CATALOGUE {
            assert_eq!(
                md.matches(&format!("| [{}](#", r.id)).count(),
                1,
                "{}",
                r.id
            );
            assert_eq!(
                md.matches(&format!("\n### {}\n", r.id)).count(),
                1,
                "{}",
                r.id
            );
        }
    }

    fn sample() -> (Vec<Finding>, Evaluation<'static>) {
        let f = vec![Finding {
            rule: RuleId::ServiceNodePort,
            severity: crate::conformance::Severity::Warning,
            bsi: RuleId::ServiceNodePort.rule().bsi,
            pss: crate::conformance::PssLevel::None,
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "Service".into(),
                namespace: Some("mu-luftmessnetz-prod".into()),
                name: "a|b".into(),
            },
            container: None,
            message: "spec.type is NodePort".into(),
            location: None,
        }];
        let ev = Evaluation {
            profile: "dvc-erhoeht".into(),
            protection_level: ProtectionLevel::High,
            objects: 1,
            enabled: RuleId::ALL.iter().copied().collect(),
            evaluated: [RuleId::ServiceNodePort].into_iter().collect(),
            findings: &[],
            silenced: &[],
            missing_settings: Vec::new(),
        };
        (f, ev)
    }

    #[test]
    fn every_format_lists_every_requirement_with_its_result() {
        let (f, mut ev) = sample();
        ev.findings = &f;
        let a = assess(&ev);
        let text = text(&a);
        let md = markdown(&a);
        let json: serde_json::Value = serde_json::from_str(&json(&a, &[])).unwrap();
        let reqs = json["requirements"].as_array().unwrap();
        assert_eq!(reqs.len(), CATALOGUE.len());
        for (r, j) in a.results.iter().zip(reqs) {
            assert_eq!(j["id"], r.requirement.id);
            assert_eq!(j["result"], r.outcome.as_str());
            assert_eq!(md.matches(&format!("| {} |", r.requirement.id)).count(), 1);
            let short = r.requirement.id.rsplit('.').next().unwrap();
            assert!(
                text.contains(&format!(
                    "  {short:<4} {}  {:<14}",
                    r.requirement.level.letter(),
                    r.outcome.as_str()
                )),
                "{} missing from the text",
                r.requirement.id
            );
        }
        assert_eq!(json["totals"]["all"]["fail"], 1);
        assert_eq!(json["totals"]["S"]["fail"], 1, "APP.4.4.A7 is level S");
        assert_eq!(json["protectionLevel"], "high");
        // A `|` in a finding cannot break the Markdown table it is listed under.
        assert!(md.contains("a\\|b"), "{md}");
    }
}
