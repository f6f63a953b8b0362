//! An object the operator owns, as its store keeps it ([`Kept`], pure): its metadata and its
//! body as compact JSON texts that objects share where they are equal, and what differs
//! from object to object (name, uid, resourceVersion, applied hash) packed beside them.
//!
//! What the pipeline reads of an owned object is JSON (observe hands the apply and drift
//! steps the objects as JSON, the rules read JSON): [`Kept::value`] puts the object together
//! from its parts. Most of an owned object's text is the same in many objects: every
//! `conplus-allow-dns` policy has the same spec, every object of an environment the same
//! labels and ownership record. Kept whole, an object's text took about 700 bytes (a third of
//! the controller's heap at 1,000 onboardings, heaptrack); split, an object holds its name,
//! a few numbers and two pointers to texts it shares (see docs/benchmarks.md, "Owned objects
//! as shared texts").
//!
//! Left out: an object's `creationTimestamp` and `generation`, which nothing reads of the
//! operator's objects or of namespaces.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::reflector::Lookup;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::resources::{APPLIED_HASH, MANAGED_BY, MANAGED_BY_VALUE, ONBOARDING};

/// An object the operator owns, as its store keeps it (see the module docs). Its name,
/// namespace and onboarding are what the store's indexes file it under; its namespace and
/// onboarding the interned strings of those indexes ([`super::stores::KeptStore::keep`]).
pub struct Kept<K> {
    /// The object's name.
    pub name: Box<str>,
    /// The object's namespace.
    pub namespace: Option<Arc<str>>,
    /// The onboarding the object's label names (the index key and the requeue).
    pub onboarding: Option<Arc<str>>,
    /// The metadata without what the other fields hold, as compact JSON (shared).
    meta: Arc<str>,
    /// The object without `apiVersion`, `kind` and `metadata`, as compact JSON (shared).
    body: Arc<str>,
    /// The per-object values taken out of the metadata.
    packed: Packed,
    kind: PhantomData<fn() -> K>,
}

/// The values that differ from object to object, taken out of the metadata where they have
/// their usual form (what does not is left in the metadata text as it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Packed {
    /// `metadata.uid`, a UUID in its canonical form.
    uid: Option<[u8; 16]>,
    /// `metadata.resourceVersion`, a decimal number.
    resource_version: Option<u64>,
    /// The applied-hash annotation, 16 hex digits.
    applied_hash: Option<u64>,
    /// Whether the managed-by label names the operator.
    managed_by: bool,
}

impl<K> Clone for Kept<K> {
    fn clone(&self) -> Self {
        Kept {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            onboarding: self.onboarding.clone(),
            meta: self.meta.clone(),
            body: self.body.clone(),
            packed: self.packed,
            kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Kept<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("meta", &self.meta)
            .field("body", &self.body)
            .field("packed", &self.packed)
            .finish()
    }
}

impl<K: Resource<DynamicType = ()>> Lookup for Kept<K> {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        K::kind(&())
    }

    fn group(_: &()) -> Cow<'_, str> {
        K::group(&())
    }

    fn version(_: &()) -> Cow<'_, str> {
        K::version(&())
    }

    fn api_version(_: &()) -> Cow<'_, str> {
        K::api_version(&())
    }

    fn plural(_: &()) -> Cow<'_, str> {
        K::plural(&())
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

