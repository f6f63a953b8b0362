//! Publish, the I/O end of the status step (writes): the round's Events, then the status —
//! written only when it changed, so that a converged onboarding costs no write — and the
//! `Ready` transition it makes.

use kube::Api;
use kube::runtime::events::EventType;

use tracing::warn;

use super::apply::{self, Applied};
use super::conditions;
use super::conformance::Evaluation;
use super::context::Context;
use super::error::{Failure, WriteError};
use super::events;
use crate::api::conditions::{self as c, reason};
use crate::api::{FachverfahrenOnboarding, FachverfahrenOnboardingStatus, Phase};
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

/// Passes a step's `result` on; when the step failed (a read of the observe step, the finalizer, the
/// reservation, the apply, the reader role), first puts `Ready=False` with the failure on the status
/// ([`failed_status`]), so that a failed round shows where users look (`kubectl get fvo`), not only
/// in its Warning Event. A conflict (someone wrote in between) is retried at once and
/// written nothing. Best effort: should this write fail too, the Event and the log still say it.
///
/// The status is read again first, not taken from the round's `fvo`: the round may have reserved a
/// larger allocation before it failed ([`apply::reserve`]), and writing the older status back would
/// give that reservation away while quotas may already have risen. When the spec changed meanwhile
/// (another generation), nothing is written: the next round answers for that generation.
pub async fn on_failure<T, E: Failure>(
    ctx: &Context,
    fvo: &FachverfahrenOnboarding,
    result: Result<T, E>,
) -> Result<T, E> {
    let Err(error) = &result else {
        return result;
    };
    if error.is_conflict() {
        return result;
    }
    let name = fvo.name_any();
    let api: Api<FachverfahrenOnboarding> = Api::all(ctx.client.clone());
    // The object itself, not its status subresource: the operator's RBAC grants `get` on
    // onboardings and only `patch` on their status.
    let current = match api.get(&name).await {
        Ok(current) if current.metadata.generation == fvo.metadata.generation => current,
        Ok(_) => return result,
        Err(e) => {
            warn!(onboarding = %name, "reading the onboarding to note a failure on its status failed: {e}");
            return result;
        }
    };
    let now = conditions::now();
    if let Some(status) = failed_status(&current, error.category(), error.to_string(), now) {
        match apply::write_status(&ctx.client, &name, &status).await {
            Ok(written) => {
                ctx.status_writes.record(&name, written);
                let old = current.status.clone().unwrap_or_default();
                events::ready_transition(&ctx.recorder, &current, &old, &status).await;
            }
            Err(e) => warn!(onboarding = %name, "writing the failure on the status failed: {e}"),
        }
    }
    result
}

/// The status `fvo` has with `Ready=False` for `reason` and `message` at its generation, every other
/// field as it was (pure); `None` when it says `Ready=False` for `reason` at this generation already,
/// whatever the message: a status write brings a round at once, and a message that changed with
/// every attempt (a server's request id, say) would otherwise retry without back-off.
pub fn failed_status(
    fvo: &FachverfahrenOnboarding,
    reason: &str,
    message: String,
    now: jiff::Timestamp,
) -> Option<FachverfahrenOnboardingStatus> {
    let generation = fvo.metadata.generation;
    let mut status = fvo.status.clone().unwrap_or_default();
    let ready = conditions::condition(
        c::READY,
        "False",
        reason,
        message,
        generation,
        &status.conditions,
        now,
    );
    let said = conditions::ready_condition(&status).is_some_and(|r| {
        (&r.status, &r.reason, r.observed_generation)
            == (&ready.status, &ready.reason, ready.observed_generation)
    });
    if said && status.observed_generation == generation {
        return None;
    }
    match status.conditions.iter_mut().find(|x| x.type_ == c::READY) {
        Some(r) => *r = ready,
        None => status.conditions.insert(0, ready),
    }
    status.observed_generation = generation;
    // The phase a Ready that is not met and nothing blocked gives (`status::phase`): in progress, as
    // the round is retried; `Ready` no longer holds. A phase that needs someone to act stays.
    if matches!(status.phase, None | Some(Phase::Pending | Phase::Ready)) {
        status.phase = Some(Phase::Provisioning);
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::testing::*;

    #[test]
    fn a_failed_round_sets_ready_false_keeps_the_rest_and_says_it_once() {
        let now = conditions::now();
        let mut fvo = onboarding("ms", "grundsicherung").env("prod").build();
        fvo.metadata.generation = Some(3);
        let mut before = FachverfahrenOnboardingStatus {
            observed_generation: Some(2),
            phase: Some(Phase::Ready),
            ..Default::default()
        };
        before.conditions.push(conditions::condition(
            c::READY,
            "True",
            reason::PROVISIONED,
            "all provisioned".into(),
            Some(2),
            &[],
            now,
        ));
        before.conditions.push(conditions::condition(
            c::BUDGET_AVAILABLE,
            "True",
            reason::WITHIN_BUDGET,
            "fits".into(),
            Some(2),
            &[],
            now,
        ));
        fvo.status = Some(before.clone());
        let failed = failed_status(
            &fvo,
            "ApplyFailed",
            "apply NetworkPolicy x/y failed".into(),
            now,
        )
        .unwrap_or_else(|| panic!("a failure not yet on the status is written"));
        let ready = conditions::ready_condition(&failed)
            .cloned()
            .unwrap_or_else(|| panic!("Ready"));
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_str(),
                ready.message.as_str(),
                ready.observed_generation
            ),
            (
                "False",
                "ApplyFailed",
                "apply NetworkPolicy x/y failed",
                Some(3)
            )
        );
        assert_eq!(failed.observed_generation, Some(3));
        assert_eq!(
            failed.phase,
            Some(Phase::Provisioning),
            "no longer Ready: retried"
        );
        assert_eq!(
            failed.conditions[1], before.conditions[1],
            "other conditions stay"
        );
        assert_eq!(failed.conditions.len(), 2);
        fvo.status = Some(failed);
        assert_eq!(
            failed_status(
                &fvo,
                "ApplyFailed",
                "apply NetworkPolicy x/y failed".into(),
                now
            ),
            None,
            "the same failure again writes nothing"
        );
        assert!(
            failed_status(
                &fvo,
                "Timeout",
                "apply NetworkPolicy x/y timed out".into(),
                now
            )
            .is_some(),
            "another kind of failure is written"
        );
        assert_eq!(
            failed_status(
                &fvo,
                "ApplyFailed",
                "apply RoleBinding x/z failed".into(),
                now
            ),
            None,
            "nor does another message of the same kind (no round without back-off)"
        );
        let mut degraded = fvo.clone();
        if let Some(s) = degraded.status.as_mut() {
            s.phase = Some(Phase::Degraded);
        }
        let still = failed_status(&degraded, "Timeout", "timed out".into(), now);
        assert_eq!(
            still.and_then(|s| s.phase),
            Some(Phase::Degraded),
            "a phase that needs someone to act stays"
        );
        fvo.metadata.generation = Some(4);
        assert!(
            failed_status(
                &fvo,
                "ApplyFailed",
                "apply NetworkPolicy x/y failed".into(),
                now
            )
            .is_some(),
            "the same failure at a new generation is written"
        );
    }
}
