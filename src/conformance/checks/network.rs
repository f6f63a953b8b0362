//! Network: default-deny policies per namespace, policies that allow everything, exposed Services.

use serde_json::Value;

use super::{
    Check, Kind, NamespaceView, ObjectView, Violations, arr_at, obj_at, selector_is_empty, str_at,
};
use crate::api::ProtectionLevel::{High, Normal};
use crate::conformance::rules::bsi::*;
use crate::conformance::rules::{PssLevel, Rule, RuleId, Severity};

/// NetworkPolicies (also in the removed `extensions` group).
pub(crate) const NETWORK_POLICY: Kind = Kind {
    groups: &["networking.k8s.io", "extensions"],
    kind: "NetworkPolicy",
};

/// Whether a NetworkPolicy selects every pod and denies all traffic in `direction` (`Ingress`/`Egress`).
fn default_deny(p: &Value, direction: &str) -> bool {
    let selects_all = obj_at(p, &["spec", "podSelector"]).is_none_or(selector_is_empty);
    let rules_field = if direction == "Ingress" {
        "ingress"
    } else {
        "egress"
    };
    let types = arr_at(p, &["spec", "policyTypes"]);
    // Without policyTypes, Ingress always applies and Egress only when egress rules exist.
    let applies = if types.is_empty() {
        direction == "Ingress"
    } else {
        types.iter().any(|t| t.as_str() == Some(direction))
    };
    selects_all && applies && arr_at(p, &["spec", rules_field]).is_empty()
}

fn default_deny_ingress(ns: &NamespaceView<'_>, out: &mut Violations) {
    if !ns
        .facts
        .network_policies
        .iter()
        .any(|p| default_deny(p, "Ingress"))
    {
        out.object("no NetworkPolicy with an empty podSelector denies all ingress");
    }
}

fn default_deny_egress(ns: &NamespaceView<'_>, out: &mut Violations) {
    if !ns
        .facts
        .network_policies
        .iter()
        .any(|p| default_deny(p, "Egress"))
    {
        out.object("no NetworkPolicy with an empty podSelector denies all egress");
    }
}

/// Describes a NetworkPolicy peer that matches everything, if it does.
fn allow_all_peer(peer: &Value) -> Option<&'static str> {
    if let Some(cidr) = str_at(peer, &["ipBlock", "cidr"]) {
        let except = arr_at(peer, &["ipBlock", "except"]);
        return (matches!(cidr, "0.0.0.0/0" | "::/0") && except.is_empty())
            .then_some("allows every IP address (ipBlock 0.0.0.0/0)");
    }
    let empty = |f: &str| obj_at(peer, &[f]).map(selector_is_empty);
    match (empty("namespaceSelector"), empty("podSelector")) {
        (Some(true), None | Some(true)) => {
            Some("selects every pod of every namespace (namespaceSelector: {})")
        }
        (None, Some(true)) => Some("selects every pod of the namespace (podSelector: {})"),
        _ => None,
    }
}

fn allow_all(obj: &ObjectView<'_>, out: &mut Violations) {
    for (dir, peers_field) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in arr_at(obj.v, &["spec", dir]).iter().enumerate() {
            let peers = arr_at(rule, &[peers_field]);
            if peers.is_empty() && arr_at(rule, &["ports"]).is_empty() {
                out.object(format!(
                    "spec.{dir}[{i}] has neither {peers_field} nor ports: it allows all traffic"
                ));
            }
            for (j, peer) in peers.iter().enumerate() {
                if let Some(what) = allow_all_peer(peer) {
                    out.object(format!("spec.{dir}[{i}].{peers_field}[{j}] {what}"));
                }
            }
        }
    }
}

fn node_port(obj: &ObjectView<'_>, out: &mut Violations) {
    if let Some(t) =
        str_at(obj.v, &["spec", "type"]).filter(|t| matches!(*t, "NodePort" | "LoadBalancer"))
    {
        out.object(format!("spec.type is {t}"));
    }
}

// ---------------------------------------------------------------------------------------------------------
// The rules

pub(crate) const NETWORK_POLICY_DEFAULT_DENY: Rule = Rule {
    id: RuleId::NetworkPolicyDefaultDeny,
    title: "Every namespace must have a default-deny ingress NetworkPolicy",
    severity: Severity::Error,
    bsi: &[A7],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Namespace(default_deny_ingress)],
    rationale: "Without a default deny, every pod of the cluster may reach every pod of the namespace.",
    remediation: "Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Ingress]` and no ingress rules; allow the needed traffic with further policies.",
};

pub(crate) const NETWORK_POLICY_EGRESS_DENY: Rule = Rule {
    id: RuleId::NetworkPolicyEgressDeny,
    title: "Egress must be restricted by a default-deny egress NetworkPolicy",
    severity: Severity::Error,
    bsi: &[S21, A18],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::Namespace(default_deny_egress)],
    rationale: "A compromised container without egress restriction can exfiltrate data or reach other services freely.",
    remediation: "Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Egress]` and no egress rules; allow DNS and needed destinations explicitly.",
};

pub(crate) const NETWORK_POLICY_ALLOW_ALL: Rule = Rule {
    id: RuleId::NetworkPolicyAllowAll,
    title: "NetworkPolicies must not allow all traffic",
    severity: Severity::Error,
    bsi: &[A18, A7],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::Object {
        kinds: &[NETWORK_POLICY],
        check: allow_all,
    }],
    rationale: "A rule that allows every source or destination undoes the default deny; micro-segmentation needs policies that name their peers.",
    remediation: "Give every ingress/egress rule a `from`/`to` peer with a pod or namespace selector that is not empty, or a narrow ipBlock.",
};

pub(crate) const SERVICE_NODE_PORT: Rule = Rule {
    id: RuleId::ServiceNodePort,
    title: "Services should not be exposed through NodePort or LoadBalancer",
    severity: Severity::Warning,
    bsi: &[A7],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Object {
        kinds: &[super::containers::SERVICE],
        check: node_port,
    }],
    rationale: "NodePort and LoadBalancer Services open ports on every node or to the outside, around the platform's ingress and its NetworkPolicies.",
    remediation: "Use a ClusterIP Service behind the platform's Ingress or Gateway.",
};