impl<K> Kept<K>
where
    K: Resource<DynamicType = ()> + Default + Serialize + DeserializeOwned,
{
    /// Keeps `obj`; its namespace and onboarding as they come (see [`Kept::pack`]).
    pub fn new(obj: &K) -> Self {
        Self::pack(obj, (|s: &str| s.into(), |s: &str| s.into()))
    }

    /// Keeps `obj`, its namespace and onboarding as `intern` gives them. An object that
    /// cannot be serialised (it came from JSON) is kept with its key and nothing else, so
    /// that its deletion and its requeue still follow.
    pub fn pack(obj: &K, intern: (impl Fn(&str) -> Arc<str>, impl Fn(&str) -> Arc<str>)) -> Self {
        let meta = obj.meta();
        let (namespace, onboarding) = intern;
        let mut kept = Kept {
            name: meta.name.as_deref().unwrap_or_default().into(),
            namespace: meta.namespace.as_deref().map(namespace),
            onboarding: onboarding_key(obj).map(|o| onboarding(&o)),
            meta: TEXTS.intern("{}"),
            body: TEXTS.intern("{}"),
            packed: Packed::default(),
            kind: PhantomData,
        };
        if let Ok(Value::Object(mut body)) = serde_json::to_value(obj) {
            body.remove("apiVersion");
            body.remove("kind");
            let mut meta = match body.remove("metadata") {
                Some(Value::Object(meta)) => meta,
                _ => Map::new(),
            };
            kept.packed = kept.take_out(&mut meta);
            kept.meta = TEXTS.intern(&Value::Object(meta).to_string());
            kept.body = TEXTS.intern(&Value::Object(body).to_string());
        }
        kept
    }

    /// Takes out of `meta` what this object's fields and [`Packed`] hold, and what is not
    /// kept (creation time, generation).
    fn take_out(&self, meta: &mut Map<String, Value>) -> Packed {
        meta.remove("creationTimestamp");
        meta.remove("generation");
        if !self.name.is_empty() {
            meta.remove("name");
        }
        if self.namespace.is_some() {
            meta.remove("namespace");
        }
        let uid = take_if(meta, "uid", |s| {
            let uid = uuid_bytes(s)?;
            (uuid_text(&uid) == s).then_some(uid)
        });
        let resource_version = take_if(meta, "resourceVersion", |s| {
            let rv: u64 = s.parse().ok()?;
            (rv.to_string() == s).then_some(rv)
        });
        let mut managed_by = false;
        if let Some(Value::Object(labels)) = meta.get_mut("labels") {
            if self.onboarding.is_some() {
                labels.remove(ONBOARDING);
            }
            managed_by = take_if(labels, MANAGED_BY, |s| {
                (s == MANAGED_BY_VALUE).then_some(())
            })
            .is_some();
            if labels.is_empty() && (self.onboarding.is_some() || managed_by) {
                meta.remove("labels");
            }
        }
        let mut applied_hash = None;
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            applied_hash = take_if(annotations, APPLIED_HASH, |s| {
                let hash = u64::from_str_radix(s, 16).ok()?;
                (format!("{hash:016x}") == s).then_some(hash)
            });
            if annotations.is_empty() && applied_hash.is_some() {
                meta.remove("annotations");
            }
        }
        Packed {
            uid,
            resource_version,
            applied_hash,
            managed_by,
        }
    }

    /// The object as JSON, with its `apiVersion` and `kind`.
    pub fn value(&self) -> Option<Value> {
        let Value::Object(mut object) = serde_json::from_str(&self.body).ok()? else {
            return None;
        };
        let Value::Object(mut meta) = serde_json::from_str(&self.meta).ok()? else {
            return None;
        };
        if !self.name.is_empty() {
            meta.insert("name".into(), self.name.as_ref().into());
        }
        if let Some(namespace) = &self.namespace {
            meta.insert("namespace".into(), namespace.as_ref().into());
        }
        let packed = &self.packed;
        if let Some(uid) = &packed.uid {
            meta.insert("uid".into(), uuid_text(uid).into());
        }
        if let Some(rv) = packed.resource_version {
            meta.insert("resourceVersion".into(), rv.to_string().into());
        }
        let mut labels = Vec::new();
        if let Some(onboarding) = &self.onboarding {
            labels.push((ONBOARDING, onboarding.to_string()));
        }
        if packed.managed_by {
            labels.push((MANAGED_BY, MANAGED_BY_VALUE.to_string()));
        }
        put_back(&mut meta, "labels", labels);
        let annotations = packed
            .applied_hash
            .map(|h| (APPLIED_HASH, format!("{h:016x}")));
        put_back(&mut meta, "annotations", annotations);
        object.insert("metadata".into(), Value::Object(meta));
        object.insert("apiVersion".into(), K::api_version(&()).into());
        object.insert("kind".into(), K::kind(&()).into());
        Some(Value::Object(object))
    }

    /// The object, typed.
    pub fn object(&self) -> Option<K> {
        serde_json::from_value(self.value()?).ok()
    }

    /// The object as JSON with its metadata, typed.
    pub fn value_and_meta(&self) -> Option<(ObjectMeta, Value)> {
        let value = self.value()?;
        let meta = ObjectMeta::deserialize(value.get("metadata")?).ok()?;
        Some((meta, value))
    }

    /// The object with what its key holds (name, namespace, the onboarding label): what the
    /// controller's requeue reads of a touched object.
    pub fn key_object(&self) -> K {
        let mut obj = K::default();
        let meta = obj.meta_mut();
        meta.name = Some(self.name.to_string());
        meta.namespace = self.namespace.as_deref().map(str::to_string);
        if let Some(onboarding) = &self.onboarding {
            meta.labels = Some(BTreeMap::from([(
                ONBOARDING.to_string(),
                onboarding.to_string(),
            )]));
        }
        obj
    }
}

/// The onboarding an object's label names, as an index key.
pub fn onboarding_key<K: Resource>(obj: &K) -> Option<Cow<'_, str>> {
    let label = obj.meta().labels.as_ref()?.get(ONBOARDING)?;
    Some(Cow::Borrowed(label.as_str()))
}

