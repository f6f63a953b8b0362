//! Per-requirement results from a conformance evaluation. Pure: no I/O, no clock.
//!
//! [`assess`] takes what an evaluation found and what it covered (an [`Evaluation`]: the profile, the rules
//! it enables, the rules evaluated on at least one object, the findings) and judges every requirement of
//! the [catalogue](super::catalogue::CATALOGUE). The same function serves manifests (`conplus-operator
//! grundschutz`) and, live, the objects of an onboarding's namespaces.

use std::collections::BTreeSet;

use serde::Serialize;

use super::catalogue::{CATALOGUE, Coverage, Level, Requirement};
use crate::conformance::profile::ResolvedProfile;
use crate::conformance::report::{Finding, Report, SilencedFinding};
use crate::conformance::rules::{PROTECTION_LEVELS, ProtectionLevel, RuleId, Severity, level_rank};

/// What one evaluation covered and found: the input of [`assess`].
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    /// The profile's name.
    pub profile: String,
    /// The protection level the profile was resolved for.
    pub protection_level: ProtectionLevel,
    /// Number of objects evaluated.
    pub objects: usize,
    /// Rules the profile enables.
    pub enabled: BTreeSet<RuleId>,
    /// Rules evaluated on at least one object (an enabled rule is not evaluated when no object it reads
    /// is present, or when it needs a profile setting that is empty).
    pub evaluated: BTreeSet<RuleId>,
    /// Unsilenced findings.
    pub findings: &'a [Finding],
    /// Findings silenced by an exception or an ignore annotation.
    pub silenced: &'a [SilencedFinding],
    /// Why enabled rules could not be evaluated, from the profile's settings.
    pub missing_settings: Vec<(RuleId, &'static str)>,
}

impl<'a> Evaluation<'a> {
    /// What `report` over manifests covered under `profile` (the profile it was evaluated with).
    pub fn from_report(report: &'a Report, profile: &ResolvedProfile) -> Self {
        Self::of(report, profile, false)
    }

    /// What `report` over the live objects of an onboarding's namespaces covered under `profile`.
    pub fn from_live_report(report: &'a Report, profile: &ResolvedProfile) -> Self {
        Self::of(report, profile, true)
    }

    fn of(report: &'a Report, profile: &ResolvedProfile, live: bool) -> Self {
        let evaluated = report
            .results
            .iter()
            .flat_map(|r| r.checked.iter())
            .collect();
        Evaluation {
            profile: profile.name.clone(),
            protection_level: profile.protection_level,
            objects: report.objects,
            enabled: RuleId::ALL
                .iter()
                .copied()
                .filter(|id| profile.enabled(*id))
                .collect(),
            evaluated,
            findings: &report.findings,
            silenced: &report.silenced,
            missing_settings: missing_settings(profile, live),
        }
    }
}

/// The rules that need a profile setting to be evaluated, where the setting is empty.
fn missing_settings(profile: &ResolvedProfile, live: bool) -> Vec<(RuleId, &'static str)> {
    let mut out = Vec::new();
    if profile.allowed_registries.is_empty() {
        out.push((
            RuleId::ImageRegistry,
            "the profile lists no allowedRegistries",
        ));
    }
    if profile.dedicated_nodes.is_none() {
        out.push((
            RuleId::DedicatedNodePool,
            "the profile sets no dedicatedNodes",
        ));
    }
    if profile.allowed_runtime_classes.is_empty() {
        out.push((
            RuleId::RuntimeClass,
            "the profile lists no allowedRuntimeClasses",
        ));
    }
    out.push((
        RuleId::PodMaxAge,
        if profile.max_pod_age.is_none() {
            "the profile sets no maxPodAge"
        } else if live {
            "no running Pod in the namespaces"
        } else {
            "it needs the start time of running Pods: checked live, not on manifests"
        },
    ));
    out
}

/// The result of one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Its rules were evaluated and found nothing (advice and silenced findings aside).
    Pass,
    /// A rule found a violation of severity warning or error.
    Fail,
    /// It has rules, or is provisioned, but nothing could be evaluated here; the reason says why.
    NotEvaluated,
    /// Met by evidence the platform operator produces.
    Organisational,
    /// Withdrawn, or does not apply to CONPlus.
    NotApplicable,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::NotEvaluated,
        Outcome::Organisational,
        Outcome::NotApplicable,
    ];

    /// `pass`, `fail`, `not evaluated`, `organisational`, `not applicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NotEvaluated => "not evaluated",
            Outcome::Organisational => "organisational",
            Outcome::NotApplicable => "not applicable",
        }
    }
}

