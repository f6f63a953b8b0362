//! The checks of the rules, one file per family, each rule's id, metadata and check in one place.
//!
//! A check is a function from a read-only view of an object (a pod spec with its containers, an object of
//! given kinds, a namespace with what the input holds about it) to its violations. The engine
//! ([`super::engine`]) decides which objects a rule sees, whether the profile enables it, and what an
//! exception or ignore annotation silences; a check only says what is wrong. A check that does not apply
//! to the object in view (a probe rule on a Job, a registry rule without allowed registries) says so with
//! [`Violations::not_applicable`], and the object does not count as checked by the rule.
//!
//! A new rule: a `Rule` constant in its family's file (id, metadata and [`Check`]s), one line in the
//! catalogue of [`super::rules`], and its fixtures.

pub(crate) mod containers;
pub(crate) mod namespace;
pub(crate) mod network;
pub(crate) mod objects;
pub(crate) mod pod_security;
pub(crate) mod rbac;
pub(crate) mod workload;

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::engine::SourceObject;
use super::profile::ResolvedProfile;
use super::report::Location;

/// Where and on what a rule is checked.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Every pod spec the engine checks: a Pod's, or the pod template of a workload (Deployment,
    /// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob) not controlled by another
    /// checked workload.
    Pod(fn(&PodView<'_>, &mut Violations)),
    /// One field of the `securityContext` of every container (and of the pod), judged by a table entry.
    SecurityContext(&'static SecurityContextCheck),
    /// Every object of the given kinds.
    Object {
        /// The kinds it reads.
        kinds: &'static [Kind],
        /// The check.
        check: fn(&ObjectView<'_>, &mut Violations),
    },
    /// Every namespace the engine judges as a whole.
    Namespace(fn(&NamespaceView<'_>, &mut Violations)),
}

/// A kind in the API groups that serve it (`""` is the core group).
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The API groups.
    pub groups: &'static [&'static str],
    /// The kind.
    pub kind: &'static str,
}

impl Kind {
    /// Whether `group`/`kind` is this kind.
    pub fn matches(&self, group: &str, kind: &str) -> bool {
        self.kind == kind && self.groups.contains(&group)
    }
}

/// A container `securityContext` field checked on every container, and on the pod's `securityContext`
/// where the field exists there too.
#[derive(Debug)]
pub struct SecurityContextCheck {
    /// The field of `securityContext` (`privileged`, `seccompProfile`).
    pub field: &'static str,
    /// Whether the pod's `securityContext` has the field too (a finding there names no container).
    pub pod: bool,
    /// What is wrong with the field's value (`None` when the field is absent), if anything.
    pub verdict: fn(Option<&Value>) -> Option<String>,
    /// A further check of the pod spec for the same rule (AppArmor's annotations).
    pub also: Option<fn(&PodView<'_>, &mut Violations)>,
}

/// One violation of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The container (`name`, `name (init)`), if the violation is a container's.
    pub container: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// What a check found.
#[derive(Debug)]
pub struct Violations {
    applies: bool,
    found: Vec<Violation>,
}

impl Default for Violations {
    fn default() -> Self {
        Violations {
            applies: true,
            found: Vec::new(),
        }
    }
}

impl Violations {
    /// A violation of the object as a whole.
    pub fn object(&mut self, message: impl Into<String>) {
        self.found.push(Violation {
            container: None,
            message: message.into(),
        });
    }

    /// A violation of one container.
    pub fn container(&mut self, c: &Container<'_>, message: impl Into<String>) {
        self.named(c.label(), message);
    }

    /// A violation of the container named `name`.
    pub fn named(&mut self, name: String, message: impl Into<String>) {
        self.found.push(Violation {
            container: Some(name),
            message: message.into(),
        });
    }

    /// The rule does not apply to the object in view: it is not counted as checked.
    pub fn not_applicable(&mut self) {
        self.applies = false;
    }

    /// Whether the rule applied, and its violations; resets for the next check.
    pub(crate) fn take(&mut self) -> Option<std::vec::Drain<'_, Violation>> {
        let applies = std::mem::replace(&mut self.applies, true);
        if !applies {
            self.found.clear();
            return None;
        }
        Some(self.found.drain(..))
    }
}

/// Which list of the pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `containers`.
    Regular,
    /// `initContainers`.
    Init,
    /// `ephemeralContainers`.
    Ephemeral,
}

impl ContainerKind {
    /// Every list, in the order checked.
    pub const ALL: [ContainerKind; 3] = [
        ContainerKind::Regular,
        ContainerKind::Init,
        ContainerKind::Ephemeral,
    ];

    /// The field of the pod spec.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Regular => "containers",
            ContainerKind::Init => "initContainers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// One container of a pod spec.
#[derive(Debug)]
pub struct Container<'v> {
    /// Its list.
    pub kind: ContainerKind,
    /// Its name.
    pub name: &'v str,
    /// The container.
    pub v: &'v Value,
}

impl Container<'_> {
    /// The name findings use (`app`, `setup (init)`).
    pub fn label(&self) -> String {
        match self.kind {
            ContainerKind::Regular => self.name.to_owned(),
            ContainerKind::Init => format!("{} (init)", self.name),
            ContainerKind::Ephemeral => format!("{} (ephemeral)", self.name),
        }
    }

    /// A field of the container's `securityContext`.
    pub fn sc(&self, field: &str) -> Option<&Value> {
        at(self.v, &["securityContext", field])
    }
}

/// What the input holds about one namespace (built by the engine in one pass).
#[derive(Debug, Default)]
pub struct NamespaceFacts<'a> {
    /// The Namespace object, when it is in the input.
    pub namespace_obj: Option<&'a SourceObject>,
    /// Location of the first object seen in the namespace (for findings without a Namespace object).
    pub first_location: Option<&'a Location>,
    /// Its NetworkPolicies.
    pub network_policies: Vec<&'a Value>,
    /// The selectors of its PodDisruptionBudgets.
    pub pdb_selectors: Vec<&'a Value>,
    /// How many ResourceQuotas it has.
    pub quotas: usize,
    /// How many LimitRanges it has.
    pub limit_ranges: usize,
    /// ServiceAccount name → automountServiceAccountToken.
    pub service_account_automount: HashMap<&'a str, bool>,
    /// The names of its PersistentVolumeClaims.
    pub claims: BTreeSet<&'a str>,
    /// The namespaces an onboarding in the input declares in `spec.network.allowFromNamespaces` for it.
    pub declared_sources: BTreeSet<&'a str>,
}

