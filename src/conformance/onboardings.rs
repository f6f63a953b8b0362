//! Findings across the onboardings and Ressorts of one input (`onboarding-admission`), as the controller
//! would decide them once applied: onboardings over their Ressort's budget (admitted oldest first, by
//! [`crate::controller::budget::decide_all`]), two onboardings yielding the same namespace name, a Ressort
//! and Fachverfahren claimed twice, an onboarding whose Ressort is missing from an input that holds
//! Ressorts. Pure; objects that do not deserialize are left to `crd-schema`.

use std::collections::{BTreeMap, HashMap};

use crate::api::{Amounts, FachverfahrenOnboarding, GROUP, Ressort};
use crate::controller::budget::{Admission, Candidate, decide_all};
use crate::resources::namespace_name;

use super::engine::SourceObject;
use super::report::{Finding, ObjectRef};
use super::rules::RuleId;

/// The typed CONPlus objects of the input, with their source objects.
struct Parsed<'a> {
    onboardings: Vec<(FachverfahrenOnboarding, &'a SourceObject)>,
    ressorts: Vec<Ressort>,
}

fn parse(objects: &[SourceObject]) -> Parsed<'_> {
    let mut p = Parsed {
        onboardings: Vec::new(),
        ressorts: Vec::new(),
    };
    for o in objects {
        let av = o.value.get("apiVersion").and_then(|v| v.as_str());
        // `GROUP/…` without formatting the prefix for every object.
        if !av.is_some_and(|av| av.strip_prefix(GROUP).is_some_and(|v| v.starts_with('/'))) {
            continue;
        }
        match o.value.get("kind").and_then(|v| v.as_str()) {
            Some("FachverfahrenOnboarding") => {
                if let Ok(f) = serde_json::from_value(o.value.clone()) {
                    p.onboardings.push((f, o));
                }
            }
            Some("Ressort") => {
                if let Ok(r) = serde_json::from_value(o.value.clone()) {
                    p.ressorts.push(r);
                }
            }
            _ => {}
        }
    }
    p
}

fn finding(o: &SourceObject, message: String) -> Finding {
    Finding::meta(
        RuleId::OnboardingAdmission,
        ObjectRef::of(&o.value),
        o.location.clone(),
        message,
    )
}

fn name(f: &FachverfahrenOnboarding) -> &str {
    f.metadata.name.as_deref().unwrap_or_default()
}

/// The `onboarding-admission` findings of the input.
pub fn onboarding_findings(objects: &[SourceObject]) -> Vec<Finding> {
    let p = parse(objects);
    let mut out = Vec::new();
    collisions(&p, &mut out);
    missing_ressorts(&p, &mut out);
    budgets(&p, &mut out);
    out
}

/// Namespace names and Ressort + Fachverfahren pairs taken by an earlier onboarding of the input.
fn collisions(p: &Parsed<'_>, out: &mut Vec<Finding>) {
    let mut namespaces: HashMap<String, &str> = HashMap::new();
    let mut claims: HashMap<(&str, &str), &str> = HashMap::new();
    for (f, o) in &p.onboardings {
        let me = name(f);
        let claim = (f.spec.ressort.as_str(), f.spec.fachverfahren.as_str());
        if let Some(first) = claims.get(&claim).filter(|n| **n != me) {
            out.push(finding(o, format!(
                "Ressort {} and Fachverfahren {} are already onboarded by {first}; one onboarding per Fachverfahren",
                claim.0, claim.1
            )));
        } else {
            claims.insert(claim, me);
        }
        for env in &f.spec.environments {
            let ns = namespace_name(&f.spec, &env.name);
            match namespaces.get(&ns) {
                Some(first) if *first != me => out.push(finding(
                    o,
                    format!(
                        "environment {} yields namespace {ns}, which onboarding {first} yields too",
                        env.name
                    ),
                )),
                Some(_) => {}
                None => {
                    namespaces.insert(ns, me);
                }
            }
        }
    }
}

/// Onboardings naming a Ressort the input lacks, when the input holds Ressorts at all.
fn missing_ressorts(p: &Parsed<'_>, out: &mut Vec<Finding>) {
    if p.ressorts.is_empty() {
        return;
    }
    let known: Vec<&str> = p
        .ressorts
        .iter()
        .filter_map(|r| r.metadata.name.as_deref())
        .collect();
    for (f, o) in &p.onboardings {
        if !known.contains(&f.spec.ressort.as_str()) {
            out.push(finding(
                o,
                format!(
                    "Ressort {} is not in the input, which holds the Ressorts {}",
                    f.spec.ressort,
                    known.join(", ")
                ),
            ));
        }
    }
}

/// Onboardings the controller would not admit within their Ressort's budget.
fn budgets(p: &Parsed<'_>, out: &mut Vec<Finding>) {
    let mut by_ressort: BTreeMap<&str, Vec<&(FachverfahrenOnboarding, &SourceObject)>> =
        BTreeMap::new();
    for entry in &p.onboardings {
        by_ressort
            .entry(&entry.0.spec.ressort)
            .or_default()
            .push(entry);
    }
    for r in &p.ressorts {
        let Some(rname) = r.metadata.name.as_deref() else {
            continue;
        };
        let (Ok(budget), Some(members)) = (r.spec.budget.amounts(), by_ressort.get(rname)) else {
            continue;
        };
        let candidates: Vec<Candidate> = members.iter().map(|(f, _)| candidate(f)).collect();
        for ((_, o), decision) in members.iter().zip(decide_all(&budget, &candidates)) {
            let (exceeded, available) = match decision {
                Admission::Admitted { .. } => continue,
                Admission::Held {
                    exceeded,
                    available,
                    ..
                }
                | Admission::Rejected {
                    exceeded,
                    available,
                } => (exceeded, available),
            };
            let over: Vec<String> = exceeded
                .iter()
                .map(|r| {
                    let left = available.get(*r).to_canonical(r.is_bytes());
                    format!("{} (left {left})", r.as_str())
                })
                .collect();
            out.push(finding(o, format!(
                "over the budget of Ressort {rname} once the older onboardings are admitted: {}",
                over.join(", ")
            )));
        }
    }
}

/// The onboarding as budget admission sees it.
fn candidate(f: &FachverfahrenOnboarding) -> Candidate {
    let provisioned = f
        .status
        .as_ref()
        .and_then(|s| s.allocated.as_ref())
        .and_then(|a| a.amounts().ok())
        .unwrap_or_default();
    let requested = f
        .spec
        .environments
        .iter()
        .filter_map(|e| e.quota.amounts().ok())
        .fold(Amounts::default(), Amounts::plus);
    Candidate {
        name: name(f).to_owned(),
        created: f.metadata.creation_timestamp.as_ref().map(|t| t.0),
        requested,
        provisioned,
    }
}
