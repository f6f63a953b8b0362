//! The watches and what they fill (I/O: opens the watches; reading a store is pure): the
//! stores of everything the pipeline reads, with secondary indexes so that no reconcile walks
//! a whole store.
//!
//! - Objects the operator owns (quotas, limits, policies, bindings, the `default`
//!   ServiceAccounts, the reader ClusterRoles and bindings) are kept as compact JSON texts
//!   that equal objects share ([`Kept`], [`super::kept`]) in a [`KeptStore`]: two indexes
//!   sharing one table, by the onboarding their label names and by namespace, and no reflector
//!   store beside them. Namespaces: every one, as metadata kept the same way in a
//!   [`NamespaceStore`], found by name and by the onboarding their label names.
//! - Onboardings are indexed by their Ressort and by the task they name.
//! - The kinds the conformance rules read are kept stripped, as compact JSON text
//!   ([`RuleObject`]), and indexed by namespace; their watches leave out what the operator's
//!   own stores hold, so that each object is held once. The PolicyReports, trimmed, as text.
//!
//! Text, because what the pipeline reads of these objects is JSON anyway, and a parsed object
//! (typed, or a `serde_json::Value`) holds a map per level of its tree: several times the
//! size of its text (see docs/benchmarks.md, "Stores as text" and "Owned objects, namespaces
//! and reports as text only").
//!
//! An index ([`super::index`]) is kept from the same watch events as its store, after the
//! store has applied them, and holds the store's own `Arc`s: it costs about a pointer per
//! object and key, no copy of the object's id.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Lookup, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::drift;
use super::model::{Holding, OwnedKind};
use super::sync::SyncTracker;
use crate::api::{ConformanceProfile, FachverfahrenOnboarding, Ressort, Verwaltungsaufgabe};
use crate::conformance::engine::{WatchedKind, strip_unread_fields, watched_kinds};
use crate::resources::{MANAGED_BY, MANAGED_BY_VALUE};

pub use super::index::{Index, KeyFn, Version};
pub use super::kept::{Kept, onboarding_key};

/// The namespace of a kept object (none for a cluster-scoped one, which is found by name).
fn kept_namespace<K>(obj: &Kept<K>) -> Option<Cow<'_, str>> {
    obj.namespace.as_deref().map(Cow::Borrowed)
}

/// The onboarding a kept object's label names.
pub fn kept_onboarding<K>(obj: &Kept<K>) -> Option<Cow<'_, str>> {
    obj.onboarding.as_deref().map(Cow::Borrowed)
}

/// The onboarding an object's label names.
pub fn onboarding_label<K: Resource>(obj: &K) -> Option<String> {
    onboarding_key(obj).map(Cow::into_owned)
}

/// The namespace of an object, as an index key.
pub fn namespace_of<K: Lookup>(obj: &K) -> Option<Cow<'_, str>> {
    obj.namespace()
}

/// The Ressort an onboarding belongs to, as an index key.
pub fn ressort_of(fvo: &FachverfahrenOnboarding) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(fvo.spec.ressort.as_str()))
}

/// A store of objects the operator owns, with its indexes by onboarding and by namespace.
#[derive(Clone)]
pub struct OwnedStore<K: Lookup<DynamicType = ()> + 'static> {
    /// Every object of the kind with the operator's label.
    pub store: Store<K>,
    /// The same objects by the onboarding their label names.
    pub by_onboarding: Index<K>,
    /// The same objects by namespace (what the conformance rules read of them).
    pub by_namespace: Index<K>,
}

