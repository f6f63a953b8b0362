//! Strategic merge patch (`application/strategic-merge-patch+json`).
//!
//! The patch strategy of a list is read from the [`TypeSchema`]: keyed lists (`ListType::Map`)
//! merge by their first key (the `patchMergeKey`: `name`, `containerPort`, `port`, `uid`,
//! `type`, `mountPath`), sets merge primitives by value, atomic lists are replaced. Directives:
//! `$patch: replace|delete|merge` (on maps and on list items), `$retainKeys`,
//! `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`; `null` deletes a field.
//!
//! kube-apiserver rejects strategic merge patches on custom resources (415 Unsupported Media
//! Type); callers must do that check. On a schema without keyed lists this function behaves
//! like a JSON merge patch.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::PatchError;
use crate::schema::{ListType, TypeSchema};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

fn invalid(msg: impl Into<String>) -> PatchError {
    PatchError::Invalid(msg.into())
}

/// Applies `patch` to `live` (both JSON objects).
pub(crate) fn strategic_merge(
    live: &Value,
    patch: &Value,
    schema: &TypeSchema,
) -> Result<Value, PatchError> {
    let Value::Object(pm) = patch else {
        return Err(invalid("a strategic merge patch must be a JSON object"));
    };
    let mut out = live.clone();
    match &mut out {
        Value::Object(lm) => {
            if patch_map(lm, pm, schema)? == MapOutcome::Delete {
                return Ok(Value::Object(Map::new()));
            }
        }
        _ => out = apply_to_nothing(pm, schema)?,
    }
    Ok(out)
}

#[derive(PartialEq)]
enum MapOutcome {
    Keep,
    Delete,
}

/// Patches a map in place. `Delete` when the patch says `$patch: delete`.
fn patch_map(
    lm: &mut Map<String, Value>,
    pm: &Map<String, Value>,
    s: &TypeSchema,
) -> Result<MapOutcome, PatchError> {
    match pm.get(PATCH) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(MapOutcome::Delete),
        Some(Value::String(d)) if d == "replace" => {
            // Replace the whole map with the patch (minus its directives).
            let mut rest = pm.clone();
            rest.remove(PATCH);
            let replaced = apply_to_nothing(&rest, s)?;
            if let Value::Object(m) = replaced {
                *lm = m;
            }
            return Ok(MapOutcome::Keep);
        }
        Some(other) => {
            return Err(invalid(format!(
                "unknown patch directive {other} in $patch"
            )));
        }
    }
    // The live lists `$setElementOrder` names, before the patch changes them: their order
    // places the items the directive does not name.
    let live_lists: HashMap<&str, Vec<Value>> = pm
        .keys()
        .filter_map(|k| k.strip_prefix(SET_ORDER))
        .filter_map(|f| match lm.get(f) {
            Some(Value::Array(items)) => Some((f, items.clone())),
            _ => None,
        })
        .collect();
    // `$deleteFromPrimitiveList/<field>` first, so additions in the same patch win.
    for (k, pv) in pm {
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            let Value::Array(del) = pv else {
                return Err(invalid(format!("{k} must be a list of values")));
            };
            if let Some(Value::Array(items)) = lm.get_mut(field) {
                items.retain(|v| !del.contains(v));
            }
        }
    }
    for (k, pv) in pm {
        if k.starts_with('$') {
            continue;
        }
        let cs = s.child(k).0;
        match pv {
            Value::Null => {
                lm.remove(k);
            }
            Value::Object(pchild) => match lm.get_mut(k) {
                Some(Value::Object(lchild)) => {
                    if patch_map(lchild, pchild, cs)? == MapOutcome::Delete {
                        lm.remove(k);
                    }
                }
                _ => {
                    if pchild.get(PATCH).and_then(Value::as_str) == Some("delete") {
                        lm.remove(k);
                    } else {
                        lm.insert(k.clone(), apply_to_nothing(pchild, cs)?);
                    }
                }
            },
            Value::Array(pitems) => {
                let merged = match lm.remove(k) {
                    Some(Value::Array(litems)) => patch_list(litems, pitems, cs)?,
                    _ => patch_list(Vec::new(), pitems, cs)?,
                };
                lm.insert(k.clone(), Value::Array(merged));
            }
            scalar => {
                lm.insert(k.clone(), scalar.clone());
            }
        }
    }
    for (k, order) in pm {
        if let Some(field) = k.strip_prefix(SET_ORDER) {
            let Value::Array(order) = order else {
                return Err(invalid(format!("{k} must be a list")));
            };
            if let Some(Value::Array(items)) = lm.get_mut(field) {
                let live_items = live_lists.get(field).map_or(&[][..], Vec::as_slice);
                reorder(items, order, live_items, s.child(field).0);
            }
        }
    }
    if let Some(retain) = pm.get(RETAIN_KEYS) {
        let Value::Array(keep) = retain else {
            return Err(invalid("$retainKeys must be a list of field names"));
        };
        let keep: HashSet<&str> = keep.iter().filter_map(Value::as_str).collect();
        lm.retain(|k, _| keep.contains(k.as_str()));
    }
    Ok(MapOutcome::Keep)
}

