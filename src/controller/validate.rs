//! Validate step (pure): what the CRD schema cannot check, or cannot check on a cluster that
//! skipped it (objects written before a schema change). Problems make the onboarding `Failed`.

use crate::api::FachverfahrenOnboarding;
use crate::resources::{self, DesiredEnvironment, PlatformSettings, namespace_name};

/// The outcome of the validate step.
#[derive(Clone, Debug, Default)]
pub struct Validated {
    /// The objects the onboarding declares, per environment; empty when there are problems
    /// (nothing is provisioned or pruned for an invalid spec).
    pub desired: Vec<DesiredEnvironment>,
    /// What is wrong with the spec, each a sentence saying what to change.
    pub problems: Vec<String>,
}

impl Validated {
    /// Whether the spec has no problems.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The validate step: the spec's problems, and the objects it declares when it has none.
pub fn validate(fvo: &FachverfahrenOnboarding, settings: &PlatformSettings) -> Validated {
    let mut problems = problems(fvo);
    let desired = match resources::desired(fvo, settings) {
        Ok(d) => d,
        Err(e) => {
            problems.push(e.to_string());
            Vec::new()
        }
    };
    Validated {
        desired: if problems.is_empty() {
            desired
        } else {
            Vec::new()
        },
        problems,
    }
}

/// The problems of an onboarding's spec, each a sentence saying what to change.
pub fn problems(fvo: &FachverfahrenOnboarding) -> Vec<String> {
    let spec = &fvo.spec;
    let mut out = Vec::new();
    if fvo.metadata.name.as_deref().is_some_and(|n| n.len() > 63) {
        out.push("metadata.name must be at most 63 characters".to_string());
    }
    let mut seen = std::collections::BTreeSet::new();
    for env in &spec.environments {
        if !seen.insert(env.name.as_str()) {
            out.push(format!(
                "spec.environments: environment {:?} is declared twice",
                env.name
            ));
        }
        let ns = namespace_name(spec, &env.name);
        if ns.len() > 63 {
            out.push(format!("namespace {ns} is longer than 63 characters: shorten the environment or Fachverfahren name"));
        }
        if let Err(e) = env.quota.amounts() {
            out.push(format!("spec.environments[{}].quota.{e}", env.name));
        }
    }
    if spec.environments.is_empty() {
        out.push("spec.environments must declare at least one environment".to_string());
    }
    for (i, entry) in spec.access.iter().enumerate() {
        for e in entry.environments.iter().flatten() {
            if !spec.environments.iter().any(|env| &env.name == e) {
                out.push(format!(
                    "spec.access[{i}].environments names {e:?}, which is not a declared environment"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::moin_schule;

    #[test]
    fn realistic_onboarding_has_no_problems() {
        assert!(problems(&moin_schule()).is_empty());
    }

    #[test]
    fn unknown_access_environment_and_bad_quantity_are_reported_with_their_field() {
        let mut fvo = moin_schule();
        fvo.spec.access[0].environments = Some(vec!["staging".into()]);
        fvo.spec.environments[1].quota.memory = "lots".into();
        let p = problems(&fvo);
        assert!(
            p.iter()
                .any(|m| m.contains("spec.access[0].environments") && m.contains("staging")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.contains("spec.environments[prod].quota.memory")),
            "{p:?}"
        );
    }
}
