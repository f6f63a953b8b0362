//! Drift (pure): how an object of the operator's differs from what it declares, and who made it
//! differ.
//!
//! A changed value is taken back by a forced server-side apply. A field someone else *added*
//! is not: server-side apply only removes what its own manager owned, so a rule added to
//! `spec.ingress` of the default-deny policy or a key added to a quota's `spec.hard` would stay.
//! Such additions show in `metadata.managedFields` as fields owned by another manager that the
//! operator does not declare; the object is then replaced by what the operator declares, with
//! the metadata others keep on it (labels, annotations) left in place.
//!
//! The stores keep only the managedFields entries of other managers (see
//! [`foreign_entries_only`]): a converged object carries none.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::{Map, Value};

use crate::resources::FIELD_MANAGER;

/// Keeps the managedFields entries that record another manager's writes to the object itself
/// (not to its status); `None` when there are none.
pub fn foreign_entries_only(
    entries: Option<Vec<ManagedFieldsEntry>>,
) -> Option<Vec<ManagedFieldsEntry>> {
    let foreign: Vec<_> = entries?
        .into_iter()
        .filter(|e| {
            e.manager.as_deref() != Some(FIELD_MANAGER)
                && e.subresource.as_deref().is_none_or(str::is_empty)
        })
        .collect();
    (!foreign.is_empty()).then_some(foreign)
}

/// A field another manager owns, as a dotted path (`spec.ingress`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignField {
    /// The manager (`kubectl-patch`, `kubectl-edit`, …).
    pub manager: String,
    /// The field.
    pub path: String,
    /// Whether the operator declares the field (a changed value) or not (an addition).
    pub declared: bool,
    /// Whether the manager wrote it with an update (`kubectl edit`, `patch`), not with an apply.
    pub updated: bool,
    /// The path's fields.
    pub segments: Vec<String>,
}

/// Whether a field the operator declares and another manager updated holds another value
/// than declared (an item added inside a list the operator owns as a whole, say). A manager
/// applying the same values alongside the operator is not drift.
pub fn changed_declared(desired: &Value, observed: &Value, fields: &[ForeignField]) -> bool {
    fields.iter().any(|f| {
        f.declared && f.updated && lookup(desired, &f.segments) != lookup(observed, &f.segments)
    })
}

/// The fields of `observed` that managers other than the operator own, outside the object's
/// metadata unless the operator declares them there.
pub fn foreign_fields(desired: &Value, observed: &Value) -> Vec<ForeignField> {
    let Some(entries) = observed
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries {
        let manager = entry
            .get("manager")
            .and_then(Value::as_str)
            .unwrap_or("an unnamed manager");
        if manager == FIELD_MANAGER
            || entry
                .get("subresource")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        {
            continue;
        }
        let Some(fields) = entry.get("fieldsV1") else {
            continue;
        };
        let mut leaves = Vec::new();
        leaf_paths(fields, &mut Vec::new(), &mut leaves);
        for path in leaves {
            let declared = lookup(desired, &path).is_some();
            let in_metadata = path.first().is_some_and(|p| p == "metadata");
            if in_metadata && !declared {
                // Labels and annotations of others are theirs to keep.
                continue;
            }
            let field = ForeignField {
                manager: manager.to_string(),
                path: path.join("."),
                declared,
                updated: entry.get("operation").and_then(Value::as_str) == Some("Update"),
                segments: path,
            };
            if !out.contains(&field) {
                out.push(field);
            }
        }
    }
    out.sort();
    out
}

/// The paths of `fields` (a `fieldsV1` set) down to its leaves or to the first list element
/// (`k:`, `v:`, `i:`): within a list, the lists are compared whole.
fn leaf_paths(fields: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some(map) = fields.as_object() else {
        return;
    };
    let children: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| k.as_str() != ".").collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.push(prefix.clone());
        }
        return;
    }
    for (key, value) in children {
        match key.strip_prefix("f:") {
            Some(field) => {
                prefix.push(field.to_string());
                leaf_paths(value, prefix, out);
                prefix.pop();
            }
            None => {
                if !prefix.is_empty() && !out.contains(prefix) {
                    out.push(prefix.clone());
                }
            }
        }
    }
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, p| v.get(p.as_str()))
}

