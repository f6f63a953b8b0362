//! The result of an evaluation, and its renderings (text, JSON, SARIF 2.1.0, JUnit XML, PolicyReports).
//!
//! Pure: the renderers return strings; the CLI writes them.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::rules::{PssLevel, RuleId, RuleSet, Severity};

pub mod json;
pub mod junit;
pub mod policyreport;
pub mod sarif;
pub mod text;

/// Where an object was read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file as given on the command line (`-` for standard input).
    pub file: Arc<str>,
    /// 1-based line of the object's `kind:` (or, failing that, of its document's start).
    pub line: usize,
}

/// Identifies a Kubernetes object in findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `apps/v1`.
    pub api_version: String,
    /// `Deployment`.
    pub kind: String,
    /// Unset for cluster-scoped objects and for manifests that leave it to `kubectl -n`.
    pub namespace: Option<String>,
    /// `metadata.name` (or `generateName` when only that is set).
    pub name: String,
}

impl ObjectRef {
    /// The reference of an object given as JSON (empty strings for what it lacks).
    pub fn of(v: &serde_json::Value) -> ObjectRef {
        let s = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str);
        ObjectRef {
            api_version: s("/apiVersion").unwrap_or_default().to_owned(),
            kind: s("/kind").unwrap_or_default().to_owned(),
            namespace: s("/metadata/namespace").map(str::to_owned),
            name: s("/metadata/name").unwrap_or_default().to_owned(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            // Documents that did not parse have no kind.
            _ if self.kind.is_empty() => f.write_str("unparsed document"),
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One violation of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule violated.
    pub rule: RuleId,
    /// Effective severity (after the profile's overrides).
    pub severity: Severity,
    /// The BSI requirements the rule serves.
    pub bsi: &'static [&'static str],
    /// The rule's Pod Security level.
    pub pss: PssLevel,
    /// The object violating it.
    pub object: ObjectRef,
    /// The container, for container-level rules.
    pub container: Option<String>,
    /// What is wrong, concretely.
    pub message: String,
    /// Where the object was read from; `None` for objects from the cluster.
    pub location: Option<Location>,
}

impl Finding {
    /// A finding of a meta rule (about the input itself: never silenced, severity as catalogued).
    pub fn meta(
        rule: RuleId,
        object: ObjectRef,
        location: Option<Location>,
        message: String,
    ) -> Finding {
        let r = rule.rule();
        Finding {
            rule,
            severity: r.severity,
            bsi: r.bsi,
            pss: r.pss,
            object,
            container: None,
            message,
            location,
        }
    }
}

/// Why a finding was silenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Silence {
    /// An unexpired exception of the profile.
    Exception {
        /// Index in `spec.exceptions`.
        index: usize,
        /// Its justification.
        justification: String,
        /// Its approver.
        approved_by: String,
    },
    /// The object's ignore annotation, with this reason.
    Annotation {
        /// The `ignore-reason` annotation's value.
        reason: String,
    },
}

/// A finding that an exception or annotation silenced; counted, not reported as a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilencedFinding {
    /// The finding as it would have been reported.
    pub finding: Finding,
    /// What silenced it.
    pub by: Silence,
}

/// What was checked on one object (for JUnit and per-object summaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectResult {
    /// The object (for namespace-level rules: its Namespace).
    pub object: ObjectRef,
    /// Where it was read from.
    pub location: Option<Location>,
    /// Rules evaluated on it.
    pub checked: RuleSet,
    /// Rules with at least one unsilenced finding on it.
    pub failed: RuleSet,
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// Findings of severity `error`.
    pub error: usize,
    /// Findings of severity `warning`.
    pub warning: usize,
    /// Findings of severity `info`.
    pub info: usize,
}

impl SeverityCounts {
    /// Counts one more finding.
    pub fn add(&mut self, s: Severity) {
        match s {
            Severity::Error => self.error += 1,
            Severity::Warning => self.warning += 1,
            Severity::Info => self.info += 1,
        }
    }

