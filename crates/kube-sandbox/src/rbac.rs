//! RBAC as kube-apiserver evaluates it: Roles, ClusterRoles (with `aggregationRule`, aggregated
//! as kube-controller-manager's clusterrole-aggregation controller does), RoleBindings and
//! ClusterRoleBindings; `system:masters` allowed everything; the default ClusterRoles of a new
//! cluster (`cluster-admin`, `admin`, `edit`, `view`, `system:basic-user`, `system:discovery`,
//! ...) for the resources the sandbox serves; escalation prevention on writes of roles and
//! bindings; the access reviews of `authorization.k8s.io/v1` and `SelfSubjectReview`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::UserInfo;
use crate::meta::{self, name_of};
use crate::registry::{GroupResource, ResourceDef};
use crate::status::{ApiError, field_error};
use crate::store::State;

const RBAC: &str = "rbac.authorization.k8s.io";

fn gr(resource: &str) -> GroupResource {
    GroupResource {
        group: RBAC.into(),
        resource: resource.into(),
    }
}

/// What a request asks to do, as kube-apiserver's authorizers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// The path of a non-resource request (`/apis`, `/version`); then the rest is empty.
    pub path: Option<String>,
}

impl Attributes {
    pub fn resource(
        verb: &str,
        group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
            path: None,
        }
    }

    pub fn non_resource(verb: &str, path: &str) -> Self {
        Self {
            verb: verb.into(),
            group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: Some(path.into()),
        }
    }
}

/// An authorizer's answer; `reason` as kube-apiserver's RBAC authorizer words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// The strings of a JSON array (none when it is absent or not an array; non-strings skipped).
pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == want)
}

/// Whether a PolicyRule allows the request (kube-apiserver's `RuleAllows`).
fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strings(rule.get("verbs"));
    if !(has(&verbs, "*") || has(&verbs, &a.verb)) {
        return false;
    }
    if let Some(path) = &a.path {
        return strings(rule.get("nonResourceURLs")).iter().any(|u| {
            u == "*"
                || u == path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        });
    }
    let groups = strings(rule.get("apiGroups"));
    if !(has(&groups, "*") || has(&groups, &a.group)) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resources_match = strings(rule.get("resources")).iter().any(|r| {
        r == "*"
            || *r == combined
            || (!a.subresource.is_empty() && r.strip_prefix("*/") == Some(a.subresource.as_str()))
    });
    if !resources_match {
        return false;
    }
    let names = strings(rule.get("resourceNames"));
    names.is_empty() || has(&names, &a.name)
}

