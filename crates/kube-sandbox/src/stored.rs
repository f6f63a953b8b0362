//! The stored form of an object's `metadata.managedFields`.
//!
//! kube-apiserver keeps each entry's `fieldsV1` as the raw bytes of its JSON (`FieldsV1{Raw}`), not
//! as a tree. As a `serde_json::Value`, the list is the larger part of an object's memory: every
//! non-empty field set is a map, and every map a B-tree node of eleven slots (about 630 bytes), so a
//! NetworkPolicy of 1.4 KB of JSON took 12 KB, 4.7 KB of it its managedFields. The store keeps the
//! list instead as its compact JSON text, under [`KEPT`] in `metadata` (a key no client can write:
//! [`strip_client_kept`] drops it from every request body), and:
//! - [`compact`] turns a written object's list into that text ([`crate::store::State::put`]);
//! - [`expanded`] gives the object with the list again, for everything that reads or merges
//!   managedFields (the field manager, patches, admission policies);
//! - [`write_json`] writes a value as JSON with every kept list written out as the list, for every
//!   response, list item and watch event, in the bytes `serde_json::to_writer` writes for the
//!   expanded object (the key sorts where `managedFields` does).

use std::sync::Arc;

use serde_json::{Map, Value};

/// The key of the kept list in `metadata`: `managedFields` and a NUL, which sorts right after
/// `managedFields` and before every other key of ObjectMeta.
pub const KEPT: &str = "managedFields\u{0}";

/// Keeps `obj`'s `metadata.managedFields` as its JSON text. An object without the list keeps a
/// text it already has (a stored object written again); with both, the list wins. Whatever the
/// list is (empty, even not a list) it is written out again as it was.
pub fn compact(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(list) = meta.remove("managedFields") else {
        return;
    };
    meta.insert(KEPT.to_string(), Value::String(list.to_string()));
}

/// Turns a kept text in `obj`'s `metadata` back into the list.
pub fn expand(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        expand_meta(meta);
    }
}

fn expand_meta(meta: &mut Map<String, Value>) {
    if let Some(Value::String(text)) = meta.remove(KEPT) {
        // The text was written by `compact` from a list; should it not parse, the list is empty,
        // as kube-apiserver resets managed fields it cannot read.
        let list = serde_json::from_str(&text).unwrap_or_else(|_| Value::Array(Vec::new()));
        meta.insert("managedFields".to_string(), list);
    }
}

/// `obj` with its managedFields as the list: the same `Arc` when it has no kept text.
pub fn expanded(obj: &Arc<Value>) -> Arc<Value> {
    if obj.pointer("/metadata").and_then(|m| m.get(KEPT)).is_none() {
        return obj.clone();
    }
    let mut out = (**obj).clone();
    expand(&mut out);
    Arc::new(out)
}

/// Drops a kept text a client sent in a request body: only the store writes it.
pub fn strip_client_kept(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove(KEPT);
    }
}

/// Writes `v` as compact JSON, every kept text in a `metadata` map written as the
/// `managedFields` list it holds: the bytes `serde_json::to_writer` gives for the expanded value.
pub fn write_json(out: &mut Vec<u8>, v: &Value) -> Result<(), serde_json::Error> {
    write_value(out, v, false)
}

/// The JSON of `v` as [`write_json`] writes it.
pub fn to_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    if write_json(&mut out, v).is_err() {
        // Writing a `Value` into memory does not fail; should it, the output still parses.
        out.clear();
        out.extend_from_slice(b"null");
    }
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value, is_metadata: bool) -> Result<(), serde_json::Error> {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_entry(out, k, v, is_metadata)?;
            }
            out.push(b'}');
            Ok(())
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, false)?;
            }
            out.push(b']');
            Ok(())
        }
        scalar => serde_json::to_writer(&mut *out, scalar),
    }
}

