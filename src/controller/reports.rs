//! PolicyReports (I/O: reads and writes PolicyReports only; what to write is pure): after the
//! conformance step evaluated the rules, one `PolicyReport` ([`policyreport::NAME`]) in every
//! provisioned namespace of the onboarding with that namespace's results, built by
//! [`crate::conformance::report::policyreport`] — the same objects `check --format policyreport`
//! writes offline. Its summary adds up to `status.conformance` (`fail` = errors, `warn` = warnings
//! and infos, `skip` = silenced).
//!
//! Written only when the findings changed: the step runs only when the conformance step evaluated
//! (not when its memory answered) and compares with the report there is, as the watch of the
//! operator's reports keeps it ([`super::stores::ReportStore`]: labels, annotations and a digest of
//! the summary and the results without their timestamps, see [`trim`]) — a full resync reads and
//! writes no report. Only a report whose findings changed is read, to give every result that was
//! already listed its old timestamp ([`policyreport::carry_over`]), and written; one the store does
//! not hold is created (POST, so that a report of that name that is not ours is never taken over;
//! a 409 reads it and decides as for a changed one). Until the watch has its list (or when it
//! fails) the step reads each report from the API instead.
//!
//! A report of that name that the operator did not write for this onboarding (no ownership
//! record) is left alone, with a warning in the log and a Warning Event `PolicyReportNotOwned` on
//! the onboarding that names it. When the cluster does not serve
//! PolicyReports (the CRD is not installed) or the operator may not write them, the step says so
//! once in the log and does nothing, asking again after
//! [`RECHECK_SERVED`](super::served::RECHECK_SERVED): a missing optional API
//! is no reason for the onboarding to fail or back off.

use std::collections::BTreeMap;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
    PostParams, Preconditions,
};
use kube::runtime::events::EventType;
use kube::{Client, ResourceExt};
use serde::Deserialize;
use tracing::warn;

use super::apply::with_timeout;
use super::conformance::Evaluation;
use super::context::{Context, RESYNC};
use super::error::{Error, ObserveError, Target, WriteError};
use super::events;
use super::ownership::proves_object;
use super::plan::{EnvPlan, Plan};
use super::served::Memory;
use crate::api::FachverfahrenOnboarding;
use crate::conformance::report::Report;
use crate::conformance::report::policyreport::{
    self, OMITTED, PolicyReport, PolicyReportResult, Summary, Timestamp, carry_over,
    results_by_namespace, unchanged,
};
use crate::resources::{FIELD_MANAGER, ONBOARDING_UID, ownership_labels, stable_hash};

/// The group, version and plural of PolicyReports.
pub fn api_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(policyreport::GROUP, policyreport::VERSION, "PolicyReport");
    ApiResource::from_gvk_with_plural(&gvk, "policyreports")
}

/// The reports `fvo` should have (pure): one per namespace of `namespaces` (namespace →
/// environment), from the evaluation's `report`, carrying the ownership labels and record.
pub fn desired(
    fvo: &FachverfahrenOnboarding,
    namespaces: &BTreeMap<String, String>,
    report: &Report,
    now: Timestamp,
) -> Vec<PolicyReport> {
    let name = fvo.name_any();
    let mut by_namespace = results_by_namespace(report);
    namespaces
        .iter()
        .map(|(ns, env)| {
            let results = by_namespace.remove(&Some(ns.clone())).unwrap_or_default();
            let mut r = policyreport::report(Some(ns), results, ownership_labels(&name, env), now);
            if let Some(uid) = &fvo.metadata.uid {
                r.metadata
                    .annotations
                    .get_or_insert_default()
                    .insert(ONBOARDING_UID.to_string(), uid.clone());
            }
            r
        })
        .collect()
}

/// What to do with one report (pure), given the one there is.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Write it.
    Write(Box<PolicyReport>),
    /// Nothing: it says the same already.
    Unchanged,
    /// Nothing: a report of that name is not ours.
    Foreign,
}

/// Decides for one desired report against the one there is, whose results keep their timestamps.
pub fn decide(
    fvo: &FachverfahrenOnboarding,
    namespaces: &BTreeMap<String, String>,
    mut wanted: PolicyReport,
    existing: Option<PolicyReport>,
) -> Decision {
    let Some(existing) = existing else {
        return Decision::Write(Box::new(wanted));
    };
    if !proves_object(fvo, &existing.metadata, namespaces) {
        return Decision::Foreign;
    }
    carry_over(&mut wanted, &existing);
    if unchanged(&wanted, &existing) {
        Decision::Unchanged
    } else {
        Decision::Write(Box::new(wanted))
    }
}

