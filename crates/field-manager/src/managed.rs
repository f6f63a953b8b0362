//! `metadata.managedFields`: decoding, the apply and update algorithms of kube-apiserver's
//! field manager, and encoding back in the server's order.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::fieldset::FieldSet;
use crate::schema::TypeSchema;
use crate::typed::{Implicit, compare, merge, remove_unowned, to_field_set};
use crate::{ApplyError, Conflict, Subresource};

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";
/// The manager kube-apiserver credits with the fields of an object applied to for the first
/// time while it has no managedFields.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// One `managedFields` entry with its decoded field set.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: String,
    set: FieldSet,
}

impl Entry {
    /// The identity kube-apiserver keys managers by: Apply entries ignore the apiVersion,
    /// Update entries include it.
    fn is(&self, manager: &str, operation: &str, subresource: &str, api_version: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            && (operation == APPLY || self.api_version == api_version)
    }

    fn encode(self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager));
        m.insert("operation".into(), Value::String(self.operation));
        m.insert("apiVersion".into(), Value::String(self.api_version));
        if let Some(t) = self.time {
            m.insert("time".into(), Value::String(t));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), Value::String(self.subresource));
        }
        Value::Object(m)
    }
}

/// Decodes a `managedFields` list. Entries that cannot be read are dropped (kube-apiserver
/// resets unreadable managed fields rather than failing writes).
fn decode(list: Option<&Value>) -> Vec<Entry> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    let str_of =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    items
        .iter()
        .filter_map(|item| {
            let m = item.as_object()?;
            let set = match m.get("fieldsV1") {
                Some(v) => FieldSet::from_fields_v1(v).ok()?,
                None => FieldSet::default(),
            };
            Some(Entry {
                manager: str_of(m, "manager").unwrap_or_default(),
                operation: str_of(m, "operation").unwrap_or_else(|| UPDATE.to_string()),
                api_version: str_of(m, "apiVersion").unwrap_or_default(),
                time: str_of(m, "time"),
                subresource: str_of(m, "subresource").unwrap_or_default(),
                set,
            })
        })
        .filter(|e| !e.set.is_empty())
        .collect()
}

/// Sorts entries as kube-apiserver encodes them (operation, time in seconds, manager,
/// apiVersion, subresource), drops empty ones and writes them into `obj`.
fn encode_into(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    cap_update_managers(&mut entries);
    let secs = secs_of;
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| secs(&p.time).cmp(&secs(&q.time)))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    let Value::Object(root) = obj else { return };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    let list = Value::Array(entries.into_iter().map(Entry::encode).collect());
    match root.get_mut("metadata") {
        Some(Value::Object(meta)) => {
            meta.insert("managedFields".into(), list);
        }
        _ => {
            root.insert("metadata".into(), json!({ "managedFields": list }));
        }
    }
}

/// kube-apiserver keeps at most this many Update entries (`DefaultMaxUpdateManagers`).
const MAX_UPDATE_MANAGERS: usize = 10;
/// The bucket older Update entries are merged into.
const ANCIENT_CHANGES: &str = "ancient-changes";

/// Merges the oldest Update entries into per-apiVersion `ancient-changes` entries until at most
/// [`MAX_UPDATE_MANAGERS`] Update entries remain (`capManagersManager`).
fn cap_update_managers(entries: &mut Vec<Entry>) {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == UPDATE)
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|&a, &b| {
        secs_of(&entries[a].time)
            .cmp(&secs_of(&entries[b].time))
            .then_with(|| entries[a].manager.cmp(&entries[b].manager))
    });
    let mut remaining = updaters.len();
    let mut first_of_version: HashMap<String, usize> = HashMap::new();
    let mut bucket_of_version: BTreeMap<String, Entry> = BTreeMap::new();
    let mut gone = vec![false; entries.len()];
    for &i in &updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = entries[i].api_version.clone();
        match first_of_version.get(&version) {
            Some(&first) => {
                let bucket = bucket_of_version.entry(version.clone()).or_insert_with(|| {
                    // The first entry of this version becomes the bucket.
                    gone[first] = true;
                    Entry {
                        manager: ANCIENT_CHANGES.to_string(),
                        operation: UPDATE.to_string(),
                        api_version: version.clone(),
                        time: entries[first].time.clone(),
                        subresource: String::new(),
                        set: entries[first].set.clone(),
                    }
                });
                bucket.set.union_with(&entries[i].set);
                // The bucket takes the time of the newer update merged into it.
                bucket.time = entries[i].time.clone();
                gone[i] = true;
                remaining -= 1;
            }
            None => {
                first_of_version.insert(version, i);
            }
        }
    }
    let mut i = 0;
    entries.retain(|_| {
        let keep = !gone[i];
        i += 1;
        keep
    });
    for (_, mut bucket) in bucket_of_version {
        // An existing bucket of the same version absorbs the new one.
        match entries
            .iter_mut()
            .find(|e| e.is(ANCIENT_CHANGES, UPDATE, "", &bucket.api_version))
        {
            Some(e) => {
                e.set.union_with(&bucket.set);
                e.time = bucket.time.take().or(e.time.take());
            }
            None => entries.push(bucket),
        }
    }
}

