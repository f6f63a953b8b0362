//! The reconcile pipeline of `FachverfahrenOnboarding` (observe → validate → build → apply →
//! status) and the status of `Ressort`.
//!
//! This module is the driver: it wires the watches, runs the steps in order and turns errors
//! into Events and back-off. Each step is its own module; only `observe` and `apply` do I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{info, warn};

pub mod apply;
pub mod budget;
pub mod conformance;
pub mod drift;
pub mod observe;
pub mod plan;
pub mod ressort;
pub mod status;
pub mod sync;
pub mod validate;

use crate::api::{ConformanceProfile, DeletionPolicy, FachverfahrenOnboarding, Ressort};
use crate::resources::{self, FIELD_MANAGER, MANAGED_SELECTOR, ONBOARDING, PlatformSettings};
use crate::telemetry::{Health, Metrics};
use budget::{Admission, Candidate};
use observe::{Observed, Stores};

/// The finalizer that lets the operator carry out the deletion policy.
pub const FINALIZER: &str = "conplus.niedersachsen.de/cleanup";
/// How often a converged onboarding is looked at again without any change.
pub const RESYNC: Duration = Duration::from_secs(300);

/// A failed step of a reconcile, naming the action that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading from the API failed.
    #[error("reading {what} failed: {source}")]
    Observe {
        /// What was read.
        what: String,
        /// The API error.
        source: kube::Error,
    },
    /// A write failed.
    #[error("{what} failed: {source}")]
    Apply {
        /// What was written.
        what: String,
        /// The API error.
        source: kube::Error,
    },
    /// A write took longer than its bound.
    #[error("{what} timed out")]
    Timeout {
        /// What was written.
        what: String,
    },
    /// An object could not be turned into JSON (a bug).
    #[error("serialising an object failed: {0}")]
    Serialize(#[source] serde_json::Error),
}

impl Error {
    /// A short category for Event reasons and metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Observe { .. } => "ObserveFailed",
            Error::Apply {
                source: kube::Error::Api(s),
                ..
            } if s.code == 409 => "Conflict",
            Error::Apply { .. } => "ApplyFailed",
            Error::Timeout { .. } => "Timeout",
            Error::Serialize(_) => "InternalError",
        }
    }
}

/// Findings of one rule in one Ressort at one severity: (rule, ressort, severity, count).
type FindingCount = (String, String, String, i64);

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The reflector stores.
    pub stores: Stores,
    /// Platform settings.
    pub settings: PlatformSettings,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Consecutive failures per onboarding, for back-off.
    failures: Mutex<HashMap<String, u32>>,
    /// Conformance settings of the platform.
    pub conformance: conformance::Defaults,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness.
    pub health: Health,
    /// Conformance findings per onboarding, for the metrics: (rule, ressort, severity) → count.
    findings: Mutex<HashMap<String, Vec<FindingCount>>>,
}