/// What happened to one rule of a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleState {
    /// Evaluated, no violation.
    Pass,
    /// Evaluated, at least one violation of severity warning or error.
    Fail,
    /// The profile does not enable it.
    Disabled,
    /// Enabled, but evaluated on no object.
    NotEvaluated,
}

impl RuleState {
    /// `pass`, `fail`, `disabled`, `not evaluated`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleState::Pass => "pass",
            RuleState::Fail => "fail",
            RuleState::Disabled => "disabled",
            RuleState::NotEvaluated => "not evaluated",
        }
    }
}

/// One rule of a requirement and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    /// The rule.
    pub rule: RuleId,
    /// Its state.
    pub state: RuleState,
    /// Why it was disabled or not evaluated.
    pub reason: Option<String>,
}

/// The result of one requirement.
#[derive(Debug, Clone)]
pub struct RequirementResult<'a> {
    /// The requirement.
    pub requirement: &'static Requirement,
    /// Its result.
    pub outcome: Outcome,
    /// Why it was not evaluated (or is not applicable).
    pub reason: Option<String>,
    /// Its rules, each with its state.
    pub rules: Vec<RuleResult>,
    /// Violations (severity warning or error) of its rules.
    pub findings: Vec<&'a Finding>,
    /// Findings of severity info: advice that does not fail the requirement.
    pub advice: Vec<&'a Finding>,
    /// Findings that an exception or ignore annotation silenced: the justifications are audit evidence.
    pub exceptions: Vec<&'a SilencedFinding>,
}

/// Requirements per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// All requirements counted.
    pub requirements: usize,
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Not evaluated.
    pub not_evaluated: usize,
    /// Organisational.
    pub organisational: usize,
    /// Not applicable.
    pub not_applicable: usize,
}

impl Counts {
    /// Counts one more requirement with `outcome`.
    pub fn add(&mut self, outcome: Outcome) {
        self.requirements += 1;
        *match outcome {
            Outcome::Pass => &mut self.pass,
            Outcome::Fail => &mut self.fail,
            Outcome::NotEvaluated => &mut self.not_evaluated,
            Outcome::Organisational => &mut self.organisational,
            Outcome::NotApplicable => &mut self.not_applicable,
        } += 1;
    }

    /// The number of requirements with `outcome`.
    pub fn get(&self, outcome: Outcome) -> usize {
        match outcome {
            Outcome::Pass => self.pass,
            Outcome::Fail => self.fail,
            Outcome::NotEvaluated => self.not_evaluated,
            Outcome::Organisational => self.organisational,
            Outcome::NotApplicable => self.not_applicable,
        }
    }
}

/// Every requirement of the catalogue, judged.
#[derive(Debug, Clone)]
pub struct Assessment<'a> {
    /// The profile's name.
    pub profile: String,
    /// The protection level.
    pub protection_level: ProtectionLevel,
    /// Number of objects evaluated.
    pub objects: usize,
    /// One result per requirement, in catalogue order.
    pub results: Vec<RequirementResult<'a>>,
}

impl Assessment<'_> {
    /// Requirements per outcome for one level.
    pub fn totals(&self, level: Level) -> Counts {
        self.count(|r| r.requirement.level == level)
    }

    /// Requirements per outcome over all levels.
    pub fn total(&self) -> Counts {
        self.count(|_| true)
    }

    fn count(&self, which: impl Fn(&RequirementResult<'_>) -> bool) -> Counts {
        let mut c = Counts::default();
        for r in self.results.iter().filter(|r| which(r)) {
            c.add(r.outcome);
        }
        c
    }

    /// Whether any requirement failed.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.outcome == Outcome::Fail)
    }
}

/// Judges every requirement of the catalogue against `ev`.
pub fn assess<'a>(ev: &Evaluation<'a>) -> Assessment<'a> {
    Assessment {
        profile: ev.profile.clone(),
        protection_level: ev.protection_level,
        objects: ev.objects,
        results: CATALOGUE.iter().map(|req| judge(req, ev)).collect(),
    }
}