/// The objects of a kind the operator owns, kept as text ([`Kept`]) and filed by the
/// onboarding their label names and by namespace. No reflector store beside the two indexes:
/// their shared table of the objects answers a lookup by namespace and name.
pub struct KeptStore<K: Resource<DynamicType = ()> + 'static> {
    /// The objects by the onboarding their label names.
    pub by_onboarding: Index<Kept<K>>,
    /// The same objects by namespace (what the conformance rules read of them).
    pub by_namespace: Index<Kept<K>>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for KeptStore<K> {
    fn clone(&self) -> Self {
        KeptStore {
            by_onboarding: self.by_onboarding.clone(),
            by_namespace: self.by_namespace.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + 'static> KeptStore<K> {
    /// Empty indexes (sharing one table of the objects).
    pub fn new() -> Self {
        let [by_onboarding, by_namespace] =
            Index::by_keys([kept_onboarding::<K>, kept_namespace::<K>]);
        KeptStore {
            by_onboarding,
            by_namespace,
        }
    }

    /// The object `name` in `namespace` (`""` for a cluster-scoped kind).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Kept<K>>> {
        self.by_namespace.get_one(namespace, name)
    }

    /// `obj` as the store keeps it (see [`Kept`]), its namespace and onboarding the strings
    /// the indexes file objects under. An object that cannot be serialised (it came from
    /// JSON) is kept as an empty object with its key, so that its deletion and its requeue
    /// still follow.
    pub fn keep(&self, obj: &K) -> Kept<K>
    where
        K: Default + Serialize + DeserializeOwned,
    {
        let intern = (
            |ns: &str| self.by_namespace.intern(ns),
            |o: &str| self.by_onboarding.intern(o),
        );
        Kept::pack(obj, intern)
    }

    /// Follows one watch event in both indexes; `relist` collects a relist's objects until it
    /// is complete (the old list serves until then, as in a reflector store).
    fn follow(&self, event: &watcher::Event<Arc<Kept<K>>>, relist: &mut Vec<Arc<Kept<K>>>) {
        // The two indexes share their table: following the event through one keeps both.
        let indexes = &self.by_onboarding;
        match event {
            watcher::Event::Apply(obj) => indexes.put(obj),
            watcher::Event::Delete(obj) => indexes.take(obj),
            watcher::Event::Init => relist.clear(),
            watcher::Event::InitApply(obj) => relist.push(obj.clone()),
            watcher::Event::InitDone => {
                indexes.replace_all(relist);
                *relist = Vec::new();
            }
        }
    }
}

impl<K: Resource<DynamicType = ()> + 'static> Default for KeptStore<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// The stores of the namespaced kinds the operator owns.
#[derive(Clone)]
pub struct OwnedStores {
    /// ResourceQuotas.
    pub quotas: KeptStore<ResourceQuota>,
    /// LimitRanges.
    pub limit_ranges: KeptStore<LimitRange>,
    /// NetworkPolicies.
    pub network_policies: KeptStore<NetworkPolicy>,
    /// RoleBindings.
    pub role_bindings: KeptStore<RoleBinding>,
}

impl OwnedStores {
    /// The objects of `kind` labelled for `onboarding`, as JSON.
    pub fn labelled_for(
        &self,
        kind: OwnedKind,
        onboarding: &str,
    ) -> Vec<(ObjectMeta, serde_json::Value)> {
        fn json<K: Resource<DynamicType = ()> + Default + Serialize + DeserializeOwned>(
            objs: Vec<Arc<Kept<K>>>,
        ) -> Vec<(ObjectMeta, serde_json::Value)> {
            objs.iter().filter_map(|o| o.value_and_meta()).collect()
        }
        match kind {
            OwnedKind::LimitRange => json(self.limit_ranges.by_onboarding.get(onboarding)),
            OwnedKind::NetworkPolicy => json(self.network_policies.by_onboarding.get(onboarding)),
            OwnedKind::ResourceQuota => json(self.quotas.by_onboarding.get(onboarding)),
            OwnedKind::RoleBinding => json(self.role_bindings.by_onboarding.get(onboarding)),
        }
    }
}

/// Values derived from the stores, kept per onboarding with the versions they were derived
/// from: a value is derived again only when one of them moved.
pub struct Memo<K, V> {
    entries: Arc<Mutex<HashMap<String, (K, V)>>>,
}

impl<K, V> Clone for Memo<K, V> {
    fn clone(&self) -> Self {
        Memo {
            entries: self.entries.clone(),
        }
    }
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K: PartialEq, V> Memo<K, V> {
    /// The entries, locked (no `await` while held).
    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, (K, V)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets what was derived for `name` (deleted).
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }
}

/// The versions a [`Holding`] was derived from: the onboarding (uid, resourceVersion) and the
/// index entries of its namespaces and quotas.
pub type HoldingKey = (Option<String>, Option<String>, Version, Version);

/// The reflector stores the controller keeps; the owned kinds filtered to what the operator
/// manages, ServiceAccounts to those named `default`, namespaces all of them (metadata only).
#[derive(Clone)]
pub struct Stores {
    /// Every onboarding (the watch shared with the Ressort controller).
    pub onboardings: Store<FachverfahrenOnboarding>,
    /// The onboardings by Ressort.
    pub onboardings_by_ressort: Index<FachverfahrenOnboarding>,
    /// Every Ressort.
    pub ressorts: Store<Ressort>,
    /// Every Verwaltungsaufgabe (the watch shared with the task controller).
    pub aufgaben: Store<Verwaltungsaufgabe>,
    /// The onboardings by the task they name.
    pub onboardings_by_aufgabe: Index<FachverfahrenOnboarding>,
    /// Every namespace, as metadata; indexed by the onboarding their label names.
    pub namespaces: NamespaceStore,
    /// The namespaced objects with the operator's label.
    pub owned: OwnedStores,
    /// Every namespace's `default` ServiceAccount.
    pub service_accounts: KeptStore<ServiceAccount>,
    /// The price list's ConfigMap (`--prices`), when one is configured.
    pub prices: Option<Store<ConfigMap>>,
    /// The kinds the conformance rules read.
    pub workloads: WorkloadStores,
    /// What each onboarding holds by observation, as the sibling view last derived it.
    pub holdings: Memo<HoldingKey, Arc<Holding>>,
    /// The reader ClusterRoles with the operator's label (the `reader` step compares with them).
    pub reader_roles: KeptStore<ClusterRole>,
    /// The reader ClusterRoleBindings with the operator's label.
    pub reader_bindings: KeptStore<ClusterRoleBinding>,
    /// The PolicyReports with the operator's label, trimmed to what the `reports` step compares.
    pub policy_reports: ReportStore,
    /// Turns true once every store had its initial list (see `Stores::wait_until_ready`).
    pub synced: tokio::sync::watch::Receiver<bool>,
}

impl Stores {
    /// Waits until every watch has had its initial list (at most [`super::sync::SYNC_TIMEOUT`]),
    /// so that a reconcile right after start does not mistake a store still filling for missing
    /// objects. Once synced, a later relist does not hold reconciles up again.
    pub async fn wait_until_ready(&self) {
        let mut synced = self.synced.clone();
        // Err: the tracker is gone (shutting down); nothing left to wait for.
        let _ = synced.wait_for(|s| *s).await;
    }

    /// The platform's price list: `None` without one (no `--prices`, or its ConfigMap does not
    /// exist) or when it cannot be read (the runtime reports that when it changes).
    pub fn price_list(&self) -> Option<crate::inventory::cost::PriceList> {
        let config_map = self.prices.as_ref()?.state().into_iter().next()?;
        crate::inventory::cost::PriceList::parse(&config_map.data.clone().unwrap_or_default()).ok()
    }

    /// The onboardings of `ressort`.
    pub fn onboardings_of(&self, ressort: &str) -> Vec<Arc<FachverfahrenOnboarding>> {
        self.onboardings_by_ressort.get(ressort)
    }

    /// The objects of the kinds the conformance rules read in `namespace`, as JSON stripped of
    /// what no rule reads: those of the kind stores, and the objects with the operator's label
    /// and the `default` ServiceAccount, which the kind stores leave to the operator's own
    /// stores (one copy of each object in memory, see [`workload_streams`]).
    pub fn conformance_objects(&self, namespace: &str) -> Vec<serde_json::Value> {
        fn stripped<K: Resource<DynamicType = ()> + Default + Serialize + DeserializeOwned>(
            objs: Vec<Arc<Kept<K>>>,
        ) -> Vec<serde_json::Value> {
            objs.iter()
                .filter_map(|o| o.value())
                .map(|mut v| {
                    strip_unread_fields(&mut v);
                    v
                })
                .collect()
        }
        let owned = &self.owned;
        let mut out: Vec<serde_json::Value> = self
            .workloads
            .in_namespace(namespace)
            .filter_map(|o| o.value())
            .collect();
        out.extend(stripped(owned.quotas.by_namespace.get(namespace)));
        out.extend(stripped(owned.limit_ranges.by_namespace.get(namespace)));
        out.extend(stripped(owned.network_policies.by_namespace.get(namespace)));
        out.extend(stripped(owned.role_bindings.by_namespace.get(namespace)));
        out.extend(stripped(self.service_accounts.by_namespace.get(namespace)));
        out
    }

    /// The version of what [`Stores::conformance_objects`] reads in `namespace`: the sums of
    /// the epochs and of the change counts of its kinds' indexes under `namespace` (one pair
    /// per namespace where the conformance memo kept a list of them). It differs whenever one of
    /// them moved: within an epoch a count only grows, and a relist raises its epoch.
    pub fn conformance_version(&self, namespace: &str) -> Version {
        let owned = &self.owned;
        self.workloads
            .versions(namespace)
            .chain([
                owned.quotas.by_namespace.version(namespace),
                owned.limit_ranges.by_namespace.version(namespace),
                owned.network_policies.by_namespace.version(namespace),
                owned.role_bindings.by_namespace.version(namespace),
                self.service_accounts.by_namespace.version(namespace),
            ])
            .fold((0, 0), |(epochs, changes), (epoch, count)| {
                (epochs.wrapping_add(epoch), changes.wrapping_add(count))
            })
    }
}

/// A store of `K` with its index by onboarding label, and its stream of touched objects.
/// With `foreign_fields`, the managedFields entries of other managers are kept (the
/// operator's own objects: drift, and who caused it); otherwise none. `trim` drops what the
/// pipeline never reads before the object is stored.
pub fn owned_stream<K>(
    client: &Client,
    config: watcher::Config,
    foreign_fields: bool,
    trim: fn(&mut K),
    tracker: &SyncTracker,
) -> (
    OwnedStore<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let [index, by_namespace] = Index::by_keys([onboarding_key::<K>, namespace_of::<K>]);
    let (store, idx) = (reader.clone(), index.clone());
    // Only other managers' writes to the operator's objects are read: dropping the rest keeps
    // the stores at about half the memory, and a converged object of the operator's carries none.
    let stream = watcher(Api::<K>::all(client.clone()), config)
        .default_backoff()
        .modify(move |o: &mut K| strip_owned(o, foreign_fields, trim))
        .reflect(writer)
        .inspect_ok(move |event| {
            // One table for both indexes: following the event through one keeps both.
            idx.apply(&store, &(), event);
        });
    let stream = tracker.track(stream).touched_objects();
    (
        OwnedStore {
            store: reader,
            by_onboarding: index,
            by_namespace,
        },
        stream,
    )
}

/// What the stores of owned objects keep of one: other managers' managedFields entries only
/// (`foreign_fields`; none otherwise), and what `trim` leaves.
fn strip_owned<K: Resource>(o: &mut K, foreign_fields: bool, trim: fn(&mut K)) {
    let meta = o.meta_mut();
    let entries = meta.managed_fields.take();
    meta.managed_fields = if foreign_fields {
        drift::foreign_entries_only(entries)
    } else {
        None
    };
    trim(o);
}

/// Like [`owned_stream`], for the kinds the operator owns: the objects are kept as text
/// ([`Kept`]) in a [`KeptStore`], indexed by the onboarding their label names and by namespace.
/// The stream of touched objects carries what the requeue reads: name, namespace and the
/// onboarding label.
pub fn kept_stream<K>(
    client: &Client,
    config: watcher::Config,
    foreign_fields: bool,
    trim: fn(&mut K),
    tracker: &SyncTracker,
) -> (
    KeptStore<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + Default
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let kept = KeptStore::new();
    let (indexes, keeper) = (kept.clone(), kept.clone());
    let mut relist = Vec::new();
    let stream = watcher(Api::<K>::all(client.clone()), config)
        .default_backoff()
        .modify(move |o: &mut K| strip_owned(o, foreign_fields, trim))
        .map_ok(move |event| map_event(event, |o| Arc::new(keeper.keep(&o))))
        .inspect_ok(move |event| indexes.follow(event, &mut relist));
    let stream = tracker
        .track(stream)
        .touched_objects()
        .map_ok(|o: Arc<Kept<K>>| o.key_object());
    (kept, stream)
}

/// The watch event with its object turned into another by `f` (the markers pass as they are).
fn map_event<A, B>(event: watcher::Event<A>, f: impl Fn(A) -> B) -> watcher::Event<B> {
    match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(f(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(f(o)),
        watcher::Event::InitApply(o) => watcher::Event::InitApply(f(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// The namespace of a metadata-only watch event: a `Namespace` with its metadata and nothing
/// else. The pipeline reads a namespace's labels, annotations, deletion timestamp and
/// managedFields only; a namespace being deleted always carries its deletion timestamp, so the
/// `status.phase` left out is not needed to tell that it terminates.
fn namespace_of_meta(
    event: watcher::Event<PartialObjectMeta<Namespace>>,
) -> watcher::Event<Namespace> {
    let ns = |meta: PartialObjectMeta<Namespace>| {
        let mut metadata = meta.metadata;
        let entries = metadata.managed_fields.take();
        // Other managers' writes matter on the operator's own namespaces only (drift, and who
        // caused it); a namespace of someone else's is kept with its labels and records alone.
        let managed = metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY))
            .is_some_and(|v| v == MANAGED_BY_VALUE);
        metadata.managed_fields = if managed {
            drift::foreign_entries_only(entries)
        } else {
            None
        };
        Namespace {
            metadata,
            spec: None,
            status: None,
        }
    };
    map_event(event, ns)
}

/// Every namespace of the cluster, as metadata kept as text ([`Kept`]): found by name through
/// [`Namespaces::get`], which parses the one asked for, and indexed by the onboarding their
/// label names. Typed, a namespace's metadata (two maps of strings) took about 3 KB in its
/// store; as text a fraction of that. What is read of namespaces per reconcile is a few of
/// them (the onboarding's own, and a sibling's only where it holds no proven namespace).
#[derive(Clone)]
pub struct NamespaceStore {
    /// Every namespace, by name.
    pub store: Namespaces,
    /// The same namespaces by the onboarding their label names.
    pub by_onboarding: Index<Kept<Namespace>>,
}

impl NamespaceStore {
    /// The namespaces labelled for `onboarding`, parsed.
    pub fn labelled_for(&self, onboarding: &str) -> Vec<Arc<Namespace>> {
        self.by_onboarding
            .get(onboarding)
            .iter()
            .filter_map(|n| n.object().map(Arc::new))
            .collect()
    }
}

/// Every namespace by name (see [`NamespaceStore`]).
#[derive(Clone)]
pub struct Namespaces(KeptStore<Namespace>);

impl Namespaces {
    /// The namespace `namespace.name`, parsed from its text.
    pub fn get(&self, namespace: &ObjectRef<Namespace>) -> Option<Arc<Namespace>> {
        self.0.get("", &namespace.name)?.object().map(Arc::new)
    }
}

/// The store of every namespace of the cluster, as metadata (one metadata-only watch), with
/// its index by the onboarding its label names, and its stream of touched namespaces (their
/// name and onboarding label: what the requeue reads).
///
/// Every namespace, not only the operator's: whether a declared namespace exists and whose it
/// is — for the onboarding reconciled and for every other onboarding of its Ressort — is read
/// here instead of from the API. A namespace costs its metadata without managedFields, as text
/// (a few hundred bytes).
pub fn namespace_stream(
    client: &Client,
    tracker: &SyncTracker,
) -> (
    NamespaceStore,
    impl Stream<Item = Result<Namespace, watcher::Error>> + Send + 'static,
) {
    let kept = KeptStore::<Namespace>::new();
    let (indexes, keeper) = (kept.clone(), kept.clone());
    let mut relist = Vec::new();
    let stream = watcher(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        list_config(),
    )
    .default_backoff()
    .map_ok(move |event| map_event(namespace_of_meta(event), |o| Arc::new(keeper.keep(&o))))
    .inspect_ok(move |event| indexes.follow(event, &mut relist));
    let stream = tracker
        .track(stream)
        .touched_objects()
        .map_ok(|o: Arc<Kept<Namespace>>| o.key_object());
    (
        NamespaceStore {
            by_onboarding: kept.by_onboarding.clone(),
            store: Namespaces(kept),
        },
        stream,
    )
}

/// The PolicyReports with the operator's label, as their watch keeps them (trimmed by the
/// `reports` step's function, then held as compact JSON text: a trimmed report is its metadata,
/// which typed took about 1.8 KB and as text a fifth of that), and whether that watch has its
/// list: on a cluster that does not serve PolicyReports, or forbids the operator to list them,
/// it never has, and the step reads from the API instead. Not part of the readiness (a missing
/// optional API holds nothing up).
#[derive(Clone)]
pub struct ReportStore {
    /// The reports, cluster-wide: `namespace/name` → the trimmed report as JSON.
    reports: Arc<RwLock<HashMap<Box<str>, Box<str>>>>,
    /// Their group, version and plural.
    pub api_resource: ApiResource,
    listed: Arc<std::sync::atomic::AtomicBool>,
    started: std::time::Instant,
}

impl ReportStore {
    /// Whether the watch has its list and has not failed since.
    pub fn listed(&self) -> bool {
        self.listed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the watch has its list, waiting for it while the watch is younger than `within`
    /// (right after start, the first rounds would otherwise read every report).
    pub async fn listed_within(&self, within: Duration) -> bool {
        while !self.listed() && self.started.elapsed() < within {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.listed()
    }

    /// The report `name` in `namespace`, as stored (trimmed).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let reports = self.reports.read().unwrap_or_else(|p| p.into_inner());
        let text = reports.get(format!("{namespace}/{name}").as_str())?;
        serde_json::from_str(text).ok().map(Arc::new)
    }

    /// Follows one watch event; `relist` collects a relist's reports until it is complete.
    fn follow(
        &self,
        event: &watcher::Event<DynamicObject>,
        relist: &mut HashMap<Box<str>, Box<str>>,
    ) {
        let entry = |o: &DynamicObject| {
            let id = format!(
                "{}/{}",
                o.metadata.namespace.as_deref().unwrap_or_default(),
                o.metadata.name.as_deref().unwrap_or_default()
            );
            // An object that came from JSON serialises; should it not, it is kept empty and
            // compares as changed.
            let text = serde_json::to_string(o).unwrap_or_else(|_| "{}".into());
            (id.into_boxed_str(), text.into_boxed_str())
        };
        match event {
            watcher::Event::Apply(o) => {
                let (id, text) = entry(o);
                self.reports
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, text);
            }
            watcher::Event::Delete(o) => {
                let (id, _) = entry(o);
                self.reports
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            }
            watcher::Event::Init => relist.clear(),
            watcher::Event::InitApply(o) => {
                let (id, text) = entry(o);
                relist.insert(id, text);
            }
            watcher::Event::InitDone => {
                *self.reports.write().unwrap_or_else(|p| p.into_inner()) = std::mem::take(relist);
            }
        }
    }
}

/// The watch of the PolicyReports with the operator's label (`api_resource`), each trimmed by
/// `trim` before it is stored, and its stream of touched reports.
pub fn report_stream(
    client: &Client,
    api_resource: ApiResource,
    trim: fn(&mut DynamicObject),
) -> (
    ReportStore,
    impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static,
) {
    let listed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = listed.clone();
    let store = ReportStore {
        reports: Arc::default(),
        api_resource: api_resource.clone(),
        listed,
        started: std::time::Instant::now(),
    };
    let reports = store.clone();
    let mut relist = HashMap::new();
    let config = list_config().labels(crate::resources::MANAGED_SELECTOR);
    let stream = watcher(
        Api::<DynamicObject>::all_with(client.clone(), &api_resource),
        config,
    )
    .modify(move |o: &mut DynamicObject| {
        o.metadata.managed_fields = None;
        trim(o);
    })
    .inspect(move |event| match event {
        Ok(event) => {
            reports.follow(event, &mut relist);
            if matches!(event, watcher::Event::InitDone) {
                flag.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        Err(_) => flag.store(false, std::sync::atomic::Ordering::Release),
    })
    .default_backoff()
    .touched_objects();
    (store, stream)
}

/// A back-off of the controller's trigger streams that never waits: each watch backs off on
/// its own (`default_backoff`).
pub struct NoSharedBackoff;

impl Iterator for NoSharedBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for NoSharedBackoff {
    fn reset(&mut self) {}
}

/// An object without its managedFields and kubectl's copy of what it last applied: nothing
/// reads them on onboardings and Ressorts, and they are often the larger part of the object
/// (every writer's fields, the status's too; the whole spec again as text).
pub fn drop_managed_fields<K: Resource>(o: &mut K) {
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Objects per page of a watch's initial list. The controller's watches list at once when it
/// starts, and each holds a page's response and its parsed objects until the page is stored: at
/// kube's default of 500, a restart over 1,000 onboardings with 5,000 workloads peaked at
/// 165 MiB (the converged controller holds 88); at 100 it peaks at 82 (docs/benchmarks.md).
pub const LIST_PAGE: u32 = 100;

/// A watch configuration with the controller's page size for its initial lists.
pub fn list_config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE)
}

/// The annotation in which `kubectl apply` (client-side) keeps the object it last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Keeps an object as it comes.
pub fn keep<K>(_: &mut K) {}

/// A ResourceQuota without its status (usage): the pipeline compares and reads the spec only.
pub fn trim_quota(q: &mut ResourceQuota) {
    q.status = None;
}

/// The onboarding an owned object's label names, as a reconcile request.
pub fn owner_of<K: Resource>(obj: &K) -> Option<ObjectRef<FachverfahrenOnboarding>> {
    onboarding_label(obj).map(|n| ObjectRef::new(&n))
}

/// An object of a kind the conformance rules read, as its store keeps it: stripped of what no
/// rule reads ([`strip_unread_fields`]) and held as compact JSON text, with the name and
/// namespace its store and index are keyed by.
///
/// The text is parsed when a namespace is evaluated, which the evaluation did before as well
/// (it converted the stored object to JSON). Kept as a parsed `serde_json::Value` or a
/// `DynamicObject`, a small Deployment took about 10 KB (a map per object of the tree); as text
/// it takes its length, about a tenth.
#[derive(Clone, Debug)]
pub struct RuleObject {
    /// The object's name (its store is keyed through [`Lookup`], like [`Kept`]).
    pub name: Box<str>,
    /// The object's namespace.
    pub namespace: Option<Box<str>>,
    /// The stripped object, with `apiVersion`, `kind` and its metadata, as compact JSON.
    pub json: Box<str>,
}

impl RuleObject {
    /// Keeps `obj` (with `types` when it carries none: the items of a list do not) stripped of
    /// what no rule reads, as text; `None` when it cannot be serialised.
    pub fn new(mut obj: DynamicObject, types: &kube::api::TypeMeta) -> Option<Self> {
        if obj.types.is_none() {
            obj.types = Some(types.clone());
        }
        let mut value = serde_json::to_value(&obj).ok()?;
        strip_unread_fields(&mut value);
        let json = serde_json::to_string(&value).ok()?.into_boxed_str();
        Some(RuleObject {
            json,
            ..Self::key_of(&obj)
        })
    }

    /// `obj`'s name and namespace, with an empty object as its text.
    fn key_of(obj: &DynamicObject) -> Self {
        RuleObject {
            name: obj.metadata.name.as_deref().unwrap_or_default().into(),
            namespace: obj.metadata.namespace.as_deref().map(Into::into),
            json: "{}".into(),
        }
    }

    /// The object as JSON, for the rules.
    pub fn value(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.json).ok()
    }
}

impl Lookup for RuleObject {
    type DynamicType = ApiResource;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.name))
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.namespace.as_deref().map(Cow::Borrowed)
    }

    fn resource_version(&self) -> Option<Cow<'_, str>> {
        None
    }

    fn uid(&self) -> Option<Cow<'_, str>> {
        None
    }
}

