//! The ResourceQuota of an environment: the declared quota as hard limits, and no NodePort or
//! LoadBalancer services (exposure goes through the platform's ingress).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{EnvContext, quantity};
use crate::api::{Amounts, ResourceName};

/// The name of the quota in every environment namespace.
pub const NAME: &str = "conplus-quota";

/// Builds the quota of one environment from its parsed amounts.
pub fn build(ctx: &EnvContext<'_>, amounts: &Amounts) -> ResourceQuota {
    ResourceQuota {
        metadata: ctx.metadata(NAME),
        spec: Some(spec(amounts)),
        ..Default::default()
    }
}

/// The amounts a quota the operator built holds (`requests.*` and `pods`), or None when one of
/// them is missing or not a quantity.
pub fn amounts_of(quota: &ResourceQuota) -> Option<Amounts> {
    let hard = quota.spec.as_ref()?.hard.as_ref()?;
    let get = |key: &str| hard.get(key)?.0.parse().ok();
    Some(Amounts {
        cpu: get("requests.cpu")?,
        memory: get("requests.memory")?,
        storage: get("requests.storage")?,
        pods: get("pods")?,
    })
}

/// The spec of a quota of `amounts`.
pub fn spec(amounts: &Amounts) -> ResourceQuotaSpec {
    let cpu = quantity(amounts, ResourceName::Cpu);
    let memory = quantity(amounts, ResourceName::Memory);
    let hard = BTreeMap::from([
        ("requests.cpu".to_string(), cpu.clone()),
        ("limits.cpu".to_string(), cpu),
        ("requests.memory".to_string(), memory.clone()),
        ("limits.memory".to_string(), memory),
        (
            "requests.storage".to_string(),
            quantity(amounts, ResourceName::Storage),
        ),
        ("pods".to_string(), quantity(amounts, ResourceName::Pods)),
        ("services.nodeports".to_string(), Quantity("0".to_string())),
        (
            "services.loadbalancers".to_string(),
            Quantity("0".to_string()),
        ),
    ]);
    ResourceQuotaSpec {
        hard: Some(hard),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule};

    #[test]
    fn quota_hard_limits_are_the_declared_values_in_canonical_form() {
        let mut fvo = moin_schule();
        fvo.spec.environments[0].quota.memory = "4096Mi".into();
        fvo.spec.environments[0].quota.cpu = "2000m".into();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let quota = &envs[0].resource_quota;
        assert_eq!(
            quota.metadata.namespace.as_deref(),
            Some("mk-moin-schule-dev")
        );
        let hard = quota.spec.clone().unwrap().hard.unwrap();
        let get = |k: &str| hard.get(k).map(|q| q.0.clone()).unwrap_or_default();
        assert_eq!(get("requests.cpu"), "2");
        assert_eq!(get("limits.cpu"), "2");
        assert_eq!(get("requests.memory"), "4Gi");
        assert_eq!(get("limits.memory"), "4Gi");
        assert_eq!(get("requests.storage"), "20Gi");
        assert_eq!(get("pods"), "20");
        assert_eq!(get("services.nodeports"), "0");
        assert_eq!(get("services.loadbalancers"), "0");
        assert_eq!(hard.len(), 8, "no other limits: {hard:?}");
    }

    #[test]
    fn the_amounts_of_a_built_quota_are_read_back_exactly() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        for env in &envs {
            assert_eq!(super::amounts_of(&env.resource_quota), Some(env.quota));
        }
        let mut foreign = envs[0].resource_quota.clone();
        foreign.spec = None;
        assert_eq!(super::amounts_of(&foreign), None);
    }
}
