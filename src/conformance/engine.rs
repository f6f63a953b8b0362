//! The evaluation of the rules over a set of objects. Pure: no I/O, the clock is a parameter.
//!
//! One pass indexes what namespace-level rules need (NetworkPolicies, quotas, PodDisruptionBudgets, ...);
//! a second pass evaluates every object; a third evaluates every namespace. Objects are read as
//! `serde_json::Value` so that the same code serves manifests, `kubectl get -o json` and the controller's
//! dynamic objects, and unknown fields cost nothing.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::profile::{Exception, ResolvedProfile};
use super::report::{
    Finding, Location, ObjectRef, ObjectResult, Report, SeverityCounts, Silence, SilencedFinding,
};
use super::rules::{RuleId, RuleSet};
use crate::api::profile::ObjectSelector;

/// Annotation listing rule ids (comma-separated) to ignore on this object.
pub const IGNORE_ANNOTATION: &str = "conformance.conplus.niedersachsen.de/ignore";
/// Annotation with the reason for [`IGNORE_ANNOTATION`]; without it the ignore does not apply.
pub const IGNORE_REASON_ANNOTATION: &str = "conformance.conplus.niedersachsen.de/ignore-reason";
/// Namespace label naming the Ressort (APP.4.4.A1).
pub const RESSORT_LABEL: &str = crate::resources::RESSORT;
/// Namespace label naming the protection level (APP.4.4.A1).
pub const PROTECTION_LEVEL_LABEL: &str = crate::resources::PROTECTION_LEVEL;

/// One input object with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceObject {
    /// The object as JSON.
    pub value: Value,
    /// File and line; `None` for objects read from the cluster.
    pub location: Option<Location>,
}

/// A Kubernetes kind the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedKind {
    /// `apps/v1`.
    pub api_version: &'static str,
    /// `Deployment`.
    pub kind: &'static str,
    /// Whether objects of the kind live in namespaces.
    pub namespaced: bool,
}

const fn wk(api_version: &'static str, kind: &'static str, namespaced: bool) -> WatchedKind {
    WatchedKind {
        api_version,
        kind,
        namespaced,
    }
}

static WATCHED: &[WatchedKind] = &[
    wk("v1", "Pod", true),
    wk("v1", "ReplicationController", true),
    wk("apps/v1", "Deployment", true),
    wk("apps/v1", "StatefulSet", true),
    wk("apps/v1", "DaemonSet", true),
    wk("apps/v1", "ReplicaSet", true),
    wk("batch/v1", "Job", true),
    wk("batch/v1", "CronJob", true),
    wk("v1", "Service", true),
    wk("v1", "ConfigMap", true),
    wk("v1", "ServiceAccount", true),
    wk("v1", "ResourceQuota", true),
    wk("v1", "LimitRange", true),
    wk("networking.k8s.io/v1", "NetworkPolicy", true),
    wk("policy/v1", "PodDisruptionBudget", true),
    wk("rbac.authorization.k8s.io/v1", "Role", true),
    wk("rbac.authorization.k8s.io/v1", "RoleBinding", true),
    wk("rbac.authorization.k8s.io/v1", "ClusterRole", false),
    wk("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", false),
    wk("v1", "Namespace", false),
];

/// The (apiVersion, kind) pairs the rules read; the controller needs to watch only these. Pods are read
/// for `pod-max-age` only (their spec is checked on the owning workload).
pub fn watched_kinds() -> &'static [WatchedKind] {
    WATCHED
}

/// Removes from an object what no rule reads (`managedFields`, most annotations, status other than a
/// Pod's `startTime`), to keep a controller's caches small. Evaluating a stripped object gives the same
/// findings as evaluating the original.
pub fn strip_unread_fields(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let is_pod = map.get("kind").and_then(Value::as_str) == Some("Pod");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.remove("managedFields");
        if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
            ann.retain(|k, _| {
                k.starts_with("conformance.conplus.niedersachsen.de/")
                    || k.starts_with("container.apparmor.security.beta.kubernetes.io/")
            });
        }
    }
    match map.get_mut("status") {
        Some(Value::Object(status)) if is_pod => status.retain(|k, _| k == "startTime"),
        Some(_) => {
            map.remove("status");
        }
        None => {}
    }
}

/// Which namespaces the namespace-level rules (quota, limit range, default-deny policies, labels) judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceScope {
    /// Every namespace any object names (the controller, which sees whole namespaces).
    All,
    /// Only namespaces whose Namespace object, or an onboarding that creates them, is in the input
    /// (`check`: a team's manifests name the namespace the operator provides, with its quota and policies).
    Declared,
}

/// Evaluates the profile's rules over `objects` at time `now` (used for exception expiry and pod age),
/// with the namespace-level rules over every namespace named.
pub fn evaluate(objects: &[SourceObject], profile: &ResolvedProfile, now: Timestamp) -> Report {
    evaluate_scoped(objects, profile, now, NamespaceScope::All)
}

/// [`evaluate`] with the namespace-level rules over the namespaces of `scope`; the others are listed in
/// [`Report::namespaces_not_evaluated`].
pub fn evaluate_scoped(
    objects: &[SourceObject],
    profile: &ResolvedProfile,
    now: Timestamp,
    scope: NamespaceScope,
) -> Report {
    let index = Index::build(objects);
    let mut ev = Evaluator {
        profile,
        now,
        findings: Vec::new(),
        silenced: Vec::new(),
        results: Vec::new(),
    };
    for obj in objects {
        ev.object(obj, &index);
    }
    let mut namespaces_not_evaluated = Vec::new();
    for (ns, nsi) in &index.namespaces {
        if scope == NamespaceScope::All
            || nsi.namespace_obj.is_some()
            || index.onboarded.contains(*ns)
        {
            ev.namespace(ns, nsi);
        } else {
            namespaces_not_evaluated.push((*ns).to_owned());
        }
    }
    ev.expired_exceptions();
    let Evaluator {
        mut findings,
        silenced,
        results,
        ..
    } = ev;
    super::report::sort_findings(&mut findings);
    let mut by_severity = SeverityCounts::default();
    for f in &findings {
        by_severity.add(f.severity);
    }
    let score = Report::compute_score(&results, |id| {
        profile.severity(id).unwrap_or_else(|| id.rule().severity)
    });
    Report {
        profile: profile.name.clone(),
        objects: objects.len(),
        results,
        findings,
        silenced,
        by_severity,
        score,
        namespaces_not_evaluated,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Value helpers

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    Some(cur)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
    at(v, path).and_then(Value::as_bool)
}

fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn obj_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    at(v, path).and_then(Value::as_object)
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

// ---------------------------------------------------------------------------------------------------------
// Index over all objects

#[derive(Default)]
struct NsIndex<'a> {
    namespace_obj: Option<&'a SourceObject>,
    /// Location of the first object seen in the namespace (for findings without a Namespace object).
    first_location: Option<&'a Location>,
    network_policies: Vec<&'a Value>,
    pdb_selectors: Vec<&'a Value>,
    quotas: usize,
    limit_ranges: usize,
    /// ServiceAccount name → automountServiceAccountToken.
    service_account_automount: HashMap<&'a str, bool>,
}

