//! Every Kubernetes API permission the operator needs, in one list, with the reason for each. Pure: no I/O.
//!
//! The Helm chart (`charts/conplus-operator/templates/clusterrole.yaml`, `role.yaml`) and the kustomize base
//! (`deploy/base/rbac.yaml`) grant exactly these; `tests/chart.rs` and `tests/deploy.rs` fail when either side
//! has a permission the other lacks. Least privilege rules (issue 5):
//!
//! - no wildcards, and nothing on Secrets, ever;
//! - write verbs only on the kinds the controller applies or prunes;
//! - `bind` only on the ClusterRoles the operator binds, by `resourceNames`, so that it can create
//!   RoleBindings to `admin`/`edit`/`view` without holding what those roles grant;
//! - read-only access to the namespaced kinds the conformance rules read (the controller watches those),
//!   derived from [`crate::conformance::watched_kinds`], so that a new rule cannot silently need a permission
//!   nobody granted;
//! - the reader ClusterRole `conplus:fvo:<name>:reader` of each onboarding and its binding: `get`, `create`,
//!   `patch` only — no `bind` or `escalate` (the role grants a subset of what the operator reads itself, which
//!   kube-apiserver's escalation check accepts), no `delete` (an owner reference lets the garbage collector
//!   remove them); `list`/`watch` keep the operator's own (by label) in a store, so that a resync reads none
//!   of them — RBAC cannot narrow a list by label, so the operator can read every ClusterRole and binding,
//!   which grants no access to anything they protect;
//! - PolicyReports: `get`, `list`, `watch`, `create`, `patch`, and `delete` for the operator's own report in a
//!   namespace it releases (proven by its record, with its uid as precondition); the owned-objects admission
//!   policy keeps everyone else from changing or deleting the operator's reports;
//! - Leases only in the release namespace (a Role, not the ClusterRole).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::core::{ApiResource, GroupVersionKind};

use crate::conformance::watched_kinds;

/// Where a permission is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// In the ClusterRole bound cluster-wide: onboardings create namespaces, so the operator works everywhere.
    Cluster,
    /// In the Role of the namespace the operator is installed in (its Lease).
    ReleaseNamespace,
}

/// One API permission: verbs on one resource of one API group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Where it is granted.
    pub scope: Scope,
    /// The API group; `""` is the core group.
    pub api_group: String,
    /// The resource (plural), with `/subresource` where one is meant.
    pub resource: String,
    /// The verbs, in the order Kubernetes lists them.
    pub verbs: Vec<&'static str>,
    /// When not empty, the permission is limited to objects of these names (used for `bind`).
    pub resource_names: Vec<&'static str>,
    /// Why the operator needs it; becomes the comment above the rule in the chart.
    pub why: String,
}

/// The verbs of a read-only watch: what a reflector (list, then watch) and a `get` need.
pub const READ: &[&str] = &["get", "list", "watch"];
/// The verbs for objects the operator applies with server-side apply and prunes when they are no longer
/// built: an apply of a missing object is a create, so `create` is needed alongside `patch`; `update`
/// for the drift repair that replaces an object to take out fields another manager added (a PUT).
pub const MANAGE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// The API group of the CONPlus resources.
const CONPLUS: &str = crate::api::GROUP;
/// The API group of PolicyReports.
const POLICY_REPORTS: &str = crate::conformance::report::policyreport::GROUP;

