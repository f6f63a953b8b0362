//! The in-memory object store: one lock over every resource, a global resourceVersion counter,
//! a bounded event history for watch resumption and a broadcast channel for live watches.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast, watch};

use crate::registry::{GroupResource, ResourceDef};

/// `(namespace, name)`; namespace is empty for cluster-scoped objects. Sorted as apiserver lists.
pub type ObjKey = (String, String);

/// A watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in history and fanned out to watchers.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub gr: GroupResource,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The object before the change (for selector transitions).
    pub old: Option<Arc<Value>>,
}

/// Everything under the store lock.
pub struct State {
    /// The latest resourceVersion handed out.
    pub rv: u64,
    pub defs: BTreeMap<GroupResource, Arc<ResourceDef>>,
    pub objects: HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    /// Watches from a version older than this get 410 Gone.
    pub compacted_rv: u64,
    history_cap: usize,
    events: broadcast::Sender<Arc<Event>>,
    /// Set when a deletion may let the garbage collector act.
    pub gc_pending: bool,
    /// What the garbage collector looks at ([`crate::gc`]): the objects that have
    /// ownerReferences or a deletionTimestamp. Kept by `put` and `remove`, so that a pass
    /// costs what is owned or deleting, not every object in the store (a pass every second over
    /// 300,000 objects held the write lock most of the time).
    pub gc_watch: BTreeSet<(GroupResource, ObjKey)>,
    /// The objects of `gc_watch` with a deletionTimestamp: while there are any, every pass looks at
    /// all of `gc_watch`.
    pub gc_deleting: BTreeSet<(GroupResource, ObjKey)>,
    /// The objects of `gc_watch` written since the collector's last pass: with nothing deleting and
    /// nothing removed since, a pass looks at these only (a dependent whose owner never existed).
    pub gc_fresh: BTreeSet<(GroupResource, ObjKey)>,
    /// Set when an object was removed (or a resource's storage dropped) since the last pass: its
    /// dependents may have lost their owner, so the next pass looks at all of `gc_watch`.
    pub gc_full: bool,
    /// Every object by uid, for the collector's owner lookups.
    pub by_uid: HashMap<String, Arc<Value>>,
    /// The names of the ClusterRoles with an `aggregationRule`, kept by `put` and `remove`: whether
    /// a ClusterRole write concerns aggregation ([`crate::rbac::concerns_aggregation`]) is decided
    /// over these few instead of every ClusterRole (one per onboarding, by the ten thousand).
    pub aggregating: BTreeSet<String>,
}

/// Whether `obj` of `gr` is a ClusterRole with an `aggregationRule`.
fn aggregating(gr: &GroupResource, obj: &Value) -> bool {
    is_cluster_role(gr) && obj.get("aggregationRule").is_some_and(|r| !r.is_null())
}

fn is_cluster_role(gr: &GroupResource) -> bool {
    gr.group == "rbac.authorization.k8s.io" && gr.resource == "clusterroles"
}

