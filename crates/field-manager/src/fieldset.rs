//! Sets of field paths (structured-merge-diff's `fieldpath.Set`) and their `FieldsV1` JSON form.
//!
//! A set is a tree keyed by path elements in their `FieldsV1` spelling: `f:<field>`,
//! `k:{"key":value}` (keyed list item), `v:<json>` (set item), `i:<index>`. A node is a
//! *member* when the path itself is in the set; it may also have children. In `FieldsV1`, a
//! member without children is `{}` and a member with children carries a `".": {}` marker.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A set of field paths, as a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    /// The path leading to this node is itself in the set.
    pub member: bool,
    /// Longer paths, by next path element. Invariant: no child is empty.
    pub children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    /// No path at all in the set.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Adds `child` under `key` unless it is empty (keeps the no-empty-child invariant).
    pub fn put_child(&mut self, key: String, child: FieldSet) {
        if !child.is_empty() {
            self.children.insert(key, child);
        }
    }

    /// Adds every path of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, o) in &other.children {
            match self.children.get_mut(k) {
                Some(c) => c.union_with(o),
                None => {
                    self.children.insert(k.clone(), o.clone());
                }
            }
        }
    }

    /// Removes every path that is a member of `other` (not the paths below it: this is
    /// `Set.Difference`, not `RecursiveDifference`).
    pub fn subtract(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        if other.children.is_empty() || self.children.is_empty() {
            return;
        }
        // Walk the smaller side to stay linear in the smaller set.
        if other.children.len() < self.children.len() {
            for (k, o) in &other.children {
                if let Some(c) = self.children.get_mut(k) {
                    c.subtract(o);
                    if c.is_empty() {
                        self.children.remove(k);
                    }
                }
            }
        } else {
            self.children.retain(|k, c| {
                if let Some(o) = other.children.get(k) {
                    c.subtract(o);
                }
                !c.is_empty()
            });
        }
    }

    /// The paths that are members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        let (small, big) = if self.children.len() <= other.children.len() {
            (self, other)
        } else {
            (other, self)
        };
        for (k, a) in &small.children {
            if let Some(b) = big.children.get(k) {
                out.put_child(k.clone(), a.intersection(b));
            }
        }
        out
    }

    /// Reads a `fieldsV1` object.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(m) = v else {
            return Err("fieldsV1 must be a JSON object".to_string());
        };
        let mut out = FieldSet::default();
        for (k, cv) in m {
            if k == "." {
                out.member = true;
                continue;
            }
            let key = canonical_element(k)?;
            let mut child = FieldSet::from_fields_v1(cv)?;
            // `{}` is a member leaf; children without "." are only a prefix.
            if child.children.is_empty() {
                child.member = true;
            }
            out.children.insert(key, child);
        }
        Ok(out)
    }

    /// Writes the `fieldsV1` object of a (root) set.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1_node());
        }
        Value::Object(m)
    }

    fn to_fields_v1_node(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".to_string(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1_node());
        }
        Value::Object(m)
    }

    /// Every member path, spelled as kube-apiserver prints paths (`.spec.containers[name="app"].image`).
    pub fn member_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_paths(&mut String::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut String, out: &mut Vec<String>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            let len = prefix.len();
            prefix.push_str(&display_element(k));
            c.collect_paths(prefix, out);
            prefix.truncate(len);
        }
    }
}

/// Normalises one `FieldsV1` key: the JSON of `k:` and `v:` elements is re-serialised compactly
/// with sorted keys, so sets read from any writer compare equal to sets built here.
fn canonical_element(k: &str) -> Result<String, String> {
    // Fast path: compact JSON without escapes and with a single key is already canonical
    // (what this crate and kube-apiserver write), so most elements skip re-parsing.
    let simple = |json: &str| {
        !json
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'\\' || b == b',')
    };
    if let Some(json) = k.strip_prefix("k:") {
        if simple(json) && json.starts_with("{\"") && json.ends_with('}') {
            return Ok(k.to_string());
        }
        let v: Value =
            serde_json::from_str(json).map_err(|e| format!("invalid key element {k:?}: {e}"))?;
        if !v.is_object() {
            return Err(format!(
                "invalid key element {k:?}: keys must be a JSON object"
            ));
        }
        Ok(format!("k:{v}"))
    } else if let Some(json) = k.strip_prefix("v:") {
        if simple(json) && !json.is_empty() {
            return Ok(k.to_string());
        }
        let v: Value =
            serde_json::from_str(json).map_err(|e| format!("invalid value element {k:?}: {e}"))?;
        Ok(format!("v:{v}"))
    } else if k.starts_with("f:") || k.starts_with("i:") {
        Ok(k.to_string())
    } else {
        Err(format!(
            "invalid path element {k:?}: expected a f:, k:, v: or i: prefix"
        ))
    }
}

/// Prints one path element as in `fieldpath.PathElement.String()`.
pub(crate) fn display_element(k: &str) -> String {
    if let Some(name) = k.strip_prefix("f:") {
        format!(".{name}")
    } else if let Some(json) = k.strip_prefix("k:") {
        match serde_json::from_str::<Map<String, Value>>(json) {
            Ok(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            Err(_) => format!("[{json}]"),
        }
    } else if let Some(json) = k.strip_prefix("v:") {
        format!("[={json}]")
    } else if let Some(i) = k.strip_prefix("i:") {
        format!("[{i}]")
    } else {
        k.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_members_prefixes_and_dot_markers() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}}}}
        });
        let s = FieldSet::from_fields_v1(&v).unwrap();
        assert!(s.children["f:metadata"].children["f:labels"].member);
        assert!(!s.children["f:metadata"].member);
        assert_eq!(s.to_fields_v1(), v);
    }

    #[test]
    fn key_elements_are_canonicalised_with_sorted_keys() {
        let v = json!({"k:{\"protocol\":\"TCP\", \"containerPort\":80}": {}});
        let s = FieldSet::from_fields_v1(&v).unwrap();
        assert!(
            s.children
                .contains_key("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
        );
    }

    #[test]
    fn subtract_removes_members_but_keeps_other_paths_below() {
        let mut a =
            FieldSet::from_fields_v1(&json!({"f:a": {".": {}, "f:b": {}}, "f:c": {}})).unwrap();
        let b = FieldSet::from_fields_v1(&json!({"f:a": {}, "f:c": {}})).unwrap();
        a.subtract(&b);
        assert_eq!(a.to_fields_v1(), json!({"f:a": {"f:b": {}}}));
    }

    #[test]
    fn member_paths_are_printed_like_the_apiserver() {
        let s = FieldSet::from_fields_v1(&json!({
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:image": {}}}, "f:replicas": {}},
            "f:metadata": {"f:finalizers": {"v:\"x\"": {}}}
        }))
        .unwrap();
        assert_eq!(
            s.member_paths(),
            vec![
                ".metadata.finalizers[=\"x\"]".to_string(),
                ".spec.containers[name=\"app\"].image".to_string(),
                ".spec.replicas".to_string()
            ]
        );
    }

    #[test]
    fn malformed_fields_v1_is_rejected() {
        assert!(FieldSet::from_fields_v1(&json!({"spec": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:notjson": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }
}
