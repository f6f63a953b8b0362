//! `meta.k8s.io/v1` Table responses (what `kubectl get` prints), with a JSONPath subset for
//! CRD `additionalPrinterColumns`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::list::partial_metadata;
use crate::registry::{PrinterColumn, ResourceDef};

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn age_column() -> PrinterColumn {
    PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: AGE_DESCRIPTION.into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }
}

/// The columns after Name: the CRD version's printer columns, or Age.
fn columns(def: &ResourceDef, version: &str) -> Vec<PrinterColumn> {
    let cols = def
        .custom
        .as_ref()
        .and_then(|c| c.columns.get(version))
        .cloned()
        .unwrap_or_default();
    if cols.is_empty() {
        vec![age_column()]
    } else {
        cols
    }
}

/// apimachinery's `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        return if d == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{d}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Evaluates the JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[*].b`,
/// `.a[?(@.type=="Ready")].status`, optionally wrapped in `{}`.
pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    let p = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut current = vec![obj.clone()];
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            rest = &r[end..];
            if key.is_empty() {
                continue;
            }
            current = current.iter().filter_map(|v| v.get(key).cloned()).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(close) = find_close(r) else {
                return Vec::new();
            };
            let inner = &r[..close];
            rest = &r[close + 1..];
            let mut next = Vec::new();
            for v in &current {
                let Some(items) = v.as_array() else { continue };
                if inner == "*" {
                    next.extend(items.iter().cloned());
                } else if let Ok(i) = inner.parse::<i64>() {
                    let idx = if i < 0 { items.len() as i64 + i } else { i };
                    if let Some(x) = usize::try_from(idx).ok().and_then(|i| items.get(i)) {
                        next.push(x.clone());
                    }
                } else if let Some(filter) =
                    inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')'))
                {
                    next.extend(
                        items
                            .iter()
                            .filter(|it| filter_matches(it, filter))
                            .cloned(),
                    );
                }
            }
            current = next;
        } else {
            return Vec::new();
        }
    }
    current
}

fn find_close(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut in_str: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (c, in_str) {
            ('"' | '\'', None) => in_str = Some(c),
            (q, Some(open)) if q == open => in_str = None,
            ('(', None) => depth += 1,
            (')', None) => depth -= 1,
            (']', None) if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn filter_matches(item: &Value, filter: &str) -> bool {
    let (lhs, neg, rhs) = if let Some((l, r)) = filter.split_once("!=") {
        (l, true, r)
    } else if let Some((l, r)) = filter.split_once("==") {
        (l, false, r)
    } else {
        let path = filter.trim().strip_prefix('@').unwrap_or(filter);
        return !json_path(item, path).is_empty();
    };
    let path = lhs.trim().strip_prefix('@').unwrap_or(lhs.trim());
    let want = rhs.trim().trim_matches(|c| c == '"' || c == '\'');
    let got = json_path(item, path);
    let eq = got.iter().any(|v| match v {
        Value::String(s) => s == want,
        other => *other == want,
    });
    eq != neg
}

fn cell(col: &PrinterColumn, obj: &Value, now: i64) -> Value {
    let vals = json_path(obj, &col.json_path);
    let Some(first) = vals.first() else {
        return Value::Null;
    };
    if col.type_ == "date" {
        return match first
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        {
            Some(t) => json!(human_duration(now - t.as_second())),
            None => Value::Null,
        };
    }
    match first {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            if vals.len() > 1 {
                json!(
                    vals.iter()
                        .map(|v| v
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string()))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            } else {
                first.clone()
            }
        }
        other => json!(other.to_string()),
    }
}

/// kube-apiserver's printer of Events (both APIs; objects are stored as core/v1 Events): its
/// column definitions, and one row's cells.
fn event_columns() -> Vec<Value> {
    [
        ("Last Seen", 0, "The time at which the most recent occurrence of this event was recorded."),
        ("Type", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
        ("Reason", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
        ("Object", 0, "The object that this event is about."),
        ("Subobject", 1, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
        ("Source", 1, "The component reporting this event. Should be a short machine understandable string."),
        ("Message", 0, "A human-readable description of the status of this operation."),
        ("First Seen", 1, "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
        ("Count", 1, "The number of times this event has occurred."),
        ("Name", 1, NAME_DESCRIPTION),
    ]
    .into_iter()
    .map(|(name, priority, description)| {
        let format = if name == "Name" { "name" } else { "" };
        json!({"name": name, "type": "string", "format": format, "description": description, "priority": priority})
    })
    .collect()
}

fn since(ts: Option<&str>, now: i64) -> Option<String> {
    let t = ts?.parse::<jiff::Timestamp>().ok()?;
    Some(human_duration(now - t.as_second()))
}

fn event_cells(e: &Value, now: i64) -> Vec<Value> {
    let s = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or("");
    let first = since(e.get("firstTimestamp").and_then(Value::as_str), now)
        .or_else(|| since(e.get("eventTime").and_then(Value::as_str), now))
        .unwrap_or_else(|| "<unknown>".into());
    let mut last =
        since(e.get("lastTimestamp").and_then(Value::as_str), now).unwrap_or_else(|| first.clone());
    let mut count = e.get("count").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = e.get("series").filter(|v| v.is_object()) {
        last = since(series.get("lastObservedTime").and_then(Value::as_str), now)
            .unwrap_or_else(|| "<unknown>".into());
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = s("/involvedObject/kind").to_lowercase();
    let target = match s("/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = [s("/source/component"), s("/reportingComponent")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or("");
    let instance = [s("/source/host"), s("/reportingInstance")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or("");
    let source = match (component, instance) {
        ("", _) => String::new(),
        (c, "") => c.to_string(),
        (c, i) => format!("{c}, {i}"),
    };
    vec![
        json!(last),
        json!(s("/type")),
        json!(s("/reason")),
        json!(target),
        json!(s("/involvedObject/fieldPath")),
        json!(source),
        json!(s("/message").trim()),
        json!(first),
        json!(count),
        json!(crate::meta::name_of(e)),
    ]
}

/// Renders objects as a Table; `include_object` is `None`, `Metadata` (default) or `Object`.
pub fn table(
    def: &ResourceDef,
    version: &str,
    objects: &[Arc<Value>],
    rv: u64,
    continue_token: Option<&str>,
    include_object: &str,
) -> Value {
    let cols = columns(def, version);
    let is_event = def.custom.is_none() && def.kind == "Event";
    let defs = if is_event {
        event_columns()
    } else {
        let mut defs = vec![
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}),
        ];
        defs.extend(cols.iter().map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})));
        defs
    };
    let now = jiff::Timestamp::now().as_second();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells = if is_event {
                event_cells(o, now)
            } else {
                let mut cells = vec![json!(crate::meta::name_of(o))];
                cells.extend(cols.iter().map(|c| cell(c, o, now)));
                cells
            };
            let mut row = json!({"cells": cells});
            match include_object {
                "None" => {}
                "Object" => row["object"] = crate::api::to_version(def, o, version),
                _ => row["object"] = partial_metadata(o),
            }
            row
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_subset_reads_fields_indexes_and_filters() {
        let obj = json!({"status": {"phase": "Ready", "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"x": 3}});
        assert_eq!(json_path(&obj, ".status.phase"), vec![json!("Ready")]);
        assert_eq!(json_path(&obj, ".spec.x"), vec![json!(3)]);
        assert_eq!(
            json_path(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![json!("True")]
        );
        assert_eq!(
            json_path(&obj, "{.status.conditions[0].type}"),
            vec![json!("Synced")]
        );
        assert!(json_path(&obj, ".missing.x").is_empty());
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }
}
