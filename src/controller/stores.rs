//! The watches and what they fill (I/O: opens the watches; reading a store is pure): the
//! reflector stores of everything the pipeline reads, with secondary indexes so that no
//! reconcile walks a whole store.
//!
//! - Objects the operator owns (namespaces, quotas, limits, policies, bindings) are indexed
//!   by the onboarding their label names; the namespace store is keyed by name already.
//! - Onboardings are indexed by their Ressort.
//! - The kinds the conformance rules read are indexed by namespace.
//!
//! An index is kept from the same watch events as its store, after the store has applied
//! them, and holds the store's own `Arc`s: it costs a pointer and a key per object.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::drift;
use super::model::OwnedKind;
use super::sync::SyncTracker;
use crate::api::{ConformanceProfile, FachverfahrenOnboarding, Ressort, Verwaltungsaufgabe};
use crate::conformance::engine::{strip_unread_fields, watched_kinds};
use crate::resources::ONBOARDING;

/// The key of an object in an [`Index`]: `None` leaves it out.
pub type KeyFn<K> = fn(&K) -> Option<String>;

/// A secondary index over a reflector store: its objects grouped by one key (a label's value,
/// the namespace, a spec field).
pub struct Index<K: Resource> {
    entries: Arc<RwLock<Entries<K>>>,
    key_of: KeyFn<K>,
}

impl<K: Resource> Clone for Index<K> {
    fn clone(&self) -> Self {
        Index {
            entries: self.entries.clone(),
            key_of: self.key_of,
        }
    }
}

struct Entries<K> {
    /// key → (namespace/name → object).
    by_key: HashMap<String, HashMap<String, Arc<K>>>,
    /// namespace/name → key, to move an object whose key changed.
    key_of_id: HashMap<String, String>,
    /// key → how often an object under it changed since the last relist.
    changes: HashMap<String, u64>,
    /// Relists so far: after one, every version is new.
    epoch: u64,
}

impl<K> Entries<K> {
    fn empty(epoch: u64) -> Self {
        Entries {
            by_key: HashMap::new(),
            key_of_id: HashMap::new(),
            changes: HashMap::new(),
            epoch,
        }
    }
}

/// The version of the objects under one key of an [`Index`]: it differs whenever one of them
/// was added, changed or removed.
pub type Version = (u64, u64);

fn id_of<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

impl<K> Index<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    /// An empty index keyed by `key_of`.
    pub fn new(key_of: KeyFn<K>) -> Self {
        Index {
            entries: Arc::new(RwLock::new(Entries::empty(0))),
            key_of,
        }
    }

    /// The objects under `key`, in no particular order.
    pub fn get(&self, key: &str) -> Vec<Arc<K>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .by_key
            .get(key)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The key `obj` is filed under now (before its next event is applied).
    pub fn key_for(&self, obj: &K) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.key_of_id.get(&id_of(obj)).cloned()
    }

    /// The version of the objects under `key`.
    pub fn version(&self, key: &str) -> Version {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        (
            entries.epoch,
            entries.changes.get(key).copied().unwrap_or(0),
        )
    }

    /// Follows one watch event, which `store` has already applied.
    pub fn apply(&self, store: &Store<K>, dyntype: &K::DynamicType, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(obj) => {
                let current = store.get(&ObjectRef::from_obj_with(obj, dyntype.clone()));
                let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
                entries.remove(&id_of(obj));
                if let (Some(key), Some(current)) = ((self.key_of)(obj), current) {
                    entries.insert(key, id_of(obj), current);
                }
            }
            watcher::Event::Delete(obj) => {
                let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
                entries.remove(&id_of(obj));
            }
            // The store swaps in the new list at once; so does the index.
            watcher::Event::InitDone => {
                let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
                let mut fresh = Entries::empty(entries.epoch.wrapping_add(1));
                for obj in store.state() {
                    if let Some(key) = (self.key_of)(&obj) {
                        fresh.insert(key, id_of(obj.as_ref()), obj);
                    }
                }
                *entries = fresh;
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }
}

impl<K> Entries<K> {
    fn remove(&mut self, id: &str) {
        if let Some(old) = self.key_of_id.remove(id) {
            *self.changes.entry(old.clone()).or_default() += 1;
            if let Some(group) = self.by_key.get_mut(&old) {
                group.remove(id);
                if group.is_empty() {
                    self.by_key.remove(&old);
                }
            }
        }
    }