/// Whole seconds of an RFC 3339 UTC timestamp, comparable as a string ("" when absent).
fn secs_of(t: &Option<String>) -> String {
    t.as_deref()
        .map(|t| t.get(..19).unwrap_or(t).to_string())
        .unwrap_or_default()
}

/// Removes and returns `metadata.managedFields`.
fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")?
        .as_object_mut()?
        .remove("managedFields")
}

/// Fields no manager owns (`stripMetaManager`), plus the server-set deletion fields.
fn strip_meta(set: &mut FieldSet) {
    for top in ["f:apiVersion", "f:kind"] {
        if set.children.get(top).is_some_and(|c| c.children.is_empty()) {
            set.children.remove(top);
        } else if let Some(c) = set.children.get_mut(top) {
            c.member = false;
        }
    }
    if let Some(meta) = set.children.get_mut("f:metadata") {
        meta.member = false;
        for key in [
            "f:name",
            "f:namespace",
            "f:creationTimestamp",
            "f:selfLink",
            "f:uid",
            "f:clusterName",
            "f:generation",
            "f:managedFields",
            "f:resourceVersion",
            "f:deletionTimestamp",
            "f:deletionGracePeriodSeconds",
        ] {
            if let Some(c) = meta.children.get_mut(key) {
                c.member = false;
                if c.is_empty() {
                    meta.children.remove(key);
                }
            }
        }
        if meta.is_empty() {
            set.children.remove("f:metadata");
        }
    }
}

fn subresource_name(s: Subresource<'_>) -> &str {
    match s {
        Subresource::Main => "",
        Subresource::Named(n) => n,
    }
}

fn api_version_of(v: &Value) -> Option<&str> {
    v.get("apiVersion").and_then(Value::as_str)
}

/// The implicit (always present) struct paths of the object's kind.
fn implicit_of(obj: &Value) -> Implicit {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let av = api_version_of(obj).unwrap_or_default();
    Implicit::from_paths(crate::builtin::implicit_struct_paths(av, kind))
}

pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    subresource: Subresource<'_>,
    force: bool,
    schema: &TypeSchema,
    now: &str,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".into(),
        ));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil: remove managedFields from the applied configuration".into(),
        ));
    }
    let sub = subresource_name(subresource);
    let applied_set =
        to_field_set(applied, schema).map_err(|e| ApplyError::Invalid(e.to_string()))?;

    let empty = Value::Object(Map::new());
    // One copy of the live object becomes the result; comparisons read `live` itself and skip
    // its managedFields.
    let (mut entries, live_body, mut merged) = match live {
        Some(l) if l.is_object() => {
            let mut merged = l.clone();
            let mf = take_managed_fields(&mut merged);
            (decode(mf.as_ref()), l, merged)
        }
        Some(_) => {
            return Err(ApplyError::Invalid(
                "the live object is not a JSON object".into(),
            ));
        }
        None => (Vec::new(), &empty, Value::Object(Map::new())),
    };
    if let Some(l) = live
        && entries.is_empty()
    {
        // An object without managedFields: kube-apiserver first records everything it holds
        // as owned by "before-first-apply", so applying over it can conflict.
        let cmp = compare(&empty, l, schema, &implicit_of(l));
        let mut set = cmp.added;
        set.union_with(&cmp.modified);
        strip_meta(&mut set);
        if !set.is_empty() {
            entries.push(Entry {
                manager: BEFORE_FIRST_APPLY.to_string(),
                operation: UPDATE.to_string(),
                api_version: api_version_of(l).unwrap_or_default().to_string(),
                time: Some(now.to_string()),
                subresource: String::new(),
                set,
            });
        }
    }
    merge(&mut merged, applied, schema);

    // The applier's previous Apply entry: what it owned before this apply.
    let last = entries
        .iter()
        .position(|e| e.is(manager, APPLY, sub, ""))
        .map(|i| entries.remove(i));
    if let Some(last) = &last {
        let mut owned = applied_set.clone();
        for e in &entries {
            owned.union_with(&e.set);
        }
        remove_unowned(&mut merged, &last.set, Some(&owned), schema);
    }

    let cmp = compare(live_body, &merged, schema, &Implicit::default());
    let mut changed_fields = cmp.modified.clone();
    changed_fields.union_with(&cmp.added);
    let mut conflicts: Vec<(usize, FieldSet)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let c = e.set.intersection(&changed_fields);
        if !c.is_empty() {
            conflicts.push((i, c));
        }
    }
    if !conflicts.is_empty() && !force {
        let mut list: Vec<Conflict> = conflicts
            .iter()
            .flat_map(|(i, c)| {
                let m = entries[*i].manager.clone();
                c.member_paths().into_iter().map(move |field| Conflict {
                    manager: m.clone(),
                    field,
                })
            })
            .collect();
        list.sort_by(|a, b| {
            a.manager
                .cmp(&b.manager)
                .then_with(|| a.field.cmp(&b.field))
        });
        list.dedup();
        return Err(ApplyError::Conflicts(list));
    }
    // Forced: the applier takes the conflicting fields from their owners.
    for (i, c) in &conflicts {
        entries[*i].set.subtract(c);
    }
    if !cmp.removed.is_empty() {
        for e in &mut entries {
            e.set.subtract(&cmp.removed);
        }
    }

    let mut set = applied_set;
    strip_meta(&mut set);
    if !set.is_empty() {
        // kube-apiserver stamps the time only when the object changed; a no-op apply keeps it.
        let time = if cmp.is_same() {
            last.as_ref().and_then(|l| l.time.clone())
        } else {
            Some(now.to_string())
        };
        let api_version = api_version_of(applied)
            .or_else(|| live.and_then(api_version_of))
            .unwrap_or_default()
            .to_string();
        entries.push(Entry {
            manager: manager.to_string(),
            operation: APPLY.to_string(),
            api_version,
            time,
            subresource: sub.to_string(),
            set,
        });
    }
    encode_into(&mut merged, entries);
    Ok(merged)
}

pub(crate) fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Subresource<'_>,
    schema: &TypeSchema,
    now: &str,
) -> Value {
    let sub = subresource_name(subresource);
    let mut out = new.clone();
    let sent = take_managed_fields(&mut out);
    // A client may rewrite managedFields through the main resource (a non-empty list);
    // otherwise, and always for subresources, the live entries are kept.
    let mut entries = match (&sent, subresource) {
        (Some(Value::Array(list)), Subresource::Main) if !list.is_empty() => decode(sent.as_ref()),
        _ => decode(old.and_then(|o| o.pointer("/metadata/managedFields"))),
    };
    let empty = Value::Object(Map::new());
    let cmp = compare(old.unwrap_or(&empty), &out, schema, &implicit_of(&out));
    let mut current = cmp.modified;
    current.union_with(&cmp.added);
    for e in &mut entries {
        e.set.subtract(&current);
        e.set.subtract(&cmp.removed);
    }
    strip_meta(&mut current);
    if !current.is_empty() {
        let api_version = api_version_of(&out).unwrap_or_default().to_string();
        match entries
            .iter_mut()
            .find(|e| e.is(manager, UPDATE, sub, &api_version))
        {
            Some(e) => {
                e.set.union_with(&current);
                e.time = Some(now.to_string());
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: UPDATE.to_string(),
                api_version,
                time: Some(now.to_string()),
                subresource: sub.to_string(),
                set: current,
            }),
        }
    }
    encode_into(&mut out, entries);
    out
}
