//! Label selectors (`a=b,c!=d,e in (f,g),h notin (i),j,!k`) and field selectors
//! (`metadata.name=x,status.phase!=Running`), parsed as apiserver parses them.

use serde_json::Value;

use crate::registry::ResourceDef;
use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    reqs: Vec<Req>,
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{whole}', expected: '('"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let req = if let Some(key) = part.strip_prefix('!') {
                Req::NotExists(key.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some(idx) = part.find(" notin ") {
                Req::NotIn(
                    part[..idx].trim().into(),
                    parse_set(&part[idx + 7..], &part)?,
                )
            } else if let Some(idx) = part.find(" in ") {
                Req::In(
                    part[..idx].trim().into(),
                    parse_set(&part[idx + 4..], &part)?,
                )
            } else if part.contains(' ') || part.contains('(') {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: found '{part}', expected: in, notin, =, ==, !=, gt, lt"
                )));
            } else {
                Req::Exists(part)
            };
            reqs.push(req);
        }
        Ok(Self { reqs })
    }

    /// From a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`); an operator it
    /// does not know matches nothing, as kube-apiserver refuses such a selector.
    pub fn from_object(selector: &Value) -> Self {
        let mut reqs = Vec::new();
        if let Some(m) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Req::Eq(k.clone(), v.as_str().unwrap_or("").to_string()));
            }
        }
        for e in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            reqs.push(match e.get("operator").and_then(Value::as_str) {
                Some("In") => Req::In(key, values),
                Some("NotIn") => Req::NotIn(key, values),
                Some("Exists") => Req::Exists(key),
                Some("DoesNotExist") => Req::NotExists(key),
                _ => Req::In(key, Vec::new()),
            });
        }
        Self { reqs }
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        if self.reqs.is_empty() {
            return true;
        }
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector over the fields a kind supports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses `fieldSelector`; the kind (and a CRD version's `selectableFields`) decides which
    /// fields beyond metadata are allowed, as apiserver refuses unsupported ones with a 400.
    /// Fields of the events.k8s.io/v1 view are translated to the core Event stored.
    pub fn parse(s: &str, def: &ResourceDef, version: &str) -> Result<Self, ApiError> {
        let (group, kind, namespaced) = (def.group.as_str(), def.kind.as_str(), def.namespaced);
        let selectable = def
            .custom
            .as_ref()
            .and_then(|c| c.selectable_fields.get(version));
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let (k, neg, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let k = k.trim().to_string();
            let allowed = k == "metadata.name"
                || (k == "metadata.namespace" && namespaced)
                || match (group, kind) {
                    ("", "Pod") => {
                        matches!(
                            k.as_str(),
                            "status.phase"
                                | "spec.nodeName"
                                | "spec.restartPolicy"
                                | "spec.schedulerName"
                                | "spec.serviceAccountName"
                                | "status.podIP"
                                | "status.nominatedNodeName"
                        )
                    }
                    ("", "Event") | ("events.k8s.io", "Event") => {
                        k.starts_with("involvedObject.")
                            || k.starts_with("regarding.")
                            || matches!(
                                k.as_str(),
                                "reason"
                                    | "source"
                                    | "type"
                                    | "reportingController"
                                    | "reportingComponent"
                            )
                    }
                    ("", "Secret") => k == "type",
                    ("", "Namespace") => k == "status.phase",
                    _ => selectable.is_some_and(|fields| fields.contains(&k)),
                };
            if !allowed {
                return Err(ApiError::bad_request(format!(
                    "\"{k}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                )));
            }
            let k = if crate::events::is_view(def) {
                crate::events::core_field(&k)
            } else {
                k
            };
            reqs.push((k, neg, v.trim().to_string()));
        }
        Ok(Self { reqs })
    }

    /// Whether the object's fields satisfy every requirement (a missing field is "").
    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(k, neg, v)| {
            let field = field_value(obj, k);
            (field == *v) != *neg
        })
    }
}

fn field_value(obj: &Value, path: &str) -> String {
    // Core Events are selected as `source` = `source.component`.
    let pointer = match path {
        "source" => "/source/component".to_string(),
        p => format!("/{}", p.replace('.', "/")),
    };
    match obj.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_supports_every_operator() {
        let obj = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        for (sel, want) in [
            ("a=1", true),
            ("a==1", true),
            ("a!=1", false),
            ("a in (1,3)", true),
            ("a notin (1,3)", false),
            ("c notin (1)", true),
            ("a", true),
            ("!a", false),
            ("!c", true),
            ("a=1,b in (2)", true),
            ("a=1,b=3", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&obj),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn field_selector_refuses_unknown_fields() {
        let defs = crate::registry::builtins();
        let def = |kind: &str| {
            defs.iter()
                .find(|d| d.group.is_empty() && d.kind == kind)
                .unwrap()
        };
        assert!(FieldSelector::parse("spec.foo=x", def("ConfigMap"), "v1").is_err());
        let pod = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        let s = FieldSelector::parse("status.phase!=Pending,metadata.name=p", def("Pod"), "v1")
            .unwrap();
        assert!(s.matches(&pod));
    }
}
