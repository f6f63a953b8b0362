//! Pure builders of the Kubernetes objects an onboarding produces (no I/O): one file per
//! kind, and this module for the names, labels and platform settings they share.
//!
//! The labels select what the operator watches; they are not proof of ownership, since anyone
//! can copy a label. Every object the operator creates also carries the record
//! [`ONBOARDING_UID`] (the onboarding's uid), and the controller deletes or prunes only what
//! it can prove it created for that onboarding: the record, the ownership labels, and for a
//! namespace its name derived from the spec (see `controller::observe`). No owner references
//! are set on purpose: garbage collection would delete namespaces (and their data) when an
//! onboarding is deleted with `deletionPolicy: Retain`. The exception are the onboarding's reader
//! ClusterRole and ClusterRoleBinding ([`cluster_role`], [`cluster_role_binding`]): they hold no
//! data and go with the onboarding.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;

use crate::api::{Amounts, FachverfahrenOnboarding, FachverfahrenOnboardingSpec, ResourceName};

pub mod cluster_role;
pub mod cluster_role_binding;
pub mod limit_range;
pub mod namespace;
pub mod network_policy;
pub mod resource_quota;
pub mod role_binding;
pub mod service_account;

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "conplus-operator";
/// `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "conplus-operator";
/// The onboarding an object belongs to.
pub const ONBOARDING: &str = "conplus.niedersachsen.de/onboarding";
/// The record of the operator on every object it creates: the uid of the onboarding it was
/// created for. Under the `conplus.niedersachsen.de/onboarding` prefix, which the admission
/// policies of the chart and `deploy/admission` let only the operator set.
pub const ONBOARDING_UID: &str = "conplus.niedersachsen.de/onboarding-uid";
/// The record the operator leaves on a namespace it released (`deletionPolicy: Retain`):
/// `<ressort>/<fachverfahren>` of the onboarding that released it, so that an onboarding of the
/// same Ressort and Fachverfahren may adopt it again.
pub const RELEASED_FROM: &str = "conplus.niedersachsen.de/onboarding-released-from";
/// The Ressort of a namespace.
pub const RESSORT: &str = "conplus.niedersachsen.de/ressort";
/// The Fachverfahren of a namespace.
pub const FACHVERFAHREN: &str = "conplus.niedersachsen.de/fachverfahren";
/// The environment an object belongs to.
pub const ENVIRONMENT: &str = "conplus.niedersachsen.de/environment";
/// The protection level of a namespace.
pub const PROTECTION_LEVEL: &str = "conplus.niedersachsen.de/protection-level";
/// Hash of the desired object as last applied: a changed template is re-applied even when
/// it only removes fields (which a comparison of present fields cannot see).
pub const APPLIED_HASH: &str = "conplus.niedersachsen.de/applied-hash";
/// Label selector of everything the operator manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=conplus-operator";

/// Platform settings that come from the operator's configuration, not from an onboarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSettings {
    /// Namespace of the platform's ingress controller: always allowed to reach workloads.
    pub ingress_namespace: String,
    /// Namespace of the cluster DNS: every pod may reach it on port 53.
    pub dns_namespace: String,
    /// Namespace of the monitoring stack: allowed to scrape workloads.
    pub monitoring_namespace: String,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        PlatformSettings {
            ingress_namespace: "ingress-nginx".to_string(),
            dns_namespace: "kube-system".to_string(),
            monitoring_namespace: "monitoring".to_string(),
        }
    }
}

/// Why the objects of an onboarding cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A quota value is not a quantity (the CRD schema normally prevents this).
    #[error("spec.environments[{environment}].quota.{source}")]
    InvalidQuota {
        /// The environment.
        environment: String,
        /// The parse error.
        source: crate::api::common::TotalsError,
    },
    /// The onboarding has no name (never for an object read from the API).
    #[error("the onboarding has no metadata.name")]
    MissingName,
}

/// Everything one environment consists of.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredEnvironment {
    /// The environment's name.
    pub environment: String,
    /// Its quota, parsed.
    pub quota: Amounts,
    /// The namespace.
    pub namespace: Namespace,
    /// Its ResourceQuota.
    pub resource_quota: ResourceQuota,
    /// Its LimitRange.
    pub limit_range: LimitRange,
    /// Its NetworkPolicies, default deny first.
    pub network_policies: Vec<NetworkPolicy>,
    /// One RoleBinding per access entry that covers the environment.
    pub role_bindings: Vec<RoleBinding>,
    /// The `default` ServiceAccount's token automount switched off.
    pub default_service_account: ServiceAccount,
}

/// The namespace name of an environment: `<ressort>-<fachverfahren>-<environment>`.
pub fn namespace_name(spec: &FachverfahrenOnboardingSpec, environment: &str) -> String {
    format!("{}-{}-{}", spec.ressort, spec.fachverfahren, environment)
}

/// The value of [`RELEASED_FROM`] for an onboarding's spec.
pub fn released_from(spec: &FachverfahrenOnboardingSpec) -> String {
    format!("{}/{}", spec.ressort, spec.fachverfahren)
}

/// The ownership record every object of an environment carries (none for an onboarding that
/// is not persisted yet, as in `render`).
pub fn ownership_annotations(uid: Option<&str>) -> BTreeMap<String, String> {
    uid.map(|u| (ONBOARDING_UID.to_string(), u.to_string()))
        .into_iter()
        .collect()
}