/// Whether a binding's subject is the user (`ServiceAccount` subjects default to the
/// binding's namespace).
fn subject_matches(subject: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = subject.get("name").and_then(Value::as_str).unwrap_or("");
    match subject.get("kind").and_then(Value::as_str).unwrap_or("") {
        "User" => user.username == name,
        "Group" => has(&user.groups, name),
        "ServiceAccount" => {
            let ns = subject
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user.username == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn describe_subject(subject: &Value, binding_ns: &str) -> String {
    let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = subject.get("name").and_then(Value::as_str).unwrap_or("");
    if kind == "ServiceAccount" {
        let ns = subject
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_ns);
        format!("{kind} \"{name}/{ns}\"")
    } else {
        format!("{kind} \"{name}\"")
    }
}

/// The rules a binding's `roleRef` grants, or the NotFound message of the missing role.
fn role_rules(st: &State, role_ref: &Value, binding_ns: &str) -> Result<Vec<Value>, String> {
    let name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
    let (role, what) = match role_ref.get("kind").and_then(Value::as_str) {
        Some("Role") => (st.get(&gr("roles"), binding_ns, name), "role"),
        Some("ClusterRole") => (st.get(&gr("clusterroles"), "", name), "clusterrole"),
        other => {
            return Err(format!(
                "unsupported role reference kind: {:?}",
                other.unwrap_or("")
            ));
        }
    };
    match role {
        Some(r) => Ok(r
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()),
        None => Err(format!("{what}.{RBAC} \"{name}\" not found")),
    }
}

/// One binding that applies to a user: its description and what it grants.
struct Grant {
    /// `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`.
    source: String,
    rules: Vec<Value>,
}

/// Every grant of the user in `namespace` (cluster-wide ones only when it is empty), and the
/// errors of bindings whose role is missing.
fn grants(st: &State, user: &UserInfo, namespace: &str) -> (Vec<Grant>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut visit = |binding: &Value, ns: &str, kind: &str| {
        let Some(subject) = binding
            .get("subjects")
            .and_then(Value::as_array)
            .and_then(|subjects| subjects.iter().find(|s| subject_matches(s, user, ns)))
        else {
            return;
        };
        let role_ref = binding.get("roleRef").cloned().unwrap_or(Value::Null);
        match role_rules(st, &role_ref, ns) {
            Ok(rules) => {
                let binding_name = if ns.is_empty() {
                    name_of(binding).to_string()
                } else {
                    format!("{}/{ns}", name_of(binding))
                };
                out.push(Grant {
                    source: format!(
                        "{kind} \"{binding_name}\" of {} \"{}\" to {}",
                        role_ref.get("kind").and_then(Value::as_str).unwrap_or(""),
                        role_ref.get("name").and_then(Value::as_str).unwrap_or(""),
                        describe_subject(subject, ns)
                    ),
                    rules,
                })
            }
            Err(e) => errors.push(e),
        }
    };
    for b in st.list(&gr("clusterrolebindings"), None) {
        visit(b.as_ref(), "", "ClusterRoleBinding");
    }
    if !namespace.is_empty() {
        for b in st.list(&gr("rolebindings"), Some(namespace)) {
            visit(b.as_ref(), namespace, "RoleBinding");
        }
    }
    (out, errors)
}

fn aggregate_errors(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

/// Whether `user` may do what `a` asks: `system:masters` may do anything, anyone else what a
/// binding of theirs grants.
pub fn authorize(st: &State, user: &UserInfo, a: &Attributes) -> Decision {
    if user.is_privileged() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let (grants, errors) = grants(st, user, &a.namespace);
    for g in &grants {
        if g.rules.iter().any(|r| rule_allows(r, a)) {
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", g.source),
            };
        }
    }
    Decision {
        allowed: false,
        reason: aggregate_errors(&errors),
    }
}

/// kube-apiserver's 403 for a request its authorizers did not allow.
pub fn forbidden(user: &UserInfo, a: &Attributes, reason: &str) -> ApiError {
    let what = match &a.path {
        Some(path) => format!(
            "User \"{}\" cannot {} path \"{path}\"",
            user.username, a.verb
        ),
        None => {
            let resource = if a.subresource.is_empty() {
                a.resource.clone()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            let scope = if a.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace \"{}\"", a.namespace)
            };
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
                user.username, a.verb, a.group
            )
        }
    };
    let why = if reason.is_empty() {
        what
    } else {
        format!("{what}: {reason}")
    };
    if a.path.is_some() {
        return ApiError::new(403, "Forbidden", format!("forbidden: {why}"))
            .with_details(json!({}));
    }
    ApiError::forbidden(&a.group, &a.resource, &a.name, &why)
}

// --- Default roles ---

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn urls(paths: &[&str], verbs: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": paths})
}

const AGGREGATE: &str = "rbac.authorization.k8s.io/aggregate-to-";

fn cluster_role(name: &str, rules: Vec<Value>, aggregate_to: &[&str], aggregates: &str) -> Value {
    let mut labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    for to in aggregate_to {
        labels[format!("{AGGREGATE}{to}")] = json!("true");
    }
    let mut role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": rules,
    });
    if !aggregates.is_empty() {
        role["aggregationRule"] = json!({"clusterRoleSelectors": [
            {"matchLabels": {format!("{AGGREGATE}{aggregates}"): "true"}}
        ]});
    }
    role
}

