//! The Namespace of an environment: identity labels, ownership labels and Pod Security labels.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    EnvContext, FACHVERFAHREN, PROTECTION_LEVEL, RESSORT, ownership_annotations, ownership_labels,
};
use crate::api::ProtectionLevel;

/// Pod Security Admission label keys.
pub const PSS_ENFORCE: &str = "pod-security.kubernetes.io/enforce";
const PSS_ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
const PSS_AUDIT: &str = "pod-security.kubernetes.io/audit";
const PSS_AUDIT_VERSION: &str = "pod-security.kubernetes.io/audit-version";
const PSS_WARN: &str = "pod-security.kubernetes.io/warn";
const PSS_WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

/// Annotation keys for the consolidation inventory.
pub const DISPLAY_NAME: &str = "conplus.niedersachsen.de/display-name";
const OWNER_ORGANISATION: &str = "conplus.niedersachsen.de/owner-organisation";
const OWNER_CONTACT: &str = "conplus.niedersachsen.de/owner-contact";
/// Label key of the `Verwaltungsaufgabe` the Fachverfahren carries out (`kubectl get ns -l
/// conplus.niedersachsen.de/aufgabe=zeiterfassung`).
pub const AUFGABE: &str = "conplus.niedersachsen.de/aufgabe";
/// Annotation naming the namespaces (comma-separated) the onboarding admits traffic from
/// (`spec.network.allowFromNamespaces`): the namespace says which cross-namespace ingress is declared
/// (BSI APP.4.4.A7), also to `conplus-operator check` over rendered manifests.
pub const ALLOW_FROM_NAMESPACES: &str = "conplus.niedersachsen.de/allow-from-namespaces";

/// The Pod Security level enforced for a protection level: `baseline` for normal, `restricted`
/// from high on (BSI SYS.1.6.A17 at elevated protection requirement).
pub fn enforced_level(level: ProtectionLevel) -> &'static str {
    match level {
        ProtectionLevel::Normal => "baseline",
        ProtectionLevel::High | ProtectionLevel::VeryHigh => "restricted",
    }
}

/// Builds the namespace of one environment.
pub fn build(ctx: &EnvContext<'_>) -> Namespace {
    let spec = ctx.spec;
    let mut labels = ownership_labels(ctx.onboarding, ctx.environment);
    labels.extend([
        (RESSORT.to_string(), spec.ressort.clone()),
        (FACHVERFAHREN.to_string(), spec.fachverfahren.clone()),
        (
            PROTECTION_LEVEL.to_string(),
            spec.protection_level.as_str().to_string(),
        ),
        (
            PSS_ENFORCE.to_string(),
            enforced_level(spec.protection_level).to_string(),
        ),
        (PSS_ENFORCE_VERSION.to_string(), "latest".to_string()),
        // Restricted is always audited and warned, so that teams at `normal` see what they
        // would have to change before their protection level is raised.
        (PSS_AUDIT.to_string(), "restricted".to_string()),
        (PSS_AUDIT_VERSION.to_string(), "latest".to_string()),
        (PSS_WARN.to_string(), "restricted".to_string()),
        (PSS_WARN_VERSION.to_string(), "latest".to_string()),
    ]);
    if let Some(aufgabe) = &spec.aufgabe {
        labels.insert(AUFGABE.to_string(), aufgabe.clone());
    }
    let mut annotations = BTreeMap::from([
        (DISPLAY_NAME.to_string(), spec.display_name.clone()),
        (
            OWNER_ORGANISATION.to_string(),
            spec.owner.organisation.clone(),
        ),
        (OWNER_CONTACT.to_string(), spec.owner.contact.clone()),
    ]);
    if !spec.network.allow_from_namespaces.is_empty() {
        annotations.insert(
            ALLOW_FROM_NAMESPACES.to_string(),
            spec.network.allow_from_namespaces.join(","),
        );
    }
    annotations.extend(ownership_annotations(ctx.uid));
    Namespace {
        metadata: ObjectMeta {
            name: Some(ctx.namespace.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProtectionLevel;
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule};

    #[test]
    fn namespace_records_the_declared_source_namespaces_only_when_there_are_some() {
        let mut fvo = moin_schule();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let ann = envs[0].namespace.metadata.annotations.clone().unwrap();
        assert_eq!(
            ann.get(ALLOW_FROM_NAMESPACES).map(String::as_str),
            Some("mk-portal-prod")
        );
        fvo.spec.network.allow_from_namespaces.clear();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let ann = envs[0].namespace.metadata.annotations.clone().unwrap();
        assert!(!ann.contains_key(ALLOW_FROM_NAMESPACES), "{ann:?}");
    }

    #[test]
    fn namespace_carries_identity_ownership_and_pod_security_labels() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let ns = &envs[1].namespace;
        assert_eq!(ns.metadata.name.as_deref(), Some("mk-moin-schule-prod"));
        let labels = ns.metadata.labels.clone().unwrap();
        let expect = [
            ("app.kubernetes.io/managed-by", "conplus-operator"),
            (
                "conplus.niedersachsen.de/onboarding",
                "mk-moin-schule-onboarding",
            ),
            ("conplus.niedersachsen.de/ressort", "mk"),
            ("conplus.niedersachsen.de/fachverfahren", "moin-schule"),
            ("conplus.niedersachsen.de/environment", "prod"),
            ("conplus.niedersachsen.de/protection-level", "high"),
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/audit", "restricted"),
            ("pod-security.kubernetes.io/warn", "restricted"),
        ];
        for (k, v) in expect {
            assert_eq!(
                labels.get(k).map(String::as_str),
                Some(v),
                "label {k} on {labels:?}"
            );
        }
        let ann = ns.metadata.annotations.clone().unwrap();
        assert_eq!(
            ann.get(DISPLAY_NAME).map(String::as_str),
            Some("moin.schule")
        );
        assert!(
            ns.metadata.owner_references.is_none(),
            "namespaces must never be garbage-collected"
        );
    }

    #[test]
    fn normal_protection_enforces_baseline_and_audits_restricted() {
        let mut fvo = moin_schule();
        fvo.spec.protection_level = ProtectionLevel::Normal;
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let labels = envs[0].namespace.metadata.labels.clone().unwrap();
        assert_eq!(labels[PSS_ENFORCE], "baseline");
        assert_eq!(labels[PSS_AUDIT], "restricted");
        assert_eq!(labels[PSS_WARN], "restricted");
        assert_eq!(enforced_level(ProtectionLevel::VeryHigh), "restricted");
    }
}