/// The annotation under which the store keeps a report's [`digest`] (in memory only; never
/// written).
const DIGEST: &str = "conplus.niedersachsen.de/findings-digest";

/// What a report says, as a hash: its summary and its results without their timestamps.
fn digest(summary: &Summary, results: &[PolicyReportResult]) -> String {
    let results: Vec<PolicyReportResult> = results
        .iter()
        .map(|r| PolicyReportResult {
            timestamp: Timestamp::default(),
            ..r.clone()
        })
        .collect();
    stable_hash(&serde_json::json!([summary, results]))
}

/// What the watch keeps of a report: its metadata and the [`digest`] of what it says (a report
/// whose summary or results cannot be read gets none, and compares as changed).
pub fn trim(o: &mut DynamicObject) {
    // Read in place: a copy of every report's results per watch event was the step's cost.
    let summary = match o.data.get("summary") {
        Some(v) => Summary::deserialize(v).ok(),
        None => Some(Summary::default()),
    };
    let results = o
        .data
        .get("results")
        .map(|v| Vec::<PolicyReportResult>::deserialize(v).ok())
        .unwrap_or(Some(Vec::new()));
    o.data = serde_json::Value::Null;
    if let (Some(summary), Some(results)) = (summary, results) {
        o.metadata
            .annotations
            .get_or_insert_default()
            .insert(DIGEST.to_string(), digest(&summary, &results));
    }
}

/// What to do with one report, given the one the store holds (pure).
#[derive(Debug, PartialEq)]
pub enum Stored {
    /// Nothing: it says the same already.
    Unchanged,
    /// Nothing: a report of that name is not ours.
    Foreign,
    /// Its findings differ: read it (for the timestamps) and write.
    Differs,
}

/// Compares `wanted` with the report the store holds, as [`decide`] would with the whole report
/// (the same summary, results but for their timestamps, labels and omitted-results annotation).
pub fn compare_stored(
    fvo: &FachverfahrenOnboarding,
    namespaces: &BTreeMap<String, String>,
    wanted: &PolicyReport,
    stored: &DynamicObject,
) -> Stored {
    if !proves_object(fvo, &stored.metadata, namespaces) {
        return Stored::Foreign;
    }
    let have = stored.metadata.annotations.clone().unwrap_or_default();
    let want = wanted.metadata.annotations.clone().unwrap_or_default();
    let labels = stored.metadata.labels.clone().unwrap_or_default();
    let same = have.get(DIGEST) == Some(&digest(&wanted.summary, &wanted.results))
        && have.get(OMITTED) == want.get(OMITTED)
        && wanted
            .metadata
            .labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v));
    if same {
        Stored::Unchanged
    } else {
        Stored::Differs
    }
}

