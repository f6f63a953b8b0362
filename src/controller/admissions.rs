//! The admission ledger (no I/O): the budget decisions of every Ressort's onboardings, kept
//! between reconciles and derived again only for what changed.
//!
//! Admission is a function of every onboarding of the Ressort ([`super::budget`]). Deriving
//! every sibling's candidate, sorting them and deciding for all of them in every reconcile
//! made a reconcile linear in the Ressort's onboardings — string clones, map lookups and a
//! sort per sibling — and onboarding a whole Ressort quadratic. Here the watch events mark
//! what changed: an onboarding by name, a namespace by name (its own events and those of the
//! quotas in it). A reconcile derives again only the marked onboardings (and those whose
//! namespaces were marked), and decides again — one linear pass over the candidates kept in
//! their order — only when a candidate or the budget changed; otherwise it reads its decision
//! in O(log n).
//!
//! A Ressort whose budget holds every candidate's larger claim (the larger of what it requests and
//! what it holds, summed over all of them) admits every one of them with its request: each
//! candidate's available share is at least what is left of the budget after the others' larger
//! claims. The ledger keeps that sum as candidates come and go, so that a reconcile within such a
//! Ressort decides in O(1) without a pass; onboarding many into a Ressort with room for all of
//! them is then linear rather than quadratic (a pass per reconcile while the candidates change).
//!
//! The decisions are exactly those of [`super::admit::admission`]: the same candidates (each
//! derived by observe from the stores, as the sibling view did), in the same order, through the
//! same pass ([`budget::decide_ordered`]). The onboarding reconciled takes part in its current
//! form: when that differs from what the ledger keeps of it (its namespaces were read from the
//! API, or the store has not seen it yet), its decision comes from a pass with it in its place.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use super::budget::{self, Admission, Candidate, Order};
use crate::api::Amounts;

/// What the ledger keeps of one onboarding, as derived from the stores.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its Ressort.
    pub ressort: String,
    /// What admission reads of it.
    pub candidate: Candidate,
    /// The namespaces whose changes (or those of the quotas in them) may change its candidate:
    /// those it declares and those labelled as its own.
    pub namespaces: Vec<String>,
}

/// The relists seen so far by the stores members are derived from: after one, objects may have
/// gone without an event, and every member is derived again.
pub type Epochs = Vec<u64>;

/// The candidates of one Ressort in their order, each with its decision for `decided_for`.
#[derive(Debug, Default)]
struct Ledger {
    entries: BTreeMap<Order, (Candidate, Option<Admission>)>,
    /// The budget the decisions were made for; `None`: a candidate changed since.
    decided_for: Option<Amounts>,
    /// The sum of every entry's [`claim`], kept as entries come and go.
    claims: Amounts,
    /// Set when a change of `claims` saturated: the sum is no longer exact, and every decision
    /// takes the pass.
    claims_inexact: bool,
}

/// The most a candidate may count for in anyone's decision: the larger of what it requests and
/// what it holds.
fn claim(c: &Candidate) -> Amounts {
    c.requested.max(c.provisioned)
}

impl Ledger {
    /// Files `entry` under `order`, in place of what was there.
    fn insert(&mut self, order: Order, entry: (Candidate, Option<Admission>)) {
        self.add_claim(claim(&entry.0));
        if let Some(old) = self.entries.insert(order, entry) {
            self.remove_claim(claim(&old.0));
        }
    }

    /// Takes out what is filed under `order`.
    fn remove(&mut self, order: &Order) -> Option<(Candidate, Option<Admission>)> {
        let entry = self.entries.remove(order)?;
        self.remove_claim(claim(&entry.0));
        Some(entry)
    }

    // The arithmetic saturates (input is untrusted); a sum that does not step back exactly is
    // marked, and the shortcut is not taken for this Ressort again.
    fn add_claim(&mut self, c: Amounts) {
        let sum = self.claims.plus(c);
        self.claims_inexact |= sum.minus(c) != self.claims;
        self.claims = sum;
    }

    fn remove_claim(&mut self, c: Amounts) {
        let sum = self.claims.minus(c);
        self.claims_inexact |= sum.plus(c) != self.claims;
        self.claims = sum;
    }

    /// The decision for `own` without a pass, where the budget holds every candidate's claim,
    /// `own` in place of `kept` (what the ledger keeps of it in this Ressort, if anything).
    fn admitted_by_room(
        &self,
        budget: &Amounts,
        own: &Candidate,
        kept: Option<&Candidate>,
    ) -> Option<Admission> {
        if self.claims_inexact {
            return None;
        }
        let others = match kept {
            Some(kept) => self.claims.minus(claim(kept)),
            None => self.claims,
        };
        let all = others.plus(claim(own));
        // Exact only where neither step saturated.
        let exact = kept.is_none_or(|k| others.plus(claim(k)) == self.claims)
            && all.minus(claim(own)) == others;
        (exact && all.fits_within(budget)).then_some(Admission::Admitted {
            allocated: own.requested,
        })
    }

