//! Conformance, part of the status step (pure, reads the stores): the DVC rules over the
//! workloads of an onboarding's namespaces, live.
//!
//! The stores ([`super::stores::workload_streams`]) hold one cluster-wide watch per kind the
//! rules read, stripped of every field no rule reads and indexed by namespace; a change to
//! any such object requeues the onboarding that owns its namespace, so a fixed Deployment is
//! reflected within seconds. Here the engine's report becomes the bounded
//! `status.conformance` and the `Conformant` condition.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::reflector;

use super::apply::Applied;
use super::conditions::{self, not_evaluated};
use super::plan::{EnvPlan, Plan};
use super::stores::{Stores, Version, WorkloadStores};
use crate::api::conditions::{self as c, reason};
use crate::api::{
    ConformanceFinding, ConformanceProfile, ConformanceStatus, FachverfahrenOnboarding,
    FachverfahrenOnboardingStatus, GrundschutzCounts, Ressort,
};
use crate::conformance::checks::workload::{
    DEFAULT_TOLERATIONS_ANNOTATION, NODE_SELECTOR_ANNOTATION,
};
use crate::conformance::engine::{SourceObject, evaluate};
use crate::conformance::grundschutz::{Evaluation as Assessed, assess};
use crate::conformance::profile::platform_namespaces;
use crate::conformance::profile::{ProfileError, ResolvedProfile, resolve_profile};
use crate::conformance::report::{ObjectRef as ReportObject, Report};
use crate::conformance::rules::Severity;
use crate::resources::{DesiredEnvironment, PlatformSettings};

/// Conformance settings of the platform (operator flags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defaults {
    /// The profile of onboardings that name none, instead of the built-in one of their
    /// protection level.
    pub default_profile: Option<String>,
    /// Registries allowed when the profile lists none.
    pub allowed_registries: Vec<String>,
}

/// How many findings the status carries at most.
pub const MAX_STATUS_FINDINGS: usize = 10;

/// The objects of `namespaces` from the stores, as the engine reads them: the namespaces
/// themselves, then the objects of every kind the rules read in them (from the index).
pub fn objects_in(stores: &Stores, namespaces: &BTreeSet<String>) -> Vec<SourceObject> {
    let source = |value| SourceObject {
        value,
        location: None,
    };
    let mut out: Vec<SourceObject> = namespaces
        .iter()
        .filter_map(|n| stores.namespaces.store.get(&reflector::ObjectRef::new(n)))
        .filter_map(|n| serde_json::to_value(n.as_ref()).ok())
        .map(source)
        .collect();
    for ns in namespaces {
        out.extend(stores.conformance_objects(ns).into_iter().map(source));
    }
    out
}

/// How long an evaluation is reused while nothing it read changed: profile exceptions expire
/// with time, so the rules run again at the latest this long after (within the resync).
const MEMO_TTL: Duration = Duration::from_secs(240);

/// What an evaluation read: evaluating again gives the same result while these are the same.
#[derive(Clone, Debug, PartialEq)]
struct Inputs {
    /// The onboarding's generation (its protection level, profile, environments).
    generation: Option<i64>,
    /// The resourceVersion of the ConformanceProfile it names, if there is one.
    profile: Option<String>,
    /// The node pool of its Ressort.
    node_pool: Option<String>,
    /// Per namespace: the namespace's resourceVersion and the version of its objects of
    /// the kinds the rules read.
    namespaces: Vec<(String, Option<String>, Version)>,
}

/// What an evaluation put on the status.
#[derive(Clone, Debug)]
struct Remembered {
    inputs: Inputs,
    at: Timestamp,
    condition: Condition,
    status: Option<ConformanceStatus>,
    profile: Option<String>,
}

/// The conformance settings of the live controller, and its memory of the last evaluation
/// per onboarding: a namespace's rules run again only when an object in it changed.
#[derive(Debug, Default)]
pub struct Live {
    /// The platform's settings.
    pub defaults: Defaults,
    memo: Mutex<HashMap<String, Remembered>>,
}

