//! The binding of an onboarding's reader ClusterRole (see [`super::cluster_role`]) to every
//! group of its `spec.access`, whatever role and environments the entry names: whoever works in
//! one of its namespaces may see the onboarding.
//!
//! One binding per onboarding, named like the role; a removed group leaves its subjects.

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};

use super::BuildError;
use super::cluster_role;
use crate::api::FachverfahrenOnboarding;

/// Builds the reader ClusterRoleBinding of `fvo`: every access group once, sorted.
pub fn build(fvo: &FachverfahrenOnboarding) -> Result<ClusterRoleBinding, BuildError> {
    let metadata = cluster_role::metadata(fvo)?;
    let mut groups: Vec<&str> = fvo.spec.access.iter().map(|a| a.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    Ok(ClusterRoleBinding {
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "ClusterRole".to_string(),
            name: metadata.name.clone().unwrap_or_default(),
        },
        metadata,
        // No groups: no `subjects` at all (the API server drops an empty list, and the
        // comparison with what it stored would never match).
        subjects: Some(
            groups
                .into_iter()
                .map(|g| Subject {
                    api_group: Some("rbac.authorization.k8s.io".to_string()),
                    kind: "Group".to_string(),
                    name: g.to_string(),
                    namespace: None,
                })
                .collect::<Vec<_>>(),
        )
        .filter(|s| !s.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AccessEntry, AccessRole};
    use crate::resources::fixtures::moin_schule;

    fn groups(b: &ClusterRoleBinding) -> Vec<String> {
        b.subjects
            .iter()
            .flatten()
            .map(|s| {
                assert_eq!(s.kind, "Group");
                s.name.clone()
            })
            .collect()
    }

    #[test]
    fn every_access_group_is_bound_once_to_the_onboardings_reader_role() {
        let mut fvo = moin_schule();
        // The same group a second time, with another role: still one subject.
        fvo.spec.access.push(AccessEntry {
            group: "mk-moin-schule-devs".into(),
            role: AccessRole::View,
            environments: None,
        });
        let b = build(&fvo).unwrap();
        assert_eq!(groups(&b), ["mk-moin-schule-devs", "mk-moin-schule-ops"]);
        assert_eq!(b.role_ref.kind, "ClusterRole");
        assert_eq!(
            b.role_ref.name,
            "conplus:fvo:mk-moin-schule-onboarding:reader"
        );
        assert_eq!(b.metadata.name.as_deref(), Some(b.role_ref.name.as_str()));
        assert!(b.metadata.owner_references.is_some());
    }

    #[test]
    fn a_removed_group_is_no_longer_bound() {
        let mut fvo = moin_schule();
        fvo.spec.access.retain(|a| a.group != "mk-moin-schule-devs");
        assert_eq!(groups(&build(&fvo).unwrap()), ["mk-moin-schule-ops"]);
        fvo.spec.access.clear();
        assert_eq!(build(&fvo).unwrap().subjects, None);
    }
}