impl NamespaceFacts<'_> {
    /// An annotation of the Namespace object, when it is in the input.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.namespace_obj
            .and_then(|o| str_at(&o.value, &["metadata", "annotations", key]))
    }
}

/// A pod spec in view: a Pod's, or a workload's pod template.
#[derive(Debug)]
pub struct PodView<'v> {
    /// The object's kind (`Deployment`).
    pub kind: &'v str,
    /// The object (the workload, not only its template).
    pub object: &'v Value,
    /// The pod spec.
    pub spec: &'v Value,
    /// The pod template's (or the Pod's) metadata.
    pub template_meta: Option<&'v Value>,
    /// The pod's `securityContext`.
    pub security_context: Option<&'v Value>,
    /// All containers: regular, init, ephemeral.
    pub containers: Vec<Container<'v>>,
    /// The object's namespace.
    pub namespace: Option<&'v str>,
    /// What the input holds about its namespace.
    pub facts: Option<&'v NamespaceFacts<'v>>,
    /// The profile (allowed registries, runtime classes, node pool).
    pub profile: &'v ResolvedProfile,
}

impl<'v> PodView<'v> {
    /// The view of the pod spec `spec` of `object`.
    pub fn new(
        object: &'v Value,
        kind: &'v str,
        spec: &'v Value,
        template_meta: Option<&'v Value>,
        facts: Option<&'v NamespaceFacts<'v>>,
        profile: &'v ResolvedProfile,
    ) -> Self {
        let containers = ContainerKind::ALL
            .into_iter()
            .flat_map(|ck| {
                arr_at(spec, &[ck.field()]).iter().map(move |c| Container {
                    kind: ck,
                    name: str_at(c, &["name"]).unwrap_or(""),
                    v: c,
                })
            })
            .collect();
        PodView {
            kind,
            object,
            spec,
            template_meta,
            security_context: at(spec, &["securityContext"]),
            containers,
            namespace: str_at(object, &["metadata", "namespace"]),
            facts,
            profile,
        }
    }

