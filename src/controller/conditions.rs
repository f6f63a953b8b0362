//! Conditions (pure): building `metav1.Condition`s with kstatus semantics, and the few edits
//! the driver makes to a computed status (types and reasons: [`crate::api::conditions`]).
//!
//! `lastTransitionTime` moves only when a condition's status flips; every condition carries
//! the `observedGeneration` it was computed for.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::FachverfahrenOnboardingStatus;
use crate::api::conditions::{self as c, reason};

/// The current time in whole seconds, as the API keeps condition times. A status computed with
/// sub-second times never compared equal to itself read back: the round that its own status
/// write brings wrote the same status again.
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// A condition whose `lastTransitionTime` is kept from `previous` while its status is unchanged.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|p| p.type_ == type_ && p.status == status)
        .map(|p| p.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The Ready condition of a status, if any.
pub fn ready_condition(status: &FachverfahrenOnboardingStatus) -> Option<&Condition> {
    status.conditions.iter().find(|x| x.type_ == c::READY)
}

/// `Conformant` is `Unknown` (not evaluated) for `why`; `previous` keeps its transition time.
pub fn not_evaluated(
    why: &str,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> Condition {
    condition(
        c::CONFORMANT,
        "Unknown",
        reason::NOT_EVALUATED,
        why.into(),
        generation,
        previous,
        now,
    )
}

/// Sets `DriftRepaired` (the last repair) on `status` when the round repaired anything,
/// before `Conformant`, which its step appends last: the order of the conditions stays stable.
pub fn note_repairs(
    status: &mut FachverfahrenOnboardingStatus,
    repairs: &[String],
    generation: Option<i64>,
    now: Timestamp,
) {
    if repairs.is_empty() {
        return;
    }
    let repairs = repairs.join("; ");
    status.conditions.retain(|x| x.type_ != c::DRIFT_REPAIRED);
    let at = status
        .conditions
        .iter()
        .position(|x| x.type_ == c::CONFORMANT)
        .unwrap_or(status.conditions.len());
    status.conditions.insert(
        at,
        condition(
            c::DRIFT_REPAIRED,
            "True",
            reason::DRIFT_REPAIRED,
            format!("last repair at {now}: {repairs}"),
            generation,
            &[],
            now,
        ),
    );
}

/// The `Ready` condition of `new` when its status or reason differs from `old`'s: a
/// transition worth an Event.
pub fn ready_transition<'a>(
    old: &FachverfahrenOnboardingStatus,
    new: &'a FachverfahrenOnboardingStatus,
) -> Option<&'a Condition> {
    let was = ready_condition(old).map(|x| (&x.status, &x.reason));
    ready_condition(new).filter(|now| was != Some((&now.status, &now.reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(c: &Condition) -> Condition {
        serde_json::from_value(serde_json::to_value(c).unwrap()).unwrap()
    }

    #[test]
    fn a_condition_made_now_compares_equal_to_itself_read_back_from_the_api() {
        let ready_at = |at| condition("Ready", "True", "Provisioned", "m".into(), Some(1), &[], at);
        let made = ready_at(now());
        assert_eq!(read_back(&made), made);
        // What the round used before: the API drops the fraction, and the status differed.
        let fraction = Timestamp::from_second(100).unwrap() + jiff::SignedDuration::from_millis(5);
        let precise = ready_at(fraction);
        assert_ne!(read_back(&precise), precise);
    }
}
