//! Conformance step: the DVC rules over the workloads of an onboarding's namespaces, live.
//!
//! The I/O part keeps one reflector store per kind the rules read (cluster-wide watches,
//! stripped of every field no rule reads, so that memory stays bounded on a big cluster); a
//! change to any such object requeues the onboarding that owns its namespace, so a fixed
//! Deployment is reflected within seconds. The pure part turns the engine's report into the
//! bounded `status.conformance` and the `Conformant` condition.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::conditions::{self as c, reason};
use crate::api::{
    ConformanceFinding, ConformanceProfile, ConformanceStatus, FachverfahrenOnboarding,
};
use crate::conformance::engine::{SourceObject, evaluate, strip_unread_fields, watched_kinds};
use crate::conformance::profile::resolve_profile;
use crate::conformance::report::{ObjectRef as ReportObject, Report};
use crate::conformance::rules::Severity;

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

/// The stores of the kinds the rules read, and of the ConformanceProfiles.
#[derive(Clone)]
pub struct WorkloadStores {
    /// One store per namespaced kind the rules read.
    pub kinds: Vec<Store<DynamicObject>>,
    /// Every ConformanceProfile.
    pub profiles: Store<ConformanceProfile>,
}

/// A stream of changed objects of one kind, with its type information.
pub type KindStream = (
    futures::stream::BoxStream<'static, Result<DynamicObject, watcher::Error>>,
    ApiResource,
);

/// Builds the stores and the streams that fill them (the controller polls the streams). Kinds
/// the API server does not serve are skipped with a warning: a store that can never fill must
/// not hold up every reconcile.
pub async fn stores(
    client: &Client,
    tracker: &super::sync::SyncTracker,
) -> (Vec<Store<DynamicObject>>, Vec<KindStream>) {
    let mut stores = Vec::new();
    let mut streams = Vec::new();
    for kind in watched_kinds().iter().filter(|k| k.namespaced) {
        let (group, version) = kind
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", kind.api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind.kind);
        let ar = match kube::discovery::pinned_kind(client, &gvk).await {
            Ok((ar, _)) => ar,
            Err(e) => {
                tracing::warn!(
                    kind = kind.kind,
                    api_version = kind.api_version,
                    "not served, conformance rules on it are skipped: {e}"
                );
                continue;
            }
        };
        let writer = reflector::store::Writer::new(ar.clone());
        stores.push(writer.as_reader());
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let stream = watcher(api, watcher::Config::default().page_size(500))
            .default_backoff()
            .modify(|o: &mut DynamicObject| {
                // Strip what no rule reads before it is stored.
                if let Ok(mut v) = serde_json::to_value(&*o) {
                    strip_unread_fields(&mut v);
                    if let Ok(stripped) = serde_json::from_value::<DynamicObject>(v) {
                        *o = stripped;
                    }
                }
            })
            .reflect(writer);
        let stream = tracker.track(stream).touched_objects();
        streams.push((futures::StreamExt::boxed(stream), ar));
    }
    (stores, streams)
}

/// The objects of `namespaces` from the stores, as the engine reads them.
pub fn objects_in(
    stores: &WorkloadStores,
    namespaces: &BTreeSet<String>,
    namespace_objects: Vec<serde_json::Value>,
) -> Vec<SourceObject> {
    let mut out: Vec<SourceObject> = namespace_objects
        .into_iter()
        .map(|value| SourceObject {
            value,
            location: None,
        })
        .collect();
    for store in &stores.kinds {
        for obj in store.state() {
            if obj
                .metadata
                .namespace
                .as_deref()
                .is_some_and(|ns| namespaces.contains(ns))
                && let Ok(value) = serde_json::to_value(obj.as_ref())
            {
                out.push(SourceObject {
                    value,
                    location: None,
                });
            }
        }
    }
    out
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

fn summary(report: &Report) -> ConformanceStatus {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    ConformanceStatus {
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

/// Evaluates the rules for an onboarding over `objects` (pure).
pub fn outcome(
    fvo: &FachverfahrenOnboarding,
    objects: &[SourceObject],
    cluster_profile: Option<&ConformanceProfile>,
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
        super::status::condition(
            c::CONFORMANT,
            status,
            reason,
            message,
            generation,
            previous,
            now,
        )
    };
    let name = fvo
        .spec
        .conformance
        .profile
        .as_deref()
        .or(defaults.default_profile.as_deref());
    let profile = match resolve_profile(name, fvo.spec.protection_level, cluster_profile) {
        Ok(mut p) => {
            // The platform's registries apply where the profile names none.
            if p.allowed_registries.is_empty() {
                p.allowed_registries = defaults.allowed_registries.clone();
            }
            p
        }
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
    let status = summary(&report);
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
