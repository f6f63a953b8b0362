//! Secondary indexes over the stores (pure data, no I/O): the objects of a store grouped by
//! one or more keys (a label's value, the namespace, a spec field), so that no reconcile walks
//! a whole store.
//!
//! Each object is held by its `Arc` (the store's own, or the only one): once in a table by
//! namespace and name, and once in the group of each of its keys. The tables find an entry by
//! a hash of the namespace and name read from the object itself (hashbrown's `HashTable`), so
//! no id string is kept beside it; indexes made together ([`Index::by_keys`]) share that table
//! and follow each watch event once; the key strings are shared by every object under them and
//! can be shared by the objects too ([`Index::intern`]). An object costs a pointer per table
//! and the tables' spare room. Before, each index kept per object an id string, a map entry of
//! it to the object and one to its key: heaptrack put 14.7 MB of a 1,000 run's peak heap there
//! (about 470 bytes per owned object for its store's two indexes); with this layout the
//! controller's bytes per managed object went from 2,332 to 1,946 (docs/benchmarks.md,
//! "Indexes that hold a pointer per object").

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::{DefaultHashBuilder, HashTable};
use kube::runtime::reflector::{Lookup, ObjectRef, Store};
use kube::runtime::watcher;

/// The key of an object in an [`Index`]: `None` leaves it out.
pub type KeyFn<K> = for<'a> fn(&'a K) -> Option<Cow<'a, str>>;

/// The version of the objects under one key of an [`Index`]: it differs whenever one of them
/// was added, changed or removed.
pub type Version = (u64, u64);

/// The objects under one key, and how often they changed since the last relist.
struct Group<K> {
    objects: HashTable<Arc<K>>,
    changes: u64,
}

impl<K> Group<K> {
    fn empty() -> Self {
        Group {
            objects: HashTable::new(),
            changes: 0,
        }
    }
}

struct Entries<K> {
    /// Every object, by namespace and name.
    objects: HashTable<Arc<K>>,
    /// Per key function: key → its group. A group stays (empty, without its table) when its
    /// last object goes, so that its version keeps counting.
    groups: Vec<HashMap<Arc<str>, Group<K>>>,
    /// Relists so far: after one, every version is new.
    epoch: u64,
}

impl<K> Entries<K> {
    fn empty(slots: usize, epoch: u64) -> Self {
        Entries {
            objects: HashTable::new(),
            groups: (0..slots).map(|_| HashMap::new()).collect(),
            epoch,
        }
    }
}

/// What the indexes made together share.
struct Shared<K> {
    entries: RwLock<Entries<K>>,
    keys: Box<[KeyFn<K>]>,
    hasher: DefaultHashBuilder,
}

/// A secondary index over a store: its objects grouped by one key. Indexes made together by
/// [`Index::by_keys`] share their table of objects and are kept by one call per event.
pub struct Index<K> {
    shared: Arc<Shared<K>>,
    /// Which key function of the shared entries this index groups by.
    slot: usize,
}

impl<K> Clone for Index<K> {
    fn clone(&self) -> Self {
        Index {
            shared: self.shared.clone(),
            slot: self.slot,
        }
    }
}

/// The namespace (`""` for a cluster-scoped object) and name of `obj`.
fn id_of<K: Lookup>(obj: &K) -> (Cow<'_, str>, Cow<'_, str>) {
    (
        obj.namespace().unwrap_or_default(),
        obj.name().unwrap_or_default(),
    )
}

/// Whether `obj` is the object `name` in `namespace`.
fn is<K: Lookup>(obj: &K, namespace: &str, name: &str) -> bool {
    let (ns, n) = id_of(obj);
    ns == namespace && n == name
}

impl<K: Lookup> Shared<K> {
    fn hash(&self, namespace: &str, name: &str) -> u64 {
        self.hasher.hash_one((namespace, name))
    }

    fn hash_of(&self, obj: &K) -> u64 {
        let (ns, name) = id_of(obj);
        self.hash(&ns, &name)
    }

