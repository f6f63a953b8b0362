//! Admit step (pure): the budget decision for one onboarding within its Ressort, from what
//! every onboarding of the Ressort declares and holds ([`super::budget`] decides).

use std::collections::BTreeSet;

use kube::ResourceExt;

use super::budget::{self, Admission, Candidate};
use super::model::{Ask, Observed};
use crate::api::{Amounts, FachverfahrenOnboarding};

/// The admit step: the admission of `fvo`, or None when its spec has problems (the budget is
/// not asked), its Ressort is missing or its budget unreadable. Observe hands over the
/// decision the admission ledger keeps for the Ressort (`observed.decided`); without one, it
/// is derived here from every onboarding of the Ressort in `observed.siblings`.
pub fn admit(observed: &Observed, fvo: &FachverfahrenOnboarding, valid: bool) -> Option<Admission> {
    if !valid {
        return None;
    }
    match &observed.decided {
        Some(decided) => decided.0.clone(),
        None => admission(observed, fvo),
    }
}

/// The admission candidate `name`, from what it asks for (`ask`) and what is observed of the
/// Ressort.
///
/// What a candidate holds is the larger of its `status.allocated` and the quotas observed in
/// its namespaces, so that a lost status (a restore without status) takes nothing away; what
/// it asks for counts only environments that are provisioned or being provisioned, not those
/// whose namespace belongs to someone else.
fn candidate(observed: &Observed, name: &str, ask: &Ask) -> Candidate {
    candidate_of(
        name,
        ask,
        observed.held.get(name).copied(),
        observed.conflicts.get(name),
    )
}

/// The admission candidate `name` from what it asks for (`ask`), the quotas observed in its
/// namespaces (`held`) and its environments whose namespace belongs to someone else
/// (`conflicting`): see [`candidate`]. The admission ledger derives its candidates with it.
pub fn candidate_of(
    name: &str,
    ask: &Ask,
    held: Option<Amounts>,
    conflicting: Option<&BTreeSet<String>>,
) -> Candidate {
    let provisioned = ask.recorded.max(held.unwrap_or_default());
    let requested = if ask.deleting {
        // Being deleted: it keeps what it holds until it is gone, and asks for nothing more.
        provisioned
    } else {
        ask.requested
            .iter()
            .filter(|(env, _)| conflicting.is_none_or(|c| !c.contains(env)))
            .map(|(_, amounts)| *amounts)
            .fold(Default::default(), Amounts::plus)
    };
    Candidate {
        name: name.to_string(),
        created: ask.created,
        requested,
        provisioned,
    }
}

/// Admission candidates from the onboardings of one Ressort (this one in its current form).
/// What the others ask for comes from `observed.holdings` where observe derived it (parsed once
/// per version of each onboarding), else from the onboarding.
fn candidates(observed: &Observed, fvo: &FachverfahrenOnboarding) -> Vec<Candidate> {
    let name = fvo.name_any();
    let own = Ask::of(fvo);
    observed
        .siblings
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let o_name = o.metadata.name.as_deref().unwrap_or_default();
            if o_name == name {
                return candidate(observed, o_name, &own);
            }
            match observed.holdings.get(i) {
                Some(h) => candidate(observed, o_name, &h.ask),
                None => candidate(observed, o_name, &Ask::of(o)),
            }
        })
        .collect()
}

/// The candidate `fvo` is within its Ressort, from what observe found of it (its own quotas
/// and conflicts in `observed.held` and `observed.conflicts`).
pub fn own_candidate(observed: &Observed, fvo: &FachverfahrenOnboarding) -> Candidate {
    candidate(observed, &fvo.name_any(), &Ask::of(fvo))
}

/// What `fvo` holds: the larger of its `status.allocated` and the quotas observed in its
/// namespaces.
pub fn held(observed: &Observed, fvo: &FachverfahrenOnboarding) -> Amounts {
    candidate(observed, &fvo.name_any(), &Ask::of(fvo)).provisioned
}

/// The admission of `fvo` within its Ressort, or None when the Ressort is missing or invalid.
pub fn admission(observed: &Observed, fvo: &FachverfahrenOnboarding) -> Option<Admission> {
    let ressort = observed.ressort.as_ref()?;
    let budget = ressort.spec.budget.amounts().ok()?;
    let cands = candidates(observed, fvo);
    let name = fvo.name_any();
    let idx = cands.iter().position(|c| c.name == name)?;
    budget::decide_all(&budget, &cands).into_iter().nth(idx)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use jiff::Timestamp;

    use super::*;
    use crate::api::Ressort;
    use crate::api::RessortSpec;
    use crate::api::quantity::Amount;
    use crate::controller::budget::tests::cpu;
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
                node_pool: None,
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
    fn what_observe_parsed_of_the_siblings_admits_as_the_siblings_themselves() {
        let (mut observed, younger) = ressort_of_two("2");
        let older = observed.siblings[0].clone();
        let direct = (admission(&observed, &younger), admission(&observed, &older));
        observed.holdings = observed
            .siblings
            .iter()
            .map(|o| {
                Arc::new(crate::controller::model::Holding {
                    ask: Ask::of(o),
                    ..Default::default()
                })
            })
            .collect();
        assert_eq!(
            (admission(&observed, &younger), admission(&observed, &older)),
            direct
        );
        assert!(matches!(direct.0, Some(Admission::Admitted { .. })));
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