impl Live {
    /// Live conformance with `defaults` and nothing evaluated yet.
    pub fn new(defaults: Defaults) -> Self {
        Live {
            defaults,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets what was evaluated for `fvo` (deleted).
    pub fn forget(&self, fvo: &FachverfahrenOnboarding) {
        self.memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&memo_key(fvo));
    }
}

fn memo_key(fvo: &FachverfahrenOnboarding) -> String {
    format!(
        "{}/{}",
        fvo.metadata.name.as_deref().unwrap_or_default(),
        fvo.metadata.uid.as_deref().unwrap_or_default()
    )
}

fn inputs(
    stores: &Stores,
    fvo: &FachverfahrenOnboarding,
    (profile, ressort): (Option<&ConformanceProfile>, Option<&Ressort>),
    namespaces: &BTreeSet<String>,
) -> Inputs {
    Inputs {
        generation: fvo.metadata.generation,
        profile: profile.and_then(|p| p.metadata.resource_version.clone()),
        node_pool: ressort.and_then(|r| r.spec.node_pool.clone()),
        namespaces: namespaces
            .iter()
            .map(|n| {
                let ns = stores.namespaces.store.get(&reflector::ObjectRef::new(n));
                let rv = ns.and_then(|ns| ns.metadata.resource_version.clone());
                (n.clone(), rv, stores.conformance_version(n))
            })
            .collect(),
    }
}

/// What the conformance step found.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// New violations, for Events on the offending objects.
    pub violations: Vec<Violation>,
    /// The engine's report, for the metrics (None when nothing was evaluated).
    pub report: Option<Report>,
}

/// The conformance step: evaluates the rules over the provisioned namespaces and puts the
/// result on `status`.
///
/// Right after writing (`applied.writes` > 0), the watches have not seen the new objects yet:
/// evaluating now would report the policies just applied as missing. The events of these
/// writes bring the next round, which evaluates against current stores; until then the
/// condition stays as it was, or is `Unknown` when there is none yet.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_round(
    stores: &Stores,
    live: &Live,
    platform: &PlatformSettings,
    fvo: &FachverfahrenOnboarding,
    plan: &Plan,
    applied: &Applied,
    status: &mut FachverfahrenOnboardingStatus,
    now: Timestamp,
) -> Evaluation {
    let generation = fvo.metadata.generation;
    if applied.writes > 0 {
        if !status.conditions.iter().any(|x| x.type_ == c::CONFORMANT) {
            let why = "evaluated once provisioning has settled";
            status
                .conditions
                .push(not_evaluated(why, generation, &[], now));
        }
        return Evaluation::default();
    }
    let namespaces: BTreeSet<String> = plan
        .environments
        .iter()
        .filter_map(|e| match e {
            EnvPlan::Provision { desired, .. } => desired.namespace.metadata.name.clone(),
            _ => None,
        })
        .collect();
    let previous = fvo
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    status.conditions.retain(|x| x.type_ != c::CONFORMANT);
    if namespaces.is_empty() {
        let why = "nothing is provisioned yet";
        status
            .conditions
            .push(not_evaluated(why, generation, previous, now));
        status.conformance = None;
        return Evaluation::default();
    }
    let defaults = &live.defaults;
    let profile = cluster_profile(&stores.workloads, fvo, defaults);
    let ressort = stores
        .ressorts
        .get(&reflector::ObjectRef::new(&fvo.spec.ressort));
    let read = inputs(
        stores,
        fvo,
        (profile.as_deref(), ressort.as_deref()),
        &namespaces,
    );
    let key = memo_key(fvo);
    let mut memo = live.memo.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(last) = memo.get(&key)
        && last.inputs == read
        && now.duration_since(last.at).unsigned_abs() < MEMO_TTL
    {
        // Nothing the rules read changed: the last evaluation stands, and its violations
        // were published then.
        status.conditions.push(last.condition.clone());
        if let Some(p) = &last.profile {
            status.conformance_profile = Some(p.clone());
        }
        status.conformance = last.status.clone();
        return Evaluation::default();
    }
    let objects = objects_in(stores, &namespaces);
    let (outcome, report) = outcome_in(
        fvo,
        &objects,
        profile.as_deref(),
        (ressort.as_deref(), platform),
        defaults,
        now,
    );
    memo.insert(
        key,
        Remembered {
            inputs: read,
            at: now,
            condition: outcome.condition.clone(),
            status: outcome.status.clone(),
            profile: outcome.profile.clone(),
        },
    );
    drop(memo);
    status.conditions.push(outcome.condition);
    if let Some(p) = outcome.profile {
        status.conformance_profile = Some(p);
    }
    let violations = report
        .as_ref()
        .map(|r| {
            new_violations(
                fvo.status.as_ref().and_then(|o| o.conformance.as_ref()),
                r,
                &objects,
            )
        })
        .unwrap_or_default();
    status.conformance = outcome.status;
    Evaluation { violations, report }
}