/// The namespaces the plan provisions (namespace → environment).
fn provisioned(plan: &Plan) -> BTreeMap<String, String> {
    plan.environments
        .iter()
        .filter_map(|e| match e {
            EnvPlan::Provision { desired, .. } => Some((
                desired.namespace.metadata.name.clone()?,
                desired.environment.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// Whether an API error says that PolicyReports cannot be used here: not served (404 on a
/// write or the CRD gone) or not permitted (403).
fn unavailable(e: &kube::Error) -> Option<&'static str> {
    match e {
        kube::Error::Api(s) if s.code == 403 => {
            Some("the operator may not read or write them (its RBAC lacks policyreports)")
        }
        kube::Error::Api(s) if s.code == 404 => Some("the cluster does not serve them"),
        _ => None,
    }
}

async fn served(client: &Client, memory: &Memory) -> bool {
    if let Some(known) = memory.known() {
        return known;
    }
    let gvk = GroupVersionKind::gvk(policyreport::GROUP, policyreport::VERSION, "PolicyReport");
    let served = kube::discovery::pinned_kind(client, &gvk).await.is_ok();
    memory.set(
        served,
        "the cluster does not serve wgpolicyk8s.io/v1alpha2 PolicyReport",
    );
    served
}

/// The report of the name in `ns` is not ours (no ownership record for `fvo`, or its environment label
/// is not that of `ns`): it stays as it is, and the onboarding's team learns it from a Warning Event, a
/// series of its own per namespace (the action names it, see [`events::Recorder`]), since the status is
/// then the only current account of that namespace's findings.
async fn left_alone(ctx: &Context, fvo: &FachverfahrenOnboarding, ns: &str) {
    let onboarding = fvo.name_any();
    warn!(
        %onboarding,
        "PolicyReport {ns}/{} was not written by the operator for this onboarding: left alone",
        policyreport::NAME
    );
    events::publish(
        &ctx.recorder,
        fvo,
        EventType::Warning,
        events::POLICY_REPORT_NOT_OWNED,
        &format!("WritePolicyReport/{ns}"),
        not_owned_note(&onboarding, ns),
    )
    .await;
}

/// What the Event about a report that is not ours says (pure).
fn not_owned_note(onboarding: &str, ns: &str) -> String {
    format!(
        "PolicyReport {ns}/{name} was not written by the operator for this onboarding: left alone. The \
         onboarding's status is the only current account of the findings in {ns} (status.conformance: \
         counts and the first findings; kubectl conplus status {onboarding}). For the operator to write \
         its own report there, whoever owns {ns}/{name} deletes it; the operator writes it at its next \
         evaluation (within {minutes} minutes).",
        name = policyreport::NAME,
        minutes = RESYNC.as_secs().div_ceil(60),
    )
}

/// Creates the report `wanted` (fails with 409 when one of the name exists).
async fn create(api: &Api<DynamicObject>, wanted: &PolicyReport) -> Result<(), WriteError> {
    let ns = wanted.metadata.namespace.clone().unwrap_or_default();
    let body = serde_json::to_value(wanted).map_err(WriteError::Serialize)?;
    let object: DynamicObject = serde_json::from_value(body).map_err(WriteError::Serialize)?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    with_timeout(
        || format!("create PolicyReport {ns}/{}", policyreport::NAME),
        api.create(&params, &object),
    )
    .await
    .map(|_| ())
}

/// Deletes `fvo`'s PolicyReport in the namespace `ns` (of environment `env`) that it releases: the
/// report would stay behind with findings nobody updates any more. Only a report proven to be
/// `fvo`'s (its record, in that namespace, labelled with that environment) is deleted, and with its
/// uid as the precondition, so that a report someone put there since stays. None there, someone
/// else's, or PolicyReports not served or not permitted (the release goes on; the log says so):
/// nothing. Returns the number of writes.
pub async fn remove_on_release(
    client: &Client,
    fvo: &FachverfahrenOnboarding,
    ns: &str,
    env: &str,
) -> Result<usize, WriteError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &api_resource());
    let what = || format!("delete PolicyReport {ns}/{}", policyreport::NAME);
    let found = match api.get_opt(policyreport::NAME).await {
        Ok(found) => found,
        Err(e) if unavailable(&e).is_some() => return Ok(0),
        Err(source) => {
            return Err(WriteError::Api {
                what: Target(what()),
                source,
            });
        }
    };
    let proven = BTreeMap::from([(ns.to_string(), env.to_string())]);
    let Some(report) = found.filter(|r| proves_object(fvo, &r.metadata, &proven)) else {
        return Ok(0);
    };
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: report.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match with_timeout(what, api.delete(policyreport::NAME, &params)).await {
        Ok(_) => Ok(1),
        // Gone meanwhile, or replaced by another (the precondition failed): not ours to delete.
        Err(WriteError::Api {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 404 || s.code == 409 => Ok(0),
        Err(WriteError::Api { source, .. }) if unavailable(&source).is_some() => {
            warn!(
                onboarding = %fvo.name_any(),
                "PolicyReport {ns}/{} stays in the released namespace: {}",
                policyreport::NAME,
                unavailable(&source).unwrap_or_default()
            );
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// The PolicyReport step: writes the reports of `fvo`'s namespaces whose findings changed.
pub async fn publish(
    ctx: &Context,
    fvo: &FachverfahrenOnboarding,
    plan: &Plan,
    evaluation: &Evaluation,
) -> Result<(), Error> {
    let Some(report) = &evaluation.report else {
        return Ok(());
    };
    let client = &ctx.client;
    if !served(client, &ctx.reports).await {
        return Ok(());
    }
    let namespaces = provisioned(plan);
    let now = Timestamp::of(jiff::Timestamp::now());
    let ar = api_resource();
    let from_store = ctx
        .stores
        .policy_reports
        .listed_within(std::time::Duration::from_secs(5))
        .await;
    for wanted in desired(fvo, &namespaces, report, now) {
        let ns = wanted.metadata.namespace.clone().unwrap_or_default();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        if from_store {
            match ctx.stores.policy_reports.get(&ns, policyreport::NAME) {
                Some(have) => match compare_stored(fvo, &namespaces, &wanted, &have) {
                    Stored::Unchanged => continue,
                    Stored::Foreign => {
                        left_alone(ctx, fvo, &ns).await;
                        continue;
                    }
                    Stored::Differs => {}
                },
                None => match create(&api, &wanted).await {
                    Ok(()) => continue,
                    // The name is taken: read it below and decide.
                    Err(WriteError::Api { source, .. }) if matches!(&source, kube::Error::Api(s) if s.code == 409) =>
                        {}
                    Err(WriteError::Api { source, .. }) if unavailable(&source).is_some() => {
                        ctx.reports
                            .set(false, unavailable(&source).unwrap_or_default());
                        return Ok(());
                    }
                    Err(e) => {
                        ctx.conformance.forget(fvo);
                        return Err(e.into());
                    }
                },
            }
        }
        let existing = match api.get_opt(policyreport::NAME).await {
            Ok(found) => found
                .and_then(|o| serde_json::to_value(o).ok())
                .and_then(|v| serde_json::from_value::<PolicyReport>(v).ok()),
            Err(e) if unavailable(&e).is_some() => {
                ctx.reports.set(false, unavailable(&e).unwrap_or_default());
                return Ok(());
            }
            Err(source) => {
                // The findings are evaluated again in the next round, and the report written then.
                ctx.conformance.forget(fvo);
                return Err(Error::Observe(ObserveError::Read {
                    what: format!("PolicyReport {ns}/{}", policyreport::NAME),
                    source,
                }));
            }
        };
        let wanted = match decide(fvo, &namespaces, wanted, existing) {
            Decision::Write(w) => w,
            Decision::Unchanged => continue,
            Decision::Foreign => {
                left_alone(ctx, fvo, &ns).await;
                continue;
            }
        };
        let body = serde_json::to_value(&*wanted).map_err(WriteError::Serialize)?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let written = with_timeout(
            || format!("apply PolicyReport {ns}/{}", policyreport::NAME),
            api.patch(policyreport::NAME, &params, &Patch::Apply(&body)),
        )
        .await;
        match written {
            Ok(_) => {}
            Err(WriteError::Api { source, .. }) if unavailable(&source).is_some() => {
                ctx.reports
                    .set(false, unavailable(&source).unwrap_or_default());
                return Ok(());
            }
            Err(e) => {
                ctx.conformance.forget(fvo);
                return Err(e.into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::engine::SourceObject;
    use crate::controller::conformance::{Defaults, outcome};
    use crate::resources::fixtures::moin_schule;
    use serde_json::json;

    fn namespaces() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("mk-moin-schule-dev".to_string(), "dev".to_string()),
            ("mk-moin-schule-prod".to_string(), "prod".to_string()),
        ])
    }

    fn evaluated(privileged: &[&str]) -> (crate::api::ConformanceStatus, Report) {
        let objects: Vec<SourceObject> = ["mk-moin-schule-dev", "mk-moin-schule-prod"]
            .iter()
            .map(|ns| SourceObject {
                value: json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "portal", "namespace": ns},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "portal"}}, "template": {
                        "metadata": {"labels": {"app": "portal"}},
                        "spec": {"containers": [{"name": "app", "image": "registry.example/portal:1.0",
                            "securityContext": {"privileged": privileged.contains(ns)}}]}}}
                }),
                location: None,
            })
            .collect();
        let (out, report) = outcome(
            &moin_schule(),
            &objects,
            None,
            &Defaults::default(),
            jiff::Timestamp::UNIX_EPOCH,
        );
        (out.status.unwrap(), report.unwrap())
    }

    #[test]
    fn one_report_per_namespace_whose_summaries_add_up_to_the_status() {
        let (status, report) = evaluated(&["mk-moin-schule-prod"]);
        let fvo = moin_schule();
        let reports = desired(&fvo, &namespaces(), &report, Timestamp::default());
        assert_eq!(reports.len(), 2);
        let sum = |f: fn(&policyreport::Summary) -> i64| -> i64 {
            reports.iter().map(|r| f(&r.summary)).sum()
        };
        assert_eq!(sum(|s| s.fail), i64::from(status.errors));
        assert_eq!(sum(|s| s.warn), i64::from(status.warnings + status.infos));
        assert_eq!(sum(|s| s.skip), i64::from(status.silenced));
        assert!(status.errors > 0);
        let dev = &reports[0];
        assert_eq!(
            dev.metadata.namespace.as_deref(),
            Some("mk-moin-schule-dev")
        );
        assert_eq!(dev.metadata.name.as_deref(), Some(policyreport::NAME));
        assert!(proves_object(&fvo, &dev.metadata, &namespaces()));
        assert!(
            dev.results
                .iter()
                .all(|r| r.policy != "privileged-container" || r.result == "pass"),
            "the privileged Deployment is in prod only"
        );
    }

    #[test]
    fn the_same_findings_later_are_not_written_again_and_a_new_one_is() {
        let fvo = moin_schule();
        let (_, report) = evaluated(&[]);
        let at = |seconds| Timestamp { seconds, nanos: 0 };
        let first = desired(&fvo, &namespaces(), &report, at(100)).remove(1);
        let Decision::Write(first) = decide(&fvo, &namespaces(), first, None) else {
            panic!("a missing report is written");
        };
        let again = desired(&fvo, &namespaces(), &report, at(400)).remove(1);
        assert_eq!(
            decide(&fvo, &namespaces(), again, Some((*first).clone())),
            Decision::Unchanged
        );
        let (_, worse) = evaluated(&["mk-moin-schule-prod"]);
        let changed = desired(&fvo, &namespaces(), &worse, at(700)).remove(1);
        let Decision::Write(changed) = decide(&fvo, &namespaces(), changed, Some(*first)) else {
            panic!("a new finding is written");
        };
        assert!(changed.results.iter().any(|r| r.timestamp.seconds == 700));
    }

    /// `r` as the watch stores it.
    fn stored(r: &PolicyReport) -> DynamicObject {
        let mut o: DynamicObject =
            serde_json::from_value(serde_json::to_value(r).unwrap()).unwrap();
        trim(&mut o);
        o
    }

    #[test]
    fn the_stored_digest_tells_the_same_findings_later_from_a_new_one_and_theirs_from_ours() {
        let fvo = moin_schule();
        let (_, report) = evaluated(&[]);
        let at = |seconds| Timestamp { seconds, nanos: 0 };
        let first = desired(&fvo, &namespaces(), &report, at(100)).remove(1);
        let have = stored(&first);
        assert_eq!(
            have.data,
            serde_json::Value::Null,
            "the results are not kept"
        );
        let again = desired(&fvo, &namespaces(), &report, at(400)).remove(1);
        assert_eq!(
            compare_stored(&fvo, &namespaces(), &again, &have),
            Stored::Unchanged,
            "the same findings later: nothing read, nothing written"
        );
        let (_, worse) = evaluated(&["mk-moin-schule-prod"]);
        let changed = desired(&fvo, &namespaces(), &worse, at(700)).remove(1);
        assert_eq!(
            compare_stored(&fvo, &namespaces(), &changed, &have),
            Stored::Differs
        );
        let mut theirs = first.clone();
        theirs.metadata.annotations = None;
        assert_eq!(
            compare_stored(&fvo, &namespaces(), &again, &stored(&theirs)),
            Stored::Foreign
        );
    }

    #[test]
    fn the_event_about_a_report_left_alone_names_it_and_says_where_the_findings_are() {
        let note = not_owned_note("a", "mk-a-dev");
        assert!(
            note.starts_with("PolicyReport mk-a-dev/conplus-conformance was not written")
                && note.contains("status.conformance")
                && note.contains("kubectl conplus status a)"),
            "{note}"
        );
    }

    #[test]
    fn a_report_of_the_name_the_operator_did_not_write_is_left_alone() {
        let fvo = moin_schule();
        let (_, report) = evaluated(&[]);
        let wanted = desired(&fvo, &namespaces(), &report, Timestamp::default()).remove(0);
        let mut theirs = wanted.clone();
        theirs.metadata.annotations = None;
        assert_eq!(
            decide(&fvo, &namespaces(), wanted, Some(theirs)),
            Decision::Foreign
        );
    }

    #[test]
    fn an_unserved_api_is_trusted_for_a_while_and_a_served_one_for_good() {
        let memory = Memory::default();
        assert_eq!(memory.known(), None);
        memory.set(false, "test");
        assert_eq!(memory.known(), Some(false));
        memory.set(true, "test");
        assert_eq!(memory.known(), Some(true));
    }
}
