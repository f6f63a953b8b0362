//! Network: default-deny policies per namespace, policies that allow everything, exposed Services.

use serde_json::Value;

use super::{
    Check, Kind, NamespaceView, ObjectView, Violations, arr_at, at, obj_at, selector_is_empty,
    str_at, strs_at,
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

/// The label every namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The namespaces a `namespaceSelector` selects by name; `None` when it selects by other labels (or
/// selects every namespace), so that which namespaces it admits depends on who sets the labels.
fn named_namespaces(sel: &Value) -> Option<Vec<&str>> {
    if let Some(name) = str_at(sel, &["matchLabels", NAMESPACE_NAME_LABEL]) {
        return Some(vec![name]);
    }
    arr_at(sel, &["matchExpressions"]).iter().find_map(|e| {
        (str_at(e, &["key"]) == Some(NAMESPACE_NAME_LABEL)
            && str_at(e, &["operator"]) == Some("In"))
        .then(|| strs_at(e, &["values"]).collect())
    })
}

/// What is wrong with one ingress peer of a policy in namespace `own`, if it admits a source not declared.
fn foreign_source(obj: &ObjectView<'_>, peer: &Value) -> Option<String> {
    if let Some(cidr) = str_at(peer, &["ipBlock", "cidr"]) {
        return cidr
            .ends_with("/0")
            .then(|| format!("admits every IP address (ipBlock {cidr})"));
    }
    let sel = at(peer, &["namespaceSelector"])?;
    if obj_at(peer, &["namespaceSelector"]).is_none_or(selector_is_empty) {
        return Some("admits every namespace (namespaceSelector: {})".to_owned());
    }
    let Some(names) = named_namespaces(sel) else {
        return Some(format!(
            "selects namespaces by label, not by name ({NAMESPACE_NAME_LABEL}): any namespace given the label is admitted"
        ));
    };
    let declared = |n: &str| {
        obj.namespace == Some(n)
            || obj.profile.allowed_from_namespaces.iter().any(|a| a == n)
            || obj.facts.is_some_and(|f| f.declared_sources.contains(n))
    };
    let undeclared: Vec<&str> = names.into_iter().filter(|n| !declared(n)).collect();
    (!undeclared.is_empty()).then(|| {
        format!(
            "admits namespace {} that the onboarding does not declare in spec.network.allowFromNamespaces",
            undeclared.join(", ")
        )
    })
}

fn cross_namespace(obj: &ObjectView<'_>, out: &mut Violations) {
    for (i, rule) in arr_at(obj.v, &["spec", "ingress"]).iter().enumerate() {
        let peers = arr_at(rule, &["from"]);
        if peers.is_empty() {
            out.object(format!(
                "spec.ingress[{i}] has no from: it admits every namespace"
            ));
        }
        for (j, peer) in peers.iter().enumerate() {
            if let Some(what) = foreign_source(obj, peer) {
                out.object(format!("spec.ingress[{i}].from[{j}] {what}"));
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

pub(crate) const NETWORK_POLICY_CROSS_NAMESPACE: Rule = Rule {
    id: RuleId::NetworkPolicyCrossNamespace,
    title: "NetworkPolicies must admit traffic from other namespaces only where the onboarding declares it",
    severity: Severity::Error,
    bsi: &[A7],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Object {
        kinds: &[NETWORK_POLICY],
        check: cross_namespace,
    }],
    rationale: "Traffic between namespaces is allowed only from the platform's namespaces (ingress, DNS, monitoring) and from those the onboarding names in `spec.network.allowFromNamespaces`; a team's policy that admits more undoes the separation. The declared namespaces are those of the onboarding (live), of an onboarding in the input that creates the namespace, or those the operator records on the Namespace (annotation `conplus.niedersachsen.de/allow-from-namespaces`, in `render` output).",
    remediation: "Name each source namespace with `namespaceSelector.matchLabels: {kubernetes.io/metadata.name: <namespace>}` and add it to the onboarding's `spec.network.allowFromNamespaces`; reach the Fachverfahren from outside through the platform's ingress instead of an ipBlock 0.0.0.0/0.",
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
