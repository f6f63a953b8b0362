//! `x-kubernetes-embedded-resource` checks of apiextensions-apiserver's
//! `schema/objectmeta` validation: an embedded object needs a valid `apiVersion` and `kind`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::path::FieldPath;
use crate::schema::{Additional, Node};
use crate::{ErrorType, FieldError};

const DNS1035_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

static DNS1035: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("^[a-z]([-a-z0-9]*[a-z0-9])?$").ok());

fn invalid(path: FieldPath, value: &Value, detail: String) -> FieldError {
    FieldError {
        field: path.render(),
        error_type: ErrorType::Invalid,
        value: Some(value.clone()),
        detail,
    }
}

fn check_resource(
    path: &FieldPath,
    obj: &serde_json::Map<String, Value>,
    out: &mut Vec<FieldError>,
) {
    for key in ["apiVersion", "kind"] {
        if !obj.contains_key(key) {
            out.push(FieldError {
                field: path.child(key).render(),
                error_type: ErrorType::Required,
                value: None,
                detail: "must not be empty".into(),
            });
        }
    }
    if let Some(v) = obj.get("apiVersion") {
        match v.as_str() {
            None => out.push(invalid(
                path.child("apiVersion"),
                v,
                "must be a string".into(),
            )),
            Some("") => out.push(invalid(
                path.child("apiVersion"),
                v,
                "must not be empty".into(),
            )),
            // schema.ParseGroupVersion accepts `version` and `group/version`.
            Some(s) if s.matches('/').count() > 1 => out.push(invalid(
                path.child("apiVersion"),
                v,
                format!("unexpected GroupVersion string: {s}"),
            )),
            Some(_) => {}
        }
    }
    if let Some(v) = obj.get("kind") {
        match v.as_str() {
            None => out.push(invalid(path.child("kind"), v, "must be a string".into())),
            Some("") => out.push(invalid(path.child("kind"), v, "must not be empty".into())),
            Some(kind) => {
                let lower = kind.to_lowercase();
                let mut problems = Vec::new();
                if lower.len() > 63 {
                    problems.push("must be no more than 63 characters".to_string());
                }
                if !DNS1035.as_ref().is_some_and(|r| r.is_match(&lower)) {
                    problems.push(DNS1035_MESSAGE.to_string());
                }
                if !problems.is_empty() {
                    out.push(invalid(
                        path.child("kind"),
                        v,
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            problems.join(",")
                        ),
                    ));
                }
            }
        }
    }
}

/// Appends the errors of every embedded resource in `value` to `out`.
pub(crate) fn validate(node: &Node, value: &Value, path: &FieldPath, out: &mut Vec<FieldError>) {
    match value {
        Value::Object(obj) => {
            if node.embedded {
                check_resource(path, obj, out);
            }
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
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for (i, item) in items.iter().enumerate() {
                    validate(item_node, item, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
}