/// A watch event of a kind the rules read, as its store keeps the object (see [`RuleObject`]).
/// An object that cannot be serialised (it came from JSON) is kept with an empty object, so that
/// its deletion and its requeue still follow.
fn rule_event(
    event: watcher::Event<DynamicObject>,
    types: &kube::api::TypeMeta,
) -> watcher::Event<RuleObject> {
    let keep = |o: DynamicObject| {
        let key = RuleObject::key_of(&o);
        RuleObject::new(o, types).unwrap_or(key)
    };
    map_event(event, keep)
}

/// A store of one kind the conformance rules read, with its index by namespace.
#[derive(Clone)]
pub struct KindStore {
    /// Every object of the kind, stripped of what no rule reads, as compact JSON.
    pub store: Store<RuleObject>,
    /// The same objects by namespace.
    pub by_namespace: Index<RuleObject>,
}

/// The stores of the kinds the rules read, and of the ConformanceProfiles.
#[derive(Clone)]
pub struct WorkloadStores {
    /// One store per namespaced kind the rules read.
    pub kinds: Vec<KindStore>,
    /// Every ConformanceProfile.
    pub profiles: Store<ConformanceProfile>,
}

impl WorkloadStores {
    /// The versions of the objects of the kinds the rules read in `namespace`, one per kind.
    pub fn versions(&self, namespace: &str) -> impl Iterator<Item = Version> {
        self.kinds
            .iter()
            .map(move |k| k.by_namespace.version(namespace))
    }