#[derive(Default)]
struct Index<'a> {
    namespaces: BTreeMap<&'a str, NsIndex<'a>>,
    /// The namespaces the input's onboardings create (`<ressort>-<fachverfahren>-<environment>`).
    onboarded: std::collections::BTreeSet<String>,
}

/// The namespaces an onboarding (as raw JSON) creates, one per environment.
fn onboarded_namespaces(v: &Value) -> impl Iterator<Item = String> + '_ {
    let spec = |k: &str| str_at(v, &["spec", k]).unwrap_or("");
    arr_at(v, &["spec", "environments"])
        .iter()
        .filter_map(|e| str_at(e, &["name"]))
        .map(move |env| format!("{}-{}-{env}", spec("ressort"), spec("fachverfahren")))
}

impl<'a> Index<'a> {
    fn build(objects: &'a [SourceObject]) -> Self {
        let mut idx = Index::default();
        for obj in objects {
            let v = &obj.value;
            let kind = str_at(v, &["kind"]).unwrap_or("");
            let group = api_group(str_at(v, &["apiVersion"]).unwrap_or(""));
            if kind == "FachverfahrenOnboarding" && group == crate::api::GROUP {
                idx.onboarded.extend(onboarded_namespaces(v));
                continue;
            }
            if kind == "Namespace" {
                if let Some(name) = str_at(v, &["metadata", "name"]) {
                    let e = idx.namespaces.entry(name).or_default();
                    e.namespace_obj = Some(obj);
                }
                continue;
            }
            // Objects without metadata.namespace (e.g. `helm template` output) belong to no namespace the
            // check can judge: namespace-level rules need to know which objects share a namespace.
            let Some(ns) = str_at(v, &["metadata", "namespace"]) else {
                continue;
            };
            let e = idx.namespaces.entry(ns).or_default();
            if e.first_location.is_none() {
                e.first_location = obj.location.as_ref();
            }
            match (group, kind) {
                ("networking.k8s.io" | "extensions", "NetworkPolicy") => e.network_policies.push(v),
                ("policy", "PodDisruptionBudget") => {
                    if let Some(sel) = at(v, &["spec", "selector"]) {
                        e.pdb_selectors.push(sel);
                    }
                }
                ("", "ResourceQuota") => e.quotas += 1,
                ("", "LimitRange") => e.limit_ranges += 1,
                ("", "ServiceAccount") => {
                    if let (Some(name), Some(auto)) = (
                        str_at(v, &["metadata", "name"]),
                        bool_at(v, &["automountServiceAccountToken"]),
                    ) {
                        e.service_account_automount.insert(name, auto);
                    }
                }
                _ => {}
            }
        }
        idx
    }
}

// ---------------------------------------------------------------------------------------------------------
// The evaluator

struct Evaluator<'p> {
    profile: &'p ResolvedProfile,
    now: Timestamp,
    findings: Vec<Finding>,
    silenced: Vec<SilencedFinding>,
    results: Vec<ObjectResult>,
}

/// Per-object state while its rules run.
struct ObjCtx<'v> {
    oref: ObjectRef,
    location: Option<Location>,
    labels: Option<&'v Map<String, Value>>,
    /// Rules the ignore annotation silences (only when a reason is given).
    ignored: RuleSet,
    ignore_reason: Option<&'v str>,
    checked: RuleSet,
    failed: RuleSet,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ContainerKind {
    Regular,
    Init,
    Ephemeral,
}

impl ContainerKind {
    fn field(self) -> &'static str {
        match self {
            ContainerKind::Regular => "containers",
            ContainerKind::Init => "initContainers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

struct Container<'v> {
    kind: ContainerKind,
    name: &'v str,
    v: &'v Value,
}

impl Container<'_> {
    fn label(&self) -> String {
        match self.kind {
            ContainerKind::Regular => self.name.to_owned(),
            ContainerKind::Init => format!("{} (init)", self.name),
            ContainerKind::Ephemeral => format!("{} (ephemeral)", self.name),
        }
    }

    fn sc(&self, field: &str) -> Option<&Value> {
        at(self.v, &["securityContext", field])
    }
}

/// Pod kinds whose pod template lives at `spec.template`.
fn pod_template<'v>(
    kind: &str,
    group: &str,
    v: &'v Value,
) -> Option<(&'v Value, Option<&'v Value>)> {
    // Workloads are read by kind in every group that ever served them (`extensions/v1beta1`,
    // `apps/v1beta2`, `batch/v1beta1`, ...): a removed version does not make a privileged pod harmless
    // (it is reported as `removed-api-version` too).
    if !matches!(group, "" | "apps" | "extensions" | "batch") {
        return None;
    }
    match kind {
        "Pod" if group.is_empty() => Some((at(v, &["spec"])?, at(v, &["metadata"]))),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => Some((
            at(v, &["spec", "template", "spec"])?,
            at(v, &["spec", "template", "metadata"]),
        )),
        "CronJob" => Some((
            at(v, &["spec", "jobTemplate", "spec", "template", "spec"])?,
            at(v, &["spec", "jobTemplate", "spec", "template", "metadata"]),
        )),
        _ => None,
    }
}

/// Whether the object is controlled by a workload whose template the engine already checks, so that a
/// Deployment's ReplicaSets and Pods do not repeat its findings.
fn controlled_by_checked_workload(v: &Value) -> bool {
    arr_at(v, &["metadata", "ownerReferences"]).iter().any(|o| {
        bool_at(o, &["controller"]) == Some(true)
            && matches!(
                str_at(o, &["kind"]),
                Some(
                    "Deployment"
                        | "StatefulSet"
                        | "DaemonSet"
                        | "ReplicaSet"
                        | "Job"
                        | "CronJob"
                        | "ReplicationController"
                )
            )
    })
}

/// ClusterRoles and bindings that Kubernetes itself creates (`kubernetes.io/bootstrapping: rbac-defaults`,
/// `system:` names) are not the tenant's to fix.
fn is_system_rbac(v: &Value) -> bool {
    str_at(v, &["metadata", "labels", "kubernetes.io/bootstrapping"]) == Some("rbac-defaults")
        || str_at(v, &["metadata", "name"]).is_some_and(|n| n.starts_with("system:"))
}