    /// Decides for every candidate under `budget`.
    fn decide(&mut self, budget: &Amounts) {
        let ordered: Vec<&Candidate> = self.entries.values().map(|(c, _)| c).collect();
        let decisions = budget::decide_ordered(budget, &ordered);
        for ((_, slot), decision) in self.entries.values_mut().zip(decisions) {
            *slot = Some(decision);
        }
        self.decided_for = Some(*budget);
    }

    /// The decision for `own` in a pass with `own` in place of what the ledger keeps of it.
    fn decide_with(&self, budget: &Amounts, own: &Candidate) -> Option<Admission> {
        let own_order = budget::order_of(own);
        let mut ordered: Vec<&Candidate> = Vec::with_capacity(self.entries.len() + 1);
        let mut at = None;
        for (order, (c, _)) in &self.entries {
            if at.is_none() && *order > own_order {
                at = Some(ordered.len());
                ordered.push(own);
            }
            if c.name != own.name {
                ordered.push(c);
            }
        }
        let at = at.unwrap_or_else(|| {
            ordered.push(own);
            ordered.len() - 1
        });
        budget::decide_ordered(budget, &ordered).into_iter().nth(at)
    }
}

/// Where a member is filed.
#[derive(Debug)]
struct Filed {
    ressort: String,
    order: Order,
    namespaces: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    ledgers: HashMap<String, Ledger>,
    members: HashMap<String, Filed>,
    /// Namespace → the members whose candidate it may change.
    by_namespace: HashMap<String, HashSet<String>>,
    epochs: Option<Epochs>,
}

impl State {
    /// Files what `name` is now (`None`: gone); a changed candidate makes its Ressort's (old
    /// and new) decisions stale.
    fn update(&mut self, name: &str, now: Option<Member>) {
        let mut kept = None;
        if let Some(old) = self.members.remove(name) {
            for ns in &old.namespaces {
                if let Some(names) = self.by_namespace.get_mut(ns) {
                    names.remove(name);
                    if names.is_empty() {
                        self.by_namespace.remove(ns);
                    }
                }
            }
            if let Some(ledger) = self.ledgers.get_mut(&old.ressort) {
                let entry = ledger.remove(&old.order);
                match (&now, entry) {
                    (Some(m), Some(entry))
                        if m.ressort == old.ressort && m.candidate == entry.0 =>
                    {
                        kept = Some(entry);
                    }
                    _ => ledger.decided_for = None,
                }
                if ledger.entries.is_empty() {
                    self.ledgers.remove(&old.ressort);
                }
            }
        }
        let Some(member) = now else {
            return;
        };
        for ns in &member.namespaces {
            self.by_namespace
                .entry(ns.clone())
                .or_default()
                .insert(name.to_string());
        }
        let order = budget::order_of(&member.candidate);
        let ledger = self.ledgers.entry(member.ressort.clone()).or_default();
        let entry = match kept {
            Some(entry) => entry,
            None => {
                ledger.decided_for = None;
                (member.candidate, None)
            }
        };
        ledger.insert(order.clone(), entry);
        self.members.insert(
            name.to_string(),
            Filed {
                ressort: member.ressort,
                order,
                namespaces: member.namespaces,
            },
        );
    }
}

/// What the watch events marked since the last look.
#[derive(Debug)]
struct Marks {
    onboardings: HashSet<String>,
    namespaces: HashSet<String>,
    /// Everything: the ledger starts empty, and an onboarding watch relisted.
    all: bool,
}

/// The admission ledger of every Ressort, shared by the reconciles and fed by the watches.
#[derive(Debug)]
pub struct Admissions {
    marks: Mutex<Marks>,
    state: Mutex<State>,
}

impl Default for Admissions {
    fn default() -> Self {
        Admissions {
            marks: Mutex::new(Marks {
                onboardings: HashSet::new(),
                namespaces: HashSet::new(),
                all: true,
            }),
            state: Mutex::new(State::default()),
        }
    }
}

impl Admissions {
    fn marks(&self) -> MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The onboarding `name` changed (or is gone), after its store has it.
    pub fn onboarding_changed(&self, name: &str) {
        self.marks().onboardings.insert(name.to_string());
    }