    fn insert(&mut self, key: String, id: String, obj: Arc<K>) {
        *self.changes.entry(key.clone()).or_default() += 1;
        self.by_key
            .entry(key.clone())
            .or_default()
            .insert(id.clone(), obj);
        self.key_of_id.insert(id, key);
    }
}

/// The onboarding an object's label names.
pub fn onboarding_label<K: Resource>(obj: &K) -> Option<String> {
    obj.meta().labels.as_ref()?.get(ONBOARDING).cloned()
}

/// The namespace of an object.
pub fn namespace_of<K: Resource>(obj: &K) -> Option<String> {
    obj.meta().namespace.clone()
}

/// The Ressort an onboarding belongs to.
pub fn ressort_of(fvo: &FachverfahrenOnboarding) -> Option<String> {
    Some(fvo.spec.ressort.clone())
}

/// A store of objects the operator owns, with its index by onboarding.
#[derive(Clone)]
pub struct OwnedStore<K: Resource<DynamicType = ()> + 'static> {
    /// Every object of the kind with the operator's label.
    pub store: Store<K>,
    /// The same objects by the onboarding their label names.
    pub by_onboarding: Index<K>,
}

/// The stores of the namespaced kinds the operator owns.
#[derive(Clone)]
pub struct OwnedStores {
    /// ResourceQuotas.
    pub quotas: OwnedStore<ResourceQuota>,
    /// LimitRanges.
    pub limit_ranges: OwnedStore<LimitRange>,
    /// NetworkPolicies.
    pub network_policies: OwnedStore<NetworkPolicy>,
    /// RoleBindings.
    pub role_bindings: OwnedStore<RoleBinding>,
}

impl OwnedStores {
    /// The objects of `kind` labelled for `onboarding`, as JSON.
    pub fn labelled_for(
        &self,
        kind: OwnedKind,
        onboarding: &str,
    ) -> Vec<(ObjectMeta, serde_json::Value)> {
        fn json<K: Resource + serde::Serialize>(
            objs: Vec<Arc<K>>,
        ) -> Vec<(ObjectMeta, serde_json::Value)> {
            objs.into_iter()
                .filter_map(|o| Some((o.meta().clone(), serde_json::to_value(o.as_ref()).ok()?)))
                .collect()
        }
        match kind {
            OwnedKind::LimitRange => json(self.limit_ranges.by_onboarding.get(onboarding)),
            OwnedKind::NetworkPolicy => json(self.network_policies.by_onboarding.get(onboarding)),
            OwnedKind::ResourceQuota => json(self.quotas.by_onboarding.get(onboarding)),
            OwnedKind::RoleBinding => json(self.role_bindings.by_onboarding.get(onboarding)),
        }
    }
}

/// The reflector stores the controller keeps; all filtered to what the operator manages,
/// except ServiceAccounts (only those named `default`) and Ressorts.
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
    /// Namespaces with the operator's label.
    pub namespaces: OwnedStore<Namespace>,
    /// The namespaced objects with the operator's label.
    pub owned: OwnedStores,
    /// Every namespace's `default` ServiceAccount.
    pub service_accounts: Store<ServiceAccount>,
    /// The price list's ConfigMap (`--prices`), when one is configured.
    pub prices: Option<Store<ConfigMap>>,
    /// The kinds the conformance rules read.
    pub workloads: WorkloadStores,
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
    let index = Index::new(onboarding_label::<K>);
    let (store, idx) = (reader.clone(), index.clone());
    // Only other managers' writes to the operator's objects are read: dropping the rest keeps
    // the stores at about half the memory, and a converged object of the operator's carries none.
    let stream = watcher(Api::<K>::all(client.clone()), config)
        .default_backoff()
        .modify(move |o: &mut K| {
            let meta = o.meta_mut();
            let entries = meta.managed_fields.take();
            meta.managed_fields = if foreign_fields {
                drift::foreign_entries_only(entries)
            } else {
                None
            };
            trim(o);
        })
        .reflect(writer)
        .inspect_ok(move |event| idx.apply(&store, &(), event));
    let stream = tracker.track(stream).touched_objects();
    (
        OwnedStore {
            store: reader,
            by_onboarding: index,
        },
        stream,
    )
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

/// A store of one kind the conformance rules read, with its index by namespace.
#[derive(Clone)]
pub struct KindStore {
    /// Every object of the kind, stripped of what no rule reads.
    pub store: Store<DynamicObject>,
    /// The same objects by namespace.
    pub by_namespace: Index<DynamicObject>,
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
    /// The version of the objects of the kinds the rules read in `namespace`.
    pub fn version(&self, namespace: &str) -> Vec<Version> {
        self.kinds
            .iter()
            .map(|k| k.by_namespace.version(namespace))
            .collect()
    }

