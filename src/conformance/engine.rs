//! The evaluation of the rules over a set of objects. Pure: no I/O, the clock is a parameter.
//!
//! One pass indexes what namespace-level rules need (NetworkPolicies, quotas, PodDisruptionBudgets, ...);
//! a second pass evaluates every object; a third evaluates every namespace. Objects are read as
//! `serde_json::Value` so that the same code serves manifests, `kubectl get -o json` and the controller's
//! dynamic objects, and unknown fields cost nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::checks::{
    Check, Kind, NamespaceFacts, NamespaceView, ObjectView, PodView, SecurityContextCheck,
    Violations, arr_at, at, bool_at, obj_at, str_at, strs_at,
};
use super::profile::{Exception, ResolvedProfile};
use super::report::{
    Finding, Location, ObjectRef, ObjectResult, Report, SeverityCounts, Silence, SilencedFinding,
};
use super::rules::{RULES, RuleId, RuleSet};
use crate::api::profile::ObjectSelector;

/// Annotation listing rule ids (comma-separated) to ignore on this object.
pub const IGNORE_ANNOTATION: &str = "conformance.conplus.niedersachsen.de/ignore";
/// Annotation with the reason for [`IGNORE_ANNOTATION`]; without it the ignore does not apply.
pub const IGNORE_REASON_ANNOTATION: &str = "conformance.conplus.niedersachsen.de/ignore-reason";
/// Namespace label naming the Ressort (APP.4.4.A1).
pub const RESSORT_LABEL: &str = crate::resources::RESSORT;
/// Namespace annotation naming the namespaces the onboarding admits traffic from (APP.4.4.A7).
pub const ALLOW_FROM_ANNOTATION: &str = crate::resources::namespace::ALLOW_FROM_NAMESPACES;
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
    wk("v1", "PersistentVolumeClaim", true),
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

/// Whether anything `check` runs reads more of an object of `kind` in API `group` than its `apiVersion`,
/// `kind` and `metadata`: a rule ([`Check::Object`] kinds, pod templates), the index of namespaces
/// (NetworkPolicies, quotas, PodDisruptionBudgets, ServiceAccounts), the checks of CONPlus resources. The
/// reader parses other documents only that far ([`super::input::read_paths_with`]); the engine still
/// counts them, applies their ignore annotations and reports them as not checked.
pub fn reads_whole(group: &str, kind: &str) -> bool {
    // The kinds of the rules' object checks, gathered once: this is asked for every document.
    static OBJECT_KINDS: LazyLock<Vec<&'static Kind>> = LazyLock::new(|| {
        let kinds = RULES.iter().flat_map(|r| r.checks).flat_map(|c| match c {
            Check::Object { kinds, .. } => kinds.iter(),
            _ => [].iter(),
        });
        kinds.collect()
    });
    let object_check = |k: &&Kind| k.matches(group, kind);
    group == crate::api::GROUP
        || INDEXED.iter().any(|k| object_check(&k))
        || pod_template_kind(group, kind)
        || OBJECT_KINDS.iter().any(object_check)
}

/// Whether an object of `kind` in API `group` that [`reads_whole`] is read only by its own rules: the index
/// of namespaces and the checks across objects (CONPlus resources, removed API versions) read no more of it
/// than its `apiVersion`, `kind` and `metadata`. Such an object can be read whole when its rules run
/// ([`evaluate_scoped_reading_later`]).
pub fn read_when_evaluated(group: &str, kind: &str) -> bool {
    group != crate::api::GROUP && !INDEXED.iter().any(|k| k.matches(group, kind))
}

/// The kinds the index of namespaces reads more of than their `metadata`.
const INDEXED: &[Kind] = &[
    Kind {
        groups: &[""],
        kind: "Namespace",
    },
    Kind {
        groups: &[""],
        kind: "ResourceQuota",
    },
    Kind {
        groups: &[""],
        kind: "LimitRange",
    },
    Kind {
        groups: &[""],
        kind: "ServiceAccount",
    },
    Kind {
        groups: &["networking.k8s.io", "extensions"],
        kind: "NetworkPolicy",
    },
    Kind {
        groups: &["policy"],
        kind: "PodDisruptionBudget",
    },
];