impl Context {
    fn record_failure(&self, name: &str) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(name.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Keeps this onboarding's findings for the metrics and republishes the totals.
    fn record_findings(
        &self,
        fvo: &FachverfahrenOnboarding,
        report: &crate::conformance::report::Report,
    ) {
        let mut counts: std::collections::BTreeMap<(String, String), i64> =
            std::collections::BTreeMap::new();
        for f in &report.findings {
            *counts
                .entry((f.rule.as_str().to_string(), f.severity.as_str().to_string()))
                .or_default() += 1;
        }
        let ressort = fvo.spec.ressort.clone();
        let mine = counts
            .into_iter()
            .map(|((rule, sev), n)| (rule, ressort.clone(), sev, n))
            .collect();
        let mut all = self.findings.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(fvo.name_any(), mine);
        let mut totals: std::collections::BTreeMap<(String, String, String), i64> =
            std::collections::BTreeMap::new();
        for (rule, ressort, sev, n) in all.values().flatten() {
            *totals
                .entry((rule.clone(), ressort.clone(), sev.clone()))
                .or_default() += n;
        }
        let flat: Vec<_> = totals
            .into_iter()
            .map(|((r, ress, s), n)| (r, ress, s, n))
            .collect();
        self.metrics.set_conformance_findings(&flat);
    }

    fn clear_failures(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// Admission candidates from the onboardings of one Ressort (this one in its current form).
///
/// What a candidate holds is the larger of its `status.allocated` and the quotas observed in
/// its namespaces, so that a lost status (a restore without status) takes nothing away; what
/// it asks for counts only environments that are provisioned or being provisioned, not those
/// whose namespace belongs to someone else.
fn candidates(observed: &Observed, fvo: &FachverfahrenOnboarding) -> Vec<Candidate> {
    let name = fvo.name_any();
    observed
        .siblings
        .iter()
        .map(|o| {
            if o.name_any() == name {
                fvo
            } else {
                o.as_ref()
            }
        })
        .map(|o| {
            let o_name = o.name_any();
            let recorded = o
                .status
                .as_ref()
                .and_then(|s| s.allocated.as_ref())
                .and_then(|a| a.amounts().ok())
                .unwrap_or_default();
            let provisioned = recorded.max(observed.held.get(&o_name).copied().unwrap_or_default());
            let conflicting = observed.conflicts.get(&o_name);
            let requested = if o.metadata.deletion_timestamp.is_some() {
                // Being deleted: it keeps what it holds until it is gone, and asks for nothing more.
                provisioned
            } else {
                o.spec
                    .environments
                    .iter()
                    .filter(|e| conflicting.is_none_or(|c| !c.contains(&e.name)))
                    .filter_map(|e| e.quota.amounts().ok())
                    .fold(Default::default(), crate::api::Amounts::plus)
            };
            Candidate {
                name: o_name,
                created: o.metadata.creation_timestamp.as_ref().map(|t| t.0),
                requested,
                provisioned,
            }
        })
        .collect()
}

/// What `fvo` holds: the larger of its `status.allocated` and the quotas observed in its
/// namespaces.
fn held(observed: &Observed, fvo: &FachverfahrenOnboarding) -> crate::api::Amounts {
    candidates(observed, fvo)
        .into_iter()
        .find(|c| c.name == fvo.name_any())
        .map(|c| c.provisioned)
        .unwrap_or_default()
}

/// The admission of `fvo` within its Ressort, or None when the Ressort is missing or invalid.
fn admission(observed: &Observed, fvo: &FachverfahrenOnboarding) -> Option<Admission> {
    let ressort = observed.ressort.as_ref()?;
    let budget = ressort.spec.budget.amounts().ok()?;
    let cands = candidates(observed, fvo);
    let name = fvo.name_any();
    let idx = cands.iter().position(|c| c.name == name)?;
    budget::decide_all(&budget, &cands).into_iter().nth(idx)
}

async fn patch_status(
    client: &Client,
    name: &str,
    status: &crate::api::FachverfahrenOnboardingStatus,
) -> Result<(), Error> {
    let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    let body = json!({
        "apiVersion": "conplus.niedersachsen.de/v1alpha1",
        "kind": "FachverfahrenOnboarding",
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&body))
        .await
        .map(|_| ())
        .map_err(|source| Error::Apply {
            what: format!("status of onboarding {name}"),
            source,
        })
}

/// The reason of the Warning Events on objects that violate a conformance rule.
pub const CONFORMANCE_VIOLATION: &str = "ConformanceViolation";

async fn publish(
    ctx: &Context,
    fvo: &FachverfahrenOnboarding,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    publish_on(ctx, &fvo.object_ref(&()), type_, reason, action, note).await;
}

/// Publishes an Event regarding `reference` (in its namespace, `default` for cluster-scoped
/// objects).
async fn publish_on(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    // Notes are capped: an Event is not the place for a full report.
    let note: String = note.chars().take(1024).collect();
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        warn!(error = %e, "publishing an event failed");
    }
}

async fn set_finalizers(
    client: &Client,
    fvo: &FachverfahrenOnboarding,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    let name = fvo.name_any();
    // `test` guards against overwriting a finalizer someone else added in the meantime.
    let current = fvo.finalizers().to_vec();
    let patch: json_patch_ops::Ops = if fvo.metadata.finalizers.is_none() {
        vec![json!({"op": "add", "path": "/metadata/finalizers", "value": finalizers})]
    } else {
        vec![
            json!({"op": "test", "path": "/metadata/finalizers", "value": current}),
            json!({"op": "replace", "path": "/metadata/finalizers", "value": finalizers}),
        ]
    };
    let patch: json_patch::Patch =
        serde_json::from_value(serde_json::Value::Array(patch)).map_err(Error::Serialize)?;
    api.patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .map(|_| ())
        .map_err(|source| Error::Apply {
            what: format!("finalizer of onboarding {name}"),
            source,
        })
}

mod json_patch_ops {
    pub type Ops = Vec<serde_json::Value>;
}

/// [`reconcile`], measured: duration and result go to the metrics, and the onboardings by
/// phase are recounted.
async fn reconcile_measured(
    fvo: Arc<FachverfahrenOnboarding>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = reconcile(fvo, ctx.clone()).await;
    ctx.metrics.reconcile_finished(
        started.elapsed(),
        result.as_ref().map(|_| ()).map_err(Error::category),
    );
    let mut phases: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for o in ctx.stores.onboardings.state() {
        let phase = o.status.as_ref().and_then(|s| s.phase).unwrap_or_default();
        *phases.entry(format!("{phase:?}")).or_default() += 1;
    }
    ctx.metrics
        .set_onboardings_by_phase(&phases.into_iter().collect::<Vec<_>>());
    result
}

/// Reconciles one onboarding.
pub async fn reconcile(
    fvo: Arc<FachverfahrenOnboarding>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.stores.wait_until_ready().await;
    let name = fvo.name_any();
    if fvo.metadata.deletion_timestamp.is_some() {
        return cleanup(&fvo, &ctx).await;
    }
    if !fvo.finalizers().iter().any(|f| f == FINALIZER) {
        let mut f = fvo.finalizers().to_vec();
        f.push(FINALIZER.to_string());
        set_finalizers(&ctx.client, &fvo, f).await?;
        // The update triggers the next round.
        return Ok(Action::await_change());
    }

    let mut problems = validate::problems(&fvo);
    let desired = match resources::desired(&fvo, &ctx.settings) {
        Ok(d) => d,
        Err(e) => {
            problems.push(e.to_string());
            Vec::new()
        }
    };
    let ns_names: Vec<String> = desired
        .iter()
        .filter_map(|d| d.namespace.metadata.name.clone())
        .collect();
    let observed = observe::observe(&ctx.client, &ctx.stores, &fvo, &ns_names).await?;
    let admission = if problems.is_empty() {
        admission(&observed, &fvo)
    } else {
        None
    };
    let plan = plan::build(
        if problems.is_empty() {
            desired
        } else {
            Vec::new()
        },
        &observed,
        admission.as_ref(),
        fvo.spec.deletion_policy,
    );
    let old_status = fvo.status.clone().unwrap_or_default();

    // Reserve an increased allocation before raising any quota, so that a concurrent
    // reconcile of another onboarding of the Ressort already counts it.
    if let Some(a) = &admission {
        let held = old_status
            .allocated
            .as_ref()
            .and_then(|t| t.amounts().ok())
            .unwrap_or_default();
        if !a.allocated().fits_within(&held) {
            let mut reserved = old_status.clone();
            reserved.allocated = Some(a.allocated().to_totals());
            patch_status(&ctx.client, &name, &reserved).await?;
        }
    }

    let applied = if problems.is_empty() {
        apply::apply(
            &ctx.client,
            &plan,
            &observed,
            &resources::released_from(&fvo.spec),
        )
        .await?
    } else {
        apply::Applied::default()
    };
    let now = Timestamp::now();
    let mut new_status = status::compute(&status::StatusInput {
        fvo: &fvo,
        ressort_found: observed.ressort.is_some(),
        admission: admission.as_ref(),
        plan: &plan,
        problems: &problems,
        now,
    });
    if admission.is_none() && problems.is_empty() {
        // Nothing can be admitted (Ressort missing, budget unreadable): the onboarding keeps
        // what it holds, and so does its record of it.
        let holds = held(&observed, &fvo);
        new_status.allocated = (holds != crate::api::Amounts::default()).then(|| holds.to_totals());
    }
    // Right after writing, the watches have not seen the new objects yet: evaluating now would
    // report the policies just applied as missing. The events of these writes bring the next
    // round, which evaluates against current stores.
    let violations = if applied.writes == 0 {
        evaluate_conformance(&ctx, &fvo, &plan, &mut new_status, now)
    } else {
        if !new_status
            .conditions
            .iter()
            .any(|c| c.type_ == crate::api::conditions::CONFORMANT)
        {
            new_status.conditions.push(status::condition(
                crate::api::conditions::CONFORMANT,
                "Unknown",
                crate::api::conditions::reason::NOT_EVALUATED,
                "evaluated once provisioning has settled".into(),
                fvo.metadata.generation,
                &[],
                now,
            ));
        }
        Vec::new()
    };
    // On the offending object, in its namespace, where its team looks (`kubectl describe`,
    // `kubectl get events -n`). The rule is the action: kube-runtime's Recorder keeps one
    // series per (reason, action, regarding), so each object and rule gets a series of its own
    // instead of all of an onboarding's violations collapsing into the first one's message.
    for v in &violations {
        publish_on(
            &ctx,
            &v.regarding,
            EventType::Warning,
            CONFORMANCE_VIOLATION,
            v.rule,
            v.note.clone(),
        )
        .await;
    }
    if !applied.repairs.is_empty() {
        let repairs = applied.repairs.join("; ");
        publish(
            &ctx,
            &fvo,
            EventType::Warning,
            crate::api::conditions::reason::DRIFT_REPAIRED,
            "Repair",
            format!("changed outside the operator and set back to what it declares: {repairs}"),
        )
        .await;
        new_status
            .conditions
            .retain(|c| c.type_ != crate::api::conditions::DRIFT_REPAIRED);
        // Before Conformant, which its step appends last: the order stays stable.
        let at = new_status
            .conditions
            .iter()
            .position(|c| c.type_ == crate::api::conditions::CONFORMANT)
            .unwrap_or(new_status.conditions.len());
        new_status.conditions.insert(
            at,
            status::condition(
                crate::api::conditions::DRIFT_REPAIRED,
                "True",
                crate::api::conditions::reason::DRIFT_REPAIRED,
                format!("last repair at {now}: {repairs}"),
                fvo.metadata.generation,
                &[],
                now,
            ),
        );
    }
    if !applied.actions.is_empty() {
        publish(
            &ctx,
            &fvo,
            EventType::Normal,
            "Applied",
            "Apply",
            applied.actions.join("; "),
        )
        .await;
    }
    if fvo.status.as_ref() != Some(&new_status) {
        patch_status(&ctx.client, &name, &new_status).await?;
        let was =
            status::ready_condition(&old_status).map(|c| (c.status.clone(), c.reason.clone()));
        if let Some(now) = status::ready_condition(&new_status)
            && was.as_ref() != Some(&(now.status.clone(), now.reason.clone()))
        {
            {
                let type_ = if now.status == "True" {
                    EventType::Normal
                } else {
                    EventType::Warning
                };
                publish(
                    &ctx,
                    &fvo,
                    type_,
                    &now.reason,
                    "Reconcile",
                    now.message.clone(),
                )
                .await;
            }
        }
    }
    ctx.clear_failures(&name);
    info!(onboarding = %name, writes = applied.writes, "reconciled");
    let terminating = plan
        .environments
        .iter()
        .any(|e| matches!(e, plan::EnvPlan::Terminating { .. }));
    Ok(if terminating {
        Action::requeue(Duration::from_secs(2))
    } else {
        Action::requeue(RESYNC)
    })
}

/// Evaluates the conformance rules over the provisioned namespaces and puts the result on
/// `status`; returns the new violations (for Events on the offending objects).
fn evaluate_conformance(
    ctx: &Context,
    fvo: &FachverfahrenOnboarding,
    plan: &plan::Plan,
    status: &mut crate::api::FachverfahrenOnboardingStatus,
    now: Timestamp,
) -> Vec<conformance::Violation> {
    let namespaces: std::collections::BTreeSet<String> = plan
        .environments
        .iter()
        .filter_map(|e| match e {
            plan::EnvPlan::Provision { desired, .. } => desired.namespace.metadata.name.clone(),
            _ => None,
        })
        .collect();
    let previous = fvo
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    status
        .conditions
        .retain(|c| c.type_ != crate::api::conditions::CONFORMANT);
    if namespaces.is_empty() {
        status.conditions.push(status::condition(
            crate::api::conditions::CONFORMANT,
            "Unknown",
            crate::api::conditions::reason::NOT_EVALUATED,
            "nothing is provisioned yet".into(),
            fvo.metadata.generation,
            previous,
            now,
        ));
        status.conformance = None;
        return Vec::new();
    }
    let ns_objects = namespaces
        .iter()
        .filter_map(|n| ctx.stores.namespaces.get(&ObjectRef::new(n)))
        .filter_map(|n| serde_json::to_value(n.as_ref()).ok())
        .collect();
    let objects = conformance::objects_in(&ctx.stores.workloads, &namespaces, ns_objects);
    let profile = conformance::cluster_profile(&ctx.stores.workloads, fvo, &ctx.conformance);
    let (outcome, report) =
        conformance::outcome(fvo, &objects, profile.as_deref(), &ctx.conformance, now);
    if let Some(report) = &report {
        ctx.record_findings(fvo, report);
    }
    status.conditions.push(outcome.condition);
    if let Some(p) = outcome.profile {
        status.conformance_profile = Some(p);
    }
    let new = report
        .as_ref()
        .map(|r| {
            conformance::new_violations(
                fvo.status.as_ref().and_then(|o| o.conformance.as_ref()),
                r,
                &objects,
            )
        })
        .unwrap_or_default();
    status.conformance = outcome.status;
    new
}

/// Carries out the deletion policy, then releases the finalizer.
async fn cleanup(fvo: &FachverfahrenOnboarding, ctx: &Context) -> Result<Action, Error> {
    let name = fvo.name_any();
    if !fvo.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let observed = observe::observe(&ctx.client, &ctx.stores, fvo, &[]).await?;
    let remaining: Vec<String> = observed
        .owned_namespaces
        .iter()
        .map(|n| n.name_any())
        .collect();
    if !remaining.is_empty() {
        match fvo.spec.deletion_policy {
            DeletionPolicy::Retain => {
                for ns in &remaining {
                    apply::release_namespace(
                        &ctx.client,
                        &observed,
                        ns,
                        &resources::released_from(&fvo.spec),
                    )
                    .await?;
                }
                publish(
                    ctx,
                    fvo,
                    EventType::Normal,
                    "Released",
                    "Delete",
                    format!(
                        "namespaces kept and released from management (deletionPolicy Retain): {}",
                        remaining.join(", ")
                    ),
                )
                .await;
            }
            DeletionPolicy::Delete => {
                let mut waiting = Vec::new();
                for ns in observed.owned_namespaces.iter() {
                    if ns.metadata.deletion_timestamp.is_none() {
                        apply::delete_namespace(&ctx.client, &ns.name_any()).await?;
                    }
                    waiting.push(ns.name_any());
                }
                let mut status = fvo.status.clone().unwrap_or_default();
                if status.phase != Some(crate::api::Phase::Terminating) {
                    status.phase = Some(crate::api::Phase::Terminating);
                    patch_status(&ctx.client, &name, &status).await?;
                    publish(
                        ctx,
                        fvo,
                        EventType::Normal,
                        "Deleting",
                        "Delete",
                        format!(
                            "deleting namespaces (deletionPolicy Delete): {}",
                            waiting.join(", ")
                        ),
                    )
                    .await;
                }
                // The finalizer stays until the namespaces are gone.
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
        }
    }
    let rest: Vec<String> = fvo
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    set_finalizers(&ctx.client, fvo, rest).await?;
    Ok(Action::await_change())
}

/// Back-off on failure: a conflict (someone wrote in between) is retried at once; other
/// errors back off exponentially per onboarding, from half a second up to five minutes.
pub fn error_policy(fvo: Arc<FachverfahrenOnboarding>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = fvo.name_any();
    let conflict = error.category() == "Conflict";
    let n = if conflict {
        1
    } else {
        ctx.record_failure(&name)
    };
    warn!(onboarding = %name, category = error.category(), attempt = n, "reconcile failed: {error}");
    let recorder = ctx.clone();
    let note = error.to_string();
    let reason = error.category().to_string();
    // Events are published off the error path: error_policy is synchronous.
    tokio::spawn(async move {
        publish(
            &recorder,
            &fvo,
            EventType::Warning,
            &reason,
            "Reconcile",
            note,
        )
        .await;
    });
    if conflict {
        return Action::requeue(Duration::from_millis(200));
    }
    let millis = 500u64.saturating_mul(1u64 << n.saturating_sub(1).min(10));
    Action::requeue(Duration::from_millis(millis.min(300_000)))
}

/// A reflector store of `K` and its stream. With `foreign_fields`, the managedFields entries
/// of other managers are kept (the operator's own objects: drift, and who caused it);
/// otherwise none.
fn owned_stream<K>(
    client: &Client,
    config: watcher::Config,
    foreign_fields: bool,
    tracker: &sync::SyncTracker,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    // Only other managers' writes to the operator's objects are read: dropping the rest keeps
    // the stores at about half the memory, and a converged object of the operator's carries none.
    let stream = watcher(Api::<K>::all(client.clone()), config)
        .default_backoff()
        .modify(move |o: &mut K| {
            let meta = o.meta_mut();
            let entries = meta.managed_fields.take();
            meta.managed_fields = if foreign_fields {
                drift::foreign_entries_only(entries)
            } else {
                None
            };
        })
        .reflect(writer);
    let stream = tracker.track(stream).touched_objects();
    (reader, stream)
}

fn owner_of<K: Resource>(obj: &K) -> Option<ObjectRef<FachverfahrenOnboarding>> {
    obj.meta()
        .labels
        .as_ref()?
        .get(ONBOARDING)
        .map(|n| ObjectRef::new(n))
}

impl Stores {
    /// Waits until every watch has had its initial list (at most [`sync::SYNC_TIMEOUT`]), so
    /// that a reconcile right after start does not mistake a store still filling for missing
    /// objects. Once synced, a later relist does not hold reconciles up again.
    pub async fn wait_until_ready(&self) {
        let mut synced = self.synced.clone();
        // Err: the tracker is gone (shutting down); nothing left to wait for.
        let _ = synced.wait_for(|s| *s).await;
    }
}

/// A back-off that never waits: the trigger streams back off individually.
pub(crate) struct NoSharedBackoff;

impl Iterator for NoSharedBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for NoSharedBackoff {
    fn reset(&mut self) {}
}

/// Options of the controller.
#[derive(Clone)]
pub struct Options {
    /// Platform settings.
    pub settings: PlatformSettings,
    /// The reporting instance in Events (the pod name).
    pub instance: String,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Conformance settings of the platform.
    pub conformance: conformance::Defaults,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness (set once every watch has synced).
    pub health: Health,
    /// A label selector (`key=value,…`): only the onboardings and Ressorts it selects are
    /// reconciled (canaries, sharding, tests sharing a cluster); Ressort budgets are read
    /// whatever their labels. `None`: all.
    pub watch_selector: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: PlatformSettings::default(),
            instance: "conplus-operator".into(),
            concurrency: 8,
            conformance: conformance::Defaults::default(),
            metrics: Arc::new(Metrics::new()),
            health: Health::new(),
            watch_selector: None,
        }
    }
}

impl Options {
    /// The watch configuration of the objects this instance reconciles.
    fn selected(&self) -> watcher::Config {
        match &self.watch_selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        }
    }
}