    /// The number of findings of severity `s`.
    pub fn get(&self, s: Severity) -> usize {
        match s {
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }

    /// All findings.
    pub fn total(&self) -> usize {
        self.error + self.warning + self.info
    }
}

/// The result of [`super::evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Name of the profile evaluated.
    pub profile: String,
    /// Number of input objects (List items counted singly).
    pub objects: usize,
    /// What was checked per object and namespace, in input order (namespaces after objects).
    pub results: Vec<ObjectResult>,
    /// Unsilenced findings, most important first (see [`Report::top`]).
    pub findings: Vec<Finding>,
    /// Findings silenced by exceptions or annotations.
    pub silenced: Vec<SilencedFinding>,
    /// Unsilenced findings per severity.
    pub by_severity: SeverityCounts,
    /// 0–100; see [`Report::compute_score`].
    pub score: u8,
    /// Namespaces named by objects whose namespace-level rules were not evaluated (neither their Namespace
    /// object nor an onboarding creating them was in the input; see `check --namespace-rules`).
    pub namespaces_not_evaluated: Vec<String>,
}

impl Report {
    /// The `n` most important findings: by severity, then by catalogue order of the rule, then by object.
    pub fn top(&self, n: usize) -> &[Finding] {
        &self.findings[..n.min(self.findings.len())]
    }

    /// The input objects no rule read (their kind is none the rules look at, or the profile disables
    /// every rule that would): they passed nothing, so they are counted apart.
    pub fn not_checked(&self) -> impl Iterator<Item = &ObjectResult> {
        self.results.iter().filter(|r| r.checked.is_empty())
    }

    /// The number of [`Report::not_checked`] objects.
    pub fn not_checked_count(&self) -> usize {
        self.not_checked().count()
    }

    /// Number of silenced findings.
    pub fn silenced_count(&self) -> usize {
        self.silenced.len()
    }

    /// The score: `100 × (1 − failed weight ÷ checked weight)`, rounded down, over every (object, rule)
    /// pair evaluated. A pair weighs 10 for `error`, 3 for `warning` and 1 for `info` (its effective
    /// severity); a pair fails when it has at least one unsilenced finding, however many containers fail.
    /// Silenced findings count as passed. No checks: 100.
    pub fn compute_score(results: &[ObjectResult], severity: impl Fn(RuleId) -> Severity) -> u8 {
        let (mut total, mut failed) = (0u64, 0u64);
        for r in results {
            for id in r.checked.iter() {
                let w = severity(id).weight();
                total += w;
                if r.failed.contains(id) {
                    failed += w;
                }
            }
        }
        if total == 0 {
            return 100;
        }
        // Integer arithmetic: floor, so that any failure keeps the score below 100.
        let passed = total - failed;
        let score = passed * 100 / total;
        u8::try_from(score).unwrap_or(100)
    }

    /// Adds findings found outside the engine (unreadable documents, CRD schema errors): they are counted
    /// and sorted in, but do not change the score.
    pub fn add_findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        let before = self.findings.len();
        for f in findings {
            self.by_severity.add(f.severity);
            self.findings.push(f);
        }
        // Sorted already when there is nothing new.
        if self.findings.len() > before {
            sort_findings(&mut self.findings);
        }
    }

    /// Drops findings below `min` (for `--min-severity`), keeping the counts consistent.
    pub fn retain_min_severity(&mut self, min: Severity) {
        self.findings.retain(|f| f.severity >= min);
        let mut counts = SeverityCounts::default();
        for f in &self.findings {
            counts.add(f.severity);
        }
        self.by_severity = counts;
    }
}

/// Most important first: severity, rule order, object, container, line.
pub(crate) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.rule.cmp(&b.rule))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.container.cmp(&b.container))
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.message.cmp(&b.message))
    });
}