/// Removes from an object what no rule reads (`managedFields`, most annotations (the ignore, AppArmor and
/// namespace scheduling defaults are kept), status other than a
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
                    || k.starts_with("scheduler.alpha.kubernetes.io/")
                    || k == ALLOW_FROM_ANNOTATION
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
    let Ok(report) = evaluate_on(objects, &read_whole_already, profile, now, scope, 1);
    report
}

/// The whole object of which `objects[i]` is the head, read when its rules run: `None` when `objects[i]` is
/// whole already, `Err` to stop the evaluation.
pub type Whole<'a, E> = &'a (dyn Fn(usize) -> Option<Result<SourceObject, E>> + Sync);

/// For objects read whole already.
pub fn read_whole_already(_: usize) -> Option<Result<SourceObject, std::convert::Infallible>> {
    None
}

/// [`evaluate_scoped`] with the objects' rules run on every core (`check` over large inputs; the report is
/// the same), over objects of which some may have been read as their head only (`apiVersion`, `kind`,
/// `metadata`; kinds of [`read_when_evaluated`]): the index of namespaces is built from the heads, and each
/// such object is read whole by `whole` when its rules run and freed after them, so that the trees of a
/// large input are not all in memory at once. Stops at the first error of `whole`; with
/// [`read_whole_already`], over objects read whole, it cannot fail.
pub fn evaluate_scoped_reading_later<E: Send>(
    objects: &[SourceObject],
    whole: Whole<'_, E>,
    profile: &ResolvedProfile,
    now: Timestamp,
    scope: NamespaceScope,
) -> Result<Report, E> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    evaluate_on(objects, whole, profile, now, scope, cores)
}

/// Fewer objects than this per thread are not worth a thread.
const OBJECTS_PER_THREAD: usize = 500;