    fn read(&self) -> RwLockReadGuard<'_, Entries<K>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries<K>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the object `name` in `namespace` out of the table and its groups.
    fn remove(&self, entries: &mut Entries<K>, namespace: &str, name: &str) {
        let hash = self.hash(namespace, name);
        let Ok(found) = entries
            .objects
            .find_entry(hash, |o| is(o.as_ref(), namespace, name))
        else {
            return;
        };
        let (old, _) = found.remove();
        for (slot, key_of) in self.keys.iter().enumerate() {
            let Some(key) = key_of(&old) else { continue };
            let Some(group) = entries.groups[slot].get_mut(key.as_ref()) else {
                continue;
            };
            group.changes += 1;
            if let Ok(held) = group.objects.find_entry(hash, |o| Arc::ptr_eq(o, &old)) {
                held.remove();
            }
            if group.objects.is_empty() {
                group.objects = HashTable::new();
            }
        }
    }

    /// Files `obj` (not filed yet) in the table and under each of its keys.
    fn insert(&self, entries: &mut Entries<K>, obj: Arc<K>) {
        let hash = self.hash_of(&obj);
        let rehash = |o: &Arc<K>| self.hash_of(o);
        for (slot, key_of) in self.keys.iter().enumerate() {
            let Some(key) = key_of(&obj) else { continue };
            let groups = &mut entries.groups[slot];
            if !groups.contains_key(key.as_ref()) {
                groups.insert(Arc::from(key.as_ref()), Group::empty());
            }
            if let Some(group) = groups.get_mut(key.as_ref()) {
                group.changes += 1;
                group.objects.insert_unique(hash, obj.clone(), rehash);
            }
        }
        entries.objects.insert_unique(hash, obj, rehash);
    }
}

impl<K: Lookup> Index<K> {
    /// An empty index keyed by `key_of`.
    pub fn new(key_of: KeyFn<K>) -> Self {
        let [index] = Self::by_keys([key_of]);
        index
    }

    /// Empty indexes keyed by `keys`, one per key function, sharing their table of objects:
    /// following an event through any one of them ([`Index::apply`], `put`, `take`,
    /// `replace_all`) keeps them all.
    pub fn by_keys<const N: usize>(keys: [KeyFn<K>; N]) -> [Self; N] {
        let shared = Arc::new(Shared {
            entries: RwLock::new(Entries::empty(N, 0)),
            keys: keys.into(),
            hasher: DefaultHashBuilder::default(),
        });
        std::array::from_fn(|slot| Index {
            shared: shared.clone(),
            slot,
        })
    }

