//! The reader ClusterRole of an onboarding, `conplus:fvo:<name>:reader`: what a member of one of
//! its access groups needs to see the onboarding itself (`kubectl get fvo NAME`, `kubectl conplus
//! status NAME`) and its Ressort's budget, and nothing of any other onboarding or Ressort.
//!
//! `FachverfahrenOnboarding` and `Ressort` are cluster-scoped, and the access groups are bound
//! only inside the onboarding's namespaces: without this role `kubectl get fvo` is forbidden to
//! them. Every rule is limited by `resourceNames`; `list` and `watch` by name are what `kubectl
//! get fvo NAME --watch` sends (a list or watch with `fieldSelector=metadata.name=NAME`), an
//! unfiltered list stays forbidden.
//!
//! Unlike the objects in the namespaces, the role and its binding carry an owner reference to
//! the onboarding: they hold no data, and the garbage collector removes them with it.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::{BuildError, MANAGED_BY, MANAGED_BY_VALUE, ONBOARDING, ownership_annotations};
use crate::api::{FachverfahrenOnboarding, GROUP, VERSION};

/// The name of the reader ClusterRole (and of its ClusterRoleBinding) of onboarding `name`.
pub fn name(onboarding: &str) -> String {
    format!("conplus:fvo:{onboarding}:reader")
}

/// The ownership labels of the reader role and binding (no environment: they belong to the
/// onboarding as a whole).
pub fn labels(onboarding: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (ONBOARDING.to_string(), onboarding.to_string()),
    ])
}

/// Metadata of the reader role and binding: name, ownership labels, the record of the
/// onboarding's uid and, when the onboarding is persisted, the owner reference the garbage
/// collector follows (`blockOwnerDeletion` unset: it would need the right to update the
/// onboarding's finalizers, and nothing has to wait for these objects).
pub fn metadata(fvo: &FachverfahrenOnboarding) -> Result<ObjectMeta, BuildError> {
    let onboarding = fvo
        .metadata
        .name
        .as_deref()
        .ok_or(BuildError::MissingName)?;
    let uid = fvo.metadata.uid.as_deref();
    Ok(ObjectMeta {
        name: Some(name(onboarding)),
        labels: Some(labels(onboarding)),
        annotations: Some(ownership_annotations(uid)).filter(|a| !a.is_empty()),
        owner_references: uid.map(|uid| {
            vec![OwnerReference {
                api_version: format!("{GROUP}/{VERSION}"),
                kind: "FachverfahrenOnboarding".to_string(),
                name: onboarding.to_string(),
                uid: uid.to_string(),
                controller: Some(true),
                block_owner_deletion: None,
            }]
        }),
        ..ObjectMeta::default()
    })
}

/// Builds the reader ClusterRole of `fvo`.
pub fn build(fvo: &FachverfahrenOnboarding) -> Result<ClusterRole, BuildError> {
    let metadata = metadata(fvo)?;
    let onboarding = fvo.metadata.name.clone().unwrap_or_default();
    let rule = |resource: &str, name: String, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![GROUP.to_string()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: Some(vec![name]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        non_resource_urls: None,
    };
    Ok(ClusterRole {
        metadata,
        rules: Some(vec![
            rule(
                "fachverfahrenonboardings",
                onboarding,
                &["get", "list", "watch"],
            ),
            rule("ressorts", fvo.spec.ressort.clone(), &["get"]),
        ]),
        aggregation_rule: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ONBOARDING_UID;
    use crate::resources::fixtures::moin_schule;

    #[test]
    fn the_reader_role_grants_reading_only_the_onboarding_and_its_ressort_by_name() {
        let role = build(&moin_schule()).unwrap();
        assert_eq!(
            role.metadata.name.as_deref(),
            Some("conplus:fvo:mk-moin-schule-onboarding:reader")
        );
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 2);
        for r in &rules {
            assert_eq!(r.api_groups.as_deref(), Some(&[GROUP.to_string()][..]));
            assert_eq!(
                r.resource_names.as_ref().map(Vec::len),
                Some(1),
                "every rule is limited to one name: {r:?}"
            );
            assert!(
                r.verbs
                    .iter()
                    .all(|v| ["get", "list", "watch"].contains(&v.as_str())),
                "read verbs only: {r:?}"
            );
        }
        let fvo_rule = &rules[0];
        assert_eq!(
            fvo_rule.resources.as_deref(),
            Some(&["fachverfahrenonboardings".to_string()][..])
        );
        assert_eq!(
            fvo_rule.resource_names.as_deref(),
            Some(&["mk-moin-schule-onboarding".to_string()][..])
        );
        let ressort_rule = &rules[1];
        assert_eq!(
            ressort_rule.resources.as_deref(),
            Some(&["ressorts".to_string()][..])
        );
        assert_eq!(
            ressort_rule.resource_names.as_deref(),
            Some(&["mk".to_string()][..])
        );
        assert_eq!(ressort_rule.verbs, ["get"]);
    }

    #[test]
    fn the_reader_role_carries_the_ownership_record_and_an_owner_reference_for_the_collector() {
        let fvo = moin_schule();
        let meta = build(&fvo).unwrap().metadata;
        let labels = meta.labels.unwrap();
        assert_eq!(
            labels.get(MANAGED_BY).map(String::as_str),
            Some("conplus-operator")
        );
        assert_eq!(
            labels.get(ONBOARDING).map(String::as_str),
            Some("mk-moin-schule-onboarding")
        );
        let annotations = meta.annotations.unwrap();
        assert_eq!(
            annotations.get(ONBOARDING_UID).map(String::as_str),
            Some("uid-1")
        );
        let owner = &meta.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            (
                "FachverfahrenOnboarding",
                "mk-moin-schule-onboarding",
                "uid-1"
            )
        );
        assert_eq!(owner.api_version, "conplus.niedersachsen.de/v1alpha1");
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, None);
    }

    #[test]
    fn an_onboarding_not_yet_persisted_gets_neither_record_nor_owner_reference() {
        let mut fvo = moin_schule();
        fvo.metadata.uid = None;
        let meta = build(&fvo).unwrap().metadata;
        assert_eq!(meta.annotations, None);
        assert_eq!(meta.owner_references, None);
        fvo.metadata.name = None;
        assert_eq!(build(&fvo), Err(BuildError::MissingName));
    }
}