/// The value a patch map produces where there was nothing: directives and nulls dropped.
fn apply_to_nothing(pm: &Map<String, Value>, s: &TypeSchema) -> Result<Value, PatchError> {
    let mut m = Map::new();
    if patch_map(&mut m, pm, s)? == MapOutcome::Delete {
        return Ok(Value::Object(Map::new()));
    }
    Ok(Value::Object(m))
}

/// The merge key of a list (the first `listMapKey`), if the list merges by key.
fn merge_key(s: &TypeSchema) -> Option<(&str, &TypeSchema)> {
    match s.list_type() {
        Some((items, ListType::Map(keys))) => keys.first().map(|k| (k.as_str(), items)),
        _ => None,
    }
}

fn is_set(s: &TypeSchema) -> bool {
    matches!(s.list_type(), Some((_, ListType::Set)))
}

/// Patches a list according to its strategy.
fn patch_list(
    mut live: Vec<Value>,
    patch: &[Value],
    s: &TypeSchema,
) -> Result<Vec<Value>, PatchError> {
    // `{"$patch": "replace"}` as an item: the list becomes the other items.
    let replace = patch
        .iter()
        .any(|p| p.get(PATCH).and_then(Value::as_str) == Some("replace"));
    if let Some((key, items_schema)) = merge_key(s) {
        if replace {
            live.clear();
        }
        // The live order, for placing the items the patch does not name.
        let server_order = live.clone();
        for p in patch {
            let Value::Object(pm) = p else {
                return Err(invalid(format!(
                    "list items merged by {key:?} must be objects, found {p}"
                )));
            };
            let directive = pm.get(PATCH).and_then(Value::as_str);
            if directive == Some("replace") {
                continue;
            }
            let Some(kv) = pm.get(key) else {
                return Err(invalid(format!(
                    "map: {p} does not contain declared merge key: {key}"
                )));
            };
            let pos = live.iter().position(|l| l.get(key) == Some(kv));
            if directive == Some("delete") {
                live.retain(|l| l.get(key) != Some(kv));
                continue;
            }
            match pos.and_then(|i| live.get_mut(i)) {
                Some(Value::Object(lm)) => {
                    if patch_map(lm, pm, items_schema)? == MapOutcome::Delete
                        && let Some(i) = pos
                    {
                        live.remove(i);
                    }
                }
                _ => live.push(apply_to_nothing(pm, items_schema)?),
            }
        }
        let named: Vec<Value> = patch
            .iter()
            .filter(|p| p.get(PATCH).is_none())
            .cloned()
            .collect();
        return Ok(normalize_order(live, &named, &server_order, Some(key)));
    }
    if is_set(s) && !replace {
        let server_order = live.clone();
        for p in patch {
            if !live.contains(p) {
                live.push(p.clone());
            }
        }
        return Ok(normalize_order(live, patch, &server_order, None));
    }
    // Atomic lists are replaced (directive items dropped).
    Ok(patch
        .iter()
        .filter(|p| p.get(PATCH).is_none())
        .cloned()
        .collect())
}

/// Orders `items` by `$setElementOrder` (`order`), from the live list `server_order`.
fn reorder(items: &mut Vec<Value>, order: &[Value], server_order: &[Value], s: &TypeSchema) {
    let key = merge_key(s).map(|(k, _)| k);
    *items = normalize_order(std::mem::take(items), order, server_order, key);
}

/// Orders a merged list as kube-apiserver does: the items `order` names (the patch's items,
/// or its `$setElementOrder`) in that order; the others (live items the patch does not name)
/// in their live order, each placed before the first named item it precedes in the live list
/// (`server_order`). So live `[A]` patched with `[B]` gives `[B, A]`; live `[A, C]` patched with
/// `[D, C]` gives `[D, A, C]`.
fn normalize_order(
    merged: Vec<Value>,
    order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let ident = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let position = |list: &[Value], v: &Value| -> Option<usize> {
        let want = ident(v);
        list.iter().position(|x| ident(x) == want)
    };
    let (mut named, rest): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| position(order, v).is_some());
    named.sort_by_key(|v| position(order, v));
    // `rest` keeps the merged list's order, which is the live order.
    let mut out = Vec::with_capacity(named.len() + rest.len());
    let mut named = named.into_iter().peekable();
    let mut rest = rest.into_iter().peekable();
    loop {
        let take_rest = match (rest.peek(), named.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(r), Some(n)) => matches!(
                (position(server_order, r), position(server_order, n)),
                (Some(ri), Some(ni)) if ri < ni
            ),
        };
        let next = if take_rest { rest.next() } else { named.next() };
        out.extend(next);
    }
    out
}
