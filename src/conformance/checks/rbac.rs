//! RBAC: wildcards in roles, bindings to cluster-admin or to anonymous users. Roles and bindings that
//! Kubernetes itself creates are not the tenant's to fix and are not checked.

use super::{Check, Kind, ObjectView, Violations, arr_at, str_at};
use crate::api::ProtectionLevel::Normal;
use crate::conformance::rules::bsi::*;
use crate::conformance::rules::{PssLevel, Rule, RuleId, Severity};

const RBAC: &[&str] = &["rbac.authorization.k8s.io"];

const ROLES: &[Kind] = &[
    Kind {
        groups: RBAC,
        kind: "Role",
    },
    Kind {
        groups: RBAC,
        kind: "ClusterRole",
    },
];

const BINDINGS: &[Kind] = &[
    Kind {
        groups: RBAC,
        kind: "RoleBinding",
    },
    Kind {
        groups: RBAC,
        kind: "ClusterRoleBinding",
    },
];

/// ClusterRoles and bindings that Kubernetes itself creates (`kubernetes.io/bootstrapping: rbac-defaults`,
/// `system:` names).
fn is_system_rbac(obj: &ObjectView<'_>) -> bool {
    str_at(
        obj.v,
        &["metadata", "labels", "kubernetes.io/bootstrapping"],
    ) == Some("rbac-defaults")
        || str_at(obj.v, &["metadata", "name"]).is_some_and(|n| n.starts_with("system:"))
}

fn wildcard(obj: &ObjectView<'_>, out: &mut Violations) {
    if is_system_rbac(obj) {
        return out.not_applicable();
    }
    for (i, rule) in arr_at(obj.v, &["rules"]).iter().enumerate() {
        let wild: Vec<&str> = ["apiGroups", "resources", "verbs", "nonResourceURLs"]
            .into_iter()
            .filter(|f| arr_at(rule, &[f]).iter().any(|x| x.as_str() == Some("*")))
            .collect();
        if !wild.is_empty() {
            out.object(format!("rules[{i}] has * in {}", wild.join(", ")));
        }
    }
}

fn cluster_admin(obj: &ObjectView<'_>, out: &mut Violations) {
    if is_system_rbac(obj) {
        return out.not_applicable();
    }
    if str_at(obj.v, &["roleRef", "kind"]) == Some("ClusterRole")
        && str_at(obj.v, &["roleRef", "name"]) == Some("cluster-admin")
    {
        out.object("roleRef is ClusterRole cluster-admin");
    }
}

fn anonymous(obj: &ObjectView<'_>, out: &mut Violations) {
    if is_system_rbac(obj) {
        return out.not_applicable();
    }
    for s in arr_at(obj.v, &["subjects"]) {
        if let Some(n) = str_at(s, &["name"])
            .filter(|n| matches!(*n, "system:anonymous" | "system:unauthenticated"))
        {
            let k = str_at(s, &["kind"]).unwrap_or("subject");
            out.object(format!("subject {k} {n}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The rules

pub(crate) const RBAC_WILDCARD: Rule = Rule {
    id: RuleId::RbacWildcard,
    title: "Roles must not use wildcards",
    severity: Severity::Error,
    bsi: &[A3],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Object {
        kinds: ROLES,
        check: wildcard,
    }],
    rationale: "A `*` in apiGroups, resources or verbs grants today's and every future permission.",
    remediation: "List the API groups, resources and verbs the role needs explicitly.",
};

pub(crate) const RBAC_CLUSTER_ADMIN: Rule = Rule {
    id: RuleId::RbacClusterAdmin,
    title: "Nothing may be bound to cluster-admin",
    severity: Severity::Error,
    bsi: &[A3],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Object {
        kinds: BINDINGS,
        check: cluster_admin,
    }],
    rationale: "cluster-admin controls the whole platform, including every other Ressort's data.",
    remediation: "Bind a role with the permissions actually needed, limited to the tenant's namespaces.",
};

pub(crate) const RBAC_ANONYMOUS: Rule = Rule {
    id: RuleId::RbacAnonymous,
    title: "Nothing may be bound to anonymous or unauthenticated users",
    severity: Severity::Error,
    bsi: &[A3],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Object {
        kinds: BINDINGS,
        check: anonymous,
    }],
    rationale: "Bindings to `system:anonymous` or `system:unauthenticated` give permissions to anyone who can reach the API server.",
    remediation: "Remove the subject `system:anonymous` / `system:unauthenticated` from the binding.",
};
