//! Ownership (pure): whether an object is proven to be one the operator created for an
//! onboarding, and what a declared namespace is to it ([`namespace_state`]).
//!
//! A label selects, it does not prove: anyone may copy the operator's labels onto a namespace
//! or copy one of its objects elsewhere. An object counts as this onboarding's only with
//! proof ([`proven_environment`], [`proves_object`]): the ownership labels naming the
//! onboarding, the record [`ONBOARDING_UID`] carrying its uid, and for a namespace its name
//! `<ressort>-<fachverfahren>-<environment>` derived from the spec with the environment its
//! label names; a namespaced object must in addition be in such a namespace and name the same
//! environment. Only what is proven is changed, pruned, released or deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::model::{NamespaceState, namespace_active};
use crate::api::FachverfahrenOnboarding;
use crate::resources::{
    ENVIRONMENT, MANAGED_BY, MANAGED_BY_VALUE, ONBOARDING, ONBOARDING_UID, RELEASED_FROM,
    namespace_name, released_from,
};

fn is_labelled_for(labels: &BTreeMap<String, String>, onboarding: &str) -> bool {
    labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && labels.get(ONBOARDING).map(String::as_str) == Some(onboarding)
}

/// Whether `meta` carries the ownership labels naming `fvo` and the record of its uid.
fn has_record(meta: &ObjectMeta, fvo: &FachverfahrenOnboarding) -> bool {
    let (Some(name), Some(uid)) = (fvo.metadata.name.as_deref(), fvo.metadata.uid.as_deref())
    else {
        return false;
    };
    meta.labels
        .as_ref()
        .is_some_and(|l| is_labelled_for(l, name))
        && meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(ONBOARDING_UID))
            .is_some_and(|u| u == uid)
}

/// The environment of `ns` when it is proven to be a namespace the operator created for
/// `fvo`: its record and labels name `fvo`, and its name is the one `fvo`'s spec gives the
/// environment its label names.
pub fn proven_environment(fvo: &FachverfahrenOnboarding, ns: &Namespace) -> Option<String> {
    if !has_record(&ns.metadata, fvo) {
        return None;
    }
    let env = ns.labels().get(ENVIRONMENT)?;
    (ns.metadata.name.as_deref() == Some(namespace_name(&fvo.spec, env).as_str()))
        .then(|| env.clone())
}

/// Whether a namespaced object is proven to be one the operator created for `fvo`: its record
/// and labels name `fvo`, and it sits in one of `fvo`'s proven namespaces (`namespaces`:
/// namespace → environment) whose environment its label names. A copy into another namespace
/// proves nothing.
pub fn proves_object(
    fvo: &FachverfahrenOnboarding,
    meta: &ObjectMeta,
    namespaces: &BTreeMap<String, String>,
) -> bool {
    let env = meta.labels.as_ref().and_then(|l| l.get(ENVIRONMENT));
    has_record(meta, fvo)
        && meta
            .namespace
            .as_ref()
            .and_then(|ns| namespaces.get(ns))
            .is_some_and(|proven| Some(proven) == env)
}
/// Whether a cluster-scoped object (the reader ClusterRole and ClusterRoleBinding of `fvo`) is
/// proven to be one the operator created for `fvo`: its record and labels name `fvo`. An object
/// of the same name without them — someone else's, or one left by an earlier onboarding of the
/// same name (another uid) — is not touched.
pub fn proves_cluster_object(fvo: &FachverfahrenOnboarding, meta: &ObjectMeta) -> bool {
    meta.namespace.is_none() && has_record(meta, fvo)
}

/// Whether `ns` was released by the operator from an onboarding of `fvo`'s Ressort and
/// Fachverfahren and is nobody's since: its record says so, no onboarding's record is on it,
/// and its name is one `fvo`'s spec derives.
pub fn released_for(fvo: &FachverfahrenOnboarding, ns: &Namespace) -> bool {
    let annotations = ns.annotations();
    annotations.get(RELEASED_FROM) == Some(&released_from(&fvo.spec))
        && !annotations.contains_key(ONBOARDING_UID)
        && fvo.spec.environments.iter().any(|e| {
            ns.metadata.name.as_deref() == Some(namespace_name(&fvo.spec, &e.name).as_str())
        })
}