fn judge<'a>(req: &'static Requirement, ev: &Evaluation<'a>) -> RequirementResult<'a> {
    let ids = req.rules();
    let of_rules = |f: &&Finding| ids.contains(&f.rule);
    let (findings, advice): (Vec<&Finding>, Vec<&Finding>) = ev
        .findings
        .iter()
        .filter(of_rules)
        .partition(|f| f.severity >= Severity::Warning);
    let exceptions = ev
        .silenced
        .iter()
        .filter(|s| ids.contains(&s.finding.rule))
        .collect();
    let rules: Vec<RuleResult> = ids
        .iter()
        .map(|id| rule_result(*id, ev, &findings))
        .collect();
    let (outcome, reason) = if req.withdrawn {
        (
            Outcome::NotApplicable,
            Some("withdrawn in this edition".to_owned()),
        )
    } else {
        match req.coverage {
            Coverage::NotApplicable => (Outcome::NotApplicable, Some(req.remaining.to_owned())),
            // The Kompendium proposes level H for elevated protection needs only.
            _ if req.level == Level::Elevated && ev.protection_level == ProtectionLevel::Normal => {
                (
                    Outcome::NotEvaluated,
                    Some(format!(
                        "level H is considered from protection level high; profile {} is for normal",
                        ev.profile
                    )),
                )
            }
            Coverage::Organisational => (Outcome::Organisational, None),
            _ if rules.is_empty() => without_rules(req),
            _ => from_rules(ev, &rules),
        }
    };
    RequirementResult {
        requirement: req,
        outcome,
        reason,
        rules,
        findings,
        advice,
        exceptions,
    }
}

/// A provisioned or partially covered requirement that no rule checks.
fn without_rules(req: &Requirement) -> (Outcome, Option<String>) {
    if req.coverage == Coverage::Provisioned {
        (
            Outcome::NotEvaluated,
            Some("provisioned by the operator in every onboarded namespace; not visible in manifests".to_owned()),
        )
    } else {
        (Outcome::Organisational, None)
    }
}

fn rule_result(id: RuleId, ev: &Evaluation<'_>, violations: &[&Finding]) -> RuleResult {
    let (state, reason) = if !ev.enabled.contains(&id) {
        (RuleState::Disabled, Some(disabled_reason(id, ev)))
    } else if violations.iter().any(|f| f.rule == id) {
        (RuleState::Fail, None)
    } else if ev.evaluated.contains(&id) {
        (RuleState::Pass, None)
    } else {
        let why = ev
            .missing_settings
            .iter()
            .find(|(r, _)| *r == id)
            .map_or("no object in the input that it applies to", |(_, why)| why);
        (RuleState::NotEvaluated, Some(why.to_owned()))
    };
    RuleResult {
        rule: id,
        state,
        reason,
    }
}

fn disabled_reason(id: RuleId, ev: &Evaluation<'_>) -> String {
    let from = PROTECTION_LEVELS
        .into_iter()
        .find(|l| id.rule().default_enabled(*l));
    match from {
        Some(l) if level_rank(l) > level_rank(ev.protection_level) => format!(
            "not enabled in profile {}; the built-in profiles enable it from protection level {}",
            ev.profile,
            l.as_str()
        ),
        _ => format!("not enabled in profile {}", ev.profile),
    }
}