    /// The objects under `key`, in no particular order.
    pub fn get(&self, key: &str) -> Vec<Arc<K>> {
        let entries = self.shared.read();
        entries.groups[self.slot]
            .get(key)
            .map(|g| g.objects.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The object `name` in `namespace` (`""` for a cluster-scoped one), whatever its keys.
    pub fn get_one(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let hash = self.shared.hash(namespace, name);
        let entries = self.shared.read();
        entries
            .objects
            .find(hash, |o| is(o.as_ref(), namespace, name))
            .cloned()
    }

    /// The key `obj` is filed under now (before its next event is followed).
    pub fn key_for(&self, obj: &K) -> Option<String> {
        let (namespace, name) = id_of(obj);
        let filed = self.get_one(&namespace, &name)?;
        (self.shared.keys[self.slot])(&filed).map(Cow::into_owned)
    }

    /// The version of the objects under `key`.
    pub fn version(&self, key: &str) -> Version {
        let entries = self.shared.read();
        let changes = entries.groups[self.slot]
            .get(key)
            .map(|g| g.changes)
            .unwrap_or(0);
        (entries.epoch, changes)
    }

    /// `key` as the index files objects under it: one string shared by all of them, for an
    /// object about to be filed to hold its key without a copy of its own. A key not known yet
    /// is known from now on (as an empty group), so that the objects of a relist, which are
    /// filed only once it is complete, share it too.
    pub fn intern(&self, key: &str) -> Arc<str> {
        if let Some((held, _)) = self.shared.read().groups[self.slot].get_key_value(key) {
            return held.clone();
        }
        let mut entries = self.shared.write();
        let groups = &mut entries.groups[self.slot];
        if let Some((held, _)) = groups.get_key_value(key) {
            return held.clone();
        }
        let held: Arc<str> = Arc::from(key);
        groups.insert(held.clone(), Group::empty());
        held
    }

    /// Files `obj` under its keys (instead of where it was).
    pub fn put(&self, obj: &Arc<K>) {
        let (namespace, name) = id_of(obj.as_ref());
        let mut entries = self.shared.write();
        self.shared.remove(&mut entries, &namespace, &name);
        self.shared.insert(&mut entries, obj.clone());
    }

    /// Forgets `obj` (deleted).
    pub fn take(&self, obj: &K) {
        let (namespace, name) = id_of(obj);
        let mut entries = self.shared.write();
        self.shared.remove(&mut entries, &namespace, &name);
    }

    /// Files exactly `objs` (a complete list), in a new epoch. The keys known stay known (their
    /// strings are the ones the objects hold), their groups emptied.
    pub fn replace_all(&self, objs: &[Arc<K>]) {
        let mut entries = self.shared.write();
        let mut fresh = Entries::empty(self.shared.keys.len(), entries.epoch.wrapping_add(1));
        for (kept, old) in fresh.groups.iter_mut().zip(entries.groups.iter_mut()) {
            *kept = std::mem::take(old)
                .into_keys()
                .map(|key| (key, Group::empty()))
                .collect();
        }
        for obj in objs {
            let (namespace, name) = id_of(obj.as_ref());
            // A list names each object once; should it not, the last one counts.
            self.shared.remove(&mut fresh, &namespace, &name);
            self.shared.insert(&mut fresh, obj.clone());
        }
        *entries = fresh;
    }
}

impl<K> Index<K>
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    /// Follows one watch event, which `store` has already applied: the index holds the store's
    /// own `Arc`s.
    pub fn apply(&self, store: &Store<K>, dyntype: &K::DynamicType, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(obj) => {
                match store.get(&ObjectRef::from_obj_with(obj, dyntype.clone())) {
                    Some(current) => self.put(&current),
                    None => self.take(obj),
                }
            }
            watcher::Event::Delete(obj) => self.take(obj),
            // The store swaps in the new list at once; so does the index.
            watcher::Event::InitDone => self.replace_all(&store.state()),
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ONBOARDING;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt;
    use kube::runtime::reflector;

    fn cm(ns: &str, name: &str, onboarding: &str) -> ConfigMap {
        let mut o = ConfigMap::default();
        o.metadata.namespace = Some(ns.into());
        o.metadata.name = Some(name.into());
        o.labels_mut().insert(ONBOARDING.into(), onboarding.into());
        o
    }

    fn onboarding(o: &ConfigMap) -> Option<Cow<'_, str>> {
        o.labels()
            .get(ONBOARDING)
            .map(|v| Cow::Borrowed(v.as_str()))
    }

    fn namespace(o: &ConfigMap) -> Option<Cow<'_, str>> {
        o.metadata.namespace.as_deref().map(Cow::Borrowed)
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
        let index = Index::new(onboarding);
        let mut apply = |e| follow(&mut writer, &store, &index, e);
        apply(watcher::Event::Apply(cm("a", "x", "one")));
        apply(watcher::Event::Apply(cm("b", "y", "one")));
        assert_eq!(names(&index, "one"), ["x", "y"]);
        let before = (index.version("one"), index.version("two"));
        // Relabelled: it moves from one key to the other.
        apply(watcher::Event::Apply(cm("a", "x", "two")));
        assert_eq!(names(&index, "one"), ["y"]);
        assert_eq!(names(&index, "two"), ["x"]);
        assert_ne!(before.0, index.version("one"), "one lost an object");
        assert_ne!(before.1, index.version("two"), "two gained an object");
        // The index holds the store's current object, not a copy of an old one.
        let held = index.get("two");
        let stored = store.get(&ObjectRef::new("x").within("a"));
        assert!(stored.is_some_and(|s| Arc::ptr_eq(&s, &held[0])));
        apply(watcher::Event::Delete(cm("b", "y", "one")));
        assert!(index.get("one").is_empty());
        // Emptied and filled again, a key's version does not return to an earlier one.
        let emptied = index.version("one");
        apply(watcher::Event::Apply(cm("b", "y", "one")));
        assert_ne!(emptied, index.version("one"));
        apply(watcher::Event::Delete(cm("b", "y", "one")));
        // A relist that misses a deletion: the new list replaces the index.
        let version = index.version("two");
        apply(watcher::Event::Init);
        apply(watcher::Event::InitApply(cm("c", "z", "two")));
        assert_eq!(
            names(&index, "two"),
            ["x"],
            "the old list serves until the new one is complete"
        );
        apply(watcher::Event::InitDone);
        assert_eq!(names(&index, "two"), ["z"]);
        assert_ne!(version, index.version("two"));
    }