/// A permission from static parts.
fn p(
    scope: Scope,
    api_group: &'static str,
    resource: &'static str,
    verbs: &[&'static str],
    resource_names: &[&'static str],
    why: &str,
) -> Permission {
    Permission {
        scope,
        api_group: api_group.to_string(),
        resource: resource.to_string(),
        verbs: verbs.to_vec(),
        resource_names: resource_names.to_vec(),
        why: why.to_string(),
    }
}

/// What the controller itself reads and writes (without the conformance reads).
fn controller_permissions() -> Vec<Permission> {
    use Scope::{Cluster, ReleaseNamespace};
    vec![
        p(
            Cluster,
            CONPLUS,
            "fachverfahrenonboardings",
            &["get", "list", "watch", "patch", "update"],
            &[],
            "The controller watches onboardings and adds/removes its finalizer (JSON patch; update for \
             clients that replace).",
        ),
        p(
            Cluster,
            CONPLUS,
            "fachverfahrenonboardings/status",
            &["patch"],
            &[],
            "Writes the status (conditions, phase, namespaces, allocation) by server-side apply.",
        ),
        p(
            Cluster,
            CONPLUS,
            "ressorts",
            READ,
            &[],
            "Reads each Ressort's budget to admit onboardings.",
        ),
        p(
            Cluster,
            CONPLUS,
            "ressorts/status",
            &["patch"],
            &[],
            "Writes each Ressort's allocated and available budget.",
        ),
        p(
            Cluster,
            CONPLUS,
            "conformanceprofiles",
            READ,
            &[],
            "Reads the conformance profiles onboardings refer to.",
        ),
        p(
            Cluster,
            CONPLUS,
            "verwaltungsaufgaben",
            READ,
            &[],
            "Reads the tasks (Verwaltungsaufgaben) onboardings name, for their inventory.",
        ),
        p(
            Cluster,
            CONPLUS,
            "verwaltungsaufgaben/status",
            &["patch"],
            &[],
            "Writes each task's inventory: the Fachverfahren that serve it and whether they are parallel solutions.",
        ),
        p(
            Cluster,
            "",
            "namespaces",
            MANAGE,
            &[],
            "Creates and labels the namespaces of an onboarding's environments; deletes them only when \
             the onboarding is deleted with deletionPolicy Delete.",
        ),
        p(
            Cluster,
            "",
            "resourcequotas",
            MANAGE,
            &[],
            "Applies the quota of each environment and prunes quotas no longer built.",
        ),
        p(
            Cluster,
            "",
            "limitranges",
            MANAGE,
            &[],
            "Applies the default requests and limits of each environment and prunes stale ones.",
        ),
        p(
            Cluster,
            "networking.k8s.io",
            "networkpolicies",
            MANAGE,
            &[],
            "Applies default-deny and the allowed flows (DNS, ingress, monitoring) and prunes stale ones.",
        ),
        p(
            Cluster,
            "rbac.authorization.k8s.io",
            "rolebindings",
            MANAGE,
            &[],
            "Binds the onboarding's access groups in its namespaces and prunes bindings of removed groups.",
        ),
        p(
            Cluster,
            "",
            "serviceaccounts",
            &["get", "list", "watch", "patch"],
            &[],
            "Turns off token automount on the `default` ServiceAccount of each namespace; never deletes.",
        ),
        p(
            Cluster,
            "rbac.authorization.k8s.io",
            "clusterroles",
            &["bind"],
            &["admin", "edit", "view"],
            "Allows RoleBindings to the ClusterRoles admin, edit and view without holding their permissions.",
        ),
        p(
            Cluster,
            "rbac.authorization.k8s.io",
            "clusterroles",
            &["get", "list", "watch", "create", "patch"],
            &[],
            "Keeps the reader ClusterRole conplus:fvo:<name>:reader of each onboarding (get/watch/list of that \
             onboarding and get of its Ressort, by resourceNames). list and watch keep the operator's own (its \
             label) in a store to compare with; create makes a new one (failing on a name someone else took), \
             get reads one of a taken name to tell the operator's own from someone else's (RBAC cannot limit \
             names by prefix). No \
             escalate: the role grants only what the operator reads anyway. No delete: the role carries an owner \
             reference and the garbage collector removes it with the onboarding.",
        ),
        p(
            Cluster,
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            &["get", "list", "watch", "create", "patch"],
            &[],
            "Binds each onboarding's reader ClusterRole to the groups of its spec.access and follows their \
             changes (list, watch, create and get as for the role). No bind: the operator holds every permission of the reader role. \
             No delete: the garbage collector removes the binding with the onboarding.",
        ),
        p(
            Cluster,
            POLICY_REPORTS,
            "policyreports",
            &["get", "list", "watch", "create", "patch", "delete"],
            &[],
            "Writes one PolicyReport (wgpolicyk8s.io) with the conformance findings into each onboarded \
             namespace; list and watch keep the operator's own (its label) to compare with, so that an \
             unchanged report is not written again; get reads one whose findings changed or whose name is taken. Delete: its own \
             report in a namespace it releases (deletionPolicy Retain), whose findings nobody would update any more.",
        ),
        p(
            Cluster,
            "events.k8s.io",
            "events",
            &["create", "patch"],
            &[],
            "Publishes Events on transitions and failures (patch updates an Event series).",
        ),
        p(
            ReleaseNamespace,
            "",
            "configmaps",
            READ,
            &[],
            "Reads the price list (--prices, the chart's ConfigMap <release>-prices) that turns quotas into monthly costs.",
        ),
        p(
            ReleaseNamespace,
            "coordination.k8s.io",
            "leases",
            &["get", "create", "patch"],
            &[],
            "Leader election: kube-lease-manager reads, creates and patches (apply and strategic merge) \
             the operator's Lease.",
        ),
    ]
}

/// The resource (plural) of a kind, as the API server names it.
fn plural(api_version: &str, kind: &str) -> (String, String) {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    (ar.group, ar.plural)
}

/// Every permission the operator needs, each once per (scope, group, resource, names): the controller's own
/// permissions, with the read verbs the conformance rules need merged in.
pub fn permissions() -> Vec<Permission> {
    let mut list = controller_permissions();
    // The controller watches the namespaced kinds only (`controller::conformance::stores`): rules on
    // cluster-scoped kinds (ClusterRole, ClusterRoleBinding) run in `check`, not in the cluster, so the
    // operator gets no read access to them. Namespaces it reads anyway.
    for wk in watched_kinds().iter().filter(|wk| wk.namespaced) {
        let (group, resource) = plural(wk.api_version, wk.kind);
        // A kind the controller manages already has read verbs; otherwise add a read-only permission.
        let existing = list.iter_mut().find(|p| {
            p.scope == Scope::Cluster
                && p.api_group == group
                && p.resource == resource
                && p.resource_names.is_empty()
        });
        match existing {
            Some(p) => {
                for v in READ {
                    if !p.verbs.contains(v) {
                        p.verbs.push(v);
                    }
                }
            }
            None => list.push(Permission {
                scope: Scope::Cluster,
                api_group: group,
                resource,
                verbs: READ.to_vec(),
                resource_names: Vec::new(),
                why: format!(
                    "Read only: the conformance rules evaluate {} ({}).",
                    wk.kind, wk.api_version
                ),
            }),
        }
    }
    list
}

/// The permissions of one scope as RBAC rules, one rule per permission, in list order.
pub fn rules(scope: Scope) -> Vec<PolicyRule> {
    permissions()
        .into_iter()
        .filter(|p| p.scope == scope)
        .map(|p| PolicyRule {
            api_groups: Some(vec![p.api_group]),
            resources: Some(vec![p.resource]),
            verbs: p.verbs.iter().map(|v| v.to_string()).collect(),
            resource_names: (!p.resource_names.is_empty())
                .then(|| p.resource_names.iter().map(|n| n.to_string()).collect()),
            non_resource_urls: None,
        })
        .collect()
}

/// The rules of the operator's ClusterRole.
pub fn cluster_role_rules() -> Vec<PolicyRule> {
    rules(Scope::Cluster)
}

/// The rules of the operator's Role in its release namespace.
pub fn lease_role_rules() -> Vec<PolicyRule> {
    rules(Scope::ReleaseNamespace)
}

/// One atomic grant: (api group, resource, resource name or `""` for all, verb).
pub type Grant = (String, String, String, String);

/// Flattens rules to atomic grants, so that two rule lists can be compared however they are grouped.
pub fn grants(rules: &[PolicyRule]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for r in rules {
        let groups = r.api_groups.clone().unwrap_or_default();
        let resources = r.resources.clone().unwrap_or_default();
        let names = match &r.resource_names {
            Some(n) if !n.is_empty() => n.clone(),
            _ => vec![String::new()],
        };
        for g in &groups {
            for res in &resources {
                for n in &names {
                    for v in &r.verbs {
                        out.insert((g.clone(), res.clone(), n.clone(), v.clone()));
                    }
                }
            }
        }
    }
    out
}

/// The rules of a scope as commented YAML (a `rules:` list), the text the chart and the kustomize base
/// carry: a `# why` line above every rule.
pub fn rules_yaml(scope: Scope) -> String {
    let mut out = String::from("rules:\n");
    for p in permissions().into_iter().filter(|p| p.scope == scope) {
        out.push_str(&format!("  # {}\n", p.why));
        out.push_str(&format!("  - apiGroups: [\"{}\"]\n", p.api_group));
        out.push_str(&format!("    resources: [\"{}\"]\n", p.resource));
        if !p.resource_names.is_empty() {
            let names: Vec<String> = p
                .resource_names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect();
            out.push_str(&format!("    resourceNames: [{}]\n", names.join(", ")));
        }
        let verbs: Vec<String> = p.verbs.iter().map(|v| format!("\"{v}\"")).collect();
        out.push_str(&format!("    verbs: [{}]\n", verbs.join(", ")));
    }
    out
}

/// Grants per resource, for messages: `group/resource` → verbs.
pub fn describe(grants: &BTreeSet<Grant>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (g, r, n, v) in grants {
        let key = match (g.is_empty(), n.is_empty()) {
            (true, true) => r.clone(),
            (true, false) => format!("{r}[{n}]"),
            (false, true) => format!("{g}/{r}"),
            (false, false) => format!("{g}/{r}[{n}]"),
        };
        out.entry(key).or_default().push(v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_permission_touches_secrets_or_uses_a_wildcard() {
        for p in permissions() {
            assert_ne!(
                p.resource, "secrets",
                "Secrets must never be granted: {p:?}"
            );
            assert!(
                !p.resource.contains('*') && !p.api_group.contains('*') && !p.verbs.contains(&"*"),
                "no wildcards: {p:?}"
            );
            assert!(!p.why.trim().is_empty(), "every permission says why: {p:?}");
        }
    }

    #[test]
    fn bind_is_limited_to_the_three_bound_cluster_roles() {
        let binds: Vec<_> = permissions()
            .into_iter()
            .filter(|p| p.verbs.contains(&"bind"))
            .collect();
        assert_eq!(binds.len(), 1);
        assert_eq!(binds[0].resource, "clusterroles");
        assert_eq!(binds[0].resource_names, ["admin", "edit", "view"]);
        assert_eq!(
            binds[0].verbs,
            ["bind"],
            "bind must not come with escalate or write verbs"
        );
    }

    #[test]
    fn reader_roles_and_bindings_are_written_without_escalate_bind_or_delete() {
        for resource in ["clusterroles", "clusterrolebindings"] {
            let granted: Vec<&str> = permissions()
                .into_iter()
                .filter(|p| p.resource == resource && p.resource_names.is_empty())
                .flat_map(|p| p.verbs)
                .collect();
            assert_eq!(
                granted,
                ["get", "list", "watch", "create", "patch"],
                "{resource}"
            );
        }
        assert!(
            permissions().iter().all(|p| !p.verbs.contains(&"escalate")),
            "escalate is never granted"
        );
    }

    #[test]
    fn every_kind_the_conformance_rules_read_is_readable() {
        let granted = grants(&cluster_role_rules());
        for wk in watched_kinds().iter().filter(|wk| wk.namespaced) {
            let (group, resource) = plural(wk.api_version, wk.kind);
            for verb in READ {
                let g = (
                    group.clone(),
                    resource.clone(),
                    String::new(),
                    verb.to_string(),
                );
                assert!(
                    granted.contains(&g),
                    "{} needs {verb} on {group}/{resource}",
                    wk.kind
                );
            }
        }
    }

    #[test]
    fn cluster_scoped_rbac_objects_are_read_only_by_the_watch_of_the_operators_reader_roles() {
        // list and watch serve the label-selected watch of the reader roles and bindings (the
        // reader step compares with it instead of reading each by name); RBAC cannot narrow a
        // list by label, so they are listable as a whole. Nothing else on them: no delete,
        // escalate or update, and bind only by resourceNames.
        let granted = grants(&cluster_role_rules());
        for resource in ["clusterrolebindings", "clusterroles"] {
            let unnamed: Vec<&str> = granted
                .iter()
                .filter(|(g, r, n, _)| {
                    g == "rbac.authorization.k8s.io" && r == resource && n.is_empty()
                })
                .map(|(_, _, _, v)| v.as_str())
                .collect();
            for verb in ["delete", "deletecollection", "update", "escalate", "bind"] {
                assert!(!unnamed.contains(&verb), "{verb} on {resource}");
            }
        }
    }

    #[test]
    fn write_verbs_are_granted_only_on_kinds_the_controller_writes() {
        let writers = [
            "fachverfahrenonboardings",
            "fachverfahrenonboardings/status",
            "ressorts/status",
            "verwaltungsaufgaben/status",
            "namespaces",
            "resourcequotas",
            "limitranges",
            "networkpolicies",
            "rolebindings",
            "serviceaccounts",
            "clusterroles",
            "clusterrolebindings",
            "policyreports",
            "events",
            "leases",
        ];
        for p in permissions() {
            let writes = p.verbs.iter().any(|v| {
                matches!(
                    *v,
                    "create" | "update" | "patch" | "delete" | "deletecollection"
                )
            });
            if writes {
                assert!(
                    writers.contains(&p.resource.as_str()),
                    "unexpected write access: {p:?}"
                );
            }
        }
        let sa = permissions()
            .into_iter()
            .find(|p| p.resource == "serviceaccounts")
            .unwrap();
        assert!(
            !sa.verbs.contains(&"delete"),
            "ServiceAccounts are never deleted"
        );
    }

    #[test]
    fn leases_and_the_price_list_are_granted_in_the_release_namespace_only() {
        assert!(
            grants(&cluster_role_rules())
                .iter()
                .all(|g| g.1 != "leases")
        );
        let lease = grants(&lease_role_rules());
        assert!(lease.contains(&(
            "coordination.k8s.io".into(),
            "leases".into(),
            String::new(),
            "patch".into()
        )));
        assert!(
            lease
                .iter()
                .all(|g| g.1 == "leases" || (g.1 == "configmaps" && READ.contains(&g.3.as_str())))
        );
    }

    #[test]
    fn plurals_follow_the_api_server_names() {
        assert_eq!(
            plural("policy/v1", "PodDisruptionBudget").1,
            "poddisruptionbudgets"
        );
        assert_eq!(
            plural("networking.k8s.io/v1", "NetworkPolicy").1,
            "networkpolicies"
        );
        assert_eq!(plural("v1", "Pod"), (String::new(), "pods".to_string()));
    }

    #[test]
    fn rules_yaml_parses_back_to_the_same_grants_with_a_comment_per_rule() {
        for scope in [Scope::Cluster, Scope::ReleaseNamespace] {
            let text = rules_yaml(scope);
            #[derive(serde::Deserialize)]
            struct Doc {
                rules: Vec<PolicyRule>,
            }
            let doc: Doc = serde_saphyr::from_str(&text).unwrap();
            assert_eq!(grants(&doc.rules), grants(&rules(scope)));
            let comments = text
                .lines()
                .filter(|l| l.trim_start().starts_with("# "))
                .count();
            assert_eq!(comments, doc.rules.len());
        }
    }
}
