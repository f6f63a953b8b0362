//! The namespace's `default` ServiceAccount with token automount switched off (BSI APP.4.4.A9).
//!
//! The `default` ServiceAccount is created by Kubernetes, not by the operator: only the one
//! field is applied, without ownership labels, so that it is never pruned.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The ServiceAccount Kubernetes creates in every namespace.
pub const NAME: &str = "default";

/// Builds the apply configuration of the `default` ServiceAccount of `namespace`.
pub fn build(namespace: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(NAME.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule};

    #[test]
    fn default_service_account_only_switches_off_token_automount() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let sa = &envs[0].default_service_account;
        assert_eq!(sa.metadata.name.as_deref(), Some("default"));
        assert_eq!(sa.metadata.namespace.as_deref(), Some("mk-moin-schule-dev"));
        assert_eq!(sa.automount_service_account_token, Some(false));
        assert!(
            sa.metadata.labels.is_none(),
            "not ours: must carry no ownership label"
        );
    }
}
