//! Decoding of built-in objects through the k8s-openapi types, as apiserver decodes them into
//! Go structs: wrong types are a 400, unknown fields are dropped (and reported for
//! `fieldValidation`).

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use serde_json::Value;

macro_rules! roundtrip {
    ($value:expr, $ty:ty) => {{
        // Read from the borrowed value: no copy of the object before decoding it.
        let typed = <$ty as serde::Deserialize>::deserialize($value)?;
        serde_json::to_value(&typed)?
    }};
}

/// Round-trips `value` through the typed struct of the built-in `group`/`kind`; `None` when the
/// kind is not a known built-in (custom resources).
pub fn decode_builtin(
    group: &str,
    kind: &str,
    value: &Value,
) -> Option<Result<Value, serde_json::Error>> {
    let r = (|| -> Result<Option<Value>, serde_json::Error> {
        Ok(Some(match (group, kind) {
            ("", "Namespace") => roundtrip!(value, api::core::v1::Namespace),
            ("", "ResourceQuota") => roundtrip!(value, api::core::v1::ResourceQuota),
            ("", "LimitRange") => roundtrip!(value, api::core::v1::LimitRange),
            ("", "ServiceAccount") => roundtrip!(value, api::core::v1::ServiceAccount),
            ("", "ConfigMap") => roundtrip!(value, api::core::v1::ConfigMap),
            ("", "Secret") => roundtrip!(value, api::core::v1::Secret),
            ("", "Service") => roundtrip!(value, api::core::v1::Service),
            ("", "Pod") => roundtrip!(value, api::core::v1::Pod),
            ("", "Event") => roundtrip!(value, api::core::v1::Event),
            ("", "Endpoints") => roundtrip!(value, api::core::v1::Endpoints),
            ("", "PersistentVolumeClaim") => {
                roundtrip!(value, api::core::v1::PersistentVolumeClaim)
            }
            ("events.k8s.io", "Event") => roundtrip!(value, api::events::v1::Event),
            ("coordination.k8s.io", "Lease") => roundtrip!(value, api::coordination::v1::Lease),
            ("networking.k8s.io", "NetworkPolicy") => {
                roundtrip!(value, api::networking::v1::NetworkPolicy)
            }
            ("networking.k8s.io", "Ingress") => roundtrip!(value, api::networking::v1::Ingress),
            ("rbac.authorization.k8s.io", "Role") => roundtrip!(value, api::rbac::v1::Role),
            ("rbac.authorization.k8s.io", "RoleBinding") => {
                roundtrip!(value, api::rbac::v1::RoleBinding)
            }
            ("rbac.authorization.k8s.io", "ClusterRole") => {
                roundtrip!(value, api::rbac::v1::ClusterRole)
            }
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
                roundtrip!(value, api::rbac::v1::ClusterRoleBinding)
            }
            ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
                roundtrip!(
                    value,
                    api::admissionregistration::v1::ValidatingAdmissionPolicy
                )
            }
            ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
                roundtrip!(
                    value,
                    api::admissionregistration::v1::ValidatingAdmissionPolicyBinding
                )
            }
            ("apps", "Deployment") => roundtrip!(value, api::apps::v1::Deployment),
            ("apps", "StatefulSet") => roundtrip!(value, api::apps::v1::StatefulSet),
            ("apps", "DaemonSet") => roundtrip!(value, api::apps::v1::DaemonSet),
            ("apps", "ReplicaSet") => roundtrip!(value, api::apps::v1::ReplicaSet),
            ("batch", "Job") => roundtrip!(value, api::batch::v1::Job),
            ("batch", "CronJob") => roundtrip!(value, api::batch::v1::CronJob),
            ("policy", "PodDisruptionBudget") => {
                roundtrip!(value, api::policy::v1::PodDisruptionBudget)
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                roundtrip!(value, apiext::CustomResourceDefinition)
            }
            _ => return Ok(None),
        }))
    })();
    match r {
        Ok(Some(v)) => Some(Ok(v)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}

/// Paths present in `input` and missing from `decoded` (unknown fields), in apiserver's
/// `.spec.foo` notation without the leading dot: `spec.foo`, `spec.items[0].bar`.
pub fn unknown_fields(input: &Value, decoded: &Value) -> Vec<String> {
    unknown_fields_except(input, decoded, &[])
}

/// [`unknown_fields`] without looking at the top-level keys in `skip`.
pub fn unknown_fields_except(input: &Value, decoded: &Value, skip: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    match (input.as_object(), decoded.as_object()) {
        (Some(m), Some(d)) => {
            for (k, v) in m.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
                path.push(Seg::Key(k));
                field(v, d.get(k), &mut path, &mut out);
                path.pop();
            }
        }
        _ => walk(input, Some(decoded), &mut path, &mut out),
    }
    out
}

/// One step of a path; the path is written out only for an unknown field.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn render(path: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// A key's value: absent from the decoded object means unknown. A map of free-form values
/// (labels, data) keeps all keys, so a key missing from the decoded object was dropped.
fn field<'a>(
    v: &'a Value,
    decoded: Option<&Value>,
    path: &mut Vec<Seg<'a>>,
    out: &mut Vec<String>,
) {
    if v.is_null() {
        return;
    }
    match decoded {
        Some(dv) => walk(v, Some(dv), path, out),
        None => out.push(render(path)),
    }
}

fn walk<'a>(
    input: &'a Value,
    decoded: Option<&Value>,
    path: &mut Vec<Seg<'a>>,
    out: &mut Vec<String>,
) {
    match input {
        Value::Object(m) => {
            let d = decoded.and_then(Value::as_object);
            for (k, v) in m {
                path.push(Seg::Key(k));
                field(v, d.and_then(|d| d.get(k)), path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let d = decoded.and_then(Value::as_array);
            for (i, v) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(v, d.and_then(|d| d.get(i)), path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_name_each_dropped_path_in_apiserver_notation() {
        let input = json!({
            "metadata": {"name": "a", "bogus": 1},
            "spec": {"items": [{"bar": 1, "ok": 2}, {"ok": 3}], "gone": {"x": 1}, "nil": null},
            "top": true
        });
        let decoded = json!({
            "metadata": {"name": "a"},
            "spec": {"items": [{"ok": 2}, {"ok": 3}]}
        });
        assert_eq!(
            unknown_fields(&input, &decoded),
            ["metadata.bogus", "spec.gone", "spec.items[0].bar", "top"]
        );
        assert_eq!(
            unknown_fields_except(&input, &decoded, &["metadata", "top"]),
            ["spec.gone", "spec.items[0].bar"]
        );
        assert_eq!(unknown_fields(&json!([{"a": 1}]), &json!([{}])), ["[0].a"]);
    }
}