    /// The objects of the kinds the rules read in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = Arc<DynamicObject>> {
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
        let writer = reflector::store::Writer::new(ar.clone());
        let reader = writer.as_reader();
        let index = Index::new(namespace_of::<DynamicObject>);
        let (store, idx, dyntype) = (reader.clone(), index.clone(), ar.clone());
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        // kube-apiserver leaves apiVersion and kind out of the items of a list (watch events carry
        // them): without them, what the initial list brought is no object to the rules.
        let types = kube::api::TypeMeta {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
        };
        let stream = watcher(api, watcher::Config::default().page_size(500))
            .default_backoff()
            .modify(move |o: &mut DynamicObject| {
                if o.types.is_none() {
                    o.types = Some(types.clone());
                }
                // Strip what no rule reads before it is stored.
                if let Ok(mut v) = serde_json::to_value(&*o) {
                    strip_unread_fields(&mut v);
                    if let Ok(stripped) = serde_json::from_value::<DynamicObject>(v) {
                        *o = stripped;
                    }
                }
            })
            .reflect(writer)
            .inspect_ok(move |event| idx.apply(&store, &dyntype, event));
        let stream = tracker.track(stream).touched_objects();
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
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(ns: &str, name: &str, onboarding: &str) -> ConfigMap {
        let mut o = ConfigMap::default();
        o.metadata.namespace = Some(ns.into());
        o.metadata.name = Some(name.into());
        o.labels_mut().insert(ONBOARDING.into(), onboarding.into());
        o
    }

    /// Applies `event` to the store and the index, as the watch stream does.
    fn follow(
        writer: &mut reflector::store::Writer<ConfigMap>,
        store: &Store<ConfigMap>,
        index: &Index<ConfigMap>,
        event: watcher::Event<ConfigMap>,
    ) {
        writer.apply_watcher_event(&event);
        index.apply(store, &(), &event);
    }

    fn names(index: &Index<ConfigMap>, key: &str) -> Vec<String> {
        let mut n: Vec<_> = index.get(key).iter().map(|o| o.name_any()).collect();
        n.sort();
        n
    }

    #[test]
    fn the_index_follows_changes_of_key_deletions_and_a_relist_and_versions_move() {
        let mut writer = reflector::store::Writer::<ConfigMap>::default();
        let store = writer.as_reader();
        let index = Index::new(onboarding_label::<ConfigMap>);
        follow(
            &mut writer,
            &store,
            &index,
            watcher::Event::Apply(cm("a", "x", "one")),
        );
        follow(
            &mut writer,
            &store,
            &index,
            watcher::Event::Apply(cm("b", "y", "one")),
        );
        assert_eq!(names(&index, "one"), ["x", "y"]);
        let before = (index.version("one"), index.version("two"));
        // Relabelled: it moves from one key to the other.
        follow(
            &mut writer,
            &store,
            &index,
            watcher::Event::Apply(cm("a", "x", "two")),
        );
        assert_eq!(names(&index, "one"), ["y"]);
        assert_eq!(names(&index, "two"), ["x"]);
        assert_ne!(before.0, index.version("one"), "one lost an object");
        assert_ne!(before.1, index.version("two"), "two gained an object");
        // The index holds the store's current object, not a copy of an old one.
        let held = index.get("two");
        let stored = store.get(&ObjectRef::new("x").within("a"));
        assert!(stored.is_some_and(|s| Arc::ptr_eq(&s, &held[0])));
        follow(
            &mut writer,
            &store,
            &index,
            watcher::Event::Delete(cm("b", "y", "one")),
        );
        assert!(index.get("one").is_empty());
        // A relist that misses a deletion: the new list replaces the index.
        let version = index.version("two");
        follow(&mut writer, &store, &index, watcher::Event::Init);
        follow(
            &mut writer,
            &store,
            &index,
            watcher::Event::InitApply(cm("c", "z", "two")),
        );
        assert_eq!(
            names(&index, "two"),
            ["x"],
            "the old list serves until the new one is complete"
        );
        follow(&mut writer, &store, &index, watcher::Event::InitDone);
        assert_eq!(names(&index, "two"), ["z"]);
        assert_ne!(version, index.version("two"));
    }
}
