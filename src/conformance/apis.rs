//! API versions Kubernetes no longer serves (at the operator's floor, 1.33): an object in one of them is
//! refused on apply, so it is reported as `removed-api-version`. Its rules still run (by kind). Pure.

use serde_json::Value;

use super::engine::SourceObject;
use super::report::{Finding, ObjectRef};
use super::rules::RuleId;

/// A removed API version: `(apiVersion, kind or "*" for every kind, removed in, replacement)`.
type Removed = (&'static str, &'static str, &'static str, &'static str);

/// The API versions removed up to Kubernetes 1.33 that manifests still carry.
#[rustfmt::skip]
const REMOVED: &[Removed] = &[
    ("extensions/v1beta1", "Deployment", "1.16", "apps/v1"),
    ("extensions/v1beta1", "DaemonSet", "1.16", "apps/v1"),
    ("extensions/v1beta1", "ReplicaSet", "1.16", "apps/v1"),
    ("extensions/v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1"),
    ("extensions/v1beta1", "PodSecurityPolicy", "1.16", "Pod Security admission (namespace labels)"),
    ("extensions/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
    ("apps/v1beta1", "*", "1.16", "apps/v1"),
    ("apps/v1beta2", "*", "1.16", "apps/v1"),
    ("batch/v1beta1", "*", "1.25", "batch/v1"),
    ("batch/v2alpha1", "*", "1.21", "batch/v1"),
    ("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"),
    ("policy/v1beta1", "PodSecurityPolicy", "1.25", "Pod Security admission (namespace labels)"),
    ("networking.k8s.io/v1beta1", "*", "1.22", "networking.k8s.io/v1"),
    ("rbac.authorization.k8s.io/v1beta1", "*", "1.22", "rbac.authorization.k8s.io/v1"),
    ("rbac.authorization.k8s.io/v1alpha1", "*", "1.22", "rbac.authorization.k8s.io/v1"),
    ("apiextensions.k8s.io/v1beta1", "*", "1.22", "apiextensions.k8s.io/v1"),
    ("admissionregistration.k8s.io/v1beta1", "*", "1.22", "admissionregistration.k8s.io/v1"),
    ("apiregistration.k8s.io/v1beta1", "*", "1.22", "apiregistration.k8s.io/v1"),
    ("scheduling.k8s.io/v1beta1", "*", "1.22", "scheduling.k8s.io/v1"),
    ("scheduling.k8s.io/v1alpha1", "*", "1.22", "scheduling.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "*", "1.27", "storage.k8s.io/v1"),
    ("certificates.k8s.io/v1beta1", "*", "1.22", "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "*", "1.22", "coordination.k8s.io/v1"),
    ("autoscaling/v2beta1", "*", "1.25", "autoscaling/v2"),
    ("autoscaling/v2beta2", "*", "1.26", "autoscaling/v2"),
    ("discovery.k8s.io/v1beta1", "*", "1.25", "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "*", "1.25", "events.k8s.io/v1"),
    ("node.k8s.io/v1beta1", "*", "1.25", "node.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "*", "1.26", "flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "*", "1.29", "flowcontrol.apiserver.k8s.io/v1"),
];

/// Where an (apiVersion, kind) was removed and what replaces it.
fn removed(api_version: &str, kind: &str) -> Option<&'static Removed> {
    REMOVED
        .iter()
        .find(|(av, k, ..)| *av == api_version && (*k == "*" || *k == kind))
}

/// The `removed-api-version` findings of `objects`.
pub fn removed_api_findings(objects: &[SourceObject]) -> Vec<Finding> {
    objects
        .iter()
        .filter_map(|o| {
            let s = |k: &str| o.value.get(k).and_then(Value::as_str).unwrap_or_default();
            let (av, kind) = (s("apiVersion"), s("kind"));
            let (_, _, since, instead) = removed(av, kind)?;
            Some(Finding::meta(
                RuleId::RemovedApiVersion,
                ObjectRef::of(&o.value),
                o.location.clone(),
                format!("{av} {kind} was removed in Kubernetes {since}; use {instead}"),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_versions_are_found_by_kind_and_served_ones_are_not() {
        let obj = |av: &str, kind: &str| SourceObject {
            value: serde_json::json!({"apiVersion": av, "kind": kind, "metadata": {"name": "x"}}),
            location: None,
        };
        let objects = [
            obj("extensions/v1beta1", "DaemonSet"),
            obj("batch/v1beta1", "CronJob"),
            obj("apps/v1", "DaemonSet"),
            obj("networking.k8s.io/v1", "Ingress"),
            obj("extensions/v1beta1", "Unknown"),
        ];
        let found = removed_api_findings(&objects);
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "extensions/v1beta1 DaemonSet was removed in Kubernetes 1.16; use apps/v1",
                "batch/v1beta1 CronJob was removed in Kubernetes 1.25; use batch/v1",
            ]
        );
    }
}