/// [`evaluate_scoped`] with the objects' rules on up to `threads` threads, each over a contiguous run of
/// the objects: their findings and results, put back in the order of the runs, are those of one thread.
fn evaluate_on<E: Send>(
    objects: &[SourceObject],
    whole: Whole<'_, E>,
    profile: &ResolvedProfile,
    now: Timestamp,
    scope: NamespaceScope,
    threads: usize,
) -> Result<Report, E> {
    let index = Index::build(objects);
    let mut ev = Evaluator::new(profile, now);
    let threads = threads.min(objects.len() / OBJECTS_PER_THREAD).max(1);
    // The objects from `start` on, each read whole first if it is a head only.
    let run = |start: usize, chunk: &[SourceObject]| {
        let mut ev = Evaluator::new(profile, now);
        for (i, obj) in chunk.iter().enumerate() {
            match whole(start + i) {
                None => ev.object(obj, &index),
                Some(read) => ev.object(&read?, &index),
            }
        }
        Ok((ev.findings, ev.silenced, ev.results))
    };
    let size = objects.len().div_ceil(threads).max(1);
    let mut chunks = objects.chunks(size).enumerate();
    let (_, first) = chunks.next().unwrap_or_default();
    let parts = std::thread::scope(|s| {
        let others: Vec<_> = chunks
            .map(|(n, c)| s.spawn(move || run(n * size, c)))
            .collect();
        let mut parts = vec![run(0, first)];
        for h in others {
            // The rules do not panic; if one did, the panic goes on as it would without threads.
            parts.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        parts
    });
    for part in parts {
        let (findings, silenced, results) = part?;
        ev.findings.extend(findings);
        ev.silenced.extend(silenced);
        ev.results.extend(results);
    }
    let namespaces_not_evaluated = ev.namespaces(&index, scope);
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
    Ok(Report {
        profile: profile.name.clone(),
        objects: objects.len(),
        results,
        findings,
        silenced,
        by_severity,
        score,
        namespaces_not_evaluated,
    })
}

/// What a namespace without its Namespace object in the input carries: no annotations, no labels.
static NULL: Value = Value::Null;

fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

// ---------------------------------------------------------------------------------------------------------
// Index over all objects

#[derive(Default)]
struct Index<'a> {
    /// Hashed: it is looked up for every object.
    namespaces: hashbrown::HashMap<&'a str, NamespaceFacts<'a>>,
    /// What the input holds about objects without `metadata.namespace` (`helm template` output): its
    /// PersistentVolumeClaims, for pods without a namespace.
    unnamespaced: NamespaceFacts<'a>,
    /// The namespaces the input's onboardings create (`<ressort>-<fachverfahren>-<environment>`).
    onboarded: BTreeSet<String>,
    /// Per namespace an onboarding of the input creates: its `spec.network.allowFromNamespaces`.
    declared_sources: BTreeMap<String, Vec<&'a str>>,
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
            idx.add(obj);
        }
        for (ns, facts) in &mut idx.namespaces {
            if let Some(sources) = idx.declared_sources.get(*ns) {
                facts.declared_sources.extend(sources.iter().copied());
            }
        }
        idx
    }

    fn add(&mut self, obj: &'a SourceObject) {
        let v = &obj.value;
        let kind = str_at(v, &["kind"]).unwrap_or("");
        let group = api_group(str_at(v, &["apiVersion"]).unwrap_or(""));
        if kind == "FachverfahrenOnboarding" && group == crate::api::GROUP {
            let sources: Vec<&'a str> =
                strs_at(v, &["spec", "network", "allowFromNamespaces"]).collect();
            for ns in onboarded_namespaces(v) {
                self.declared_sources
                    .entry(ns.clone())
                    .or_default()
                    .extend(sources.iter().copied());
                self.onboarded.insert(ns);
            }
            return;
        }
        if kind == "Namespace" {
            if let Some(name) = str_at(v, &["metadata", "name"]) {
                let facts = self.namespaces.entry(name).or_default();
                facts.namespace_obj = Some(obj);
                // The sources the operator recorded on the namespace from the onboarding.
                let declared = str_at(v, &["metadata", "annotations", ALLOW_FROM_ANNOTATION]);
                facts.declared_sources.extend(
                    declared
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty()),
                );
            }
            return;
        }
        // Objects without metadata.namespace (e.g. `helm template` output) belong to no namespace the
        // check can judge: namespace-level rules need to know which objects share a namespace.
        let Some(ns) = str_at(v, &["metadata", "namespace"]) else {
            if (group, kind) == ("", "PersistentVolumeClaim")
                && let Some(name) = str_at(v, &["metadata", "name"])
            {
                self.unnamespaced.claims.insert(name);
            }
            return;
        };
        let e = self.namespaces.entry(ns).or_default();
        if e.first_location.is_none() {
            e.first_location = obj.location.as_ref();
        }
        match (group, kind) {
            ("networking.k8s.io" | "extensions", "NetworkPolicy") => e.network_policies.push(v),
            ("policy", "PodDisruptionBudget") => {
                e.pdb_selectors.extend(at(v, &["spec", "selector"]))
            }
            ("", "ResourceQuota") => e.quotas += 1,
            ("", "LimitRange") => e.limit_ranges += 1,
            ("", "PersistentVolumeClaim") => e.claims.extend(str_at(v, &["metadata", "name"])),
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
}

// ---------------------------------------------------------------------------------------------------------
// The checks the profile enables, by where they run