/// The object that replaces `observed` to remove what others added: every top-level field the
/// operator declares as declared, every other one (`status` aside) gone, the operator's labels
/// and annotations merged into the metadata the object has. managedFields are left out, so
/// that the API server keeps its record.
pub fn replacement(desired: &Value, observed: &Value) -> Value {
    let mut out = observed.clone();
    let Some(obj) = out.as_object_mut() else {
        return desired.clone();
    };
    obj.retain(|k, _| {
        matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
            || desired.get(k).is_some()
    });
    if let Some(d) = desired.as_object() {
        for (k, v) in d {
            if k != "metadata" {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.remove("managedFields");
        for part in ["labels", "annotations"] {
            let Some(declared) = desired
                .pointer(&format!("/metadata/{part}"))
                .and_then(Value::as_object)
            else {
                continue;
            };
            let slot = meta
                .entry(part)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Some(map) = slot.as_object_mut() {
                for (k, v) in declared {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

/// Who changed which field, for an Event: `spec.ingress (added by kubectl-patch)`.
pub fn describe(fields: &[ForeignField]) -> String {
    if fields.is_empty() {
        return "changed outside the operator (the managedFields do not say by whom)".into();
    }
    fields
        .iter()
        .map(|f| {
            format!(
                "{} ({} by {})",
                f.path,
                if f.declared { "changed" } else { "added" },
                f.manager
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deny() -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "conplus-default-deny", "namespace": "ns",
                "labels": {"app.kubernetes.io/managed-by": "conplus-operator"}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
    }

    /// The default-deny policy after `kubectl patch --type=merge -p '{"spec":{"ingress":[{}]}}'`
    /// and a label of someone's own.
    fn opened() -> Value {
        let mut o = deny();
        o["metadata"]["resourceVersion"] = json!("7");
        o["metadata"]["labels"]["team"] = json!("db");
        o["spec"]["ingress"] = json!([{}]);
        o["metadata"]["managedFields"] = json!([
            {"manager": "conplus-operator", "operation": "Apply",
             "fieldsV1": {"f:spec": {"f:podSelector": {}, "f:policyTypes": {}}}},
            {"manager": "kubectl-patch", "operation": "Update",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:ingress": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "fieldsV1": {"f:status": {"f:used": {}}}}
        ]);
        o
    }

    #[test]
    fn an_added_rule_is_an_addition_by_its_manager_and_a_label_of_ones_own_is_not() {
        let found = foreign_fields(&deny(), &opened());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (
                found[0].manager.as_str(),
                found[0].path.as_str(),
                found[0].declared
            ),
            ("kubectl-patch", "spec.ingress", false)
        );
        assert_eq!(describe(&found), "spec.ingress (added by kubectl-patch)");
    }

    #[test]
    fn a_key_added_to_a_map_and_a_changed_value_are_told_apart() {
        let desired = json!({"spec": {"hard": {"pods": "20"}}});
        let observed = json!({"spec": {"hard": {"pods": "99", "count/secrets": "5"}},
            "metadata": {"managedFields": [{"manager": "kubectl-edit", "operation": "Update",
                "fieldsV1": {"f:spec": {"f:hard": {"f:pods": {}, "f:count/secrets": {}}}}}]}});
        let found = foreign_fields(&desired, &observed);
        assert_eq!(
            describe(&found),
            "spec.hard.count/secrets (added by kubectl-edit), spec.hard.pods (changed by kubectl-edit)"
        );
    }

    #[test]
    fn fields_inside_a_list_count_as_the_list() {
        let desired = json!({"subjects": [{"kind": "Group", "name": "a"}]});
        let observed = json!({"metadata": {"managedFields": [{"manager": "m", "operation": "Update",
            "fieldsV1": {"f:subjects": {"k:{\"kind\":\"Group\",\"name\":\"b\"}": {".": {}, "f:name": {}}}}}]}});
        let found = foreign_fields(&desired, &observed);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].path.as_str(), found[0].declared),
            ("subjects", true)
        );
        let added =
            json!({"subjects": [{"kind": "Group", "name": "a"}, {"kind": "Group", "name": "b"}]});
        assert!(changed_declared(&desired, &added, &found));
        assert!(!changed_declared(&desired, &desired, &found));
    }

    #[test]
    fn the_replacement_drops_additions_and_keeps_the_metadata_of_others() {
        let r = replacement(&deny(), &opened());
        assert_eq!(r["spec"], deny()["spec"], "the added rule is gone");
        assert_eq!(r["metadata"]["labels"]["team"], "db");
        assert_eq!(
            r["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "conplus-operator"
        );
        assert_eq!(r["metadata"]["resourceVersion"], "7", "a precondition");
        assert!(r["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn only_other_managers_writes_to_the_object_are_kept_in_the_stores() {
        let entry = |manager: &str, sub: Option<&str>| ManagedFieldsEntry {
            manager: Some(manager.into()),
            subresource: sub.map(Into::into),
            ..Default::default()
        };
        assert_eq!(
            foreign_entries_only(Some(vec![
                entry(FIELD_MANAGER, None),
                entry("kube-controller-manager", Some("status"))
            ])),
            None
        );
        let kept = foreign_entries_only(Some(vec![entry("kubectl-patch", None)])).unwrap();
        assert_eq!(kept[0].manager.as_deref(), Some("kubectl-patch"));
    }
}
