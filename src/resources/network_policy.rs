//! The NetworkPolicies of an environment (BSI APP.4.4.A7, A18; SYS.1.6.A21): deny all ingress
//! and egress, then allow DNS, traffic inside the namespace (unless `spec.network.intraNamespace`
//! is `Deny`, the default from protection level high), the platform's ingress and monitoring,
//! and the namespaces the onboarding declares.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{EnvContext, PlatformSettings};
use crate::api::IntraNamespace;

/// Denies all ingress and egress of every pod.
pub const DEFAULT_DENY: &str = "conplus-default-deny";
/// Allows DNS lookups.
pub const ALLOW_DNS: &str = "conplus-allow-dns";
/// Allows traffic between the pods of the namespace.
pub const ALLOW_SAME_NAMESPACE: &str = "conplus-allow-same-namespace";
/// Allows the platform's ingress controller in.
pub const ALLOW_INGRESS: &str = "conplus-allow-platform-ingress";
/// Allows the monitoring stack to scrape.
pub const ALLOW_MONITORING: &str = "conplus-allow-monitoring";
/// Allows the declared namespaces in; only present while some are declared.
pub const ALLOW_FROM_NAMESPACES: &str = "conplus-allow-from-namespaces";

/// The label every namespace carries with its own name (set by kube-apiserver).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn all_pods() -> LabelSelector {
    LabelSelector::default()
}

fn namespace_peer(namespace: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                NAMESPACE_NAME_LABEL.to_string(),
                namespace.to_string(),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn policy(
    ctx: &EnvContext<'_>,
    name: &str,
    types: &[&str],
    spec: NetworkPolicySpec,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ctx.metadata(name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(all_pods()),
            policy_types: Some(types.iter().map(|t| t.to_string()).collect()),
            ..spec
        }),
    }
}

fn ingress_from(peers: Vec<NetworkPolicyPeer>) -> NetworkPolicySpec {
    NetworkPolicySpec {
        ingress: Some(vec![NetworkPolicyIngressRule {
            from: Some(peers),
            ports: None,
        }]),
        ..Default::default()
    }
}