    /// A field of the pod's `securityContext`.
    pub fn psc(&self, path: &[&str]) -> Option<&'v Value> {
        self.security_context.and_then(|s| at(s, path))
    }
}

/// An object in view.
#[derive(Debug)]
pub struct ObjectView<'v> {
    /// The object.
    pub v: &'v Value,
    /// Its kind.
    pub kind: &'v str,
    /// Its API group (`""` for the core group).
    pub group: &'v str,
    /// The profile.
    pub profile: &'v ResolvedProfile,
    /// The time of the evaluation.
    pub now: Timestamp,
    /// Its namespace.
    pub namespace: Option<&'v str>,
    /// What the input holds about its namespace.
    pub facts: Option<&'v NamespaceFacts<'v>>,
}

/// A namespace in view.
#[derive(Debug)]
pub struct NamespaceView<'v> {
    /// Its name.
    pub name: &'v str,
    /// What the input holds about it.
    pub facts: &'v NamespaceFacts<'v>,
}

// ---------------------------------------------------------------------------------------------------------
// Reading JSON values

/// The value at `path` (object keys).
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    Some(cur)
}

/// The string at `path`.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// The boolean at `path`.
pub fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
    at(v, path).and_then(Value::as_bool)
}

/// The array at `path`; empty when there is none.
pub fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The mapping at `path`.
pub fn obj_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    at(v, path).and_then(Value::as_object)
}

/// The integer at `path`.
pub fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

/// The strings of the array at `path`.
pub fn strs_at<'a>(v: &'a Value, path: &[&str]) -> impl Iterator<Item = &'a str> + use<'a> {
    arr_at(v, path).iter().filter_map(Value::as_str)
}

/// Whether a `metav1.LabelSelector` mapping is empty (selects everything).
pub fn selector_is_empty(s: &Map<String, Value>) -> bool {
    s.get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty)
        && s.get("matchExpressions")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
}

/// `metav1.LabelSelector` semantics; an empty selector matches everything (as for PodDisruptionBudgets in
/// policy/v1).
pub fn label_selector_matches(sel: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let ml_ok = obj_at(sel, &["matchLabels"]).is_none_or(|ml| {
        ml.iter()
            .all(|(k, v)| get(k).is_some() && get(k) == v.as_str())
    });
    let me_ok = arr_at(sel, &["matchExpressions"]).iter().all(|e| {
        let key = str_at(e, &["key"]).unwrap_or("");
        let vals = arr_at(e, &["values"]);
        let has = |x: &str| vals.iter().any(|v| v.as_str() == Some(x));
        match str_at(e, &["operator"]) {
            Some("In") => get(key).is_some_and(has),
            Some("NotIn") => get(key).is_none_or(|x| !has(x)),
            Some("Exists") => get(key).is_some(),
            Some("DoesNotExist") => get(key).is_none(),
            _ => false,
        }
    });
    ml_ok && me_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_follow_metav1_semantics() {
        let labels: Map<String, Value> =
            serde_json::from_str(r#"{"app":"web","tier":"fe"}"#).unwrap();
        let m = |s: &str| label_selector_matches(&serde_json::from_str(s).unwrap(), Some(&labels));
        assert!(m(r#"{}"#));
        assert!(m(r#"{"matchLabels":{"app":"web"}}"#));
        assert!(!m(r#"{"matchLabels":{"app":"db"}}"#));
        assert!(m(
            r#"{"matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]}]}"#
        ));
        assert!(!m(
            r#"{"matchExpressions":[{"key":"tier","operator":"NotIn","values":["fe"]}]}"#
        ));
        assert!(m(
            r#"{"matchExpressions":[{"key":"zone","operator":"DoesNotExist"}]}"#
        ));
        assert!(!m(
            r#"{"matchExpressions":[{"key":"zone","operator":"Exists"}]}"#
        ));
    }
}