/// What the conformance step puts on the status.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The `Conformant` condition.
    pub condition: Condition,
    /// The bounded summary.
    pub status: Option<ConformanceStatus>,
    /// The effective profile's name.
    pub profile: Option<String>,
}

/// The counts of the IT-Grundschutz assessment of `report` (what `conplus-operator grundschutz
/// --onboarding` reports in detail).
pub fn grundschutz_counts(report: &Report, profile: &ResolvedProfile) -> GrundschutzCounts {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let total = assess(&Assessed::from_live_report(report, profile)).total();
    GrundschutzCounts {
        passed: count(total.pass),
        failed: count(total.fail),
        not_evaluated: count(total.not_evaluated),
        organisational_open: count(total.organisational),
    }
}

fn summary(report: &Report, profile: &ResolvedProfile) -> ConformanceStatus {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    ConformanceStatus {
        grundschutz: Some(grundschutz_counts(report, profile)),
        profile: report.profile.clone(),
        score: i32::from(report.score),
        objects: count(report.objects),
        errors: count(report.by_severity.error),
        warnings: count(report.by_severity.warning),
        infos: count(report.by_severity.info),
        silenced: count(report.silenced_count()),
        findings: report
            .top(MAX_STATUS_FINDINGS)
            .iter()
            .map(|f| ConformanceFinding {
                rule: f.rule.as_str().to_string(),
                severity: f.severity.as_str().to_string(),
                bsi: f.bsi.iter().map(|s| s.to_string()).collect(),
                object: f.object.to_string(),
                container: f.container.clone(),
                message: f.message.clone(),
            })
            .collect(),
    }
}

/// The profile an onboarding's objects are evaluated with (pure): the one it names (or the
/// platform's default, or the built-in one of its protection level), with the platform's
/// registries where it lists none, the platform's namespaces and the onboarding's
/// `spec.network.allowFromNamespaces` as the sources NetworkPolicies may admit, and the
/// Ressort's node pool where its `dedicatedNodes` names no value. `conplus-operator
/// grundschutz --kubeconfig` resolves it the same way.
pub fn effective_profile(
    fvo: &FachverfahrenOnboarding,
    cluster_profile: Option<&ConformanceProfile>,
    ressort: Option<&Ressort>,
    platform: &PlatformSettings,
    defaults: &Defaults,
) -> Result<ResolvedProfile, ProfileError> {
    let name = fvo
        .spec
        .conformance
        .profile
        .as_deref()
        .or(defaults.default_profile.as_deref());
    let mut p = resolve_profile(name, fvo.spec.protection_level, cluster_profile)?;
    // The platform's registries apply where the profile names none.
    if p.allowed_registries.is_empty() {
        p.allowed_registries = defaults.allowed_registries.clone();
    }
    p.allowed_from_namespaces = platform_namespaces(platform);
    p.allowed_from_namespaces
        .extend(fvo.spec.network.allow_from_namespaces.iter().cloned());
    if let Some(dn) = p.dedicated_nodes.as_mut()
        && dn.node_label_value.is_none()
    {
        dn.node_label_value = ressort.and_then(|r| r.spec.node_pool.clone());
    }
    Ok(p)
}

