//! `x-kubernetes-list-type: set|map` uniqueness, as apiextensions-apiserver's
//! `structurallisttype.ValidateListSetsAndMaps`.

use serde_json::{Map, Value};

use crate::path::FieldPath;
use crate::schema::{Additional, Node};
use crate::{ErrorType, FieldError};

/// The key of an item of a `map` list: the values of its `x-kubernetes-list-map-keys`
/// (a missing key takes the key property's default), as a JSON object.
pub(crate) fn map_key(list: &Node, item: &Value) -> Option<Value> {
    let obj = item.as_object()?;
    let mut key = Map::new();
    for name in &list.list_map_keys {
        let v = match obj.get(name) {
            Some(v) => v.clone(),
            None => list
                .items
                .as_deref()
                .and_then(|i| i.properties.get(name))
                .and_then(|p| p.default.clone())
                .unwrap_or(Value::Null),
        };
        key.insert(name.clone(), v);
    }
    Some(Value::Object(key))
}

/// The old item a new list item corresponds to on update: by key for `map` lists, by
/// value for `set` lists; items of atomic lists have no old counterpart.
pub(crate) fn correlate<'v>(
    list: &Node,
    item: &Value,
    old_items: &'v [Value],
) -> Option<&'v Value> {
    match list.list_type.as_deref() {
        Some("map") => {
            let key = map_key(list, item)?;
            old_items
                .iter()
                .find(|o| map_key(list, o).as_ref() == Some(&key))
        }
        Some("set") => old_items.iter().find(|o| *o == item),
        _ => None,
    }
}

/// Appends the set/map duplicate errors of `value` (and everything below it) to `out`.
pub(crate) fn validate(node: &Node, value: &Value, path: &FieldPath, out: &mut Vec<FieldError>) {
    match value {
        Value::Array(items) => {
            match node.list_type.as_deref() {
                Some("set") => {
                    for (i, item) in items.iter().enumerate() {
                        if items[..i].contains(item) {
                            out.push(FieldError {
                                field: path.index(i).render(),
                                error_type: ErrorType::Duplicate,
                                value: Some(item.clone()),
                                detail: String::new(),
                            });
                        }
                    }
                }
                Some("map") => validate_map_list(node, items, path, out),
                _ => {}
            }
            if let Some(item_node) = node.items.as_deref() {
                for (i, item) in items.iter().enumerate() {
                    validate(item_node, item, &path.index(i), out);
                }
            }
        }
        Value::Object(obj) => {
            let mut keys: Vec<&String> = obj.keys().collect();
            keys.sort();
            for k in keys {
                let Some(v) = obj.get(k) else { continue };
                if let Some(child) = node.properties.get(k) {
                    validate(child, v, &path.child(k), out);
                } else if let Additional::Schema(child) = &node.additional {
                    validate(child, v, &path.key(k), out);
                }
            }
        }
        _ => {}
    }
}

fn validate_map_list(node: &Node, items: &[Value], path: &FieldPath, out: &mut Vec<FieldError>) {
    // Only objects (and nulls) may be items of a map list; the first offender stops the check.
    if let Some((i, bad)) = items
        .iter()
        .enumerate()
        .find(|(_, x)| !x.is_null() && !x.is_object())
    {
        out.push(FieldError {
            field: path.index(i).render(),
            error_type: ErrorType::Invalid,
            value: Some(bad.clone()),
            detail: "must be an object for an array of list-type map".into(),
        });
        return;
    }
    if node.list_map_keys.is_empty() {
        return;
    }
    let mut seen: Vec<Value> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(key) = map_key(node, item) else {
            continue;
        };
        if seen.contains(&key) {
            out.push(FieldError {
                field: path.index(i).render(),
                error_type: ErrorType::Duplicate,
                value: Some(key),
                detail: String::new(),
            });
        } else {
            seen.push(key);
        }
    }
}