type PodCheck = fn(&PodView<'_>, &mut Violations);
type ObjectCheck = fn(&ObjectView<'_>, &mut Violations);
type NamespaceCheck = fn(&NamespaceView<'_>, &mut Violations);

/// The enabled rules' checks, sorted by what they look at (built once per evaluation).
#[derive(Default)]
struct Dispatch {
    pod: Vec<(RuleId, PodCheck)>,
    security_context: Vec<(RuleId, &'static SecurityContextCheck)>,
    object: Vec<(RuleId, &'static [Kind], ObjectCheck)>,
    namespace: Vec<(RuleId, NamespaceCheck)>,
}

impl Dispatch {
    fn new(profile: &ResolvedProfile) -> Self {
        let mut d = Dispatch::default();
        for rule in RULES.iter().filter(|r| profile.enabled(r.id)) {
            for check in rule.checks {
                match *check {
                    Check::Pod(f) => d.pod.push((rule.id, f)),
                    Check::SecurityContext(t) => d.security_context.push((rule.id, t)),
                    Check::Object { kinds, check } => d.object.push((rule.id, kinds, check)),
                    Check::Namespace(f) => d.namespace.push((rule.id, f)),
                }
            }
        }
        d
    }
}

/// Kinds whose pod template (or, for Pods, spec) the pod checks read.
fn pod_template<'v>(
    kind: &str,
    group: &str,
    v: &'v Value,
) -> Option<(&'v Value, Option<&'v Value>)> {
    // Workloads are read by kind in every group that ever served them (`extensions/v1beta1`,
    // `apps/v1beta2`, `batch/v1beta1`, ...): a removed version does not make a privileged pod harmless
    // (it is reported as `removed-api-version` too).
    if !pod_template_kind(group, kind) {
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

/// Whether objects of `kind` in `group` have a pod spec the pod checks read.
fn pod_template_kind(group: &str, kind: &str) -> bool {
    match kind {
        "Pod" => group.is_empty(),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController"
        | "CronJob" => matches!(group, "" | "apps" | "extensions" | "batch"),
        _ => false,
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

// ---------------------------------------------------------------------------------------------------------
// The evaluator

struct Evaluator<'p> {
    profile: &'p ResolvedProfile,
    now: Timestamp,
    dispatch: Dispatch,
    /// Reused between checks.
    out: Violations,
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

/// The ignore annotation of an object: the rules it silences, its reason, and what is wrong with it.
fn ignore_annotation(v: &Value) -> (RuleSet, Option<&str>, Vec<String>) {
    let mut problems = Vec::new();
    let Some(list) = str_at(v, &["metadata", "annotations", IGNORE_ANNOTATION]) else {
        return (RuleSet::default(), None, problems);
    };
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
    if reason.is_none() {
        problems.push(format!(
            "annotation {IGNORE_ANNOTATION}: {list:?} has no {IGNORE_REASON_ANNOTATION}; the rules are not ignored"
        ));
    }
    if !unknown.is_empty() {
        let what = if unknown.len() == 1 {
            "a rule id"
        } else {
            "rule ids"
        };
        problems.push(format!(
            "annotation {IGNORE_ANNOTATION} names {what} that cannot be ignored: {}",
            unknown.join(", ")
        ));
    }
    match reason {
        Some(r) => (ids, Some(r), problems),
        None => (RuleSet::default(), None, problems),
    }
}

impl<'p> Evaluator<'p> {
    fn new(profile: &'p ResolvedProfile, now: Timestamp) -> Self {
        Evaluator {
            profile,
            now,
            dispatch: Dispatch::new(profile),
            out: Violations::default(),
            findings: Vec::new(),
            silenced: Vec::new(),
            results: Vec::new(),
        }
    }

    /// The context of one object; reports what is wrong with its ignore annotation.
    fn new_ctx<'v>(
        &mut self,
        value: &'v Value,
        location: Option<&Location>,
        oref: ObjectRef,
    ) -> ObjCtx<'v> {
        let (ignored, ignore_reason, problems) = ignore_annotation(value);
        let rule = RuleId::IgnoreWithoutReason.rule();
        for message in problems {
            self.findings.push(Finding {
                rule: rule.id,
                severity: rule.severity,
                bsi: &[],
                pss: rule.pss,
                object: oref.clone(),
                container: None,
                message,
                location: location.cloned(),
            });
        }
        ObjCtx {
            oref,
            location: location.cloned(),
            labels: obj_at(value, &["metadata", "labels"]),
            ignored,
            ignore_reason,
            checked: RuleSet::default(),
            failed: RuleSet::default(),
        }
    }

    /// Records the outcome of rule `id`'s check that just wrote into `self.out`.
    fn record(&mut self, ctx: &mut ObjCtx<'_>, id: RuleId) {
        let mut out = std::mem::take(&mut self.out);
        if let Some(found) = out.take() {
            ctx.checked.insert(id);
            for v in found {
                self.fail(ctx, id, v.container, v.message);
            }
        }
        self.out = out;
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
        let mut ctx = self.new_ctx(v, obj.location.as_ref(), oref);
        let group = api_group(api_version);
        let facts = match namespace {
            Some(ns) => index.namespaces.get(ns),
            None => Some(&index.unnamespaced),
        };
        if let Some((spec, tmeta)) = pod_template(kind, group, v)
            && !controlled_by_checked_workload(v)
        {
            let pod = PodView::new(v, kind, spec, tmeta, facts, self.profile);
            self.pod_spec(&mut ctx, &pod);
        }
        let view = ObjectView {
            v,
            kind,
            group,
            profile: self.profile,
            now: self.now,
            namespace,
            facts,
        };
        self.object_checks(&mut ctx, &view);
        // Namespace objects get their results from the namespace pass.
        if kind != "Namespace" || !group.is_empty() {
            self.finish(ctx);
        }
    }

    fn pod_spec(&mut self, ctx: &mut ObjCtx<'_>, pod: &PodView<'_>) {
        for i in 0..self.dispatch.security_context.len() {
            let (id, t) = self.dispatch.security_context[i];
            security_context(t, pod, &mut self.out);
            self.record(ctx, id);
        }
        for i in 0..self.dispatch.pod.len() {
            let (id, check) = self.dispatch.pod[i];
            check(pod, &mut self.out);
            self.record(ctx, id);
        }
    }

    fn object_checks(&mut self, ctx: &mut ObjCtx<'_>, view: &ObjectView<'_>) {
        for i in 0..self.dispatch.object.len() {
            let (id, kinds, check) = self.dispatch.object[i];
            if kinds.iter().any(|k| k.matches(view.group, view.kind)) {
                check(view, &mut self.out);
                self.record(ctx, id);
            }
        }
    }

    fn namespace(&mut self, ns: &str, facts: &NamespaceFacts<'_>) {
        let oref = ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: ns.to_owned(),
        };
        // The Namespace object carries the ignore annotations and labels, when it is part of the input.
        let (value, location) = match facts.namespace_obj {
            Some(o) => (&o.value, o.location.as_ref()),
            None => (&NULL, facts.first_location),
        };
        let mut ctx = self.new_ctx(value, location, oref);
        let view = NamespaceView { name: ns, facts };
        for i in 0..self.dispatch.namespace.len() {
            let (id, check) = self.dispatch.namespace[i];
            check(&view, &mut self.out);
            self.record(&mut ctx, id);
        }
        self.finish(ctx);
    }

    /// The namespace-level rules over the namespaces of `scope`, by name; the names of the others.
    fn namespaces(&mut self, index: &Index<'_>, scope: NamespaceScope) -> Vec<String> {
        let mut not_evaluated = Vec::new();
        let mut namespaces: Vec<_> = index.namespaces.iter().collect();
        namespaces.sort_unstable_by_key(|(ns, _)| **ns);
        for (ns, nsi) in namespaces {
            if scope == NamespaceScope::All
                || nsi.namespace_obj.is_some()
                || index.onboarded.contains(*ns)
            {
                self.namespace(ns, nsi);
            } else {
                not_evaluated.push((*ns).to_owned());
            }
        }
        not_evaluated
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

/// Runs a table entry over the pod's and every container's `securityContext`.
fn security_context(t: &SecurityContextCheck, pod: &PodView<'_>, out: &mut Violations) {
    if t.pod
        && let Some(m) = (t.verdict)(pod.psc(&[t.field]))
    {
        out.object(m);
    }
    for c in &pod.containers {
        if let Some(m) = (t.verdict)(c.sc(t.field)) {
            out.container(c, m);
        }
    }
    if let Some(also) = t.also {
        also(pod, out);
    }
}

fn selector_matches(s: &ObjectSelector, ctx: &ObjCtx<'_>) -> bool {
    s.kind.as_ref().is_none_or(|k| *k == ctx.oref.kind)
        && s.name.as_ref().is_none_or(|n| *n == ctx.oref.name)
        && s.match_labels.iter().all(|(k, val)| {
            ctx.labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(val.as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_on_several_threads_give_the_report_of_one_thread() {
        let fixtures =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance");
        let read = super::super::input::read_paths(&[fixtures], std::io::empty());
        assert!(!read.objects.is_empty());
        let mut objects = Vec::new();
        while objects.len() < 4 * OBJECTS_PER_THREAD {
            objects.extend(read.objects.iter().cloned());
        }
        let profile =
            super::super::resolve_profile(None, crate::api::ProtectionLevel::High, None).unwrap();
        let now = Timestamp::UNIX_EPOCH;
        let scope = NamespaceScope::Declared;
        let Ok(one) = evaluate_on(&objects, &read_whole_already, &profile, now, scope, 1);
        let json = super::super::report::json::render;
        assert!(!one.findings.is_empty() && one.results.len() > 3 * OBJECTS_PER_THREAD);
        for threads in [2, 3, 4] {
            let Ok(many) =
                evaluate_on(&objects, &read_whole_already, &profile, now, scope, threads);
            assert_eq!(json(&one), json(&many), "{threads} threads");
            assert_eq!(format!("{one:?}"), format!("{many:?}"), "{threads} threads");
        }
    }

    /// Every manifest file under `dir`, recursively, but for those of `broken/`.
    fn manifest_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() && !path.ends_with("broken") {
                manifest_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }

    #[test]
    fn objects_read_whole_when_their_rules_run_give_the_report_of_objects_read_whole_at_first_on_any_number_of_threads()
     {
        use super::super::input::{Reading, read_paths_reading};
        let fixtures =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance");
        let mut files = Vec::new();
        manifest_files(&fixtures, &mut files);
        let copies = 4 * OBJECTS_PER_THREAD / files.len() + 1;
        let paths: Vec<_> = (0..copies).flat_map(|_| files.iter().cloned()).collect();
        let reading = |later| Reading {
            wanted: Some(reads_whole),
            later,
        };
        let at_first = read_paths_reading(&paths, std::io::empty(), reading(None));
        let later =
            read_paths_reading(&paths, std::io::empty(), reading(Some(read_when_evaluated)));
        assert!(at_first.errors.is_empty(), "{:?}", at_first.errors);
        assert!(later.objects.len() > 4 * OBJECTS_PER_THREAD);
        let heads = (0..later.objects.len()).filter(|i| later.whole(*i).is_some());
        assert!(
            heads.count() > later.objects.len() / 4,
            "workloads are read as heads"
        );
        let profile =
            super::super::resolve_profile(None, crate::api::ProtectionLevel::High, None).unwrap();
        let (now, scope) = (Timestamp::UNIX_EPOCH, NamespaceScope::Declared);
        let Ok(expected) = evaluate_on(
            &at_first.objects,
            &read_whole_already,
            &profile,
            now,
            scope,
            1,
        );
        let json = super::super::report::json::render;
        assert!(expected.findings.len() > OBJECTS_PER_THREAD);
        for threads in [1, 2, 3, 4] {
            let whole = |i| later.whole(i);
            let got = evaluate_on(&later.objects, &whole, &profile, now, scope, threads).unwrap();
            assert_eq!(json(&expected), json(&got), "{threads} threads");
            assert_eq!(
                format!("{expected:?}"),
                format!("{got:?}"),
                "{threads} threads"
            );
        }
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