/// Whether `text` is JSON, so that it may be written as it is. The store writes the key only at an
/// object's own `metadata`, and strips it from request bodies there; deeper in a custom resource
/// kept as written (`x-kubernetes-preserve-unknown-fields`) a `metadata` map may hold it as data,
/// with any string: such a string is written as the data it is, never as broken JSON.
fn is_kept_text(text: &str) -> bool {
    text.starts_with('[') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Writes `"k":v` of a map; `in_metadata` when the map is a `metadata`.
pub(crate) fn write_entry(
    out: &mut Vec<u8>,
    k: &str,
    v: &Value,
    in_metadata: bool,
) -> Result<(), serde_json::Error> {
    if in_metadata
        && k == KEPT
        && let Value::String(text) = v
        && is_kept_text(text)
    {
        out.extend_from_slice(b"\"managedFields\":");
        // The text is JSON that `compact` wrote with serde_json: compact, as this output is.
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    serde_json::to_writer(&mut *out, k)?;
    out.push(b':');
    write_value(out, v, k == "metadata")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "a",
                "namespace": "n",
                "labels": {"x": "y"},
                "managedFields": [{
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:x": {}}}},
                    "manager": "m",
                    "operation": "Apply",
                    "time": "2026-12-04T10:00:00Z"
                }],
                "resourceVersion": "7"
            },
            "data": {"k": "v \"quoted\" \u{e9}"}
        })
    }

    #[test]
    fn a_compacted_object_is_written_byte_for_byte_as_the_expanded_one() {
        let original = object();
        let mut kept = original.clone();
        compact(&mut kept);
        assert!(kept.pointer("/metadata/managedFields").is_none());
        assert!(kept["metadata"][KEPT].is_string());
        assert_eq!(
            to_json(&kept),
            serde_json::to_vec(&original).unwrap(),
            "the kept text is written where and as the list was"
        );
        // Inside other values too: a list's items, a watch event, a table row.
        let wrapped = json!({"items": [kept.clone()], "object": kept.clone(), "type": "ADDED"});
        let expected =
            json!({"items": [original.clone()], "object": original.clone(), "type": "ADDED"});
        assert_eq!(to_json(&wrapped), serde_json::to_vec(&expected).unwrap());
    }

    #[test]
    fn expanding_gives_back_the_list_and_an_object_without_one_is_not_copied() {
        let original = object();
        let mut kept = original.clone();
        compact(&mut kept);
        let kept = Arc::new(kept);
        assert_eq!(*expanded(&kept), original);
        let plain = Arc::new(json!({"metadata": {"name": "a"}}));
        assert!(Arc::ptr_eq(&expanded(&plain), &plain));
    }

    #[test]
    fn a_written_list_replaces_the_kept_text_and_an_empty_list_is_kept_as_empty() {
        let mut kept = object();
        compact(&mut kept);
        let mut rewritten = kept.clone();
        rewritten["metadata"]["managedFields"] = json!([{"manager": "other", "fieldsV1": {}}]);
        compact(&mut rewritten);
        expand(&mut rewritten);
        assert_eq!(
            rewritten["metadata"]["managedFields"][0]["manager"],
            "other"
        );
        // Written again without the list (a stored object changed by the server): the text stays.
        let mut again = kept.clone();
        compact(&mut again);
        assert_eq!(again, kept);
        let mut emptied = object();
        emptied["metadata"]["managedFields"] = json!([]);
        let expected = serde_json::to_vec(&emptied).unwrap();
        compact(&mut emptied);
        assert_eq!(to_json(&emptied), expected);
    }

    #[test]
    fn the_kept_key_is_read_only_in_metadata_and_dropped_from_client_bodies() {
        // Elsewhere (a custom resource's spec, a ConfigMap's data) the key is data as any other.
        let v = json!({"spec": {KEPT: "[1]"}, "data": {KEPT: "x"}});
        assert_eq!(to_json(&v), serde_json::to_vec(&v).unwrap());
        // A `metadata` map deeper in a custom resource's data, with a string that is no JSON list:
        // written as data, the output parses.
        let v = json!({"spec": {"inner": {"metadata": {KEPT: "[not json"}}}});
        assert_eq!(to_json(&v), serde_json::to_vec(&v).unwrap());
        let mut body = json!({"metadata": {"name": "a", KEPT: "[{\"manager\":\"forged\"}]"}});
        strip_client_kept(&mut body);
        assert_eq!(body, json!({"metadata": {"name": "a"}}));
    }
}