impl<'p> Evaluator<'p> {
    fn new_ctx<'v>(
        &mut self,
        obj: &'v SourceObject,
        oref: ObjectRef,
    ) -> (ObjCtx<'v>, Vec<Finding>) {
        let v = &obj.value;
        let mut meta_findings = Vec::new();
        let mut ignored = RuleSet::default();
        let mut ignore_reason = None;
        if let Some(list) = str_at(v, &["metadata", "annotations", IGNORE_ANNOTATION]) {
            let reason = str_at(v, &["metadata", "annotations", IGNORE_REASON_ANNOTATION])
                .map(str::trim)
                .filter(|r| !r.is_empty());
            let mut unknown = Vec::new();
            let mut ids = RuleSet::default();
            for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match RuleId::parse(id) {
                    Some(r) if !r.rule().is_meta() => ids.insert(r),
                    _ => unknown.push(id),
                }
            }
            let mk = |message: String| Finding {
                rule: RuleId::IgnoreWithoutReason,
                severity: RuleId::IgnoreWithoutReason.rule().severity,
                bsi: &[],
                pss: RuleId::IgnoreWithoutReason.rule().pss,
                object: oref.clone(),
                container: None,
                message,
                location: obj.location.clone(),
            };
            match reason {
                Some(r) => {
                    ignored = ids;
                    ignore_reason = Some(r);
                }
                None => meta_findings.push(mk(format!(
                    "annotation {IGNORE_ANNOTATION}: {list:?} has no {IGNORE_REASON_ANNOTATION}; the rules are not ignored"
                ))),
            }
            if !unknown.is_empty() {
                meta_findings.push(mk(format!(
                    "annotation {IGNORE_ANNOTATION} names {} that cannot be ignored: {}",
                    if unknown.len() == 1 {
                        "a rule id"
                    } else {
                        "rule ids"
                    },
                    unknown.join(", ")
                )));
            }
        }
        let ctx = ObjCtx {
            oref,
            location: obj.location.clone(),
            labels: obj_at(v, &["metadata", "labels"]),
            ignored,
            ignore_reason,
            checked: RuleSet::default(),
            failed: RuleSet::default(),
        };
        (ctx, meta_findings)
    }

    /// Marks `id` as evaluated on the object; false when the profile disables it.
    fn check(&self, ctx: &mut ObjCtx<'_>, id: RuleId) -> bool {
        if !self.profile.enabled(id) {
            return false;
        }
        ctx.checked.insert(id);
        true
    }

    fn fail(
        &mut self,
        ctx: &mut ObjCtx<'_>,
        id: RuleId,
        container: Option<String>,
        message: String,
    ) {
        let rule = id.rule();
        let finding = Finding {
            rule: id,
            severity: self.profile.severity(id).unwrap_or(rule.severity),
            bsi: rule.bsi,
            pss: rule.pss,
            object: ctx.oref.clone(),
            container,
            message,
            location: ctx.location.clone(),
        };
        if let (true, Some(reason)) = (ctx.ignored.contains(id), ctx.ignore_reason) {
            self.silenced.push(SilencedFinding {
                finding,
                by: Silence::Annotation {
                    reason: reason.to_owned(),
                },
            });
            return;
        }
        if let Some(e) = self.matching_exception(ctx, id) {
            let by = Silence::Exception {
                index: e.index,
                justification: e.justification.clone(),
                approved_by: e.approved_by.clone(),
            };
            self.silenced.push(SilencedFinding { finding, by });
            return;
        }
        ctx.failed.insert(id);
        self.findings.push(finding);
    }

    fn matching_exception(&self, ctx: &ObjCtx<'_>, id: RuleId) -> Option<&'p Exception> {
        // Namespace-level findings are reported on the Namespace, whose namespace is its own name.
        let ns = if ctx.oref.kind == "Namespace" {
            Some(ctx.oref.name.as_str())
        } else {
            ctx.oref.namespace.as_deref()
        };
        self.profile.exceptions.iter().find(|e| {
            e.rule == id
                && e.expires > self.now
                && (e.namespace == "*" || Some(e.namespace.as_str()) == ns)
                && e.object_selector
                    .as_ref()
                    .is_none_or(|s| selector_matches(s, ctx))
        })
    }

    fn finish(&mut self, ctx: ObjCtx<'_>) {
        self.results.push(ObjectResult {
            object: ctx.oref,
            location: ctx.location,
            checked: ctx.checked,
            failed: ctx.failed,
        });
    }

    fn object(&mut self, obj: &SourceObject, index: &Index<'_>) {
        let v = &obj.value;
        let api_version = str_at(v, &["apiVersion"]).unwrap_or("");
        let kind = str_at(v, &["kind"]).unwrap_or("");
        let namespace = str_at(v, &["metadata", "namespace"]);
        let name = str_at(v, &["metadata", "name"])
            .or_else(|| str_at(v, &["metadata", "generateName"]))
            .unwrap_or("");
        let oref = ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        };
        let (mut ctx, meta) = self.new_ctx(obj, oref);
        self.findings.extend(meta);
        let group = api_group(api_version);
        let nsi = namespace.and_then(|ns| index.namespaces.get(ns));

        if let Some((spec, tmeta)) = pod_template(kind, group, v) {
            if !controlled_by_checked_workload(v) {
                self.pod_spec(&mut ctx, kind, spec, tmeta, nsi);
                self.workload(&mut ctx, kind, v, spec, tmeta, nsi);
            }
            if kind == "Pod" {
                self.pod_age(&mut ctx, v);
            }
        } else {
            match (group, kind) {
                ("", "Service") => self.service(&mut ctx, v),
                ("", "ConfigMap") => self.config_map(&mut ctx, v),
                ("networking.k8s.io" | "extensions", "NetworkPolicy") => {
                    self.network_policy(&mut ctx, v)
                }
                ("rbac.authorization.k8s.io", "Role" | "ClusterRole") if !is_system_rbac(v) => {
                    self.role(&mut ctx, v)
                }
                ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding")
                    if !is_system_rbac(v) =>
                {
                    self.binding(&mut ctx, v)
                }
                _ => {}
            }
        }
        // Namespace objects get their results from the namespace pass.
        if kind != "Namespace" || !group.is_empty() {
            self.finish(ctx);
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Pod spec rules

    fn pod_spec(
        &mut self,
        ctx: &mut ObjCtx<'_>,
        kind: &str,
        spec: &Value,
        tmeta: Option<&Value>,
        nsi: Option<&NsIndex<'_>>,
    ) {
        let mut containers: Vec<Container<'_>> = Vec::new();
        for ck in [
            ContainerKind::Regular,
            ContainerKind::Init,
            ContainerKind::Ephemeral,
        ] {
            for c in arr_at(spec, &[ck.field()]) {
                containers.push(Container {
                    kind: ck,
                    name: str_at(c, &["name"]).unwrap_or(""),
                    v: c,
                });
            }
        }
        let psc = at(spec, &["securityContext"]);
        let psc_field = |f: &str| psc.and_then(|s| s.get(f));

        if self.check(ctx, RuleId::PrivilegedContainer) {
            for c in &containers {
                if c.sc("privileged").and_then(Value::as_bool) == Some(true) {
                    self.fail(
                        ctx,
                        RuleId::PrivilegedContainer,
                        Some(c.label()),
                        "securityContext.privileged is true".into(),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::HostNamespaces) {
            let on: Vec<&str> = ["hostNetwork", "hostPID", "hostIPC"]
                .into_iter()
                .filter(|f| bool_at(spec, &[f]) == Some(true))
                .collect();
            if !on.is_empty() {
                self.fail(
                    ctx,
                    RuleId::HostNamespaces,
                    None,
                    format!("{} set to true", on.join(", ")),
                );
            }
        }
        if self.check(ctx, RuleId::HostPorts) {
            for c in &containers {
                for p in arr_at(c.v, &["ports"]) {
                    if let Some(hp) = int_at(p, &["hostPort"]).filter(|hp| *hp != 0) {
                        self.fail(
                            ctx,
                            RuleId::HostPorts,
                            Some(c.label()),
                            format!("ports[].hostPort {hp} is set"),
                        );
                    }
                }
            }
        }
        let volumes = arr_at(spec, &["volumes"]);
        if self.check(ctx, RuleId::HostPathVolumes) {
            for vol in volumes {
                if let Some(path) = at(vol, &["hostPath"]) {
                    let name = str_at(vol, &["name"]).unwrap_or("");
                    let p = str_at(path, &["path"]).unwrap_or("");
                    self.fail(
                        ctx,
                        RuleId::HostPathVolumes,
                        None,
                        format!("volume {name:?} mounts hostPath {p:?}"),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::VolumeTypes) {
            const ALLOWED: [&str; 8] = [
                "configMap",
                "csi",
                "downwardAPI",
                "emptyDir",
                "ephemeral",
                "persistentVolumeClaim",
                "projected",
                "secret",
            ];
            for vol in volumes {
                let Some(map) = vol.as_object() else { continue };
                let name = str_at(vol, &["name"]).unwrap_or("");
                // hostPath is reported by host-path-volumes already.
                for ty in map
                    .keys()
                    .filter(|k| *k != "name" && *k != "hostPath" && !ALLOWED.contains(&k.as_str()))
                {
                    self.fail(
                        ctx,
                        RuleId::VolumeTypes,
                        None,
                        format!("volume {name:?} has type {ty}"),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::CapabilitiesBaseline) {
            const BASELINE: [&str; 13] = [
                "AUDIT_WRITE",
                "CHOWN",
                "DAC_OVERRIDE",
                "FOWNER",
                "FSETID",
                "KILL",
                "MKNOD",
                "NET_BIND_SERVICE",
                "SETFCAP",
                "SETGID",
                "SETPCAP",
                "SETUID",
                "SYS_CHROOT",
            ];
            for c in &containers {
                let added: Vec<&str> = arr_at(c.v, &["securityContext", "capabilities", "add"])
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|cap| !BASELINE.contains(cap))
                    .collect();
                if !added.is_empty() {
                    self.fail(
                        ctx,
                        RuleId::CapabilitiesBaseline,
                        Some(c.label()),
                        format!("capabilities.add contains {}", added.join(", ")),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::CapabilitiesDropAll) {
            for c in &containers {
                let caps = |f: &str| {
                    arr_at(c.v, &["securityContext", "capabilities", f])
                        .iter()
                        .filter_map(Value::as_str)
                };
                let mut problems = Vec::new();
                if !caps("drop").any(|cap| cap == "ALL") {
                    problems.push("capabilities.drop does not contain ALL".to_owned());
                }
                let extra: Vec<&str> = caps("add")
                    .filter(|cap| *cap != "NET_BIND_SERVICE")
                    .collect();
                if !extra.is_empty() {
                    problems.push(format!("capabilities.add contains {}", extra.join(", ")));
                }
                if !problems.is_empty() {
                    self.fail(
                        ctx,
                        RuleId::CapabilitiesDropAll,
                        Some(c.label()),
                        problems.join("; "),
                    );
                }
            }
        }
        let pod_seccomp = psc.and_then(|s| str_at(s, &["seccompProfile", "type"]));
        if self.check(ctx, RuleId::SeccompUnconfined) {
            if pod_seccomp == Some("Unconfined") {
                self.fail(
                    ctx,
                    RuleId::SeccompUnconfined,
                    None,
                    "securityContext.seccompProfile.type is Unconfined".into(),
                );
            }
            for c in &containers {
                if c.sc("seccompProfile").and_then(|s| str_at(s, &["type"])) == Some("Unconfined") {
                    self.fail(
                        ctx,
                        RuleId::SeccompUnconfined,
                        Some(c.label()),
                        "securityContext.seccompProfile.type is Unconfined".into(),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::SeccompRequired) {
            let valid = |t: Option<&str>| matches!(t, Some("RuntimeDefault" | "Localhost"));
            // An explicit Unconfined is seccomp-unconfined's finding; this rule reports the absence.
            for c in &containers {
                let own = c.sc("seccompProfile").and_then(|s| str_at(s, &["type"]));
                if own.is_none() && !valid(pod_seccomp) && pod_seccomp != Some("Unconfined") {
                    self.fail(
                        ctx,
                        RuleId::SeccompRequired,
                        Some(c.label()),
                        "no seccompProfile on the container or the pod".into(),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::ApparmorUnconfined) {
            fn bad_type(s: Option<&Value>) -> Option<&str> {
                s.and_then(|s| str_at(s, &["appArmorProfile", "type"]))
                    .filter(|t| !matches!(*t, "RuntimeDefault" | "Localhost"))
            }
            if let Some(t) = bad_type(psc) {
                self.fail(
                    ctx,
                    RuleId::ApparmorUnconfined,
                    None,
                    format!("securityContext.appArmorProfile.type is {t}"),
                );
            }
            for c in &containers {
                if let Some(t) = bad_type(at(c.v, &["securityContext"])) {
                    self.fail(
                        ctx,
                        RuleId::ApparmorUnconfined,
                        Some(c.label()),
                        format!("securityContext.appArmorProfile.type is {t}"),
                    );
                }
            }
            if let Some(ann) = tmeta.and_then(|m| obj_at(m, &["annotations"])) {
                for (k, val) in ann {
                    let Some(cname) =
                        k.strip_prefix("container.apparmor.security.beta.kubernetes.io/")
                    else {
                        continue;
                    };
                    let val = val.as_str().unwrap_or("");
                    if !(val.is_empty()
                        || val == "runtime/default"
                        || val.starts_with("localhost/"))
                    {
                        self.fail(
                            ctx,
                            RuleId::ApparmorUnconfined,
                            Some(cname.to_owned()),
                            format!("annotation {k} is {val:?}"),
                        );
                    }
                }
            }
        }
        if self.check(ctx, RuleId::SelinuxOptions) {
            let problem = |s: Option<&Value>| -> Option<String> {
                let o = s.and_then(|s| at(s, &["seLinuxOptions"]))?;
                let mut p = Vec::new();
                if let Some(t) = str_at(o, &["type"]).filter(|t| {
                    !matches!(
                        *t,
                        "" | "container_t"
                            | "container_init_t"
                            | "container_kvm_t"
                            | "container_engine_t"
                    )
                }) {
                    p.push(format!("type {t:?}"));
                }
                for f in ["user", "role"] {
                    if let Some(x) = str_at(o, &[f]).filter(|x| !x.is_empty()) {
                        p.push(format!("{f} {x:?}"));
                    }
                }
                (!p.is_empty()).then(|| format!("seLinuxOptions sets {}", p.join(", ")))
            };
            if let Some(m) = problem(psc) {
                self.fail(ctx, RuleId::SelinuxOptions, None, m);
            }
            for c in &containers {
                if let Some(m) = problem(at(c.v, &["securityContext"])) {
                    self.fail(ctx, RuleId::SelinuxOptions, Some(c.label()), m);
                }
            }
        }
        if self.check(ctx, RuleId::ProcMount) {
            for c in &containers {
                if let Some(pm) = c
                    .sc("procMount")
                    .and_then(Value::as_str)
                    .filter(|p| *p != "Default")
                {
                    self.fail(
                        ctx,
                        RuleId::ProcMount,
                        Some(c.label()),
                        format!("securityContext.procMount is {pm}"),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::UnsafeSysctls) {
            const SAFE: [&str; 12] = [
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range",
                "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
                "net.ipv4.tcp_rmem",
                "net.ipv4.tcp_wmem",
            ];
            let unsafe_: Vec<&str> = psc
                .map(|s| arr_at(s, &["sysctls"]))
                .unwrap_or(&[])
                .iter()
                .filter_map(|s| str_at(s, &["name"]))
                .filter(|n| !SAFE.contains(n))
                .collect();
            if !unsafe_.is_empty() {
                self.fail(
                    ctx,
                    RuleId::UnsafeSysctls,
                    None,
                    format!("unsafe sysctls {}", unsafe_.join(", ")),
                );
            }
        }
        if self.check(ctx, RuleId::WindowsHostProcess) {
            if psc.and_then(|s| bool_at(s, &["windowsOptions", "hostProcess"])) == Some(true) {
                self.fail(
                    ctx,
                    RuleId::WindowsHostProcess,
                    None,
                    "securityContext.windowsOptions.hostProcess is true".into(),
                );
            }
            for c in &containers {
                if c.sc("windowsOptions")
                    .and_then(|w| bool_at(w, &["hostProcess"]))
                    == Some(true)
                {
                    self.fail(
                        ctx,
                        RuleId::WindowsHostProcess,
                        Some(c.label()),
                        "securityContext.windowsOptions.hostProcess is true".into(),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::RunAsNonRoot) {
            let pod_nonroot = psc_field("runAsNonRoot").and_then(Value::as_bool);
            for c in &containers {
                let own = c.sc("runAsNonRoot").and_then(Value::as_bool);
                match own.or(pod_nonroot) {
                    Some(true) => {}
                    Some(false) => self.fail(
                        ctx,
                        RuleId::RunAsNonRoot,
                        Some(c.label()),
                        "runAsNonRoot is false".into(),
                    ),
                    None => self.fail(
                        ctx,
                        RuleId::RunAsNonRoot,
                        Some(c.label()),
                        "runAsNonRoot is not set on the container or the pod".into(),
                    ),
                }
            }
        }
        if self.check(ctx, RuleId::RunAsUserRoot) {
            if psc_field("runAsUser").and_then(Value::as_i64) == Some(0) {
                self.fail(
                    ctx,
                    RuleId::RunAsUserRoot,
                    None,
                    "securityContext.runAsUser is 0".into(),
                );
            }
            for c in &containers {
                if c.sc("runAsUser").and_then(Value::as_i64) == Some(0) {
                    self.fail(
                        ctx,
                        RuleId::RunAsUserRoot,
                        Some(c.label()),
                        "securityContext.runAsUser is 0".into(),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::AllowPrivilegeEscalation) {
            for c in &containers {
                if c.sc("allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false) {
                    self.fail(
                        ctx,
                        RuleId::AllowPrivilegeEscalation,
                        Some(c.label()),
                        "securityContext.allowPrivilegeEscalation is not false".into(),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::ReadOnlyRootFilesystem) {
            for c in &containers {
                if c.sc("readOnlyRootFilesystem").and_then(Value::as_bool) != Some(true) {
                    self.fail(
                        ctx,
                        RuleId::ReadOnlyRootFilesystem,
                        Some(c.label()),
                        "securityContext.readOnlyRootFilesystem is not true".into(),
                    );
                }
            }
        }
        if self.check(ctx, RuleId::ContainerResources) {
            // Ephemeral containers cannot have resources; the apiserver defaults requests to limits.
            for c in containers
                .iter()
                .filter(|c| c.kind != ContainerKind::Ephemeral)
            {
                let mut missing = Vec::new();
                for res in ["cpu", "memory"] {
                    let limit = at(c.v, &["resources", "limits", res]).is_some();
                    if !limit {
                        missing.push(format!("limits.{res}"));
                    }
                    if !limit && at(c.v, &["resources", "requests", res]).is_none() {
                        missing.push(format!("requests.{res}"));
                    }
                }
                if !missing.is_empty() {
                    missing.sort();
                    self.fail(
                        ctx,
                        RuleId::ContainerResources,
                        Some(c.label()),
                        format!("resources {} not set", missing.join(", ")),
                    );
                }
            }
        }
        let long_running = match kind {
            "Job" | "CronJob" => false,
            "Pod" => !matches!(
                str_at(spec, &["restartPolicy"]),
                Some("Never" | "OnFailure")
            ),
            _ => true,
        };
        if long_running && self.check(ctx, RuleId::ContainerProbes) {
            for c in containers
                .iter()
                .filter(|c| c.kind == ContainerKind::Regular)
            {
                let missing: Vec<&str> = ["readinessProbe", "livenessProbe"]
                    .into_iter()
                    .filter(|p| at(c.v, &[p]).is_none())
                    .collect();
                if !missing.is_empty() {
                    self.fail(
                        ctx,
                        RuleId::ContainerProbes,
                        Some(c.label()),
                        format!("no {}", missing.join(" and no ")),
                    );
                }
            }
        }
        let sa = str_at(spec, &["serviceAccountName"])
            .or_else(|| str_at(spec, &["serviceAccount"]))
            .filter(|s| !s.is_empty());
        if self.check(ctx, RuleId::DefaultServiceAccount) && sa.is_none_or(|s| s == "default") {
            self.fail(
                ctx,
                RuleId::DefaultServiceAccount,
                None,
                "the pod runs as service account \"default\"".into(),
            );
        }
        if self.check(ctx, RuleId::ServiceAccountTokenAutomount) {
            // The pod's setting wins over its ServiceAccount's (as the kubelet decides).
            let sa_setting = nsi.and_then(|n| {
                n.service_account_automount
                    .get(sa.unwrap_or("default"))
                    .copied()
            });
            if bool_at(spec, &["automountServiceAccountToken"]).or(sa_setting) != Some(false) {
                self.fail(
                    ctx,
                    RuleId::ServiceAccountTokenAutomount,
                    None,
                    "automountServiceAccountToken is not false on the pod or its ServiceAccount"
                        .into(),
                );
            }
        }
        self.images(ctx, &containers);
        self.env(ctx, &containers);
        if self.check(ctx, RuleId::SshPort) {
            for c in &containers {
                for p in arr_at(c.v, &["ports"]) {
                    if int_at(p, &["containerPort"]) == Some(22) {
                        self.fail(
                            ctx,
                            RuleId::SshPort,
                            Some(c.label()),
                            "containerPort 22 (SSH) is declared".into(),
                        );
                    }
                }
            }
        }
        if let Some(dn) = self.profile.dedicated_nodes.as_ref()
            && self.check(ctx, RuleId::DedicatedNodePool)
        {
            let mut problems = Vec::new();
            if !selects_node_pool(spec, &dn.node_label, dn.node_label_value.as_deref()) {
                let want = match &dn.node_label_value {
                    Some(val) => format!("{}={}", dn.node_label, val),
                    None => dn.node_label.clone(),
                };
                problems.push(format!(
                    "no nodeSelector or required node affinity for {want}"
                ));
            }
            if let Some(taint) = &dn.taint_key {
                let tolerated = arr_at(spec, &["tolerations"]).iter().any(|t| {
                    str_at(t, &["key"]) == Some(taint.as_str())
                        || (str_at(t, &["key"]).is_none_or(str::is_empty)
                            && str_at(t, &["operator"]) == Some("Exists"))
                });
                if !tolerated {
                    problems.push(format!("no toleration for taint {taint}"));
                }
            }
            if !problems.is_empty() {
                self.fail(ctx, RuleId::DedicatedNodePool, None, problems.join("; "));
            }
        }
        if !self.profile.allowed_runtime_classes.is_empty() && self.check(ctx, RuleId::RuntimeClass)
        {
            let rc = str_at(spec, &["runtimeClassName"]);
            if !rc.is_some_and(|rc| self.profile.allowed_runtime_classes.iter().any(|a| a == rc)) {
                let msg = format!(
                    "runtimeClassName is {} (allowed: {})",
                    rc.map_or_else(|| "not set".to_owned(), |r| format!("{r:?}")),
                    self.profile.allowed_runtime_classes.join(", ")
                );
                self.fail(ctx, RuleId::RuntimeClass, None, msg);
            }
        }
        if matches!(
            kind,
            "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController"
        ) && self.check(ctx, RuleId::TopologySpread)
        {
            let zone = |k: Option<&str>| {
                matches!(
                    k,
                    Some("topology.kubernetes.io/zone" | "failure-domain.beta.kubernetes.io/zone")
                )
            };
            let spread = arr_at(spec, &["topologySpreadConstraints"])
                .iter()
                .any(|c| zone(str_at(c, &["topologyKey"])));
            let anti = arr_at(
                spec,
                &[
                    "affinity",
                    "podAntiAffinity",
                    "requiredDuringSchedulingIgnoredDuringExecution",
                ],
            )
            .iter()
            .any(|t| zone(str_at(t, &["topologyKey"])))
                || arr_at(
                    spec,
                    &[
                        "affinity",
                        "podAntiAffinity",
                        "preferredDuringSchedulingIgnoredDuringExecution",
                    ],
                )
                .iter()
                .any(|t| zone(str_at(t, &["podAffinityTerm", "topologyKey"])));
            if !spread && !anti {
                self.fail(
                    ctx,
                    RuleId::TopologySpread,
                    None,
                    "no topologySpreadConstraints or pod anti-affinity over topology.kubernetes.io/zone".into(),
                );
            }
        }
    }

    fn images(&mut self, ctx: &mut ObjCtx<'_>, containers: &[Container<'_>]) {
        let tag_on = self.check(ctx, RuleId::ImageTag);
        let digest_on = self.check(ctx, RuleId::ImageDigest);
        let registry_on =
            !self.profile.allowed_registries.is_empty() && self.check(ctx, RuleId::ImageRegistry);
        for c in containers {
            let image = str_at(c.v, &["image"]).unwrap_or("");
            let r = ImageRef::parse(image);
            if tag_on && r.digest.is_none() && r.tag.is_none_or(|t| t == "latest") {
                let msg = match r.tag {
                    Some(_) => format!("image {image:?} uses the tag latest"),
                    None => format!("image {image:?} has no tag"),
                };
                self.fail(ctx, RuleId::ImageTag, Some(c.label()), msg);
            }
            if digest_on && r.digest.is_none() {
                self.fail(
                    ctx,
                    RuleId::ImageDigest,
                    Some(c.label()),
                    format!("image {image:?} is not pinned by digest"),
                );
            }
            if registry_on
                && !self
                    .profile
                    .allowed_registries
                    .iter()
                    .any(|a| r.is_from_registry(a))
            {
                let msg = format!(
                    "image {image:?} is from registry {} (allowed: {})",
                    r.registry,
                    self.profile.allowed_registries.join(", ")
                );
                self.fail(ctx, RuleId::ImageRegistry, Some(c.label()), msg);
            }
        }
    }

    fn env(&mut self, ctx: &mut ObjCtx<'_>, containers: &[Container<'_>]) {
        let literal_on = self.check(ctx, RuleId::EnvLiteralSecret);
        let as_env_on = self.check(ctx, RuleId::SecretAsEnv);
        for c in containers {
            for e in arr_at(c.v, &["env"]) {
                let name = str_at(e, &["name"]).unwrap_or("");
                if literal_on
                    && let Some(value) = str_at(e, &["value"])
                    && let Some(why) = super::secrets::literal_credential(name, value)
                {
                    self.fail(
                        ctx,
                        RuleId::EnvLiteralSecret,
                        Some(c.label()),
                        format!("env {name}: {why}"),
                    );
                }
                if as_env_on && at(e, &["valueFrom", "secretKeyRef"]).is_some() {
                    self.fail(
                        ctx,
                        RuleId::SecretAsEnv,
                        Some(c.label()),
                        format!("env {name} is read from a Secret"),
                    );
                }
            }
            if as_env_on {
                for ef in arr_at(c.v, &["envFrom"]) {
                    if let Some(s) = str_at(ef, &["secretRef", "name"]) {
                        self.fail(
                            ctx,
                            RuleId::SecretAsEnv,
                            Some(c.label()),
                            format!("envFrom reads Secret {s:?}"),
                        );
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Workload rules

    fn workload(
        &mut self,
        ctx: &mut ObjCtx<'_>,
        kind: &str,
        v: &Value,
        _spec: &Value,
        tmeta: Option<&Value>,
        nsi: Option<&NsIndex<'_>>,
    ) {
        if self.check(ctx, RuleId::DefaultNamespace)
            && ctx.oref.namespace.as_deref() == Some("default")
        {
            self.fail(
                ctx,
                RuleId::DefaultNamespace,
                None,
                "the workload is in namespace \"default\"".into(),
            );
        }
        if !matches!(
            kind,
            "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController"
        ) {
            return;
        }
        // The apiserver defaults spec.replicas to 1.
        let replicas = int_at(v, &["spec", "replicas"]).unwrap_or(1);
        if self.check(ctx, RuleId::MinReplicas) && replicas < 2 {
            self.fail(
                ctx,
                RuleId::MinReplicas,
                None,
                format!("spec.replicas is {replicas}"),
            );
        }
        // A PodDisruptionBudget over one replica would only block drains; min-replicas reports that case.
        if replicas >= 2 && self.check(ctx, RuleId::PodDisruptionBudget) {
            let labels = tmeta.and_then(|m| obj_at(m, &["labels"]));
            let covered = nsi.is_some_and(|n| {
                n.pdb_selectors
                    .iter()
                    .any(|sel| label_selector_matches(sel, labels))
            });
            if !covered {
                self.fail(
                    ctx,
                    RuleId::PodDisruptionBudget,
                    None,
                    "no PodDisruptionBudget in the namespace selects the pod template's labels"
                        .into(),
                );
            }
        }
    }

    fn pod_age(&mut self, ctx: &mut ObjCtx<'_>, v: &Value) {
        let Some(max) = self.profile.max_pod_age else {
            return;
        };
        let started = str_at(v, &["status", "startTime"])
            .or_else(|| str_at(v, &["metadata", "creationTimestamp"]));
        let Some(started) = started.and_then(|s| s.parse::<Timestamp>().ok()) else {
            return;
        };
        if !self.check(ctx, RuleId::PodMaxAge) {
            return;
        }
        let age = self.now.duration_since(started);
        if age > max {
            let hours = age.as_secs() / 3600;
            let max_h = max.as_secs() / 3600;
            self.fail(
                ctx,
                RuleId::PodMaxAge,
                None,
                format!("the pod has run for {hours}h, longer than the maximum of {max_h}h"),
            );
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Services, ConfigMaps, NetworkPolicies, RBAC

    fn service(&mut self, ctx: &mut ObjCtx<'_>, v: &Value) {
        if self.check(ctx, RuleId::ServiceNodePort)
            && let Some(t) =
                str_at(v, &["spec", "type"]).filter(|t| matches!(*t, "NodePort" | "LoadBalancer"))
        {
            self.fail(
                ctx,
                RuleId::ServiceNodePort,
                None,
                format!("spec.type is {t}"),
            );
        }
        if self.check(ctx, RuleId::SshPort) {
            for p in arr_at(v, &["spec", "ports"]) {
                let port = int_at(p, &["port"]);
                let target = at(p, &["targetPort"]);
                let target_22 = target.and_then(Value::as_i64) == Some(22)
                    || target.and_then(Value::as_str) == Some("ssh");
                if port == Some(22) || target_22 {
                    let msg = match target {
                        Some(t) => {
                            format!("port {} → targetPort {t} exposes SSH", port.unwrap_or(0))
                        }
                        None => format!("port {} exposes SSH", port.unwrap_or(0)),
                    };
                    self.fail(ctx, RuleId::SshPort, None, msg);
                }
            }
        }
    }

    fn config_map(&mut self, ctx: &mut ObjCtx<'_>, v: &Value) {
        if !self.check(ctx, RuleId::ConfigMapCredentials) {
            return;
        }
        let Some(data) = obj_at(v, &["data"]) else {
            return;
        };
        for (key, val) in data {
            let Some(val) = val.as_str() else { continue };
            if let Some(why) = super::secrets::config_credential(key, val) {
                self.fail(
                    ctx,
                    RuleId::ConfigMapCredentials,
                    None,
                    format!("data.{key}: {why}"),
                );
            }
        }
    }

    fn network_policy(&mut self, ctx: &mut ObjCtx<'_>, v: &Value) {
        if !self.check(ctx, RuleId::NetworkPolicyAllowAll) {
            return;
        }
        for (dir, peers_field) in [("ingress", "from"), ("egress", "to")] {
            for (i, rule) in arr_at(v, &["spec", dir]).iter().enumerate() {
                let peers = arr_at(rule, &[peers_field]);
                let ports = arr_at(rule, &["ports"]);
                if peers.is_empty() {
                    if ports.is_empty() {
                        self.fail(
                            ctx,
                            RuleId::NetworkPolicyAllowAll,
                            None,
                            format!("spec.{dir}[{i}] has neither {peers_field} nor ports: it allows all traffic"),
                        );
                    }
                    continue;
                }
                for (j, peer) in peers.iter().enumerate() {
                    if let Some(what) = allow_all_peer(peer) {
                        self.fail(
                            ctx,
                            RuleId::NetworkPolicyAllowAll,
                            None,
                            format!("spec.{dir}[{i}].{peers_field}[{j}] {what}"),
                        );
                    }
                }
            }
        }
    }

    fn role(&mut self, ctx: &mut ObjCtx<'_>, v: &Value) {
        if !self.check(ctx, RuleId::RbacWildcard) {
            return;
        }
        for (i, rule) in arr_at(v, &["rules"]).iter().enumerate() {
            let wild: Vec<&str> = ["apiGroups", "resources", "verbs", "nonResourceURLs"]
                .into_iter()
                .filter(|f| {
                    arr_at(rule, &[f])
                        .iter()
                        .any(|x| x.as_str().is_some_and(|s| s == "*"))
                })
                .collect();
            if !wild.is_empty() {
                self.fail(
                    ctx,
                    RuleId::RbacWildcard,
                    None,
                    format!("rules[{i}] has * in {}", wild.join(", ")),
                );
            }
        }
    }

    fn binding(&mut self, ctx: &mut ObjCtx<'_>, v: &Value) {
        if self.check(ctx, RuleId::RbacClusterAdmin)
            && str_at(v, &["roleRef", "kind"]) == Some("ClusterRole")
            && str_at(v, &["roleRef", "name"]) == Some("cluster-admin")
        {
            self.fail(
                ctx,
                RuleId::RbacClusterAdmin,
                None,
                "roleRef is ClusterRole cluster-admin".into(),
            );
        }
        if self.check(ctx, RuleId::RbacAnonymous) {
            for s in arr_at(v, &["subjects"]) {
                if let Some(n) = str_at(s, &["name"])
                    .filter(|n| matches!(*n, "system:anonymous" | "system:unauthenticated"))
                {
                    let k = str_at(s, &["kind"]).unwrap_or("subject");
                    self.fail(ctx, RuleId::RbacAnonymous, None, format!("subject {k} {n}"));
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Namespace-level rules

    fn namespace(&mut self, ns: &str, nsi: &NsIndex<'_>) {
        let oref = ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: ns.to_owned(),
        };
        // The Namespace object carries the ignore annotations and labels, when it is part of the input.
        let placeholder;
        let src = match nsi.namespace_obj {
            Some(o) => o,
            None => {
                placeholder = SourceObject {
                    value: Value::Null,
                    location: nsi.first_location.cloned(),
                };
                &placeholder
            }
        };
        let (mut ctx, meta) = self.new_ctx(src, oref);
        self.findings.extend(meta);
        if let Some(nobj) = nsi.namespace_obj
            && self.check(&mut ctx, RuleId::NamespaceLabels)
        {
            let missing: Vec<&str> = [RESSORT_LABEL, PROTECTION_LEVEL_LABEL]
                .into_iter()
                .filter(|l| {
                    str_at(&nobj.value, &["metadata", "labels", l]).is_none_or(str::is_empty)
                })
                .collect();
            if !missing.is_empty() {
                self.fail(
                    &mut ctx,
                    RuleId::NamespaceLabels,
                    None,
                    format!("labels {} missing", missing.join(", ")),
                );
            }
        }
        if self.check(&mut ctx, RuleId::NetworkPolicyDefaultDeny)
            && !nsi
                .network_policies
                .iter()
                .any(|p| default_deny(p, "Ingress"))
        {
            self.fail(
                &mut ctx,
                RuleId::NetworkPolicyDefaultDeny,
                None,
                "no NetworkPolicy with an empty podSelector denies all ingress".into(),
            );
        }
        if self.check(&mut ctx, RuleId::NetworkPolicyEgressDeny)
            && !nsi
                .network_policies
                .iter()
                .any(|p| default_deny(p, "Egress"))
        {
            self.fail(
                &mut ctx,
                RuleId::NetworkPolicyEgressDeny,
                None,
                "no NetworkPolicy with an empty podSelector denies all egress".into(),
            );
        }
        if self.check(&mut ctx, RuleId::ResourceQuota) && nsi.quotas == 0 {
            self.fail(
                &mut ctx,
                RuleId::ResourceQuota,
                None,
                "the namespace has no ResourceQuota".into(),
            );
        }
        if self.check(&mut ctx, RuleId::LimitRange) && nsi.limit_ranges == 0 {
            self.fail(
                &mut ctx,
                RuleId::LimitRange,
                None,
                "the namespace has no LimitRange".into(),
            );
        }
        self.finish(ctx);
    }

    fn expired_exceptions(&mut self) {
        let rule = RuleId::ExceptionExpired.rule();
        for e in &self.profile.exceptions {
            if e.expires > self.now {
                continue;
            }
            self.findings.push(Finding {
                rule: RuleId::ExceptionExpired,
                severity: rule.severity,
                bsi: rule.bsi,
                pss: rule.pss,
                object: ObjectRef {
                    api_version: format!("{}/{}", crate::api::GROUP, "v1alpha1"),
                    kind: "ConformanceProfile".into(),
                    namespace: None,
                    name: self.profile.name.clone(),
                },
                container: None,
                message: format!(
                    "spec.exceptions[{}] from rule {} for namespace {} (approved by {}) expired at {}; it no longer applies",
                    e.index, e.rule, e.namespace, e.approved_by, e.expires
                ),
                location: self.profile.source.clone(),
            });
        }
    }
}

fn selector_matches(s: &ObjectSelector, ctx: &ObjCtx<'_>) -> bool {
    s.kind.as_ref().is_none_or(|k| *k == ctx.oref.kind)
        && s.name.as_ref().is_none_or(|n| *n == ctx.oref.name)
        && s.match_labels.iter().all(|(k, val)| {
            ctx.labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(val.as_str())
        })
}

/// Whether a NetworkPolicy selects every pod and denies all traffic in `direction` (`Ingress`/`Egress`).
fn default_deny(p: &Value, direction: &str) -> bool {
    let sel = obj_at(p, &["spec", "podSelector"]);
    let selects_all = sel.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    });
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

/// Describes a NetworkPolicy peer that matches everything, if it does.
fn allow_all_peer(peer: &Value) -> Option<&'static str> {
    let empty = |f: &str| {
        obj_at(peer, &[f]).map(|s| {
            s.get("matchLabels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
                && s.get("matchExpressions")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
        })
    };
    if let Some(cidr) = str_at(peer, &["ipBlock", "cidr"]) {
        let except = arr_at(peer, &["ipBlock", "except"]);
        return (matches!(cidr, "0.0.0.0/0" | "::/0") && except.is_empty())
            .then_some("allows every IP address (ipBlock 0.0.0.0/0)");
    }
    match (empty("namespaceSelector"), empty("podSelector")) {
        (Some(true), None | Some(true)) => {
            Some("selects every pod of every namespace (namespaceSelector: {})")
        }
        (None, Some(true)) => Some("selects every pod of the namespace (podSelector: {})"),
        _ => None,
    }
}

/// Whether a pod spec is pinned to a node pool by nodeSelector or by every required node-affinity term.
fn selects_node_pool(spec: &Value, label: &str, value: Option<&str>) -> bool {
    if let Some(v) = str_at(spec, &["nodeSelector", label])
        && value.is_none_or(|want| want == v)
    {
        return true;
    }
    let terms = arr_at(
        spec,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ],
    );
    !terms.is_empty()
        && terms.iter().all(|t| {
            arr_at(t, &["matchExpressions"]).iter().any(|e| {
                str_at(e, &["key"]) == Some(label)
                    && match (str_at(e, &["operator"]), value) {
                        (Some("Exists"), None) => true,
                        (Some("In"), want) => {
                            let vals = arr_at(e, &["values"]);
                            !vals.is_empty()
                                && vals
                                    .iter()
                                    .all(|x| want.is_none_or(|w| x.as_str() == Some(w)))
                        }
                        _ => false,
                    }
            })
        })
}

/// `metav1.LabelSelector` semantics; an empty selector matches everything (as for PodDisruptionBudgets in
/// policy/v1).
fn label_selector_matches(sel: &Value, labels: Option<&Map<String, Value>>) -> bool {
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

/// A parsed image reference (`registry/path:tag@digest`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    /// The registry host (`docker.io` when the reference names none).
    pub registry: &'a str,
    /// The repository path after the registry (`library/nginx` for `nginx`).
    pub path: String,
    /// The tag (`1.4.2`), if any.
    pub tag: Option<&'a str>,
    /// The digest (`sha256:…`), if any.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub(crate) fn parse(image: &'a str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (image, None),
        };
        // A ':' after the last '/' separates the tag; one before it belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        // Docker's rule: the first component is a registry when it has a '.' or ':' or is localhost.
        let (registry, path) = match name.split_once('/') {
            Some((first, p))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, p.to_owned())
            }
            Some(_) => ("docker.io", name.to_owned()),
            None => ("docker.io", format!("library/{name}")),
        };
        ImageRef {
            registry,
            path,
            tag,
            digest,
        }
    }

    /// Whether the image is from `allowed` (`registry` or `registry/path-prefix`).
    pub(crate) fn is_from_registry(&self, allowed: &str) -> bool {
        let allowed = allowed.trim_end_matches('/');
        match allowed.split_once('/') {
            None => self.registry == allowed,
            Some((reg, prefix)) => {
                self.registry == reg
                    && (self.path == prefix || self.path.starts_with(&format!("{prefix}/")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_split_like_docker_does() {
        let r = ImageRef::parse("nginx");
        assert_eq!(
            (r.registry, r.path.as_str(), r.tag, r.digest),
            ("docker.io", "library/nginx", None, None)
        );
        let r = ImageRef::parse("registry.local:5000/team/app:1.2@sha256:abc");
        assert_eq!(r.registry, "registry.local:5000");
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag, Some("1.2"));
        assert_eq!(r.digest, Some("sha256:abc"));
        let r = ImageRef::parse("localhost:5000/app");
        assert_eq!((r.registry, r.tag), ("localhost:5000", None));
        assert!(
            ImageRef::parse("registry.example.org/team/app:1")
                .is_from_registry("registry.example.org/team")
        );
        assert!(
            !ImageRef::parse("registry.example.org/teamx/app:1")
                .is_from_registry("registry.example.org/team")
        );
        assert!(ImageRef::parse("bitnami/redis:7").is_from_registry("docker.io"));
    }

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

    #[test]
    fn stripping_keeps_what_the_rules_read() {
        let mut v: Value = serde_json::from_str(
            r#"{"kind":"Pod","metadata":{"managedFields":[{}],"annotations":{"a":"b",
            "conformance.conplus.niedersachsen.de/ignore":"x"}},"status":{"startTime":"t","phase":"Running"}}"#,
        )
        .unwrap();
        strip_unread_fields(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"kind":"Pod","metadata":{"annotations":{"conformance.conplus.niedersachsen.de/ignore":"x"}},"status":{"startTime":"t"}})
        );
    }
}