/// The scheduling defaults the namespaces of an onboarding carry (pure): where the profile
/// demands a dedicated node pool (APP.4.4.A14) and names it (or the Ressort does), the node
/// selector of the PodNodeSelector admission plugin, and a toleration of the pool's taint for
/// the PodTolerationRestriction plugin. Empty when the profile cannot be resolved (the
/// `Conformant` condition says why) or demands no pool.
pub fn node_defaults(
    fvo: &FachverfahrenOnboarding,
    cluster_profile: Option<&ConformanceProfile>,
    ressort: Option<&Ressort>,
    defaults: &Defaults,
) -> BTreeMap<String, String> {
    let platform = PlatformSettings::default();
    let Ok(p) = effective_profile(fvo, cluster_profile, ressort, &platform, defaults) else {
        return BTreeMap::new();
    };
    let Some(dn) = p.dedicated_nodes else {
        return BTreeMap::new();
    };
    let Some(pool) = dn.node_label_value else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::from([(
        NODE_SELECTOR_ANNOTATION.to_string(),
        format!("{}={pool}", dn.node_label),
    )]);
    if let Some(taint) = dn.taint_key {
        let toleration = serde_json::json!([{"key": taint, "operator": "Exists"}]);
        out.insert(
            DEFAULT_TOLERATIONS_ANNOTATION.to_string(),
            toleration.to_string(),
        );
    }
    out
}

/// The namespaces of `desired` with the scheduling defaults of [`node_defaults`] (pure).
pub fn with_node_defaults(
    mut desired: Vec<DesiredEnvironment>,
    annotations: &BTreeMap<String, String>,
) -> Vec<DesiredEnvironment> {
    if annotations.is_empty() {
        return desired;
    }
    for env in &mut desired {
        env.namespace
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(annotations.clone());
    }
    desired
}

/// Evaluates the rules for an onboarding over `objects` (pure).
pub fn outcome(
    fvo: &FachverfahrenOnboarding,
    objects: &[SourceObject],
    cluster_profile: Option<&ConformanceProfile>,
    defaults: &Defaults,
    now: Timestamp,
) -> (Outcome, Option<Report>) {
    let platform = PlatformSettings::default();
    outcome_in(
        fvo,
        objects,
        cluster_profile,
        (None, &platform),
        defaults,
        now,
    )
}

/// [`outcome`] with the onboarding's Ressort (its node pool) and the platform's settings (its
/// namespaces).
pub fn outcome_in(
    fvo: &FachverfahrenOnboarding,
    objects: &[SourceObject],
    cluster_profile: Option<&ConformanceProfile>,
    (ressort, platform): (Option<&Ressort>, &PlatformSettings),
    defaults: &Defaults,
    now: Timestamp,
) -> (Outcome, Option<Report>) {
    let generation = fvo.metadata.generation;
    let previous = fvo
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let cond = |status: &str, reason: &str, message: String| {
        conditions::condition(
            c::CONFORMANT,
            status,
            reason,
            message,
            generation,
            previous,
            now,
        )
    };
    let profile = match effective_profile(fvo, cluster_profile, ressort, platform, defaults) {
        Ok(p) => p,
        Err(e) => {
            let message =
                format!("{e}: create the ConformanceProfile or correct spec.conformance.profile");
            return (
                Outcome {
                    condition: cond("Unknown", reason::PROFILE_NOT_FOUND, message),
                    status: None,
                    profile: None,
                },
                None,
            );
        }
    };
    let report = evaluate(objects, &profile, now);
    let status = summary(&report, &profile);
    let condition = if report.by_severity.error > 0 {
        let first = report.findings.first().map(|f| {
            format!(
                "; first: {} ({}) on {}: {}",
                f.rule.as_str(),
                f.bsi.join(", "),
                f.object,
                f.message
            )
        });
        cond(
            "False",
            reason::VIOLATIONS,
            format!(
                "{} errors, {} warnings against profile {} (score {}){}",
                report.by_severity.error,
                report.by_severity.warning,
                report.profile,
                report.score,
                first.unwrap_or_default()
            ),
        )
    } else {
        cond(
            "True",
            reason::NO_VIOLATIONS,
            format!(
                "no errors against profile {} (score {}, {} warnings, {} silenced)",
                report.profile,
                report.score,
                report.by_severity.warning,
                report.silenced_count()
            ),
        )
    };
    (
        Outcome {
            condition,
            status: Some(status),
            profile: Some(profile.name.clone()),
        },
        Some(report),
    )
}