    /// The objects of the kinds the rules read in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = Arc<RuleObject>> {
        self.kinds
            .iter()
            .flat_map(|k| k.by_namespace.get(namespace))
    }
}

/// A stream of changed objects of one kind, with its type information.
pub type KindStream = (
    futures::stream::BoxStream<'static, Result<DynamicObject, watcher::Error>>,
    ApiResource,
);

/// The watch configuration of a kind the rules read, without what the operator's own stores
/// hold already: the objects with its label (quotas, limits, policies, bindings), and every
/// namespace's `default` ServiceAccount. Each object is then held once, not twice.
fn left_to_owned_stores(kind: &WatchedKind, config: watcher::Config) -> watcher::Config {
    match (kind.api_version, kind.kind) {
        ("v1", "ResourceQuota" | "LimitRange")
        | ("networking.k8s.io/v1", "NetworkPolicy")
        | ("rbac.authorization.k8s.io/v1", "RoleBinding") => config.labels(NOT_MANAGED_SELECTOR),
        ("v1", "ServiceAccount") => config.fields("metadata.name!=default"),
        _ => config,
    }
}

/// Everything the operator's label selector ([`crate::resources::MANAGED_SELECTOR`]) leaves out.
const NOT_MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by!=conplus-operator";

/// Builds the stores of the kinds the rules read and the streams that fill them (the
/// controller polls the streams). Kinds the API server does not serve are skipped with a
/// warning: a store that can never fill must not hold up every reconcile.
pub async fn workload_streams(
    client: &Client,
    tracker: &SyncTracker,
) -> (Vec<KindStore>, Vec<KindStream>) {
    let mut stores = Vec::new();
    let mut streams = Vec::new();
    for kind in watched_kinds().iter().filter(|k| k.namespaced) {
        let (group, version) = kind
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", kind.api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind.kind);
        let ar = match kube::discovery::pinned_kind(client, &gvk).await {
            Ok((ar, _)) => ar,
            Err(e) => {
                tracing::warn!(
                    kind = kind.kind,
                    api_version = kind.api_version,
                    "not served, conformance rules on it are skipped: {e}"
                );
                continue;
            }
        };
        let mut writer = reflector::store::Writer::new(ar.clone());
        let reader = writer.as_reader();
        let index = Index::new(namespace_of::<RuleObject>);
        let (store, idx, dyntype) = (reader.clone(), index.clone(), ar.clone());
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        // kube-apiserver leaves apiVersion and kind out of the items of a list (watch events carry
        // them): without them, what the initial list brought is no object to the rules.
        let types = kube::api::TypeMeta {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
        };
        let config = left_to_owned_stores(kind, list_config());
        // Stripped of what no rule reads and kept as text before it is stored.
        let stream = watcher(api, config)
            .default_backoff()
            .map_ok(move |event| rule_event(event, &types))
            // What `reflect` does, which asks for a `Resource` where the store needs a `Lookup`.
            .map_ok(move |event| {
                writer.apply_watcher_event(&event);
                event
            })
            .inspect_ok(move |event| idx.apply(&store, &dyntype, event));
        // The controller's trigger reads the namespace of a touched object only.
        let stream = tracker
            .track(stream)
            .touched_objects()
            .map_ok(|o: RuleObject| DynamicObject {
                types: None,
                metadata: ObjectMeta {
                    name: Some(o.name.into()),
                    namespace: o.namespace.map(Into::into),
                    ..ObjectMeta::default()
                },
                data: serde_json::Value::Null,
            });
        stores.push(KindStore {
            store: reader,
            by_namespace: index,
        });
        streams.push((futures::StreamExt::boxed(stream), ar));
    }
    (stores, streams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ONBOARDING;
    use kube::ResourceExt;

    #[test]
    fn a_kept_object_is_filed_under_its_key_and_onboarding_and_requeues_with_its_label() {
        let mut quota = ResourceQuota::default();
        quota.metadata.name = Some("quota".into());
        quota.metadata.namespace = Some("ns".into());
        quota.labels_mut().insert(ONBOARDING.into(), "fv".into());
        quota.labels_mut().insert("other".into(), "x".into());
        let kept = KeptStore::<ResourceQuota>::new().keep(&quota);
        assert_eq!(kept.object().unwrap(), quota);
        assert_eq!(kept_onboarding(&kept).as_deref(), Some("fv"));
        // The store's key holds name and namespace only; the requeue gets the label too.
        assert_eq!(
            (kept.name(), kept.namespace()),
            (Some("quota".into()), Some("ns".into()))
        );
        let key = kept.key_object();
        assert_eq!(onboarding_label(&key).as_deref(), Some("fv"));
        assert_eq!(key.metadata.namespace.as_deref(), Some("ns"));
        assert!(key.spec.is_none());
    }

    fn kept_policy(ns: &str, name: &str, onboarding: &str) -> Arc<Kept<NetworkPolicy>> {
        let mut p = NetworkPolicy::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.name = Some(name.into());
        p.labels_mut().insert(ONBOARDING.into(), onboarding.into());
        Arc::new(Kept::new(&p))
    }

    #[test]
    fn the_kept_store_answers_by_name_onboarding_and_namespace_and_swaps_a_relist_in_whole() {
        let kept = KeptStore::<NetworkPolicy>::new();
        let mut relist = Vec::new();
        let follow = |e, relist: &mut Vec<_>| kept.follow(&e, relist);
        follow(
            watcher::Event::Apply(kept_policy("a", "x", "one")),
            &mut relist,
        );
        follow(
            watcher::Event::Apply(kept_policy("a", "y", "two")),
            &mut relist,
        );
        assert_eq!(
            kept.get("a", "x").map(|o| o.name.to_string()).as_deref(),
            Some("x")
        );
        assert!(kept.get("b", "x").is_none(), "another namespace");
        assert_eq!(kept.by_namespace.get("a").len(), 2);
        assert_eq!(kept.by_onboarding.get("one").len(), 1);
        follow(
            watcher::Event::Delete(kept_policy("a", "x", "one")),
            &mut relist,
        );
        assert!(kept.get("a", "x").is_none() && kept.by_onboarding.get("one").is_empty());
        // A relist: the old list serves until the new one is complete, then only the new one.
        let version = kept.by_namespace.version("a");
        follow(watcher::Event::Init, &mut relist);
        follow(
            watcher::Event::InitApply(kept_policy("b", "z", "one")),
            &mut relist,
        );
        assert!(kept.get("a", "y").is_some() && kept.get("b", "z").is_none());
        follow(watcher::Event::InitDone, &mut relist);
        assert!(kept.get("a", "y").is_none(), "gone from the new list");
        assert!(kept.get("b", "z").is_some());
        assert_eq!(kept.by_onboarding.get("one").len(), 1);
        assert_ne!(version, kept.by_namespace.version("a"));
        assert!(relist.is_empty());
    }

    #[test]
    fn a_namespace_kept_as_text_is_found_by_name_and_onboarding_and_parses_back_whole() {
        let mut ns = Namespace::default();
        ns.metadata.name = Some("mk-fv-prod".into());
        ns.metadata.resource_version = Some("7".into());
        ns.labels_mut().insert(ONBOARDING.into(), "fv".into());
        ns.annotations_mut().insert("record".into(), "u".into());
        let kept = KeptStore::<Namespace>::new();
        kept.follow(
            &watcher::Event::Apply(Arc::new(Kept::new(&ns))),
            &mut Vec::new(),
        );
        let store = NamespaceStore {
            by_onboarding: kept.by_onboarding.clone(),
            store: Namespaces(kept),
        };
        let found = store.store.get(&ObjectRef::new("mk-fv-prod")).unwrap();
        assert_eq!(*found, ns);
        assert!(store.store.get(&ObjectRef::new("other")).is_none());
        assert_eq!(store.labelled_for("fv").as_slice(), [Arc::new(ns)]);
    }

    #[test]
    fn a_rule_object_is_kept_stripped_as_text_with_its_type_and_reads_back_as_json() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "app", "namespace": "ns", "uid": "u-1",
                "labels": {"app": "app"},
                "annotations": {"note": "x", "conformance.conplus.niedersachsen.de/exception": "y"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
            },
            "spec": {"replicas": 1},
            "status": {"readyReplicas": 1}
        }))
        .unwrap();
        let types = kube::api::TypeMeta {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
        };
        let kept = RuleObject::new(obj, &types).unwrap();
        assert_eq!(&*kept.name, "app");
        assert_eq!(kept.namespace.as_deref(), Some("ns"));
        assert_eq!(
            kept.value().unwrap(),
            serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {
                    "name": "app", "namespace": "ns", "uid": "u-1",
                    "labels": {"app": "app"},
                    "annotations": {"conformance.conplus.niedersachsen.de/exception": "y"}
                },
                "spec": {"replicas": 1}
            })
        );
        assert!(!kept.json.contains(' '), "compact text: {}", kept.json);
    }
}
