//! The LimitRange of an environment: container defaults so that pods without requests and
//! limits still fit the quota (a quota on `limits.*` rejects pods that declare none).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::EnvContext;
use crate::api::quantity::Amount;
use crate::api::{Amounts, ResourceName};

/// The name of the LimitRange in every environment namespace.
pub const NAME: &str = "conplus-limits";

/// Default limit and request per container, capped by the environment's quota so that a
/// small environment still admits one default pod.
const DEFAULT_LIMIT_CPU_MILLI: i128 = 500;
const DEFAULT_REQUEST_CPU_MILLI: i128 = 100;
const DEFAULT_LIMIT_MEMORY: i128 = 512 * 1024 * 1024;
const DEFAULT_REQUEST_MEMORY: i128 = 128 * 1024 * 1024;

/// Builds the LimitRange of one environment.
pub fn build(ctx: &EnvContext<'_>, amounts: &Amounts) -> LimitRange {
    LimitRange {
        metadata: ctx.metadata(NAME),
        spec: Some(spec(amounts)),
    }
}

/// The spec of the LimitRange of an environment with the quota `amounts`.
pub fn spec(amounts: &Amounts) -> LimitRangeSpec {
    let cap = |value: Amount, quota: Amount| if value > quota { quota } else { value };
    let cpu_limit = cap(
        Amount::from_milli(DEFAULT_LIMIT_CPU_MILLI),
        amounts.get(ResourceName::Cpu),
    );
    let cpu_request = cap(Amount::from_milli(DEFAULT_REQUEST_CPU_MILLI), cpu_limit);
    let mem_limit = cap(
        Amount::from_milli(DEFAULT_LIMIT_MEMORY * 1000),
        amounts.get(ResourceName::Memory),
    );
    let mem_request = cap(Amount::from_milli(DEFAULT_REQUEST_MEMORY * 1000), mem_limit);
    let pair = |cpu: Amount, mem: Amount| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.to_canonical(false))),
            ("memory".to_string(), Quantity(mem.to_canonical(true))),
        ])
    };
    LimitRangeSpec {
        limits: vec![LimitRangeItem {
            type_: "Container".to_string(),
            default: Some(pair(cpu_limit, mem_limit)),
            default_request: Some(pair(cpu_request, mem_request)),
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule};

    #[test]
    fn limit_range_sets_container_defaults() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let item = &envs[0].limit_range.spec.clone().unwrap().limits[0];
        assert_eq!(item.type_, "Container");
        let d = item.default.clone().unwrap();
        let r = item.default_request.clone().unwrap();
        assert_eq!(
            (d["cpu"].0.as_str(), d["memory"].0.as_str()),
            ("500m", "512Mi")
        );
        assert_eq!(
            (r["cpu"].0.as_str(), r["memory"].0.as_str()),
            ("100m", "128Mi")
        );
    }

    #[test]
    fn limit_range_defaults_never_exceed_a_small_quota() {
        let mut fvo = moin_schule();
        fvo.spec.environments[0].quota.cpu = "50m".into();
        fvo.spec.environments[0].quota.memory = "64Mi".into();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let item = &envs[0].limit_range.spec.clone().unwrap().limits[0];
        let d = item.default.clone().unwrap();
        let r = item.default_request.clone().unwrap();
        assert_eq!(
            (d["cpu"].0.as_str(), d["memory"].0.as_str()),
            ("50m", "64Mi")
        );
        assert_eq!(
            (r["cpu"].0.as_str(), r["memory"].0.as_str()),
            ("50m", "64Mi")
        );
    }
}