/// Whether the garbage collector has to look at `obj`: it has owners or is being deleted.
fn gc_relevant(obj: &Value) -> bool {
    let Some(meta) = obj.get("metadata") else {
        return false;
    };
    meta.get("ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty())
        || meta.get("deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// A consistent copy of a list's items, kept so that `continue` pages read the same version.
struct Snapshot {
    items: Arc<Vec<Arc<Value>>>,
    rv: u64,
    created: Instant,
}

/// The shared store.
pub struct Store {
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Event>>,
    /// Bumped to end every open watch.
    closer: watch::Sender<u64>,
    /// Wakes the garbage collector.
    pub gc_notify: Notify,
    snapshots: Mutex<HashMap<u64, Snapshot>>,
    next_snapshot: AtomicU64,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Service cluster IPs handed out.
    pub next_ip: AtomicU64,
}

/// How long a paged list's snapshot stays valid for `continue` (apiserver: until compaction, ~5m).
const SNAPSHOT_TTL: Duration = Duration::from_secs(300);

impl Store {
    /// An empty store with the given history size and the built-in kinds registered.
    pub fn new(history_cap: usize, bookmark_interval: Duration, defs: Vec<ResourceDef>) -> Self {
        let (events, _) = broadcast::channel(65_536);
        let (closer, _) = watch::channel(0);
        let state = State {
            rv: 0,
            defs: defs.into_iter().map(|d| (d.key(), Arc::new(d))).collect(),
            objects: HashMap::new(),
            history: VecDeque::new(),
            compacted_rv: 0,
            history_cap: history_cap.max(1),
            events: events.clone(),
            gc_pending: false,
            gc_watch: BTreeSet::new(),
            gc_deleting: BTreeSet::new(),
            gc_fresh: BTreeSet::new(),
            gc_full: true,
            by_uid: HashMap::new(),
            aggregating: BTreeSet::new(),
        };
        Self {
            state: RwLock::new(state),
            events,
            closer,
            gc_notify: Notify::new(),
            snapshots: Mutex::new(HashMap::new()),
            next_snapshot: AtomicU64::new(1),
            bookmark_interval,
            next_ip: AtomicU64::new(10),
        }
    }

    /// Read access (never held across an await).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access (never held across an await).
    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver of live events; subscribe under the read lock to not miss any.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// A receiver that changes when watches must close.
    pub fn closer(&self) -> watch::Receiver<u64> {
        self.closer.subscribe()
    }

    /// Ends every open watch.
    pub fn close_watches(&self) {
        self.closer.send_modify(|n| *n += 1);
    }

    /// Forgets history and list snapshots (watches from older versions get 410).
    pub fn compact(&self) {
        let mut st = self.write();
        st.history.clear();
        st.compacted_rv = st.rv;
        drop(st);
        if let Ok(mut s) = self.snapshots.lock() {
            s.clear();
        }
    }

    /// Keeps `items` for later pages; returns the snapshot id.
    pub fn save_snapshot(&self, items: Arc<Vec<Arc<Value>>>, rv: u64) -> u64 {
        let id = self.next_snapshot.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.snapshots.lock() {
            let now = Instant::now();
            s.retain(|_, snap| now.duration_since(snap.created) < SNAPSHOT_TTL);
            s.insert(
                id,
                Snapshot {
                    items,
                    rv,
                    created: now,
                },
            );
        }
        id
    }

    /// The snapshot of a continue token, if still kept.
    pub fn snapshot(&self, id: u64) -> Option<(Arc<Vec<Arc<Value>>>, u64)> {
        let s = self.snapshots.lock().ok()?;
        s.get(&id).map(|snap| (snap.items.clone(), snap.rv))
    }
}

impl State {
    /// The definition serving `group`/`plural`.
    pub fn def(&self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.defs
            .get(&GroupResource {
                group: group.to_string(),
                resource: plural.to_string(),
            })
            .cloned()
    }

    /// The stored object.
    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(gr)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of a resource (in key order), optionally only one namespace.
    pub fn list(&self, gr: &GroupResource, ns: Option<&str>) -> Vec<Arc<Value>> {
        let Some(map) = self.objects.get(gr) else {
            return Vec::new();
        };
        match ns {
            None => map.values().cloned().collect(),
            Some(ns) => map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// Whether any object of any resource lives in `ns`.
    pub fn namespace_is_empty(&self, ns: &str) -> bool {
        self.objects.iter().all(|(_, map)| {
            map.range((ns.to_string(), String::new())..)
                .next()
                .is_none_or(|((n, _), _)| n != ns)
        })
    }

    fn push_event(&mut self, ev: Event) {
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        // No receivers is fine.
        let _ = self.events.send(ev);
    }

    /// Stores `obj` with a new resourceVersion and emits ADDED or MODIFIED.
    pub fn put(&mut self, gr: &GroupResource, mut obj: Value) -> Arc<Value> {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        crate::stored::compact(&mut obj);
        let ns = crate::meta::namespace_of(&obj).to_string();
        let name = crate::meta::name_of(&obj).to_string();
        let obj = Arc::new(obj);
        let key = (ns.clone(), name);
        let old = self
            .objects
            .entry(gr.clone())
            .or_default()
            .insert(key.clone(), obj.clone());
        if let Some(old) = &old {
            self.by_uid.remove(crate::meta::uid_of(old));
        }
        let uid = crate::meta::uid_of(&obj);
        if !uid.is_empty() {
            self.by_uid.insert(uid.to_string(), obj.clone());
        }
        if aggregating(gr, &obj) {
            self.aggregating.insert(key.1.clone());
        } else if is_cluster_role(gr) {
            self.aggregating.remove(&key.1);
        }
        let entry = (gr.clone(), key);
        if crate::meta::is_deleting(&obj) {
            self.gc_deleting.insert(entry.clone());
        } else if old.is_some() {
            self.gc_deleting.remove(&entry);
        }
        if gc_relevant(&obj) {
            self.gc_fresh.insert(entry.clone());
            self.gc_watch.insert(entry);
        } else if old.is_some() {
            self.gc_fresh.remove(&entry);
            self.gc_watch.remove(&entry);
        }
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.push_event(Event {
            rv: self.rv,
            gr: gr.clone(),
            kind,
            object: obj.clone(),
            old,
        });
        obj
    }

    /// Removes an object, emitting DELETED with the object at a new resourceVersion.
    pub fn remove(&mut self, gr: &GroupResource, ns: &str, name: &str) -> Option<Arc<Value>> {
        let old = self
            .objects
            .get_mut(gr)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.unindex(gr, &old);
        self.rv += 1;
        let mut obj = (*old).clone();
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let obj = Arc::new(obj);
        self.push_event(Event {
            rv: self.rv,
            gr: gr.clone(),
            kind: EventType::Deleted,
            object: obj.clone(),
            old: Some(old),
        });
        self.gc_pending = true;
        self.gc_full = true;
        Some(obj)
    }

    /// Drops every object of `gr` without events of their own (a deleted CRD's storage).
    pub fn drop_resource(&mut self, gr: &GroupResource) {
        for obj in self
            .objects
            .remove(gr)
            .into_iter()
            .flat_map(BTreeMap::into_values)
        {
            self.unindex(gr, &obj);
        }
        self.gc_full = true;
    }

    /// Forgets `obj` (of `gr`) in the garbage collector's indexes.
    fn unindex(&mut self, gr: &GroupResource, obj: &Value) {
        let uid = crate::meta::uid_of(obj);
        if self.by_uid.get(uid).is_some_and(|o| {
            crate::meta::name_of(o) == crate::meta::name_of(obj)
                && crate::meta::namespace_of(o) == crate::meta::namespace_of(obj)
        }) {
            self.by_uid.remove(uid);
        }
        let key = (
            crate::meta::namespace_of(obj).to_string(),
            crate::meta::name_of(obj).to_string(),
        );
        if is_cluster_role(gr) {
            self.aggregating.remove(&key.1);
        }
        let entry = (gr.clone(), key);
        self.gc_deleting.remove(&entry);
        self.gc_fresh.remove(&entry);
        self.gc_watch.remove(&entry);
    }

    /// Events of `gr` after `rv`, or `None` when `rv` is older than the retained history.
    pub fn events_since(&self, gr: &GroupResource, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv < self.compacted_rv {
            return None;
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Some(
            self.history
                .iter()
                .skip(start)
                .filter(|e| &e.gr == gr)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str, uid: &str, extra: Value) -> Value {
        let mut meta = json!({"name": name, "namespace": "default", "uid": uid});
        if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
    }

    fn watched(st: &State, gr: &GroupResource) -> Vec<String> {
        st.gc_watch
            .iter()
            .filter(|(g, _)| g == gr)
            .map(|(_, (_, name))| name.clone())
            .collect()
    }

    #[test]
    fn the_collectors_index_holds_exactly_the_owned_and_deleting_objects_through_updates() {
        let store = Store::new(100, Duration::from_secs(60), crate::registry::builtins());
        let mut st = store.write();
        let gr = GroupResource {
            group: String::new(),
            resource: "configmaps".into(),
        };
        let owner = json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
            "name": "owner", "uid": "u-owner"}]});
        st.put(&gr, cm("owner", "u-owner", json!({})));
        st.put(&gr, cm("plain", "u-plain", json!({})));
        st.put(&gr, cm("dependent", "u-dep", owner.clone()));
        assert_eq!(watched(&st, &gr), ["dependent"]);
        // Losing its owners takes an object out; being deleted puts one in.
        st.put(&gr, cm("dependent", "u-dep", json!({})));
        st.put(
            &gr,
            cm(
                "plain",
                "u-plain",
                json!({"deletionTimestamp": "2026-12-03T00:00:00Z"}),
            ),
        );
        assert_eq!(watched(&st, &gr), ["plain"]);
        let deleting: Vec<_> = st.gc_deleting.iter().map(|(_, (_, n))| n.clone()).collect();
        assert_eq!(deleting, ["plain"]);
        let fresh: Vec<_> = st.gc_fresh.iter().map(|(_, (_, n))| n.clone()).collect();
        assert_eq!(
            fresh,
            ["plain"],
            "what lost its owners is not fresh any more"
        );
        assert!(st.by_uid.contains_key("u-owner") && st.by_uid.contains_key("u-dep"));
        // Removed objects leave both indexes.
        st.gc_full = false;
        st.remove(&gr, "default", "plain");
        assert!(watched(&st, &gr).is_empty());
        assert!(st.gc_deleting.is_empty() && st.gc_fresh.is_empty());
        assert!(
            st.gc_full,
            "a removal makes the next pass look at everything"
        );
        assert!(!st.by_uid.contains_key("u-plain"));
        // A dropped resource (a deleted CRD's storage) leaves them too.
        st.put(&gr, cm("dependent", "u-dep", owner));
        st.drop_resource(&gr);
        assert!(st.gc_watch.is_empty() && st.by_uid.is_empty());
    }

    #[test]
    fn the_aggregating_index_holds_exactly_the_cluster_roles_with_an_aggregation_rule() {
        let store = Store::new(100, Duration::from_secs(60), crate::registry::builtins());
        let mut st = store.write();
        let roles = GroupResource {
            group: "rbac.authorization.k8s.io".into(),
            resource: "clusterroles".into(),
        };
        let role = |name: &str, rule: Value| {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "uid": format!("u-{name}")}, "aggregationRule": rule})
        };
        let rule = json!({"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]});
        let before = st.aggregating.clone();
        st.put(&roles, role("sum", rule.clone()));
        st.put(&roles, role("plain", Value::Null));
        let added = |st: &State| {
            st.aggregating
                .difference(&before)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(added(&st), ["sum"]);
        // Gaining and losing the rule moves a role in and out; so does its removal.
        st.put(&roles, role("plain", rule.clone()));
        st.put(&roles, role("sum", Value::Null));
        assert_eq!(added(&st), ["plain"]);
        st.remove(&roles, "", "plain");
        assert!(added(&st).is_empty());
        // A Role (namespaced) with the same field is not a ClusterRole.
        let namespaced = GroupResource {
            group: "rbac.authorization.k8s.io".into(),
            resource: "roles".into(),
        };
        st.put(&namespaced, role("ns-role", rule));
        assert!(added(&st).is_empty());
    }
}