fn cluster_role_binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"kind": "Group", "apiGroup": RBAC, "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// The default ClusterRoles and ClusterRoleBindings of a new cluster, as far as the resources
/// the sandbox serves go (the user-facing roles `admin`, `edit` and `view` aggregate from the
/// `system:aggregate-to-*` roles, as upstream).
fn defaults() -> (Vec<Value>, Vec<Value>) {
    let view = vec![
        rule(
            &[""],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
            READ,
        ),
        rule(
            &[""],
            &[
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
            READ,
        ),
        rule(&[""], &["namespaces"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
    ];
    let edit = vec![
        rule(
            &[""],
            &[
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
            ],
            WRITE,
        ),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &[""],
            &[
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
            WRITE,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["jobs", "cronjobs"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses"],
            WRITE,
        ),
        rule(&["coordination.k8s.io"], &["leases"], READ_WRITE),
    ];
    let admin = vec![
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule(&[RBAC], &["roles", "rolebindings"], READ_WRITE),
    ];
    let info = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let mut discovery = vec![
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/openapi",
        "/openapi/*",
    ];
    discovery.extend(info);
    let roles = vec![
        cluster_role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
            &[],
            "",
        ),
        cluster_role("admin", Vec::new(), &[], "admin"),
        cluster_role("edit", Vec::new(), &["admin"], "edit"),
        cluster_role("view", Vec::new(), &["edit"], "view"),
        cluster_role("system:aggregate-to-admin", admin, &["admin"], ""),
        cluster_role("system:aggregate-to-edit", edit, &["edit"], ""),
        cluster_role("system:aggregate-to-view", view, &["view"], ""),
        cluster_role(
            "system:basic-user",
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
            &[],
            "",
        ),
        cluster_role(
            "system:discovery",
            vec![urls(&discovery, &["get"])],
            &[],
            "",
        ),
        cluster_role(
            "system:public-info-viewer",
            vec![urls(&info, &["get"])],
            &[],
            "",
        ),
    ];
    let bindings = vec![
        cluster_role_binding("cluster-admin", "cluster-admin", &["system:masters"]),
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ];
    (roles, bindings)
}

/// Stores the default roles and bindings of a new cluster and aggregates them.
pub fn bootstrap(st: &mut State) {
    let (roles, bindings) = defaults();
    for (resource, objs) in [("clusterroles", roles), ("clusterrolebindings", bindings)] {
        for mut obj in objs {
            obj["metadata"]["uid"] = json!(meta::new_uid());
            obj["metadata"]["creationTimestamp"] = json!(meta::now());
            st.put(&gr(resource), obj);
        }
    }
    aggregate(st);
}

/// What kube-controller-manager's clusterrole-aggregation controller does: a ClusterRole with an
/// `aggregationRule` gets the rules of every ClusterRole its selectors match (by name, each rule
/// once), until nothing changes.
pub fn aggregate(st: &mut State) {
    for _ in 0..8 {
        let roles = st.list(&gr("clusterroles"), None);
        let mut changed = false;
        for (role, selectors) in aggregators(&roles) {
            let mut sources: Vec<&Value> = roles
                .iter()
                .map(|r| &**r)
                .filter(|r| name_of(r) != name_of(role))
                .filter(|r| selectors.iter().any(|s| s.matches(r)))
                .collect();
            sources.sort_by_key(|r| name_of(r).to_string());
            let mut rules: Vec<Value> = Vec::new();
            for r in sources {
                for rule in r
                    .get("rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if !rules.contains(rule) {
                        rules.push(rule.clone());
                    }
                }
            }
            let current = role
                .get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if current != rules {
                let mut updated = role.clone();
                updated["rules"] = json!(rules);
                st.put(&gr("clusterroles"), updated);
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// The roles among `roles` with an `aggregationRule`, each with its selectors parsed.
fn aggregators<'a>(
    roles: impl IntoIterator<Item = &'a Arc<Value>>,
) -> Vec<(&'a Value, Vec<crate::selectors::LabelSelector>)> {
    roles
        .into_iter()
        .filter_map(|role| {
            let selectors = role
                .pointer("/aggregationRule/clusterRoleSelectors")?
                .as_array()?;
            let parsed = selectors
                .iter()
                .map(crate::selectors::LabelSelector::from_object)
                .collect();
            Some((&**role, parsed))
        })
        .collect()
}

/// The ClusterRole `name` as stored, if any.
pub fn stored_cluster_role(st: &State, name: &str) -> Option<Arc<Value>> {
    if name.is_empty() {
        return None;
    }
    st.get(&gr("clusterroles"), "", name)
}

/// The name a create's body gives its object ("" when it asks for a generated one or does
/// not parse as JSON: then every write is taken to concern the aggregation).
pub fn created_name(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .map(name_of)
        .unwrap_or_default()
        .to_string()
}

/// Whether a write of `role` (as it was, or is) can change an aggregated ClusterRole: it has
/// an `aggregationRule` itself, or a role that has one selects it. Roles no aggregation
/// selects (an operator's own roles, by the thousand) are written without a pass over every
/// role.
pub fn concerns_aggregation(st: &State, role: Option<&Value>) -> bool {
    let Some(role) = role else {
        return false;
    };
    if role.pointer("/aggregationRule").is_some() {
        return true;
    }
    // Only the roles that aggregate (the store keeps their names): this runs for every ClusterRole
    // write, and most roles aggregate nothing.
    let roles = st
        .aggregating
        .iter()
        .filter_map(|name| stored_cluster_role(st, name));
    aggregators(&roles.collect::<Vec<_>>())
        .iter()
        .any(|(_, selectors)| selectors.iter().any(|s| s.matches(role)))
}

// --- Escalation prevention ---

/// One rule broken down to a single verb, group, resource and name (or URL).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Atom {
    verb: String,
    group: String,
    resource: String,
    name: Option<String>,
    url: Option<String>,
}

fn atoms(rule: &Value) -> Vec<Atom> {
    let mut out = Vec::new();
    let verbs = strings(rule.get("verbs"));
    for verb in &verbs {
        for group in strings(rule.get("apiGroups")) {
            for resource in strings(rule.get("resources")) {
                let names = strings(rule.get("resourceNames"));
                if names.is_empty() {
                    out.push(Atom {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.clone(),
                        name: None,
                        url: None,
                    });
                }
                for name in names {
                    out.push(Atom {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.clone(),
                        name: Some(name),
                        url: None,
                    });
                }
            }
        }
        for url in strings(rule.get("nonResourceURLs")) {
            out.push(Atom {
                verb: verb.clone(),
                group: String::new(),
                resource: String::new(),
                name: None,
                url: Some(url),
            });
        }
    }
    out
}

/// Whether an owner's rule covers an atom (kube-apiserver's `ruleCovers`).
fn covers(owner: &Value, atom: &Atom) -> bool {
    let verbs = strings(owner.get("verbs"));
    if !(has(&verbs, "*") || has(&verbs, &atom.verb)) {
        return false;
    }
    if let Some(url) = &atom.url {
        return strings(owner.get("nonResourceURLs")).iter().any(|u| {
            u == "*"
                || u == url
                || u.strip_suffix('*')
                    .is_some_and(|prefix| url.starts_with(prefix))
        });
    }
    let groups = strings(owner.get("apiGroups"));
    if !(has(&groups, "*") || has(&groups, &atom.group)) {
        return false;
    }
    let resources = strings(owner.get("resources"));
    let resource_ok = has(&resources, "*")
        || has(&resources, &atom.resource)
        || atom
            .resource
            .split_once('/')
            .is_some_and(|(_, sub)| has(&resources, &format!("*/{sub}")));
    if !resource_ok {
        return false;
    }
    let names = strings(owner.get("resourceNames"));
    names.is_empty() || atom.name.as_ref().is_some_and(|n| has(&names, n))
}

fn compact(atom: &Atom) -> String {
    let q = |s: &str| format!("{s:?}");
    match &atom.url {
        Some(url) => format!(
            "{{NonResourceURLs:[{}], Verbs:[{}]}}",
            q(url),
            q(&atom.verb)
        ),
        None => {
            let names = atom
                .name
                .as_ref()
                .map(|n| format!(", ResourceNames:[{}]", q(n)))
                .unwrap_or_default();
            format!(
                "{{APIGroups:[{}], Resources:[{}]{names}, Verbs:[{}]}}",
                q(&atom.group),
                q(&atom.resource),
                q(&atom.verb)
            )
        }
    }
}

/// kube-apiserver refuses to let a user create or change a Role, ClusterRole, RoleBinding or
/// ClusterRoleBinding that grants more than the user holds (unless the user may `escalate`
/// roles or `bind` the referenced role). `obj` is the new object of `def` in `namespace`.
pub fn check_escalation(
    st: &State,
    user: &UserInfo,
    def: &ResourceDef,
    namespace: &str,
    obj: &Value,
) -> Result<(), ApiError> {
    if def.group != RBAC || user.is_privileged() {
        return Ok(());
    }
    let name = name_of(obj);
    let rules: Vec<Value> = match def.kind.as_str() {
        "Role" | "ClusterRole" => {
            let escalate = Attributes::resource("escalate", RBAC, &def.plural, "", namespace, name);
            if authorize(st, user, &escalate).allowed {
                return Ok(());
            }
            if obj.get("aggregationRule").is_some_and(|r| !r.is_null()) {
                return Err(ApiError::forbidden(
                    &def.group,
                    &def.plural,
                    name,
                    "must have cluster-admin privileges to write aggregated cluster roles",
                ));
            }
            obj.get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref = obj.get("roleRef").cloned().unwrap_or(Value::Null);
            let role_kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or("");
            let role_name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
            let (plural, role_ns) = if role_kind == "Role" {
                ("roles", namespace)
            } else {
                ("clusterroles", "")
            };
            let bind = Attributes::resource("bind", RBAC, plural, "", role_ns, role_name);
            let bind_here = Attributes {
                namespace: namespace.into(),
                ..bind.clone()
            };
            if authorize(st, user, &bind).allowed || authorize(st, user, &bind_here).allowed {
                return Ok(());
            }
            role_rules(st, &role_ref, namespace)
                .map_err(|e| ApiError::forbidden(&def.group, &def.plural, name, &e))?
        }
        _ => return Ok(()),
    };
    let (grants, errors) = grants(st, user, namespace);
    let owned: Vec<&Value> = grants.iter().flat_map(|g| g.rules.iter()).collect();
    let mut missing: BTreeSet<Atom> = BTreeSet::new();
    for rule in &rules {
        for atom in atoms(rule) {
            if !owned.iter().any(|o| covers(o, &atom)) {
                missing.insert(atom);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    let mut msg = format!(
        "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        user.username,
        groups.join(" "),
        missing.iter().map(compact).collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", errors.join(", ")));
    }
    Err(ApiError::forbidden(&def.group, &def.plural, name, &msg))
}

// --- Reviews ---

fn review_invalid(kind: &str, group: &str, field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::invalid(
        group,
        kind,
        "",
        &[field_error(
            field,
            crd_validation::ErrorType::Invalid,
            Some(value.clone()),
            why,
        )],
    )
}

/// The attributes a review's spec asks about.
fn review_attributes(kind: &str, spec: &Value) -> Result<Attributes, ApiError> {
    let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match (resource, non_resource) {
        (Some(r), None) => Ok(Attributes::resource(
            &s(r, "verb"),
            &s(r, "group"),
            &s(r, "resource"),
            &s(r, "subresource"),
            &s(r, "namespace"),
            &s(r, "name"),
        )),
        (None, Some(n)) => Ok(Attributes::non_resource(&s(n, "verb"), &s(n, "path"))),
        (Some(_), Some(_)) => Err(review_invalid(
            kind,
            "authorization.k8s.io",
            "spec.nonResourceAttributes",
            &json!("null"),
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => Err(review_invalid(
            kind,
            "authorization.k8s.io",
            "spec.resourceAttributes",
            &json!("null"),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
    }
}

/// Answers a create of a review kind (`SelfSubjectAccessReview`, `SubjectAccessReview`,
/// `LocalSubjectAccessReview`, `SelfSubjectRulesReview`, `SelfSubjectReview`) by `user`; nothing
/// is stored. `namespace` is the request path's.
pub fn review(
    st: &State,
    user: &UserInfo,
    def: &ResourceDef,
    namespace: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let mut out = json!({
        "kind": def.kind,
        "apiVersion": def.api_version(),
        "metadata": body.get("metadata").cloned().filter(Value::is_object).unwrap_or(json!({})),
    });
    out["metadata"]["creationTimestamp"] = Value::Null;
    if def.kind == "SelfSubjectReview" {
        out["status"] = json!({"userInfo": user.to_json()});
        return Ok(out);
    }
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    out["spec"] = spec.clone();
    if def.kind == "SelfSubjectRulesReview" {
        let ns = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
        out["status"] = rules_review(st, user, ns);
        return Ok(out);
    }
    let subject = match def.kind.as_str() {
        "SelfSubjectAccessReview" => user.clone(),
        _ => {
            let subject = UserInfo::from_review_spec(&spec);
            if subject.username.is_empty() && subject.groups.is_empty() {
                return Err(review_invalid(
                    &def.kind,
                    &def.group,
                    "spec.user",
                    &json!(""),
                    "at least one of user or group must be specified",
                ));
            }
            subject
        }
    };
    let attrs = review_attributes(&def.kind, &spec)?;
    if def.kind == "LocalSubjectAccessReview" && attrs.namespace != namespace {
        return Err(ApiError::bad_request(format!(
            "spec.resourceAttributes.namespace must match namespace: {namespace}"
        )));
    }
    let d = authorize(st, &subject, &attrs);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    out["status"] = status;
    Ok(out)
}

/// `SelfSubjectRulesReview`'s status: the rules of every grant in `namespace`.
fn rules_review(st: &State, user: &UserInfo, namespace: &str) -> Value {
    let rules: Vec<Value> = if user.is_privileged() {
        vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])]
    } else {
        grants(st, user, namespace)
            .0
            .into_iter()
            .flat_map(|g| g.rules)
            .collect()
    };
    let (resource, non_resource): (Vec<Value>, Vec<Value>) = rules
        .into_iter()
        .partition(|r| r.get("nonResourceURLs").is_none());
    json!({
        "resourceRules": resource,
        "nonResourceRules": non_resource,
        "incomplete": false,
    })
}

/// The authorization attributes of a resource request (kube-apiserver's RequestInfo): the
/// namespace of a namespace is its name, and `apply` is `patch`.
pub fn request_attributes(
    verb: &str,
    group: &str,
    plural: &str,
    sub: &str,
    namespace: &str,
    name: &str,
) -> Attributes {
    let verb = if verb == "apply" { "patch" } else { verb };
    let namespace = if group.is_empty() && plural == "namespaces" && !name.is_empty() {
        name
    } else {
        namespace
    };
    Attributes::resource(verb, group, plural, sub, namespace, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::resource(verb, group, resource, sub, "ns", name)
    }

    #[test]
    fn rules_match_verbs_groups_resources_subresources_and_names_as_kube_apiserver() {
        let r = json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments", "*/scale"], "resourceNames": ["a"]});
        assert!(rule_allows(
            &r,
            &attrs("get", "apps", "deployments", "", "a")
        ));
        assert!(!rule_allows(
            &r,
            &attrs("get", "apps", "deployments", "", "b")
        ));
        assert!(!rule_allows(
            &r,
            &attrs("list", "apps", "deployments", "", "a")
        ));
        assert!(!rule_allows(&r, &attrs("get", "", "deployments", "", "a")));
        assert!(rule_allows(
            &r,
            &attrs("get", "apps", "replicasets", "scale", "a")
        ));
        assert!(!rule_allows(
            &r,
            &attrs("get", "apps", "deployments", "status", "a")
        ));
        let all = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
        assert!(rule_allows(
            &all,
            &attrs("delete", "x.io", "things", "status", "")
        ));
        let url = json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]});
        assert!(rule_allows(
            &url,
            &Attributes::non_resource("get", "/apis/apps")
        ));
        assert!(!rule_allows(&url, &Attributes::non_resource("get", "/api")));
    }

    #[test]
    fn a_subresource_owner_rule_covers_only_that_subresource() {
        let owner = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/status"]});
        let atom = |r: &str| Atom {
            verb: "get".into(),
            group: String::new(),
            resource: r.into(),
            name: None,
            url: None,
        };
        assert!(covers(&owner, &atom("pods/status")));
        assert!(!covers(&owner, &atom("pods")));
        let named = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]});
        assert!(!covers(&named, &atom("pods")));
    }

    #[test]
    fn forbidden_messages_are_kube_apiservers() {
        let user = UserInfo {
            username: "u".into(),
            ..UserInfo::default()
        };
        let e = forbidden(
            &user,
            &Attributes::resource("create", "apps", "deployments", "", "b", ""),
            "",
        );
        assert_eq!(
            e.message,
            "deployments.apps is forbidden: User \"u\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"b\""
        );
        let e = forbidden(&user, &Attributes::non_resource("get", "/apis"), "");
        assert_eq!(e.message, "forbidden: User \"u\" cannot get path \"/apis\"");
    }
}