/// A new error finding, published as a Warning Event on the object it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The offending object, with its uid when the store has it: the Event's `regarding`, so
    /// that it lands in the object's namespace and shows in `kubectl describe` of the object.
    pub regarding: ObjectReference,
    /// The rule's id. Events of one object and one rule form one series.
    pub rule: &'static str,
    /// The Event's note: rule, BSI requirements and what to change.
    pub note: String,
}

/// Error findings of `report` that the old status did not show, one per object and rule (the
/// first container's, for container-level rules).
pub fn new_violations(
    old: Option<&ConformanceStatus>,
    report: &Report,
    objects: &[SourceObject],
) -> Vec<Violation> {
    let before: BTreeSet<(String, String, String)> = old
        .map(|o| {
            o.findings
                .iter()
                .map(|f| {
                    (
                        f.rule.clone(),
                        f.object.clone(),
                        f.container.clone().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| {
            !before.contains(&(
                f.rule.as_str().to_string(),
                f.object.to_string(),
                f.container.clone().unwrap_or_default(),
            ))
        })
        .filter(|f| seen.insert((f.rule.as_str(), f.object.to_string())))
        .map(|f| Violation {
            regarding: object_reference(&f.object, objects),
            rule: f.rule.as_str(),
            note: format!(
                "{} ({}){}: {}",
                f.rule.as_str(),
                f.bsi.join(", "),
                f.container
                    .as_deref()
                    .map(|c| format!(" in container {c}"))
                    .unwrap_or_default(),
                f.message
            ),
        })
        .collect()
}

/// The reference of the object a finding names, with the uid of the evaluated object.
fn object_reference(object: &ReportObject, objects: &[SourceObject]) -> ObjectReference {
    let uid = objects
        .iter()
        .map(|o| &o.value)
        .find(|v| {
            v["kind"].as_str() == Some(object.kind.as_str())
                && v["metadata"]["name"].as_str() == Some(object.name.as_str())
                && v["metadata"]["namespace"].as_str() == object.namespace.as_deref()
        })
        .and_then(|v| v["metadata"]["uid"].as_str())
        .map(str::to_string);
    ObjectReference {
        api_version: Some(object.api_version.clone()),
        kind: Some(object.kind.clone()),
        namespace: object.namespace.clone(),
        name: Some(object.name.clone()),
        uid,
        ..Default::default()
    }
}

/// The profile an onboarding names, from the store.
pub fn cluster_profile(
    stores: &WorkloadStores,
    fvo: &FachverfahrenOnboarding,
    defaults: &Defaults,
) -> Option<Arc<ConformanceProfile>> {
    let name = fvo
        .spec
        .conformance
        .profile
        .as_deref()
        .or(defaults.default_profile.as_deref())?;
    stores.profiles.get(&reflector::ObjectRef::new(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::moin_schule;
    use serde_json::json;

    fn deployment(privileged: bool) -> SourceObject {
        SourceObject {
            value: json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "portal", "namespace": "mk-moin-schule-prod"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "portal"}}, "template": {
                    "metadata": {"labels": {"app": "portal"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/portal:1.0",
                        "securityContext": {"privileged": privileged}}]}}}
            }),
            location: None,
        }
    }

    #[test]
    fn privileged_deployment_makes_the_onboarding_not_conformant_naming_sys_1_6_a17() {
        let fvo = moin_schule();
        let (out, _) = outcome(
            &fvo,
            &[deployment(true)],
            None,
            &Defaults::default(),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(out.condition.status, "False");
        assert!(
            out.condition.message.contains("SYS.1.6.A17"),
            "{}",
            out.condition.message
        );
        let status = out.status.unwrap();
        assert!(status.errors > 0);
        assert!(status.findings.len() <= MAX_STATUS_FINDINGS);
        assert!(
            status
                .findings
                .iter()
                .any(|f| f.bsi.contains(&"SYS.1.6.A17".to_string()))
        );
    }

    #[test]
    fn status_findings_stay_bounded_however_many_workloads() {
        let fvo = moin_schule();
        let many: Vec<SourceObject> = (0..200)
            .map(|i| {
                let mut d = deployment(true);
                d.value["metadata"]["name"] = json!(format!("w{i}"));
                d
            })
            .collect();
        let (out, _) = outcome(
            &fvo,
            &many,
            None,
            &Defaults::default(),
            Timestamp::UNIX_EPOCH,
        );
        let status = out.status.unwrap();
        assert_eq!(status.findings.len(), MAX_STATUS_FINDINGS);
        assert!(status.errors >= 200);
    }

    fn ressort(pool: Option<&str>) -> Ressort {
        Ressort::new(
            "mk",
            crate::api::RessortSpec {
                display_name: "mk".into(),
                budget: crate::resources::fixtures::totals("8", "8Gi", "8Gi", "8"),
                onboarders: Vec::new(),
                node_pool: pool.map(str::to_owned),
            },
        )
    }

    #[test]
    fn the_status_carries_the_grundschutz_counts_of_the_same_evaluation() {
        let fvo = moin_schule();
        let (out, report) = outcome(
            &fvo,
            &[deployment(true)],
            None,
            &Defaults::default(),
            Timestamp::UNIX_EPOCH,
        );
        let counts = out.status.unwrap().grundschutz.unwrap();
        let profile = effective_profile(
            &fvo,
            None,
            None,
            &PlatformSettings::default(),
            &Defaults::default(),
        )
        .unwrap();
        let total = assess(&Assessed::from_live_report(&report.unwrap(), &profile)).total();
        assert!(counts.failed >= 2, "APP.4.4.A4 and SYS.1.6.A17: {counts:?}");
        assert_eq!(
            (
                counts.passed,
                counts.failed,
                counts.not_evaluated,
                counts.organisational_open
            ),
            (
                total.pass as i32,
                total.fail as i32,
                total.not_evaluated as i32,
                total.organisational as i32
            )
        );
    }

    #[test]
    fn node_defaults_name_the_ressorts_pool_where_the_profile_demands_a_dedicated_pool() {
        let fvo = moin_schule(); // protection level high: dvc-erhoeht demands a dedicated pool
        let d = Defaults::default();
        let pool = node_defaults(&fvo, None, Some(&ressort(Some("mk"))), &d);
        assert_eq!(
            pool.get(NODE_SELECTOR_ANNOTATION).map(String::as_str),
            Some("conplus.niedersachsen.de/node-pool=mk")
        );
        assert_eq!(
            pool.get(DEFAULT_TOLERATIONS_ANNOTATION).map(String::as_str),
            Some(r#"[{"key":"conplus.niedersachsen.de/node-pool","operator":"Exists"}]"#)
        );
        let envs = crate::resources::desired(&fvo, &PlatformSettings::default()).unwrap();
        for env in with_node_defaults(envs, &pool) {
            let ann = env.namespace.metadata.annotations.unwrap();
            assert!(ann.contains_key(NODE_SELECTOR_ANNOTATION), "{ann:?}");
        }
        // No pool named, or no pool demanded: no defaults.
        assert!(node_defaults(&fvo, None, Some(&ressort(None)), &d).is_empty());
        assert!(node_defaults(&fvo, None, None, &d).is_empty());
        let mut normal = moin_schule();
        normal.spec.protection_level = crate::api::ProtectionLevel::Normal;
        assert!(node_defaults(&normal, None, Some(&ressort(Some("mk"))), &d).is_empty());
    }

    #[test]
    fn the_effective_profile_admits_the_platforms_and_the_declared_namespaces_and_the_ressorts_pool()
     {
        let fvo = moin_schule();
        let platform = PlatformSettings {
            ingress_namespace: "traefik".into(),
            ..PlatformSettings::default()
        };
        let mk = ressort(Some("mk"));
        let p = effective_profile(&fvo, None, Some(&mk), &platform, &Defaults::default()).unwrap();
        assert_eq!(
            p.allowed_from_namespaces,
            ["traefik", "kube-system", "monitoring", "mk-portal-prod"]
        );
        assert_eq!(
            p.dedicated_nodes.unwrap().node_label_value.as_deref(),
            Some("mk")
        );
    }

    #[test]
    fn unknown_profile_is_reported_not_guessed() {
        let mut fvo = moin_schule();
        fvo.spec.conformance.profile = Some("mk-sonderprofil".into());
        let (out, report) = outcome(&fvo, &[], None, &Defaults::default(), Timestamp::UNIX_EPOCH);
        assert!(report.is_none());
        assert_eq!(
            (out.condition.status.as_str(), out.condition.reason.as_str()),
            ("Unknown", reason::PROFILE_NOT_FOUND)
        );
        assert!(out.condition.message.contains("mk-sonderprofil"));
    }

    #[test]
    fn new_violations_name_each_offending_object_with_its_uid_once_per_rule() {
        let fvo = moin_schule();
        let mut portal = deployment(true);
        portal.value["metadata"]["uid"] = "uid-portal".into();
        let mut worker = deployment(true);
        worker.value["metadata"]["name"] = "worker".into();
        worker.value["metadata"]["namespace"] = "mk-moin-schule-dev".into();
        worker.value["metadata"]["uid"] = "uid-worker".into();
        // Two containers breaking the same rule are one series on the object.
        let mut second = worker.value["spec"]["template"]["spec"]["containers"][0].clone();
        second["name"] = "sidecar".into();
        worker.value["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(second);
        let objects = [portal, worker];
        let (out, report) = outcome(
            &fvo,
            &objects,
            None,
            &Defaults::default(),
            Timestamp::UNIX_EPOCH,
        );
        let report = report.unwrap();
        let v = new_violations(None, &report, &objects);
        let privileged: Vec<_> = v
            .iter()
            .filter(|v| v.rule == "privileged-container")
            .collect();
        assert_eq!(privileged.len(), 2, "one per object: {v:#?}");
        for (name, ns, uid) in [
            ("portal", "mk-moin-schule-prod", "uid-portal"),
            ("worker", "mk-moin-schule-dev", "uid-worker"),
        ] {
            let found = privileged
                .iter()
                .find(|v| v.regarding.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no violation on {name}: {v:#?}"));
            assert_eq!(found.regarding.namespace.as_deref(), Some(ns));
            assert_eq!(found.regarding.kind.as_deref(), Some("Deployment"));
            assert_eq!(found.regarding.api_version.as_deref(), Some("apps/v1"));
            assert_eq!(found.regarding.uid.as_deref(), Some(uid));
            assert!(
                found.note.starts_with("privileged-container (")
                    && found.note.contains("SYS.1.6.A17"),
                "{}",
                found.note
            );
        }
        let keys: BTreeSet<_> = v
            .iter()
            .map(|v| (v.rule, v.regarding.name.clone()))
            .collect();
        assert_eq!(keys.len(), v.len(), "no object and rule twice: {v:#?}");

        // Findings the status already shows are not new.
        let v_again = new_violations(out.status.as_ref(), &report, &objects);
        assert!(
            v_again.len() < v.len(),
            "the status' findings are known: {v_again:#?}"
        );
    }
}
