//! core/v1 Events and events.k8s.io/v1 Events are one store seen through two APIs, as in
//! kube-apiserver: objects are stored as core/v1 Events, and the events.k8s.io/v1 API converts
//! on the way in and out (field names as in upstream's `events/v1` conversion).

use serde_json::{Map, Value, json};

use crate::registry::{GroupResource, ResourceDef};

/// `(events.k8s.io/v1 field, core/v1 field)` for the fields whose names differ.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Whether `def` is the events.k8s.io/v1 view of the core Event store.
pub fn is_view(def: &ResourceDef) -> bool {
    def.group == "events.k8s.io" && def.kind == "Event"
}

/// Where the objects of `def` are stored.
pub fn storage_key(def: &ResourceDef) -> GroupResource {
    if is_view(def) {
        GroupResource {
            group: String::new(),
            resource: "events".into(),
        }
    } else {
        def.key()
    }
}

fn rename(obj: &Value, from_view: bool, api_version: &str) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let renamed = RENAMED.iter().find_map(|(view, core)| {
            let (from, to) = if from_view {
                (view, core)
            } else {
                (core, view)
            };
            (k.as_str() == *from).then_some(*to)
        });
        out.insert(renamed.unwrap_or(k).to_string(), v.clone());
    }
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    Value::Object(out)
}

/// An events.k8s.io/v1 Event as the core/v1 Event stored.
pub fn to_core(obj: &Value) -> Value {
    let mut core = rename(obj, true, "v1");
    // core/v1 requires an involvedObject; upstream's conversion always sets one.
    if let Some(m) = core.as_object_mut() {
        m.entry("involvedObject").or_insert_with(|| json!({}));
    }
    core
}

/// A stored core/v1 Event as events.k8s.io/v1 shows it; other objects (a `Status`) unchanged.
pub fn from_core(obj: &Value) -> Value {
    if obj.get("kind").and_then(Value::as_str) != Some("Event") {
        return obj.clone();
    }
    rename(obj, false, "events.k8s.io/v1")
}

/// The core/v1 field a field selector on events.k8s.io/v1 names (`regarding.name` →
/// `involvedObject.name`), as upstream's field label conversion.
pub fn core_field(field: &str) -> String {
    let (head, rest) = match field.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (field, None),
    };
    let head = RENAMED
        .iter()
        .find_map(|(view, core)| (*view == head).then_some(*core))
        .unwrap_or(head);
    match rest {
        Some(r) => format!("{head}.{r}"),
        None => head.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_converts_both_ways_without_loss() {
        let view = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": "ns"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reason": "Started",
            "type": "Normal", "action": "Start", "reportingController": "ctl",
            "reportingInstance": "ctl-1", "eventTime": "2026-01-01T00:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
        });
        let core = to_core(&view);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "ctl");
        assert_eq!(from_core(&core), view);
    }

    #[test]
    fn field_selectors_of_the_view_name_core_fields() {
        assert_eq!(core_field("regarding.name"), "involvedObject.name");
        assert_eq!(core_field("reportingController"), "reportingComponent");
        assert_eq!(core_field("reason"), "reason");
        assert_eq!(core_field("metadata.name"), "metadata.name");
    }
}