/// Removes the string `key` from `map` when `pack` reads it; what `pack` made of it.
fn take_if<T>(
    map: &mut Map<String, Value>,
    key: &str,
    pack: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    let packed = pack(map.get(key)?.as_str()?)?;
    map.remove(key);
    Some(packed)
}

/// Puts `entries` back into the map `key` of `meta` (made when absent).
fn put_back(
    meta: &mut Map<String, Value>,
    key: &str,
    entries: impl IntoIterator<Item = (&'static str, String)>,
) {
    for (k, v) in entries {
        let map = meta.entry(key).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = map {
            map.insert(k.into(), v.into());
        }
    }
}

/// The 16 bytes of a UUID written as 8-4-4-4-12 hex digits (its canonical text is checked by
/// the caller, which compares [`uuid_text`] with it).
fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    if text.len() != 36 {
        return None;
    }
    let mut digits = text.bytes().filter(|b| *b != b'-');
    let mut out = [0u8; 16];
    for byte in &mut out {
        let high = char::from(digits.next()?).to_digit(16)?;
        let low = char::from(digits.next()?).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    digits.next().is_none().then_some(out)
}

/// A UUID's canonical text (lowercase, 8-4-4-4-12).
fn uuid_text(uid: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in uid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

/// The texts kept objects share: each distinct text once, for as long as an object holds it.
static TEXTS: Texts = Texts::new();

/// A set of shared texts (see [`TEXTS`]). A text no object holds any more is forgotten when the
/// set has doubled since it last looked for such texts, so that forgetting costs a constant
/// per text on average.
struct Texts(LazyLock<Mutex<TextSet>>);

#[derive(Default)]
struct TextSet {
    texts: HashSet<Arc<str>>,
    /// The size at which to look for texts no object holds.
    sweep_at: usize,
}

impl Texts {
    const fn new() -> Self {
        Texts(LazyLock::new(|| Mutex::new(TextSet::default())))
    }

    /// The shared copy of `text`.
    fn intern(&self, text: &str) -> Arc<str> {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        set.intern(text)
    }
}

impl TextSet {
    fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.texts.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = text.into();
        self.texts.insert(shared.clone());
        if self.texts.len() > self.sweep_at {
            // Only this set holds them: no object does.
            self.texts.retain(|t| Arc::strong_count(t) > 1);
            self.sweep_at = (self.texts.len() * 2).max(1024);
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::ResourceExt;

    fn a_quota() -> ResourceQuota {
        let mut quota = ResourceQuota::default();
        quota.metadata.name = Some("conplus-quota".into());
        quota.metadata.namespace = Some("mk-fv-prod".into());
        quota.metadata.uid = Some("2e16ddeb-8ee4-486d-88c7-acf9b976f982".into());
        quota.metadata.resource_version = Some("4711".into());
        let labels = quota.labels_mut();
        labels.insert(ONBOARDING.into(), "fv".into());
        labels.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        labels.insert("conplus.niedersachsen.de/environment".into(), "prod".into());
        let annotations = quota.annotations_mut();
        annotations.insert(APPLIED_HASH.into(), "96069fb730d708a0".into());
        annotations.insert("record".into(), "{\"uid\":\"u\"}".into());
        quota.spec = serde_json::from_value(serde_json::json!({"hard": {"pods": "10"}})).ok();
        quota
    }

    #[test]
    fn a_kept_object_reads_back_whole_as_json_metadata_and_typed_object_but_for_creation_time_and_generation()
     {
        let mut quota = a_quota();
        let kept = Kept::new(&quota);
        for part in [&kept.meta, &kept.body] {
            for own in [
                "conplus-quota",
                "mk-fv-prod",
                "2e16ddeb",
                "4711",
                "96069fb730d708a0",
                MANAGED_BY,
                ONBOARDING,
                "apiVersion",
                "ResourceQuota",
            ] {
                assert!(!part.contains(own), "{own} is packed, not in {part}");
            }
        }
        let (meta, value) = kept.value_and_meta().unwrap();
        assert_eq!(value, serde_json::to_value(&quota).unwrap());
        assert_eq!(meta, quota.metadata);
        assert_eq!(kept.object().unwrap(), quota);
        // Not kept: nothing reads them of the operator's objects.
        quota.metadata.creation_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        quota.metadata.generation = Some(3);
        let kept = Kept::new(&quota);
        quota.metadata.creation_timestamp = None;
        quota.metadata.generation = None;
        assert_eq!(kept.object().unwrap(), quota);
    }

    #[test]
    fn values_without_their_usual_form_are_kept_as_they_are() {
        let mut quota = a_quota();
        quota.metadata.uid = Some("2E16DDEB-8EE4-486D-88C7-ACF9B976F982".into());
        quota.metadata.resource_version = Some("007".into());
        quota
            .labels_mut()
            .insert(MANAGED_BY.into(), "someone-else".into());
        quota
            .annotations_mut()
            .insert(APPLIED_HASH.into(), "edited".into());
        let kept = Kept::new(&quota);
        assert_eq!(kept.packed, Packed::default());
        assert_eq!(kept.object().unwrap(), quota);
        // Empty maps stay as they came; a name-less object keeps no name.
        let mut bare = ResourceQuota::default();
        bare.metadata.labels = Some(BTreeMap::new());
        let kept = Kept::new(&bare);
        assert_eq!(kept.value().unwrap(), serde_json::to_value(&bare).unwrap());
        // An object with only the operator's labels and hash keeps no map of them.
        let mut only = a_quota();
        only.labels_mut()
            .remove("conplus.niedersachsen.de/environment");
        only.annotations_mut().remove("record");
        let kept = Kept::new(&only);
        assert!(!kept.meta.contains("labels") && !kept.meta.contains("annotations"));
        assert_eq!(kept.object().unwrap(), only);
    }

    #[test]
    fn objects_that_differ_in_name_uid_version_and_hash_share_their_metadata_and_body_texts() {
        let policy = |name: &str, uid: &str, rv: &str, hash: &str| {
            let mut p = NetworkPolicy::default();
            p.metadata.name = Some(name.into());
            p.metadata.namespace = Some("mk-fv-dev".into());
            p.metadata.uid = Some(uid.into());
            p.metadata.resource_version = Some(rv.into());
            p.labels_mut().insert(ONBOARDING.into(), "fv".into());
            p.labels_mut()
                .insert("conplus.niedersachsen.de/environment".into(), "dev".into());
            p.annotations_mut().insert(APPLIED_HASH.into(), hash.into());
            p.spec = serde_json::from_value(serde_json::json!({"policyTypes": ["Egress"]})).ok();
            p
        };
        let a = policy(
            "conplus-allow-dns",
            "fbc69183-b807-4ee3-b272-51a769743877",
            "55",
            "96069fb730d708a0",
        );
        let b = policy(
            "conplus-deny",
            "00000000-b807-4ee3-b272-51a769743877",
            "56",
            "0000000000000001",
        );
        let (ka, kb) = (Kept::new(&a), Kept::new(&b));
        assert!(Arc::ptr_eq(&ka.meta, &kb.meta), "{} / {}", ka.meta, kb.meta);
        assert!(Arc::ptr_eq(&ka.body, &kb.body));
        assert_eq!((ka.object().unwrap(), kb.object().unwrap()), (a, b));
    }

    #[test]
    fn a_namespace_keeps_its_labels_annotations_and_version() {
        let mut ns = Namespace::default();
        ns.metadata.name = Some("mk-fv-prod".into());
        ns.metadata.resource_version = Some("7".into());
        ns.labels_mut().insert(ONBOARDING.into(), "fv".into());
        ns.labels_mut().insert(
            "pod-security.kubernetes.io/enforce".into(),
            "restricted".into(),
        );
        ns.annotations_mut().insert("record".into(), "u".into());
        let kept = Kept::new(&ns);
        assert_eq!(kept.namespace, None);
        assert_eq!(kept.object().unwrap(), ns);
    }

    #[test]
    fn a_text_no_object_holds_is_forgotten_once_the_set_has_doubled() {
        let mut set = TextSet::default();
        let held = set.intern("held");
        assert!(Arc::ptr_eq(&held, &set.intern("held")), "one copy");
        for i in 0..1023 {
            drop(set.intern(&format!("dropped {i}")));
        }
        assert_eq!(set.texts.len(), 1024);
        // The 1,025th text makes the set look: only the held one and the newest stay.
        let newest = set.intern("newest");
        assert_eq!(set.texts.len(), 2);
        assert!(Arc::ptr_eq(&held, &set.intern("held")));
        assert!(Arc::ptr_eq(&newest, &set.intern("newest")));
        assert_eq!(set.sweep_at, 1024);
    }

    #[test]
    fn a_uuid_reads_back_as_the_same_text() {
        let text = "fbc69183-b807-4ee3-b272-51a769743877";
        assert_eq!(uuid_text(&uuid_bytes(text).unwrap()), text);
        for bad in [
            "",
            "u",
            "fbc69183b8074ee3b27251a769743877",
            "zbc69183-b807-4ee3-b272-51a769743877",
        ] {
            assert_eq!(uuid_bytes(bad), None, "{bad}");
        }
    }
}
