//! Publish, the I/O end of the status step (writes): the round's Events, then the status —
//! written only when it changed, so that a converged onboarding costs no write — and the
//! `Ready` transition it makes.

use kube::runtime::events::EventType;

use super::apply::{self, Applied};
use super::conformance::Evaluation;
use super::context::Context;
use super::error::WriteError;
use super::events;
use crate::api::conditions::reason;
use crate::api::{FachverfahrenOnboarding, FachverfahrenOnboardingStatus};
use kube::ResourceExt;

/// What became of the round's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The status was current, or is written.
    Current,
    /// The round wrote objects; their watch events bring the next round, which writes the
    /// status (see [`Context::defer_status`]).
    Deferred,
}

/// Publishes what the round did and found, and writes `status` when it changed — unless the
/// round wrote objects (and repaired none) and the status may wait for the round those writes
/// bring.
pub async fn round(
    ctx: &Context,
    fvo: &FachverfahrenOnboarding,
    status: &FachverfahrenOnboardingStatus,
    applied: &Applied,
    conformance: &Evaluation,
) -> Result<Published, WriteError> {
    if let Some(report) = &conformance.report {
        ctx.record_findings(fvo, report);
    }
    events::violations(&ctx.recorder, &conformance.violations).await;
    if !applied.repairs.is_empty() {
        let repairs = applied.repairs.join("; ");
        events::publish(
            &ctx.recorder,
            fvo,
            EventType::Warning,
            reason::DRIFT_REPAIRED,
            "Repair",
            format!("changed outside the operator and set back to what it declares: {repairs}"),
        )
        .await;
    }
    if !applied.actions.is_empty() {
        events::publish(
            &ctx.recorder,
            fvo,
            EventType::Normal,
            "Applied",
            "Apply",
            applied.actions.join("; "),
        )
        .await;
    }
    let name = fvo.name_any();
    if fvo.status.as_ref() != Some(status) {
        // A repair is noted on this round's status only (`DriftRepaired`): not deferred.
        if applied.writes > 0 && applied.repairs.is_empty() && ctx.defer_status(&name) {
            return Ok(Published::Deferred);
        }
        let written = apply::write_status(&ctx.client, &name, status).await?;
        ctx.status_writes.record(&name, written);
        let old = fvo.status.clone().unwrap_or_default();
        events::ready_transition(&ctx.recorder, fvo, &old, status).await;
    }
    ctx.status_current(&name);
    Ok(Published::Current)
}