/// The ownership labels every object of an environment carries.
pub fn ownership_labels(onboarding: &str, environment: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (ONBOARDING.to_string(), onboarding.to_string()),
        (ENVIRONMENT.to_string(), environment.to_string()),
    ])
}

/// Builds every object of every environment of `fvo`.
pub fn desired(
    fvo: &FachverfahrenOnboarding,
    settings: &PlatformSettings,
) -> Result<Vec<DesiredEnvironment>, BuildError> {
    let name = fvo
        .metadata
        .name
        .as_deref()
        .ok_or(BuildError::MissingName)?;
    let spec = &fvo.spec;
    spec.environments
        .iter()
        .map(|env| {
            let quota = env
                .quota
                .amounts()
                .map_err(|source| BuildError::InvalidQuota {
                    environment: env.name.clone(),
                    source,
                })?;
            let ns = namespace_name(spec, &env.name);
            let ctx = EnvContext {
                onboarding: name,
                uid: fvo.metadata.uid.as_deref(),
                spec,
                environment: &env.name,
                namespace: &ns,
            };
            Ok(DesiredEnvironment {
                environment: env.name.clone(),
                quota,
                namespace: namespace::build(&ctx),
                resource_quota: resource_quota::build(&ctx, &quota),
                limit_range: limit_range::build(&ctx, &quota),
                network_policies: network_policy::build(&ctx, settings),
                role_bindings: role_binding::build(&ctx),
                default_service_account: service_account::build(&ns),
            })
        })
        .collect()
}

/// What every builder of one environment needs.
#[derive(Clone, Copy, Debug)]
pub struct EnvContext<'a> {
    /// The onboarding's name.
    pub onboarding: &'a str,
    /// Its uid (the ownership record), when it is persisted.
    pub uid: Option<&'a str>,
    /// Its spec.
    pub spec: &'a FachverfahrenOnboardingSpec,
    /// The environment's name.
    pub environment: &'a str,
    /// The environment's namespace.
    pub namespace: &'a str,
}

impl EnvContext<'_> {
    /// Object metadata with the ownership labels and record, in the environment's namespace.
    pub fn metadata(
        &self,
        name: &str,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.to_string()),
            labels: Some(ownership_labels(self.onboarding, self.environment)),
            annotations: Some(ownership_annotations(self.uid)).filter(|a| !a.is_empty()),
            ..Default::default()
        }
    }
}

impl DesiredEnvironment {
    /// The same environment with its ResourceQuota and LimitRange at `amounts` instead of the
    /// declared quota: an environment whose quota cannot be admitted keeps what it was given.
    pub fn with_quota(mut self, amounts: Amounts) -> DesiredEnvironment {
        self.quota = amounts;
        self.resource_quota.spec = Some(resource_quota::spec(&amounts));
        self.limit_range.spec = Some(limit_range::spec(&amounts));
        self
    }
}

/// Sum of the quotas of all environments: what the onboarding asks of its Ressort's budget.
pub fn requested_total(envs: &[DesiredEnvironment]) -> Amounts {
    envs.iter()
        .fold(Amounts::default(), |acc, e| acc.plus(e.quota))
}

/// A quota amount in canonical text.
pub(crate) fn quantity(
    amounts: &Amounts,
    r: ResourceName,
) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    k8s_openapi::apimachinery::pkg::api::resource::Quantity(
        amounts.get(r).to_canonical(r.is_bytes()),
    )
}

/// FNV-1a over the canonical JSON of an object: stable across builds and Rust versions, unlike
/// `DefaultHasher`, so that a restarted operator recognises what it applied before.
pub fn stable_hash(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::api::*;

    /// A realistic onboarding: moin.schule of the Kultusministerium, two environments.
    pub fn moin_schule() -> FachverfahrenOnboarding {
        let mut fvo = FachverfahrenOnboarding::new(
            "mk-moin-schule-onboarding",
            FachverfahrenOnboardingSpec {
                ressort: "mk".into(),
                fachverfahren: "moin-schule".into(),
                display_name: "moin.schule".into(),
                owner: Owner {
                    organisation: "Kultusministerium, Referat 15".into(),
                    contact: "moin-schule@mk.niedersachsen.de".into(),
                },
                aufgabe: None,
                protection_level: ProtectionLevel::High,
                environments: vec![
                    Environment {
                        name: "dev".into(),
                        quota: totals("2", "4Gi", "20Gi", "20"),
                    },
                    Environment {
                        name: "prod".into(),
                        quota: totals("8", "16Gi", "100Gi", "50"),
                    },
                ],
                access: vec![
                    AccessEntry {
                        group: "mk-moin-schule-devs".into(),
                        role: AccessRole::Edit,
                        environments: Some(vec!["dev".into()]),
                    },
                    AccessEntry {
                        group: "mk-moin-schule-ops".into(),
                        role: AccessRole::Admin,
                        environments: None,
                    },
                ],
                network: NetworkSpec {
                    allow_from_namespaces: vec!["mk-portal-prod".into()],
                    intra_namespace: None,
                },
                conformance: ConformanceSpec::default(),
                deletion_policy: DeletionPolicy::Retain,
            },
        );
        fvo.metadata.uid = Some("uid-1".into());
        fvo
    }

    /// Totals from four strings.
    pub fn totals(cpu: &str, memory: &str, storage: &str, pods: &str) -> ResourceTotals {
        ResourceTotals {
            cpu: cpu.into(),
            memory: memory.into(),
            storage: storage.into(),
            pods: pods.into(),
        }
    }
}