/// Builds the policies of one environment, default deny first.
pub fn build(ctx: &EnvContext<'_>, settings: &PlatformSettings) -> Vec<NetworkPolicy> {
    let dns_port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.to_string()),
        end_port: None,
    };
    let mut policies = vec![
        policy(
            ctx,
            DEFAULT_DENY,
            &["Ingress", "Egress"],
            NetworkPolicySpec::default(),
        ),
        policy(
            ctx,
            ALLOW_DNS,
            &["Egress"],
            NetworkPolicySpec {
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![namespace_peer(&settings.dns_namespace)]),
                    ports: Some(vec![dns_port("UDP"), dns_port("TCP")]),
                }]),
                ..Default::default()
            },
        ),
        policy(
            ctx,
            ALLOW_INGRESS,
            &["Ingress"],
            ingress_from(vec![namespace_peer(&settings.ingress_namespace)]),
        ),
        policy(
            ctx,
            ALLOW_MONITORING,
            &["Ingress"],
            ingress_from(vec![namespace_peer(&settings.monitoring_namespace)]),
        ),
    ];
    let network = &ctx.spec.network;
    if network.intra_namespace(ctx.spec.protection_level) == IntraNamespace::Allow {
        let same_namespace = NetworkPolicyPeer {
            pod_selector: Some(all_pods()),
            ..Default::default()
        };
        // Third, after default deny and DNS, as before the setting existed.
        policies.insert(
            2,
            policy(
                ctx,
                ALLOW_SAME_NAMESPACE,
                &["Ingress", "Egress"],
                NetworkPolicySpec {
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: Some(vec![same_namespace.clone()]),
                        ports: None,
                    }]),
                    egress: Some(vec![NetworkPolicyEgressRule {
                        to: Some(vec![same_namespace]),
                        ports: None,
                    }]),
                    ..Default::default()
                },
            ),
        );
    }
    let allowed = &network.allow_from_namespaces;
    if !allowed.is_empty() {
        let peers = allowed.iter().map(|ns| namespace_peer(ns)).collect();
        policies.push(policy(
            ctx,
            ALLOW_FROM_NAMESPACES,
            &["Ingress"],
            ingress_from(peers),
        ));
    }
    policies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProtectionLevel;
    use crate::resources::{desired, fixtures::moin_schule};

    fn names(p: &[NetworkPolicy]) -> Vec<String> {
        p.iter().filter_map(|p| p.metadata.name.clone()).collect()
    }

    #[test]
    fn default_deny_selects_all_pods_for_ingress_and_egress_with_no_rules() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let deny = &envs[0].network_policies[0];
        assert_eq!(deny.metadata.name.as_deref(), Some(DEFAULT_DENY));
        let spec = deny.spec.clone().unwrap();
        assert_eq!(spec.pod_selector, Some(LabelSelector::default()));
        assert_eq!(
            spec.policy_types,
            Some(vec!["Ingress".to_string(), "Egress".to_string()])
        );
        assert!(spec.ingress.is_none() && spec.egress.is_none());
    }

    #[test]
    fn allowed_namespaces_and_platform_namespaces_get_ingress() {
        let settings = PlatformSettings {
            ingress_namespace: "plattform-ingress".into(),
            dns_namespace: "plattform-dns".into(),
            monitoring_namespace: "plattform-monitoring".into(),
        };
        let mut fvo = moin_schule();
        fvo.spec.protection_level = ProtectionLevel::Normal;
        let envs = desired(&fvo, &settings).unwrap();
        let p = &envs[0].network_policies;
        assert_eq!(
            names(p),
            [
                DEFAULT_DENY,
                ALLOW_DNS,
                ALLOW_SAME_NAMESPACE,
                ALLOW_INGRESS,
                ALLOW_MONITORING,
                ALLOW_FROM_NAMESPACES
            ]
        );
        let json = serde_json::to_string(p).unwrap();
        for ns in [
            "plattform-ingress",
            "plattform-dns",
            "plattform-monitoring",
            "mk-portal-prod",
        ] {
            assert!(json.contains(ns), "{ns} missing from policies");
        }
        let dns = p[1].spec.clone().unwrap().egress.unwrap();
        assert_eq!(
            dns[0].ports.clone().unwrap().len(),
            2,
            "DNS over UDP and TCP"
        );
    }

    #[test]
    fn no_allow_from_namespaces_policy_when_none_declared() {
        let mut fvo = moin_schule();
        fvo.spec.network.allow_from_namespaces.clear();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        assert!(!names(&envs[0].network_policies).contains(&ALLOW_FROM_NAMESPACES.to_string()));
    }

    fn has_same_namespace_policy(level: ProtectionLevel, declared: Option<IntraNamespace>) -> bool {
        let mut fvo = moin_schule();
        fvo.spec.protection_level = level;
        fvo.spec.network.intra_namespace = declared;
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        envs.iter()
            .all(|e| names(&e.network_policies).contains(&ALLOW_SAME_NAMESPACE.to_string()))
    }

    #[test]
    fn traffic_inside_the_namespace_is_allowed_at_normal_and_denied_from_high_when_omitted() {
        assert!(has_same_namespace_policy(ProtectionLevel::Normal, None));
        assert!(!has_same_namespace_policy(ProtectionLevel::High, None));
        assert!(!has_same_namespace_policy(ProtectionLevel::VeryHigh, None));
    }

    #[test]
    fn declared_intra_namespace_setting_overrides_the_protection_level() {
        assert!(has_same_namespace_policy(
            ProtectionLevel::High,
            Some(IntraNamespace::Allow)
        ));
        assert!(!has_same_namespace_policy(
            ProtectionLevel::Normal,
            Some(IntraNamespace::Deny)
        ));
    }
}