/// Runs both controllers until `shutdown` resolves.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    // Every watch below reports its first initial list here; reconciles and /readyz wait for all.
    let (tracker, synced_rx) = sync::SyncTracker::new();
    let managed = watcher::Config::default().labels(MANAGED_SELECTOR);
    let (namespaces, ns_stream) =
        owned_stream::<Namespace>(&client, managed.clone(), true, &tracker);
    let (quotas, quota_stream) =
        owned_stream::<ResourceQuota>(&client, managed.clone(), true, &tracker);
    let (limit_ranges, lr_stream) =
        owned_stream::<LimitRange>(&client, managed.clone(), true, &tracker);
    let (network_policies, np_stream) =
        owned_stream::<NetworkPolicy>(&client, managed.clone(), true, &tracker);
    let (role_bindings, rb_stream) = owned_stream::<RoleBinding>(&client, managed, true, &tracker);
    let (service_accounts, sa_stream) = owned_stream::<ServiceAccount>(
        &client,
        watcher::Config::default().fields("metadata.name=default"),
        false,
        &tracker,
    );
    let (ressorts, ressort_stream) =
        owned_stream::<Ressort>(&client, watcher::Config::default(), false, &tracker);
    let (profiles, profile_stream) =
        owned_stream::<ConformanceProfile>(&client, watcher::Config::default(), false, &tracker);
    let (kind_stores, kind_streams) = conformance::stores(&client, &tracker).await;

    let fvo_api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    let (onboardings, fvo_writer) = reflector::store();
    let fvo_stream = tracker
        .track(
            watcher(fvo_api, options.selected())
                .default_backoff()
                .reflect(fvo_writer),
        )
        .applied_objects();
    let controller = Controller::for_stream(fvo_stream, onboardings.clone())
        .with_config(
            ControllerConfig::default()
                .concurrency(options.concurrency)
                .debounce(Duration::from_millis(200)),
        )
        // Every watch above has its own back-off. kube-runtime's default wraps all trigger
        // streams in one shared back-off: after an etcd compaction, each of the ~25 watches
        // reports its 410 in turn, and the shared back-off grew until no watch was polled for
        // half a minute — a changed onboarding went unnoticed.
        .trigger_backoff(NoSharedBackoff);
    let stores = Stores {
        onboardings: onboardings.clone(),
        ressorts: ressorts.clone(),
        namespaces: namespaces.clone(),
        quotas,
        limit_ranges,
        network_policies,
        role_bindings,
        service_accounts,
        workloads: conformance::WorkloadStores {
            kinds: kind_stores,
            profiles,
        },
        synced: synced_rx.clone(),
    };
    let sync_task = tracker.start();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "conplus-operator".into(),
            instance: Some(options.instance.clone()),
        },
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        stores,
        settings: options.settings.clone(),
        recorder,
        failures: Mutex::new(HashMap::new()),
        conformance: options.conformance.clone(),
        metrics: options.metrics.clone(),
        health: options.health.clone(),
        findings: Mutex::new(HashMap::new()),
    });
    let by_ressort = onboardings.clone();
    let by_profile = onboardings.clone();
    let ns_for_sa = namespaces.clone();
    let mut controller = controller;
    // A change to any object the rules read requeues the onboarding owning its namespace.
    for (stream, ar) in kind_streams {
        let ns_store = namespaces.clone();
        controller = controller.watches_stream_with(
            stream,
            move |o: kube::api::DynamicObject| {
                let ns = o.namespace()?;
                let owner = ns_store.get(&ObjectRef::new(&ns))?;
                owner_of(owner.as_ref())
            },
            ar,
        );
    }
    let onboarding_controller = controller
        .watches_stream(profile_stream, move |p: ConformanceProfile| {
            let name = p.name_any();
            by_profile
                .state()
                .into_iter()
                .filter(|o| o.spec.conformance.profile.as_deref() == Some(name.as_str()))
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(ressort_stream, move |r: Ressort| {
            let name = r.name_any();
            by_ressort
                .state()
                .into_iter()
                .filter(|o| o.spec.ressort == name)
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(ns_stream, |o: Namespace| owner_of(&o))
        .watches_stream(quota_stream, |o: ResourceQuota| owner_of(&o))
        .watches_stream(lr_stream, |o: LimitRange| owner_of(&o))
        .watches_stream(np_stream, |o: NetworkPolicy| owner_of(&o))
        .watches_stream(rb_stream, |o: RoleBinding| owner_of(&o))
        .watches_stream(sa_stream, move |sa: ServiceAccount| {
            let ns = sa.namespace()?;
            let owner = ns_for_sa.get(&ObjectRef::new(&ns))?;
            owner_of(owner.as_ref())
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_measured, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));

    // Ready once every watch has its initial list (for /readyz).
    let (mut synced, health) = (synced_rx.clone(), ctx.health.clone());
    let readiness = tokio::spawn(async move {
        // Err: the sync task ended without syncing (shutdown): not ready.
        if synced.wait_for(|s| *s).await.is_ok() {
            health.set_synced();
        }
    });
    let ressort_controller = ressort::controller(
        client.clone(),
        onboardings,
        synced_rx,
        options.selected(),
        options.metrics.clone(),
        shutdown.clone(),
    );
    futures::join!(onboarding_controller, ressort_controller);
    // A later term (leader election) starts with new stores and tasks of its own.
    readiness.abort();
    sync_task.abort();
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::budget::tests::cpu;
    use super::*;
    use crate::api::RessortSpec;
    use crate::api::quantity::Amount;
    use crate::resources::fixtures::{moin_schule, totals};

    /// Two onboardings of one Ressort with a budget of 10 cores: `older` (created first,
    /// `older_cpu` cores in each of its environments dev and prod) and `younger`.
    fn ressort_of_two(older_cpu: &str) -> (Observed, FachverfahrenOnboarding) {
        let mut older = moin_schule();
        older.metadata.name = Some("older".into());
        older.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Timestamp::from_second(100).unwrap(),
            ));
        for e in &mut older.spec.environments {
            e.quota = totals(older_cpu, "1Gi", "1Gi", "1");
        }
        let mut younger = moin_schule();
        younger.metadata.name = Some("younger".into());
        younger.spec.fachverfahren = "other".into();
        younger.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Timestamp::from_second(200).unwrap(),
            ));
        younger.spec.environments.truncate(1);
        younger.spec.environments[0].quota = totals("6", "1Gi", "1Gi", "1");
        let ressort = Ressort::new(
            "mk",
            RessortSpec {
                display_name: "mk".into(),
                budget: totals("10", "100Gi", "100Gi", "100"),
                onboarders: vec![],
            },
        );
        let observed = Observed {
            ressort: Some(Arc::new(ressort)),
            siblings: vec![Arc::new(older), Arc::new(younger.clone())],
            ..Default::default()
        };
        (observed, younger)
    }

    fn admitted_cpu(a: Option<Admission>) -> Option<Amount> {
        match a {
            Some(Admission::Admitted { allocated }) => Some(allocated.cpu),
            _ => None,
        }
    }

    #[test]
    fn environments_in_conflict_hold_no_budget() {
        // The older one's 2 × 3 cores leave 4 of 10: the younger one's 6 do not fit.
        let (mut observed, younger) = ressort_of_two("3");
        assert!(matches!(
            admission(&observed, &younger),
            Some(Admission::Rejected { .. })
        ));
        // Both namespaces of the older one belong to someone else: it provisions nothing,
        // asks for nothing, and the younger one fits.
        observed.conflicts.insert(
            "older".into(),
            BTreeSet::from(["dev".to_string(), "prod".to_string()]),
        );
        assert_eq!(
            admitted_cpu(admission(&observed, &younger)),
            Some(Amount::from_units(6))
        );
        let older = observed.siblings[0].clone();
        assert_eq!(
            admitted_cpu(admission(&observed, &older)),
            Some(Amount::ZERO),
            "the older one's allocation is nothing"
        );
    }

    #[test]
    fn a_lost_status_allocated_is_rebuilt_from_the_observed_quotas() {
        // The older one grows to 2 × 4 cores from the 4 it holds; the younger one holds its 6
        // cores, but its status was lost (a restore without status).
        let (mut observed, younger) = ressort_of_two("4");
        let mut older = (*observed.siblings[0]).clone();
        older.status = Some(crate::api::FachverfahrenOnboardingStatus {
            allocated: Some(cpu(4).to_totals()),
            ..Default::default()
        });
        observed.siblings[0] = Arc::new(older.clone());
        assert!(
            matches!(
                admission(&observed, &younger),
                Some(Admission::Rejected { .. })
            ),
            "without a record, the younger one's cores look free"
        );
        observed.held.insert("younger".into(), cpu(6));
        assert_eq!(
            admitted_cpu(admission(&observed, &younger)),
            Some(Amount::from_units(6)),
            "what the younger one holds is not given away"
        );
        assert!(matches!(
            admission(&observed, &older),
            Some(Admission::Held { .. })
        ));
        assert_eq!(held(&observed, &younger).cpu, Amount::from_units(6));
    }
}