    #[test]
    fn indexes_made_together_follow_one_event_each_by_its_own_key_and_find_an_object_by_name() {
        let [by_onboarding, by_namespace] = Index::by_keys([onboarding, namespace]);
        by_onboarding.put(&Arc::new(cm("a", "x", "one")));
        by_namespace.put(&Arc::new(cm("a", "y", "two")));
        assert_eq!(names(&by_onboarding, "one"), ["x"]);
        assert_eq!(names(&by_onboarding, "two"), ["y"]);
        assert_eq!(names(&by_namespace, "a"), ["x", "y"]);
        assert_eq!(
            by_namespace.key_for(&cm("a", "x", "other")).as_deref(),
            Some("a")
        );
        assert_eq!(
            by_onboarding.key_for(&cm("a", "x", "other")).as_deref(),
            Some("one")
        );
        // Relabelled: it moves by onboarding and stays once in its namespace.
        let namespace_before = by_namespace.version("a");
        by_onboarding.put(&Arc::new(cm("a", "x", "two")));
        assert!(by_onboarding.get("one").is_empty());
        assert_eq!(names(&by_onboarding, "two"), ["x", "y"]);
        assert_eq!(names(&by_namespace, "a"), ["x", "y"]);
        assert_ne!(namespace_before, by_namespace.version("a"), "x changed");
        // Found by namespace and name through either, and gone from both when deleted.
        assert!(by_namespace.get_one("a", "x").is_some());
        assert!(
            by_onboarding.get_one("b", "x").is_none(),
            "another namespace"
        );
        by_namespace.take(&cm("a", "x", "two"));
        assert!(by_onboarding.get_one("a", "x").is_none());
        assert_eq!(names(&by_onboarding, "two"), ["y"]);
        assert_eq!(names(&by_namespace, "a"), ["y"]);
        // A relist through one of them replaces both.
        by_onboarding.replace_all(&[Arc::new(cm("b", "z", "one"))]);
        assert!(by_namespace.get("a").is_empty());
        assert_eq!(names(&by_namespace, "b"), ["z"]);
        assert_eq!(names(&by_onboarding, "one"), ["z"]);
    }

    #[test]
    fn an_interned_key_is_the_string_the_index_files_its_objects_under() {
        let index = Index::new(onboarding);
        let fresh = index.intern("one");
        index.put(&Arc::new(cm("a", "x", "one")));
        let held = index.intern("one");
        assert!(
            Arc::ptr_eq(&fresh, &held),
            "known since it was first asked for"
        );
        assert_eq!(&*held, "one");
        assert_eq!(names(&index, "one"), ["x"], "filed under the interned key");
        // A relist files its objects under the strings they were kept with.
        let relisted = index.intern("two");
        index.replace_all(&[Arc::new(cm("a", "y", "two"))]);
        assert!(Arc::ptr_eq(&relisted, &index.intern("two")));
        assert!(
            Arc::ptr_eq(&held, &index.intern("one")),
            "known keys stay known"
        );
        assert!(index.get("one").is_empty());
    }
}