/// Whether `ns` was provisioned for `fvo` by a version of the operator that wrote no ownership
/// record: it carries no record, its labels name `fvo` and its environment, its name is the one
/// the spec gives that environment, and `fvo`'s status — which only the operator writes —
/// lists it as provisioned. Such a namespace is provisioned again (which writes the record);
/// until then it is not proven, and nothing in it is pruned and it is never deleted.
pub fn provisioned_before_records(fvo: &FachverfahrenOnboarding, ns: &Namespace) -> bool {
    let (Some(name), Some(env)) = (fvo.metadata.name.as_deref(), ns.labels().get(ENVIRONMENT))
    else {
        return false;
    };
    let ns_name = ns.name_any();
    let annotations = ns.annotations();
    is_labelled_for(ns.labels(), name)
        && !annotations.contains_key(ONBOARDING_UID)
        && !annotations.contains_key(RELEASED_FROM)
        && ns_name == namespace_name(&fvo.spec, env)
        && fvo.status.as_ref().is_some_and(|s| {
            s.namespaces
                .iter()
                .any(|n| n.ready && n.name == ns_name && &n.environment == env)
        })
}

/// What a declared namespace is to `fvo` (pure).
pub fn namespace_state(
    fvo: &FachverfahrenOnboarding,
    found: Option<Arc<Namespace>>,
) -> NamespaceState {
    let name = fvo.name_any();
    match found {
        None => NamespaceState::Absent,
        Some(ns) if proven_environment(fvo, &ns).is_some() => {
            if namespace_active(&ns) {
                NamespaceState::Ours(ns)
            } else {
                NamespaceState::Terminating
            }
        }
        Some(ns) if provisioned_before_records(fvo, &ns) => {
            // Ours by the onboarding's status; the apply writes the record.
            if namespace_active(&ns) {
                NamespaceState::Ours(ns)
            } else {
                NamespaceState::Terminating
            }
        }
        Some(ns) if released_for(fvo, &ns) => {
            if namespace_active(&ns) {
                NamespaceState::Released(ns)
            } else {
                NamespaceState::Terminating
            }
        }
        Some(ns) => {
            let labels = ns.labels();
            // Another onboarding's label is named to help; labels naming this one without
            // the record are copies, and the namespace is simply not ours.
            let claimed_by = (labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE))
                .then(|| labels.get(ONBOARDING).cloned())
                .flatten()
                .filter(|other| *other != name);
            // A foreign namespace, even one going away, is never ours to take.
            NamespaceState::Foreign { claimed_by }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::moin_schule;
    use crate::resources::{PlatformSettings, desired};

    /// The namespace and default-deny policy the operator builds for moin.schule's `prod`.
    fn built() -> (FachverfahrenOnboarding, Namespace, ObjectMeta) {
        let fvo = moin_schule();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let prod = envs.into_iter().nth(1).unwrap();
        let policy = prod.network_policies[0].metadata.clone();
        (fvo, prod.namespace, policy)
    }

    fn proven_map(ns: &Namespace, env: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(ns.name_any(), env.to_string())])
    }

    #[test]
    fn a_namespace_the_operator_built_is_proven_with_its_environment() {
        let (fvo, ns, _) = built();
        assert_eq!(proven_environment(&fvo, &ns).as_deref(), Some("prod"));
    }

    #[test]
    fn copied_labels_on_a_foreign_namespace_prove_nothing() {
        let (fvo, ours, _) = built();
        // Labels and even the record copied onto a namespace of another name.
        let mut foreign = ours.clone();
        foreign.metadata.name = Some("team-database".into());
        assert_eq!(proven_environment(&fvo, &foreign), None);
        // The right name and labels, but without the record.
        let mut unrecorded = ours.clone();
        unrecorded.metadata.annotations = None;
        assert_eq!(proven_environment(&fvo, &unrecorded), None);
        // The record of another onboarding (another uid: a recreated onboarding of that name).
        let mut other_uid = ours.clone();
        other_uid
            .annotations_mut()
            .insert(ONBOARDING_UID.into(), "uid-2".into());
        assert_eq!(proven_environment(&fvo, &other_uid), None);
        // The environment label changed to one whose namespace would have another name.
        let mut relabelled = ours;
        relabelled
            .labels_mut()
            .insert(ENVIRONMENT.into(), "dev".into());
        assert_eq!(proven_environment(&fvo, &relabelled), None);
    }

    #[test]
    fn a_namespace_released_for_the_same_ressort_and_fachverfahren_is_adopted_again() {
        let (fvo, ours, _) = built();
        // As `release_namespace` leaves it: no ownership labels or record, the release record.
        let mut released = ours.clone();
        released.labels_mut().remove(MANAGED_BY);
        released.labels_mut().remove(ONBOARDING);
        released.annotations_mut().remove(ONBOARDING_UID);
        released
            .annotations_mut()
            .insert(RELEASED_FROM.into(), "mk/moin-schule".into());
        // A recreated onboarding (another uid, another name) of the same Fachverfahren.
        let mut again = fvo.clone();
        again.metadata.name = Some("moin-schule-again".into());
        again.metadata.uid = Some("uid-2".into());
        assert!(matches!(
            namespace_state(&again, Some(Arc::new(released.clone()))),
            NamespaceState::Released(_)
        ));
        // Released by another Fachverfahren: not this one's to take.
        let mut other = released.clone();
        other
            .annotations_mut()
            .insert(RELEASED_FROM.into(), "mk/other".into());
        assert!(matches!(
            namespace_state(&again, Some(Arc::new(other))),
            NamespaceState::Foreign { .. }
        ));
        // Adopted by someone since (their record is on it): not released any more.
        let mut adopted = released;
        adopted
            .annotations_mut()
            .insert(ONBOARDING_UID.into(), "uid-3".into());
        assert!(matches!(
            namespace_state(&again, Some(Arc::new(adopted))),
            NamespaceState::Foreign { .. }
        ));
        assert!(matches!(
            namespace_state(&fvo, Some(Arc::new(ours))),
            NamespaceState::Ours(_)
        ));
    }

    #[test]
    fn a_namespace_provisioned_before_records_is_ours_by_the_onboardings_status_only() {
        let (mut fvo, ours, _) = built();
        let mut legacy = ours;
        legacy.annotations_mut().remove(ONBOARDING_UID);
        assert!(matches!(
            namespace_state(&fvo, Some(Arc::new(legacy.clone()))),
            NamespaceState::Foreign { .. }
        ));
        fvo.status = Some(crate::api::FachverfahrenOnboardingStatus {
            namespaces: vec![crate::api::NamespaceStatus {
                environment: "prod".into(),
                name: "mk-moin-schule-prod".into(),
                ready: true,
                message: None,
            }],
            ..Default::default()
        });
        assert!(matches!(
            namespace_state(&fvo, Some(Arc::new(legacy.clone()))),
            NamespaceState::Ours(_)
        ));
        assert_eq!(
            proven_environment(&fvo, &legacy),
            None,
            "not proven: never pruned or deleted until the record is written"
        );
        // Copied labels on a namespace of another name are not helped by the status.
        let mut foreign = legacy;
        foreign.metadata.name = Some("team-database".into());
        assert!(!provisioned_before_records(&fvo, &foreign));
    }

    #[test]
    fn a_reader_role_is_proven_by_its_record_only_not_by_its_name() {
        let fvo = moin_schule();
        let ours = crate::resources::cluster_role::build(&fvo)
            .unwrap()
            .metadata;
        assert!(proves_cluster_object(&fvo, &ours));
        // Same name, created by someone else.
        let foreign = ObjectMeta {
            name: ours.name.clone(),
            ..ObjectMeta::default()
        };
        assert!(!proves_cluster_object(&fvo, &foreign));
        // Left by an earlier onboarding of the same name.
        let mut earlier = ours.clone();
        earlier
            .annotations
            .get_or_insert_default()
            .insert(ONBOARDING_UID.into(), "uid-0".into());
        assert!(!proves_cluster_object(&fvo, &earlier));
    }

    #[test]
    fn an_object_is_proven_only_in_a_proven_namespace_of_its_own_environment() {
        let (fvo, ns, policy) = built();
        let proven = proven_map(&ns, "prod");
        assert!(proves_object(&fvo, &policy, &proven));
        // Copied with labels and record into a namespace that is not proven ours.
        let mut copied = policy.clone();
        copied.namespace = Some("team-database".into());
        assert!(!proves_object(&fvo, &copied, &proven));
        // Copied into another of the onboarding's namespaces: its environment label gives it away.
        let mut other_env = policy.clone();
        other_env.namespace = Some("mk-moin-schule-dev".into());
        let both = BTreeMap::from([
            ("mk-moin-schule-prod".to_string(), "prod".to_string()),
            ("mk-moin-schule-dev".to_string(), "dev".to_string()),
        ]);
        assert!(!proves_object(&fvo, &other_env, &both));
        // The labels alone, without the record.
        let mut unrecorded = policy;
        unrecorded.annotations = None;
        assert!(!proves_object(&fvo, &unrecorded, &proven));
    }
}
