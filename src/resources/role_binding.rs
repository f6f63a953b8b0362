//! RoleBindings from the onboarding's access groups to the ClusterRoles `admin`, `edit`, `view`.

use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};

use super::{EnvContext, stable_hash};
use crate::api::AccessEntry;

/// Prefix of every RoleBinding the operator creates.
pub const PREFIX: &str = "conplus-";

/// The name of the binding of one group and role. The role is part of the name because a
/// RoleBinding's `roleRef` is immutable: a changed role is a new binding and the old one is
/// pruned. Group names from an identity provider may contain any character, so the name has
/// a readable, sanitised part and a hash of the exact group.
pub fn binding_name(entry: &AccessEntry) -> String {
    let readable: String = entry
        .group
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let readable: String = readable.chars().take(40).collect();
    let readable = readable.trim_end_matches('-');
    let hash = stable_hash(&serde_json::Value::String(entry.group.clone()));
    format!(
        "{PREFIX}{}-{readable}-{}",
        entry.role.cluster_role(),
        &hash[..8]
    )
}

/// Builds the bindings of one environment: one per access entry that covers it.
pub fn build(ctx: &EnvContext<'_>) -> Vec<RoleBinding> {
    let mut bindings: Vec<RoleBinding> = ctx
        .spec
        .access
        .iter()
        .filter(|entry| {
            entry
                .environments
                .as_ref()
                .is_none_or(|envs| envs.iter().any(|e| e == ctx.environment))
        })
        .map(|entry| RoleBinding {
            metadata: ctx.metadata(&binding_name(entry)),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_string(),
                kind: "ClusterRole".to_string(),
                name: entry.role.cluster_role().to_string(),
            },
            subjects: Some(vec![Subject {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: "Group".to_string(),
                name: entry.group.clone(),
                namespace: None,
            }]),
        })
        .collect();
    // The same group and role listed twice is one binding.
    bindings.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    bindings.dedup_by(|a, b| a.metadata.name == b.metadata.name);
    bindings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AccessRole;
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule};

    #[test]
    fn access_entries_become_bindings_only_in_their_environments() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let dev: Vec<_> = envs[0]
            .role_bindings
            .iter()
            .map(|b| b.role_ref.name.clone())
            .collect();
        let prod: Vec<_> = envs[1]
            .role_bindings
            .iter()
            .map(|b| b.role_ref.name.clone())
            .collect();
        assert_eq!(dev, ["admin", "edit"]);
        assert_eq!(
            prod,
            ["admin"],
            "the dev-only edit group must not reach prod"
        );
        let subject = &envs[1].role_bindings[0].subjects.clone().unwrap()[0];
        assert_eq!(
            (subject.kind.as_str(), subject.name.as_str()),
            ("Group", "mk-moin-schule-ops")
        );
    }

    #[test]
    fn binding_names_are_valid_and_distinct_for_groups_that_sanitise_alike() {
        let a = AccessEntry {
            group: "CN=MK Devs,OU=Groups".into(),
            role: AccessRole::View,
            environments: None,
        };
        let b = AccessEntry {
            group: "cn=mk-devs ou=groups".into(),
            role: AccessRole::View,
            environments: None,
        };
        let (na, nb) = (binding_name(&a), binding_name(&b));
        assert_ne!(na, nb);
        let re = regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap();
        assert!(re.is_match(&na) && na.len() <= 63, "{na}");
        assert!(na.starts_with("conplus-view-cn-mk-devs-ou-groups-"), "{na}");
    }
}
