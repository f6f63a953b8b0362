//! Budget admission (pure): which onboardings of a Ressort may hold how much of its budget.
//!
//! Quotas aggregated live across namespaces are racy and can be overrun; here admission is
//! a deterministic function of what every onboarding declares and what it already holds
//! (`status.allocated`, written before the quotas are raised):
//! - onboardings are considered oldest first (creation time, then name);
//! - an onboarding is admitted when its request fits the budget minus what the older ones
//!   were granted and what the younger ones already hold, or when it asks for no more than it
//!   already holds — so nothing provisioned is ever taken away by someone else's request;
//! - an increase that does not fit is held (the previous allocation stays in force); a new
//!   onboarding that does not fit is not provisioned.
//!
//! Because every reconcile computes the same decisions from the same declarations, two
//! onboardings reconciled at the same time cannot both take the last of the budget.

use jiff::Timestamp;

use crate::api::{Amounts, ResourceName};

/// One onboarding of the Ressort as admission sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The onboarding's name.
    pub name: String,
    /// Its creation time (absent only for objects not yet persisted).
    pub created: Option<Timestamp>,
    /// What it declares over all environments.
    pub requested: Amounts,
    /// What it holds now (`status.allocated`).
    pub provisioned: Amounts,
}

/// The decision for one onboarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The request fits: it may hold `allocated` (= its request).
    Admitted {
        /// What it may hold.
        allocated: Amounts,
    },
    /// An increase does not fit: it keeps what it holds.
    Held {
        /// What it keeps.
        allocated: Amounts,
        /// The resources that do not fit.
        exceeded: Vec<ResourceName>,
        /// What would be available to it.
        available: Amounts,
    },
    /// A new onboarding that does not fit: nothing is provisioned.
    Rejected {
        /// The resources that do not fit.
        exceeded: Vec<ResourceName>,
        /// What would be available to it.
        available: Amounts,
    },
}

impl Admission {
    /// What the onboarding may hold after this decision.
    pub fn allocated(&self) -> Amounts {
        match self {
            Admission::Admitted { allocated } | Admission::Held { allocated, .. } => *allocated,
            Admission::Rejected { .. } => Amounts::default(),
        }
    }
}

/// The order in which candidates are considered: oldest first, then by name; not yet
/// persisted sorts last (it is the youngest).
pub type Order = (bool, Option<Timestamp>, String);

/// Where `c` stands in the [`Order`].
pub fn order_of(c: &Candidate) -> Order {
    (c.created.is_none(), c.created, c.name.clone())
}

/// Decides admission for every candidate; the result is in the candidates' order.
pub fn decide_all(budget: &Amounts, candidates: &[Candidate]) -> Vec<Admission> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&candidates[a], &candidates[b]);
        (a.created.is_none(), a.created, &a.name).cmp(&(b.created.is_none(), b.created, &b.name))
    });
    let ordered: Vec<&Candidate> = order.iter().map(|&i| &candidates[i]).collect();
    let mut decided: Vec<Option<Admission>> = vec![None; candidates.len()];
    for (&i, decision) in order.iter().zip(decide_ordered(budget, &ordered)) {
        decided[i] = Some(decision);
    }
    decided
        .into_iter()
        .map(|d| {
            d.unwrap_or(Admission::Rejected {
                exceeded: vec![],
                available: Amounts::default(),
            })
        })
        .collect()
}

/// Decides admission for candidates already in their [`Order`]; the result is in that order.
/// The admission ledger keeps its candidates sorted, so that a decision pass over a Ressort is
/// linear and allocates nothing per candidate.
pub fn decide_ordered(budget: &Amounts, ordered: &[&Candidate]) -> Vec<Admission> {
    // Running totals keep this linear: what the older ones were granted, and what the younger
    // ones (not yet visited) hold.
    let mut older = Amounts::default();
    let mut younger = ordered
        .iter()
        .map(|c| c.provisioned)
        .fold(Amounts::default(), Amounts::plus);
    let mut decided = Vec::with_capacity(ordered.len());
    for c in ordered {
        younger = younger.minus(c.provisioned);
        let available = budget.minus(older).minus(younger);
        let decision =
            if c.requested.fits_within(&c.provisioned) || c.requested.fits_within(&available) {
                Admission::Admitted {
                    allocated: c.requested,
                }
            } else if c.provisioned != Amounts::default() {
                Admission::Held {
                    allocated: c.provisioned,
                    exceeded: c.requested.exceeding(&available),
                    available,
                }
            } else {
                Admission::Rejected {
                    exceeded: c.requested.exceeding(&available),
                    available,
                }
            };
        older = older.plus(decision.allocated());
        decided.push(decision);
    }
    decided
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::quantity::Amount;

    /// `units` cores and nothing else.
    pub(crate) fn cpu(units: i64) -> Amounts {
        Amounts {
            cpu: Amount::from_units(units),
            ..Default::default()
        }
    }

    /// A candidate `name`, created at `created_secs`, asking for and holding whole CPUs.
    pub(crate) fn cand(
        name: &str,
        created_secs: i64,
        requested: i64,
        provisioned: i64,
    ) -> Candidate {
        Candidate {
            name: name.into(),
            created: Some(Timestamp::from_second(created_secs).unwrap()),
            requested: cpu(requested),
            provisioned: cpu(provisioned),
        }
    }

    #[test]
    fn oldest_onboarding_is_admitted_first_and_the_second_over_budget_is_rejected() {
        let budget = cpu(10);
        // Listed youngest first on purpose: order must come from creation time.
        let d = decide_all(
            &budget,
            &[cand("b-young", 200, 6, 0), cand("a-old", 100, 6, 0)],
        );
        assert_eq!(d[1], Admission::Admitted { allocated: cpu(6) });
        assert!(
            matches!(&d[0], Admission::Rejected { exceeded, .. } if exceeded == &[ResourceName::Cpu])
        );
    }

    #[test]
    fn raising_the_budget_admits_the_waiting_onboarding() {
        let d = decide_all(&cpu(12), &[cand("a", 100, 6, 6), cand("b", 200, 6, 0)]);
        assert_eq!(d[1], Admission::Admitted { allocated: cpu(6) });
    }

    #[test]
    fn an_older_onboardings_increase_never_takes_what_a_younger_one_holds() {
        // a (older) grows from 4 to 8 while b (younger) holds 6 of a budget of 10.
        let d = decide_all(&cpu(10), &[cand("a", 100, 8, 4), cand("b", 200, 6, 6)]);
        assert!(matches!(&d[0], Admission::Held { allocated, .. } if *allocated == cpu(4)));
        assert_eq!(d[1], Admission::Admitted { allocated: cpu(6) });
    }

    #[test]
    fn a_lowered_budget_keeps_what_is_provisioned() {
        let d = decide_all(&cpu(2), &[cand("a", 100, 6, 6)]);
        assert_eq!(
            d[0],
            Admission::Admitted { allocated: cpu(6) },
            "never taken away"
        );
    }

    #[test]
    fn same_creation_time_orders_by_name() {
        let d = decide_all(
            &cpu(6),
            &[cand("zeta", 100, 6, 0), cand("alpha", 100, 6, 0)],
        );
        assert_eq!(d[1], Admission::Admitted { allocated: cpu(6) });
        assert!(matches!(d[0], Admission::Rejected { .. }));
    }

    #[test]
    fn a_decrease_is_always_admitted() {
        let d = decide_all(&cpu(1), &[cand("a", 100, 3, 5)]);
        assert_eq!(d[0], Admission::Admitted { allocated: cpu(3) });
    }
}
