//! Structural pruning and defaulting, as apiextensions-apiserver's `schema/pruning`
//! and `schema/defaulting` packages do on every write.

use serde_json::Value;

use crate::schema::{Additional, Node};

/// Fields every object keeps at the root and inside embedded resources.
const TYPE_AND_META: [&str; 3] = ["apiVersion", "kind", "metadata"];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes fields the schema does not declare; the paths of removed fields go to `dropped`
/// (`spec.foo`, `spec.list[0].bar`, map values as `spec.labels.key.bar`).
pub(crate) fn prune(
    node: &Node,
    value: &mut Value,
    path: &str,
    is_root: bool,
    dropped: &mut Vec<String>,
) {
    match value {
        Value::Object(obj) => {
            let keys: Vec<String> = obj.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                let type_meta = (is_root || node.embedded) && TYPE_AND_META.contains(&key.as_str());
                // Root metadata is ObjectMeta, pruned by its own decoder, not by the schema.
                if is_root && key == "metadata" {
                    continue;
                }
                let child_node = node.field_schema(&key);
                match (child_node, obj.get_mut(&key)) {
                    (Some(child), Some(v)) => prune(child, v, &child_path, false, dropped),
                    (None, Some(_)) => {
                        let keep = type_meta
                            || node.preserve_unknown
                            || matches!(node.additional, Additional::Bool(true));
                        if !keep {
                            obj.remove(&key);
                            dropped.push(child_path);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item_node, item, &format!("{path}[{i}]"), false, dropped);
                }
            }
        }
        _ => {}
    }
}

/// `PruneNonNullableNullsWithoutDefaults`: drops `null`s the schema neither allows nor defaults.
pub(crate) fn prune_nulls(node: &Node, value: &mut Value) {
    match value {
        Value::Object(obj) => {
            obj.retain(|k, v| {
                let schema = node.field_schema(k);
                !(v.is_null() && schema.is_some_and(|s| !s.nullable && s.default.is_none()))
            });
            for (k, v) in obj.iter_mut() {
                if let Some(schema) = node.field_schema(k) {
                    prune_nulls(schema, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for item in items {
                    prune_nulls(item_node, item);
                }
            }
        }
        _ => {}
    }
}

fn non_nullable_null_with_default(v: &Value, node: &Node) -> bool {
    v.is_null() && !node.nullable && node.default.is_some()
}

/// `structuraldefaulting.Default`: fills absent (and non-nullable null) fields with their
/// schema default, recursively, including list items and map values.
pub(crate) fn default(node: &Node, value: &mut Value) {
    match value {
        Value::Object(obj) => {
            for (name, prop) in &node.properties {
                let Some(d) = &prop.default else { continue };
                let missing = match obj.get(name) {
                    None => true,
                    Some(v) => non_nullable_null_with_default(v, prop),
                };
                if missing {
                    obj.insert(name.clone(), d.clone());
                }
            }
            for (k, v) in obj.iter_mut() {
                if let Some(prop) = node.properties.get(k) {
                    default(prop, v);
                } else if let Additional::Schema(values) = &node.additional {
                    if non_nullable_null_with_default(v, values) {
                        // Like apiserver, the freshly placed default is not defaulted further.
                        if let Some(d) = &values.default {
                            *v = d.clone();
                        }
                    } else {
                        default(values, v);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for item in items {
                    if non_nullable_null_with_default(item, item_node) {
                        if let Some(d) = &item_node.default {
                            *item = d.clone();
                        }
                    } else {
                        default(item_node, item);
                    }
                }
            }
        }
        _ => {}
    }
}
