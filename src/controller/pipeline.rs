//! The driver (I/O, through its steps): one reconcile of a `FachverfahrenOnboarding` as the
//! sequence of its steps, each one line, each marked pure or I/O. A new step is one more
//! line here and one module beside the others; a new controller is one more `reconcile` of
//! this shape, wired in the runtime (`runtime.rs`).

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::info;

use super::context::{Context, RESYNC};
use super::error::Error;
use super::plan::{EnvPlan, Plan};
use super::status;
use super::validate::{self, Validated};
use super::{
    admit, apply, conditions, conformance, finalizer, observe, plan, publish, reader, reports,
};
use crate::api::FachverfahrenOnboarding;

/// Reconciles one onboarding: observe → validate → admit → plan → apply → status.
pub async fn reconcile(
    fvo: Arc<FachverfahrenOnboarding>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let (client, stores) = (&ctx.client, &ctx.stores);
    stores.wait_until_ready().await;
    // I/O: the finalizer is added, or the onboarding is being deleted: the round ends here. A step
    // that fails puts Ready=False on the status before the round ends (`publish::on_failure`).
    let handled = finalizer::handle(&fvo, &ctx).await;
    if let Some(done) = publish::on_failure(&ctx, &fvo, handled).await? {
        return Ok(done);
    }
    // I/O, reads: what exists for the onboarding and its Ressort.
    let declared = observe::declared(&fvo);
    let observed = observe::observe(client, stores, &ctx.admissions, &fvo, &declared).await;
    let observed = publish::on_failure(&ctx, &fvo, observed).await?;
    // pure: what the schema could not check, and the objects the spec declares.
    let Validated { desired, problems } = validate::validate(&fvo, &ctx.settings);
    // pure: the namespaces' scheduling defaults, where the profile demands a dedicated node pool.
    let profile = conformance::cluster_profile(&stores.workloads, &fvo, &ctx.conformance.defaults);
    let ressort = observed.ressort.as_deref();
    let defaults = &ctx.conformance.defaults;
    let pool = conformance::node_defaults(&fvo, profile.as_deref(), ressort, defaults);
    let desired = conformance::with_node_defaults(desired, &pool);
    // pure: the budget decision within the Ressort (observe read it from the admission ledger).
    let admission = admit::admit(&observed, &fvo, problems.is_empty());
    let admission = admission.as_ref();
    // pure: what to apply, prune, release or delete.
    let plan = plan::of(
        desired,
        &problems,
        &observed,
        admission,
        fvo.spec.deletion_policy,
    );
    // I/O, writes: an increased allocation is reserved before any quota rises, then the plan.
    let reserved = apply::reserve(client, &fvo, admission).await;
    publish::on_failure(&ctx, &fvo, reserved).await?;
    let applied = apply::apply(client, &plan, &observed, &fvo).await;
    let applied = publish::on_failure(&ctx, &fvo, applied).await?;
    // pure: the status of the round, conformance, repairs.
    let now = conditions::now();
    let mut status = status::of_round(&fvo, &observed, admission, &plan, &problems, now);
    let previous = fvo
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    status::note_cost(&mut status, stores.price_list().as_ref());
    status::note_aufgabe(
        &mut status,
        observe::aufgabe(stores, &fvo),
        fvo.metadata.generation,
        previous,
        now,
    );
    let live = &ctx.conformance;
    let settings = &ctx.settings;
    let found = conformance::evaluate_round(
        stores,
        live,
        settings,
        &fvo,
        &plan,
        &applied,
        &mut status,
        now,
    );
    conditions::note_repairs(&mut status, &applied.repairs, fvo.metadata.generation, now);
    // I/O: the reader ClusterRole and its binding to the access groups; ReadAccessGranted.
    let converged = reader::converge(&ctx, &fvo, &mut status).await;
    publish::on_failure(&ctx, &fvo, converged).await?;
    // I/O, writes: the round's Events, and the status when it changed.
    let published = publish::round(&ctx, &fvo, &status, &applied, &found).await?;
    // I/O, writes: the namespaces' PolicyReports, when the evaluated findings changed.
    reports::publish(&ctx, &fvo, &plan, &found).await?;
    ctx.clear_failures(&fvo.name_any());
    info!(onboarding = %fvo.name_any(), writes = applied.writes, "reconciled");
    Ok(next_round(&plan, published))
}

/// When to look again: soon while a namespace is still terminating or the status was left to
/// the next round (should the writes' watch events not bring it), else at the resync.
fn next_round(plan: &Plan, published: publish::Published) -> Action {
    let terminating = plan
        .environments
        .iter()
        .any(|e| matches!(e, EnvPlan::Terminating { .. }));
    Action::requeue(if published == publish::Published::Deferred {
        Duration::from_secs(1)
    } else if terminating {
        Duration::from_secs(2)
    } else {
        RESYNC
    })
}