fn from_rules(ev: &Evaluation<'_>, rules: &[RuleResult]) -> (Outcome, Option<String>) {
    if rules.iter().any(|r| r.state == RuleState::Fail) {
        return (Outcome::Fail, None);
    }
    if rules.iter().any(|r| r.state == RuleState::Pass) {
        return (Outcome::Pass, None);
    }
    let none_enabled = rules.iter().all(|r| r.state == RuleState::Disabled);
    let reason = if none_enabled {
        format!("profile {} enables none of its rules", ev.profile)
    } else {
        rules
            .iter()
            .filter(|r| r.state == RuleState::NotEvaluated)
            .map(|r| format!("{}: {}", r.rule, r.reason.as_deref().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    (Outcome::NotEvaluated, Some(reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::SourceObject;
    use crate::conformance::profile::resolve_profile;
    use crate::conformance::report::{ObjectRef, Silence};
    use crate::conformance::rules::PssLevel;

    fn finding(rule: RuleId, severity: Severity) -> Finding {
        Finding {
            rule,
            severity,
            bsi: rule.rule().bsi,
            pss: PssLevel::None,
            object: ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("ms-wohngeld-prod".into()),
                name: "antrag".into(),
            },
            container: None,
            message: "test".into(),
            location: None,
        }
    }

    /// Every rule enabled and evaluated at `level`, with `findings`.
    fn everything<'a>(
        level: ProtectionLevel,
        findings: &'a [Finding],
        silenced: &'a [SilencedFinding],
    ) -> Evaluation<'a> {
        Evaluation {
            profile: "test".into(),
            protection_level: level,
            objects: 3,
            enabled: RuleId::ALL.iter().copied().collect(),
            evaluated: RuleId::ALL.iter().copied().collect(),
            findings,
            silenced,
            missing_settings: Vec::new(),
        }
    }

    fn outcome<'a>(a: &'a Assessment<'_>, id: &str) -> &'a RequirementResult<'a> {
        a.results
            .iter()
            .find(|r| r.requirement.id == id)
            .unwrap_or_else(|| panic!("{id} not assessed"))
    }

    fn failed(a: &Assessment<'_>) -> Vec<&'static str> {
        a.results
            .iter()
            .filter(|r| r.outcome == Outcome::Fail)
            .map(|r| r.requirement.id)
            .collect()
    }

    #[test]
    fn with_nothing_found_every_requirement_with_rules_passes_and_the_rest_is_organisational() {
        let a = assess(&everything(ProtectionLevel::VeryHigh, &[], &[]));
        assert_eq!(a.results.len(), CATALOGUE.len());
        for r in &a.results {
            let want = if r.requirement.rules().is_empty() {
                Outcome::Organisational
            } else {
                Outcome::Pass
            };
            assert_eq!(r.outcome, want, "{}", r.requirement.id);
        }
        assert!(!a.failed());
    }

    #[test]
    fn a_violation_fails_every_requirement_its_rule_serves_and_no_other() {
        let f = [finding(RuleId::PrivilegedContainer, Severity::Error)];
        let a = assess(&everything(ProtectionLevel::High, &f, &[]));
        assert_eq!(failed(&a), ["APP.4.4.A4", "SYS.1.6.A17"]);
        let a4 = outcome(&a, "APP.4.4.A4");
        assert_eq!(a4.findings.len(), 1);
        let privileged = a4
            .rules
            .iter()
            .find(|r| r.rule == RuleId::PrivilegedContainer)
            .unwrap();
        assert_eq!(privileged.state, RuleState::Fail);
        assert!(a.failed());
    }

    #[test]
    fn info_findings_are_advice_and_do_not_fail_the_requirement() {
        let f = [finding(RuleId::SecretAsEnv, Severity::Info)];
        let a = assess(&everything(ProtectionLevel::Normal, &f, &[]));
        let s8 = outcome(&a, "SYS.1.6.A8");
        assert_eq!(s8.outcome, Outcome::Pass);
        assert_eq!(s8.advice.len(), 1);
        assert!(s8.findings.is_empty());
    }

    #[test]
    fn silenced_findings_pass_the_requirement_and_are_kept_as_evidence() {
        let s = [SilencedFinding {
            finding: finding(RuleId::ReadOnlyRootFilesystem, Severity::Error),
            by: Silence::Exception {
                index: 0,
                justification: "writes its cache to the root file system until 3.0".into(),
                approved_by: "ISB MS".into(),
            },
        }];
        let a = assess(&everything(ProtectionLevel::High, &[], &s));
        let s23 = outcome(&a, "SYS.1.6.A23");
        assert_eq!(s23.outcome, Outcome::Pass);
        assert_eq!(s23.exceptions.len(), 1);
    }

    #[test]
    fn level_h_requirements_are_not_evaluated_at_protection_level_normal() {
        let f = [finding(RuleId::ReadOnlyRootFilesystem, Severity::Error)];
        let a = assess(&everything(ProtectionLevel::Normal, &f, &[]));
        for r in a
            .results
            .iter()
            .filter(|r| r.requirement.level == Level::Elevated)
        {
            assert_eq!(r.outcome, Outcome::NotEvaluated, "{}", r.requirement.id);
            assert!(
                r.reason.as_deref().unwrap().contains("level H"),
                "{:?}",
                r.reason
            );
        }
        assert!(!a.failed(), "a level H finding fails nothing at normal");
        let normal = a.totals(Level::Elevated);
        assert_eq!((normal.requirements, normal.not_evaluated), (15, 15));
    }

    #[test]
    fn a_requirement_whose_rules_the_profile_disables_is_not_evaluated_and_says_why() {
        let mut ev = everything(ProtectionLevel::High, &[], &[]);
        ev.enabled.remove(&RuleId::ContainerProbes);
        ev.evaluated.remove(&RuleId::ContainerProbes);
        let a = assess(&ev);
        let a11 = outcome(&a, "APP.4.4.A11");
        assert_eq!(a11.outcome, Outcome::NotEvaluated);
        assert_eq!(
            a11.reason.as_deref(),
            Some("profile test enables none of its rules")
        );
        assert_eq!(a11.rules[0].state, RuleState::Disabled);
        assert_eq!(
            a11.rules[0].reason.as_deref(),
            Some("not enabled in profile test")
        );
    }

    #[test]
    fn a_rule_disabled_below_its_level_names_the_level_that_enables_it() {
        let mut ev = everything(ProtectionLevel::High, &[], &[]);
        ev.enabled.remove(&RuleId::RuntimeClass);
        ev.evaluated.remove(&RuleId::RuntimeClass);
        let a = assess(&ev);
        let s26 = outcome(&a, "SYS.1.6.A26");
        assert_eq!(s26.outcome, Outcome::NotEvaluated);
        let why = s26.rules[0].reason.as_deref().unwrap();
        assert!(why.contains("from protection level veryHigh"), "{why}");
    }

    #[test]
    fn an_enabled_rule_that_ran_on_no_object_names_the_missing_setting_or_the_missing_objects() {
        let mut ev = everything(ProtectionLevel::VeryHigh, &[], &[]);
        ev.evaluated.remove(&RuleId::RuntimeClass);
        ev.evaluated.remove(&RuleId::ContainerProbes);
        ev.missing_settings = vec![(
            RuleId::RuntimeClass,
            "the profile lists no allowedRuntimeClasses",
        )];
        let a = assess(&ev);
        let s26 = outcome(&a, "SYS.1.6.A26");
        assert_eq!(s26.outcome, Outcome::NotEvaluated);
        assert_eq!(
            s26.reason.as_deref(),
            Some("runtime-class: the profile lists no allowedRuntimeClasses")
        );
        let a11 = outcome(&a, "APP.4.4.A11");
        assert_eq!(
            a11.reason.as_deref(),
            Some("container-probes: no object in the input that it applies to")
        );
    }

    #[test]
    fn one_evaluated_rule_is_enough_to_pass_and_the_others_show_why_they_did_not_run() {
        let mut ev = everything(ProtectionLevel::Normal, &[], &[]);
        ev.evaluated.remove(&RuleId::ImageRegistry);
        ev.enabled.remove(&RuleId::ImageDigest);
        ev.evaluated.remove(&RuleId::ImageDigest);
        ev.missing_settings = vec![(
            RuleId::ImageRegistry,
            "the profile lists no allowedRegistries",
        )];
        let a = assess(&ev);
        let s6 = outcome(&a, "SYS.1.6.A6");
        assert_eq!(s6.outcome, Outcome::Pass);
        let states: Vec<(RuleId, RuleState)> = s6.rules.iter().map(|r| (r.rule, r.state)).collect();
        assert_eq!(
            states,
            [
                (RuleId::ImageTag, RuleState::Pass),
                (RuleId::ImageDigest, RuleState::Disabled),
                (RuleId::ImageRegistry, RuleState::NotEvaluated),
            ]
        );
    }

    #[test]
    fn totals_count_every_requirement_once_per_level() {
        let f = [finding(RuleId::SshPort, Severity::Error)];
        let a = assess(&everything(ProtectionLevel::High, &f, &[]));
        let per_level: Vec<usize> = Level::ALL
            .iter()
            .map(|l| a.totals(*l).requirements)
            .collect();
        assert_eq!(per_level, [13, 19, 15]);
        let all = a.total();
        assert_eq!(all.requirements, 47);
        assert_eq!(
            Outcome::ALL.iter().map(|o| all.get(*o)).sum::<usize>(),
            47,
            "every requirement has exactly one outcome"
        );
        assert_eq!(all.fail, 1);
        assert_eq!(a.totals(Level::Standard).fail, 1, "SYS.1.6.A16 is level S");
    }

    #[test]
    fn evaluation_of_a_report_takes_the_profiles_rules_and_the_rules_that_ran() {
        let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
        let objects = [SourceObject {
            value: serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "antrag", "namespace": "ms-wohngeld-prod"},
                "spec": {"type": "NodePort", "ports": [{"port": 80}]}
            }),
            location: None,
        }];
        let now = "2026-11-26T12:00:00Z".parse().unwrap();
        let report = crate::conformance::evaluate(&objects, &profile, now);
        let ev = Evaluation::from_report(&report, &profile);
        assert!(ev.evaluated.contains(&RuleId::ServiceNodePort));
        assert!(!ev.evaluated.contains(&RuleId::ContainerProbes));
        assert!(ev.enabled.contains(&RuleId::ContainerProbes));
        assert!(!ev.enabled.contains(&RuleId::ReadOnlyRootFilesystem));
        let a = assess(&ev);
        assert_eq!(outcome(&a, "APP.4.4.A7").outcome, Outcome::Fail);
        assert_eq!(
            outcome(&a, "APP.4.4.A11").reason.as_deref(),
            Some("container-probes: no object in the input that it applies to")
        );
    }
}
