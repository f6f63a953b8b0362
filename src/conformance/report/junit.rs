//! `--format junit`: JUnit XML (written by `quick-junit`), one `<testsuite>` per object with at least one
//! rule evaluated, one `<testcase>` per rule evaluated on it and one more per further finding of the same
//! rule (so that every finding is one `<failure>`); objects no rule read and namespaces whose rules were not
//! evaluated are skipped test cases of a suite `not checked` (Jenkins, GitLab and Azure DevOps read this).

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::{Finding, Location, ObjectRef, ObjectResult, Report};
use crate::conformance::rules::RuleId;

/// One suite in the making: an object, where it is, and its rules with their findings.
struct Suite<'a> {
    object: &'a ObjectRef,
    location: Option<&'a Location>,
    cases: Vec<(RuleId, Vec<&'a Finding>)>,
}

/// Findings outside any evaluated object (unreadable documents, schema errors, expired exceptions) get a
/// suite per object they name.
fn suites(report: &Report) -> Vec<Suite<'_>> {
    let mut suites: Vec<Suite<'_>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let checked = report.results.iter().filter(|r| !r.checked.is_empty());
    for r in checked {
        index.insert((&r.object, r.location.as_ref()), suites.len());
        suites.push(suite_for(r));
    }
    for f in &report.findings {
        let key = (&f.object, f.location.as_ref());
        let i = *index.entry(key).or_insert_with(|| {
            suites.push(Suite {
                object: &f.object,
                location: f.location.as_ref(),
                cases: Vec::new(),
            });
            suites.len() - 1
        });
        let suite = &mut suites[i];
        match suite.cases.iter_mut().find(|(id, _)| *id == f.rule) {
            Some((_, fs)) => fs.push(f),
            None => suite.cases.push((f.rule, vec![f])),
        }
    }
    suites
}

fn suite_for(r: &ObjectResult) -> Suite<'_> {
    Suite {
        object: &r.object,
        location: r.location.as_ref(),
        cases: r.checked.iter().map(|id| (id, Vec::new())).collect(),
    }
}

fn failure(f: &Finding) -> TestCaseStatus {
    let container = f
        .container
        .as_ref()
        .map_or_else(String::new, |c| format!("container {c}: "));
    let loc = f
        .location
        .as_ref()
        .map_or_else(String::new, |l| format!("{}:{}: ", l.file, l.line));
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_type(f.severity.as_str())
        .set_message(format!("{container}{}", f.message))
        .set_description(format!(
            "{loc}{container}{} [{}]",
            f.message,
            f.bsi.join(", ")
        ));
    status
}

fn test_suite(s: &Suite<'_>) -> TestSuite {
    let name = s.object.to_string();
    let mut suite = TestSuite::new(name.as_str());
    if let Some(l) = s.location {
        suite
            .extra
            .insert("file".into(), format!("{}:{}", l.file, l.line).into());
    }
    for (id, findings) in &s.cases {
        let statuses: Vec<TestCaseStatus> = if findings.is_empty() {
            vec![TestCaseStatus::success()]
        } else {
            findings.iter().map(|f| failure(f)).collect()
        };
        for status in statuses {
            let mut case = TestCase::new(id.as_str(), status);
            case.set_classname(name.as_str());
            suite.add_test_case(case);
        }
    }
    suite
}

/// The objects no rule read and the namespaces whose rules were not evaluated, as skipped cases.
fn not_checked(report: &Report) -> Option<TestSuite> {
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
    let mut suite = TestSuite::new("not checked");
    for (name, why) in objects.chain(namespaces) {
        let mut status = TestCaseStatus::skipped();
        status.set_message(why);
        let mut case = TestCase::new(name, status);
        case.set_classname("not checked");
        suite.add_test_case(case);
    }
    (!suite.test_cases.is_empty()).then_some(suite)
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> String {
    let mut junit = JunitReport::new(format!("conplus-operator check ({})", report.profile));
    junit.add_test_suites(suites(report).iter().map(test_suite));
    junit.add_test_suites(not_checked(report));
    // Serialising into memory fails only on an I/O error of the writer, which a Vec cannot have.
    let mut xml = junit.to_string().unwrap_or_default();
    if !xml.ends_with('\n') {
        xml.push('\n');
    }
    xml
}