    /// The namespace `name`, or a quota in it, changed (or is gone), after its store has it.
    pub fn namespace_changed(&self, name: &str) {
        self.marks().namespaces.insert(name.to_string());
    }

    /// The onboarding watch relisted: every member is derived again.
    pub fn everything_changed(&self) {
        self.marks().all = true;
    }

    /// The decision for `own` within `ressort` under `budget`. First the marked members are
    /// derived again with `derive` (`None`: gone) — all of them, the store's `every` included,
    /// when everything was marked or `epochs` moved.
    pub fn decide(
        &self,
        ressort: &str,
        budget: &Amounts,
        own: &Candidate,
        epochs: Epochs,
        every: impl FnOnce() -> Vec<String>,
        mut derive: impl FnMut(&str) -> Option<Member>,
    ) -> Option<Admission> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // The marks are taken under the state's lock: a mark made while members are derived
        // stays for the next look, which reads the stores again.
        let marks = std::mem::replace(
            &mut *self.marks(),
            Marks {
                onboardings: HashSet::new(),
                namespaces: HashSet::new(),
                all: false,
            },
        );
        let mut names = marks.onboardings;
        if marks.all || state.epochs.as_ref() != Some(&epochs) {
            names.extend(state.members.keys().cloned());
            names.extend(every());
        } else {
            for ns in &marks.namespaces {
                if let Some(members) = state.by_namespace.get(ns) {
                    names.extend(members.iter().cloned());
                }
            }
        }
        state.epochs = Some(epochs);
        for name in names {
            let now = derive(&name);
            state.update(&name, now);
        }
        // What the ledger keeps of `own` in this Ressort: the entry filed under its name.
        let kept_order = state
            .members
            .get(&own.name)
            .filter(|f| f.ressort == ressort)
            .map(|f| f.order.clone());
        let ledger = state.ledgers.entry(ressort.to_string()).or_default();
        let kept = kept_order
            .as_ref()
            .and_then(|o| ledger.entries.get(o))
            .map(|(c, _)| c);
        if let Some(decision) = ledger.admitted_by_room(budget, own, kept) {
            return Some(decision);
        }
        if ledger.decided_for.as_ref() != Some(budget) {
            ledger.decide(budget);
        }
        match ledger.entries.get(&budget::order_of(own)) {
            Some((kept, Some(decision))) if kept == own => Some(decision.clone()),
            _ => ledger.decide_with(budget, own),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::controller::budget::decide_all;
    use crate::controller::budget::tests::{cand, cpu};

    fn member(c: &Candidate, namespaces: &[&str]) -> Member {
        Member {
            ressort: "mk".into(),
            candidate: c.clone(),
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// A stand-in for the stores: members by name, and how often each was derived.
    struct World {
        members: RefCell<BTreeMap<String, Member>>,
        derived: RefCell<Vec<String>>,
    }

    impl World {
        fn of(members: &[Member]) -> Self {
            World {
                members: RefCell::new(
                    members
                        .iter()
                        .map(|m| (m.candidate.name.clone(), m.clone()))
                        .collect(),
                ),
                derived: RefCell::new(vec![]),
            }
        }

        fn set(&self, m: Member) {
            self.members
                .borrow_mut()
                .insert(m.candidate.name.clone(), m);
        }

        fn decide(&self, ledger: &Admissions, budget: i64, own: &str) -> Option<Admission> {
            self.decide_as(
                ledger,
                budget,
                &self.members.borrow()[own].candidate.clone(),
            )
        }

        fn decide_as(
            &self,
            ledger: &Admissions,
            budget: i64,
            own: &Candidate,
        ) -> Option<Admission> {
            ledger.decide(
                "mk",
                &cpu(budget),
                own,
                vec![0],
                || self.members.borrow().keys().cloned().collect(),
                |name| {
                    self.derived.borrow_mut().push(name.to_string());
                    self.members.borrow().get(name).cloned()
                },
            )
        }

        /// What [`decide_all`] decides for `own` over every member.
        fn reference(&self, budget: i64, own: &str) -> Option<Admission> {
            let all: Vec<Candidate> = self
                .members
                .borrow()
                .values()
                .map(|m| m.candidate.clone())
                .collect();
            let i = all.iter().position(|c| c.name == own)?;
            decide_all(&cpu(budget), &all).into_iter().nth(i)
        }

        fn derived(&self) -> Vec<String> {
            std::mem::take(&mut *self.derived.borrow_mut())
        }
    }

    /// What [`decide_all`] decides for `own` over every member, `own` in place of its namesake.
    fn reference_as(world: &World, budget: i64, own: &Candidate) -> Option<Admission> {
        let mut all: Vec<Candidate> = world
            .members
            .borrow()
            .values()
            .map(|m| m.candidate.clone())
            .filter(|c| c.name != own.name)
            .collect();
        all.push(own.clone());
        decide_all(&cpu(budget), &all).into_iter().last()
    }

    /// The budget of the last pass over the Ressort `mk`.
    fn decided_for(ledger: &Admissions) -> Option<Amounts> {
        let state = ledger.state.lock().unwrap_or_else(|p| p.into_inner());
        state.ledgers.get("mk").and_then(|l| l.decided_for)
    }

    /// A small deterministic generator (no seed to keep, no dependency).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn decisions_with_and_without_room_for_every_claim_are_those_of_decide_all() {
        let (world, ledger) = (World::of(&[]), Admissions::default());
        let mut rng = Lcg(7);
        let (mut shortcuts, mut passes) = (0, 0);
        for step in 0..4_000 {
            let name = format!("o{}", rng.below(8));
            match rng.below(5) {
                0 => {
                    world.members.borrow_mut().remove(&name);
                }
                _ => world.set(member(
                    &cand(
                        &name,
                        100 + rng.below(8) as i64,
                        rng.below(6) as i64,
                        rng.below(6) as i64,
                    ),
                    &[],
                )),
            }
            ledger.onboarding_changed(&name);
            let Some(own) = world
                .members
                .borrow()
                .get(&name)
                .map(|m| m.candidate.clone())
            else {
                continue;
            };
            // Budgets from tight to room for every claim (8 members of at most 5 each).
            let budget = rng.below(44) as i64;
            // Every third decision is for the onboarding in a form the stores do not have yet.
            let own = if step % 3 == 0 {
                cand(&name, 100 + rng.below(8) as i64, rng.below(6) as i64, 0)
            } else {
                own
            };
            let before = decided_for(&ledger);
            assert_eq!(
                world.decide_as(&ledger, budget, &own),
                reference_as(&world, budget, &own),
                "step {step}: {own:?} under {budget}"
            );
            let after = decided_for(&ledger);
            if before == after && after != Some(cpu(budget)) {
                shortcuts += 1;
            } else {
                passes += 1;
            }
        }
        assert!(
            shortcuts > 500 && passes > 500,
            "{shortcuts} shortcuts, {passes} passes"
        );
    }

    #[test]
    fn a_ressort_with_room_for_every_claim_admits_without_a_pass() {
        let (world, ledger) = (three(), Admissions::default());
        // Claims 4 + 4 + 4: a budget of 12 holds them all.
        assert_eq!(
            world.decide(&ledger, 12, "c"),
            Some(Admission::Admitted { allocated: cpu(4) })
        );
        assert_eq!(decided_for(&ledger), None, "no pass over the Ressort");
        // One less, and the order decides: the pass runs.
        assert_eq!(world.decide(&ledger, 11, "c"), world.reference(11, "c"));
        assert_eq!(decided_for(&ledger), Some(cpu(11)));
    }

    #[test]
    fn a_sum_of_claims_that_saturated_takes_the_pass_for_good() {
        // Three claims of half the largest amount: their sum saturates.
        let huge = |name: &str, created| Candidate {
            requested: Amounts {
                cpu: crate::api::quantity::Amount::from_milli(i128::MAX / 2),
                ..Default::default()
            },
            ..cand(name, created, 0, 0)
        };
        let members: Vec<Member> = (0..3)
            .map(|i| member(&huge(&format!("h{i}"), 100 + i), &[]))
            .collect();
        let (world, ledger) = (World::of(&members), Admissions::default());
        assert_eq!(world.decide(&ledger, 1, "h0"), world.reference(1, "h0"));
        // Two leave: a saturated sum stepped back would claim almost nothing, and a budget of
        // one core would seem to hold h2's half of everything.
        for gone in ["h0", "h1"] {
            world.members.borrow_mut().remove(gone);
            ledger.onboarding_changed(gone);
        }
        assert!(matches!(
            world.decide(&ledger, 1, "h2"),
            Some(Admission::Rejected { .. })
        ));
        assert_eq!(world.decide(&ledger, 1, "h2"), world.reference(1, "h2"));
    }

    fn three() -> World {
        World::of(&[
            member(&cand("a", 100, 4, 4), &["a-dev"]),
            member(&cand("b", 200, 4, 0), &["b-dev"]),
            member(&cand("c", 300, 4, 0), &["c-dev"]),
        ])
    }

    #[test]
    fn the_ledger_decides_as_decide_all_and_reads_again_without_deriving() {
        let (world, ledger) = (three(), Admissions::default());
        for name in ["a", "b", "c"] {
            assert_eq!(world.decide(&ledger, 10, name), world.reference(10, name));
        }
        assert!(matches!(
            world.decide(&ledger, 10, "c"),
            Some(Admission::Rejected { .. })
        ));
        assert_eq!(world.derived().len(), 3, "everything once, at the start");
        world.decide(&ledger, 10, "b");
        assert!(
            world.derived().is_empty(),
            "nothing marked: nothing derived"
        );
    }

    #[test]
    fn a_changed_sibling_is_derived_again_and_changes_the_others_decision() {
        let (world, ledger) = (three(), Admissions::default());
        assert!(matches!(
            world.decide(&ledger, 10, "c"),
            Some(Admission::Rejected { .. })
        ));
        world.derived();
        // b asks for less: c fits.
        world.set(member(&cand("b", 200, 2, 0), &["b-dev"]));
        ledger.onboarding_changed("b");
        assert_eq!(
            world.decide(&ledger, 10, "c"),
            Some(Admission::Admitted { allocated: cpu(4) })
        );
        assert_eq!(world.derived(), vec!["b".to_string()], "only b");
        assert_eq!(world.decide(&ledger, 10, "c"), world.reference(10, "c"));
    }

    #[test]
    fn a_change_in_a_siblings_namespace_derives_it_again() {
        let (world, ledger) = (three(), Admissions::default());
        world.decide(&ledger, 10, "c");
        world.derived();
        // Quotas appear in b's namespace: it holds 4 more, nothing is left for c.
        world.set(member(&cand("b", 200, 4, 4), &["b-dev"]));
        ledger.namespace_changed("b-dev");
        ledger.namespace_changed("nobodys");
        assert!(matches!(
            world.decide(&ledger, 10, "c"),
            Some(Admission::Rejected { .. })
        ));
        assert_eq!(world.derived(), vec!["b".to_string()]);
    }

    #[test]
    fn a_deleted_sibling_frees_its_budget() {
        let (world, ledger) = (three(), Admissions::default());
        assert!(matches!(
            world.decide(&ledger, 8, "b"),
            Some(Admission::Admitted { .. })
        ));
        assert!(matches!(
            world.decide(&ledger, 8, "c"),
            Some(Admission::Rejected { .. })
        ));
        world.members.borrow_mut().remove("b");
        ledger.onboarding_changed("b");
        assert_eq!(
            world.decide(&ledger, 8, "c"),
            Some(Admission::Admitted { allocated: cpu(4) })
        );
    }

    #[test]
    fn a_changed_budget_decides_again_without_deriving() {
        let (world, ledger) = (three(), Admissions::default());
        assert!(matches!(
            world.decide(&ledger, 10, "c"),
            Some(Admission::Rejected { .. })
        ));
        world.derived();
        assert_eq!(
            world.decide(&ledger, 12, "c"),
            Some(Admission::Admitted { allocated: cpu(4) })
        );
        assert!(world.derived().is_empty());
        assert!(matches!(
            world.decide(&ledger, 10, "c"),
            Some(Admission::Rejected { .. })
        ));
    }

    #[test]
    fn the_reconciled_onboarding_in_another_form_is_decided_in_its_place() {
        let (world, ledger) = (three(), Admissions::default());
        world.decide(&ledger, 10, "b");
        // b as its reconcile sees it (a conflict read from the API): it asks for nothing.
        let b_now = cand("b", 200, 0, 0);
        assert_eq!(
            world.decide_as(&ledger, 10, &b_now),
            Some(Admission::Admitted { allocated: cpu(0) })
        );
        // Not in the store yet, and the youngest: decided after everyone else.
        let d = cand("d", 400, 2, 0);
        let decided = world.decide_as(&ledger, 10, &d);
        world.set(member(&d, &[]));
        assert_eq!(decided, world.reference(10, "d"));
    }

    #[test]
    fn a_relist_derives_everything_again() {
        let (world, ledger) = (three(), Admissions::default());
        world.decide(&ledger, 10, "c");
        world.derived();
        ledger.everything_changed();
        world.decide(&ledger, 10, "c");
        assert_eq!(world.derived().len(), 3);
        // A store relisted (its epoch moved): the same.
        ledger
            .decide(
                "mk",
                &cpu(10),
                &cand("c", 300, 4, 0),
                vec![1],
                || world.members.borrow().keys().cloned().collect(),
                |name| {
                    world.derived.borrow_mut().push(name.to_string());
                    world.members.borrow().get(name).cloned()
                },
            )
            .map(|_| ())
            .unwrap();
        assert_eq!(world.derived().len(), 3);
    }
}
