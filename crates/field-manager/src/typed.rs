//! Walks over JSON values guided by a [`TypeSchema`]: the field set of a value, the SSA merge
//! of an applied configuration onto a live object, the comparison of two objects
//! (added / modified / removed paths) and the removal of fields nobody owns any more.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::fieldset::FieldSet;
use crate::schema::{ListType, TypeSchema};

/// The path element of a list item (`k:{...}` or `v:...`) for a non-atomic list.
pub(crate) fn item_key(list_type: &ListType, item: &Value) -> Result<String, String> {
    match list_type {
        // Set items may be scalars or atomic values; they are identified by their JSON.
        ListType::Set => Ok(format!("v:{item}")),
        ListType::Map(keys) => {
            let Value::Object(m) = item else {
                return Err(format!(
                    "associative list with keys {keys:?} has an element that is not an object: {item}"
                ));
            };
            // Written directly in serde_json's compact form with keys sorted, as
            // `k:{"containerPort":80,"protocol":"TCP"}`.
            let mut sorted: Vec<&String> = keys.iter().collect();
            if sorted.len() > 1 {
                sorted.sort();
            }
            let mut out = String::with_capacity(48);
            out.push_str("k:{");
            for (i, k) in sorted.into_iter().enumerate() {
                let default_protocol;
                let v = match m.get(k) {
                    Some(v) if !v.is_null() => v,
                    // kube-apiserver fills a missing port protocol with its default, "TCP".
                    _ if k == "protocol" => {
                        default_protocol = Value::String("TCP".to_string());
                        &default_protocol
                    }
                    _ => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                        ));
                    }
                };
                if v.is_object() || v.is_array() {
                    return Err(format!(
                        "key field {k:?} of an associative list item must be a scalar"
                    ));
                }
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:{}", Value::String(k.clone()), v);
            }
            out.push('}');
            Ok(out)
        }
        ListType::Atomic => Err("atomic lists have no item keys".to_string()),
    }
}

/// An error while walking a value, with the path where it happened.
#[derive(Debug)]
pub(crate) struct WalkError {
    rev_path: Vec<String>,
    msg: String,
}

impl WalkError {
    fn new(msg: String) -> Self {
        WalkError {
            rev_path: Vec::new(),
            msg,
        }
    }

    fn at(mut self, element: &str) -> Self {
        self.rev_path
            .push(crate::fieldset::display_element(element));
        self
    }
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path: String = self.rev_path.iter().rev().map(String::as_str).collect();
        if path.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{path}: {}", self.msg)
        }
    }
}

/// The set of fields a value sets (`TypedValue.ToFieldSet`): leaves, atomic lists and maps,
/// associative list items, and map entries that are not named struct fields.
pub(crate) fn to_field_set(v: &Value, s: &TypeSchema) -> Result<FieldSet, WalkError> {
    let mut root = FieldSet::default();
    tfs(v, s, &mut root)?;
    root.member = false;
    Ok(root)
}

fn tfs(v: &Value, s: &TypeSchema, node: &mut FieldSet) -> Result<(), WalkError> {
    match v {
        Value::Object(m) if s.is_granular_map() => {
            for (k, cv) in m {
                let (cs, named) = s.child(k);
                let mut child = FieldSet::default();
                let key = format!("f:{k}");
                tfs(cv, cs, &mut child).map_err(|e| e.at(&key))?;
                if !named {
                    child.member = true;
                }
                node.put_child(key, child);
            }
        }
        Value::Array(items) if s.associative_list().is_some() => {
            if let Some((is, lt)) = s.associative_list() {
                for item in items {
                    let key = item_key(lt, item).map_err(WalkError::new)?;
                    if node.children.contains_key(&key) {
                        return Err(WalkError::new(format!("duplicate entries for key {key}")));
                    }
                    let mut child = FieldSet::default();
                    tfs(item, is, &mut child).map_err(|e| e.at(&key))?;
                    child.member = true;
                    node.children.insert(key, child);
                }
            }
        }
        // A null struct or associative list sets nothing; a null scalar or atomic value is set.
        Value::Null if declared_granular(s) => {}
        _ => node.member = true,
    }
    Ok(())
}

/// A declared (not guessed) granular struct/map or associative list: a null there sets nothing.
/// A null field of unknown type counts as a scalar.
fn declared_granular(s: &TypeSchema) -> bool {
    match s {
        TypeSchema::Object {
            fields,
            values,
            atomic: false,
        } => !fields.is_empty() || values.is_some(),
        _ => s.associative_list().is_some(),
    }
}

/// True when the value is absent, null, or an empty object/array.
fn empty_ish(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Merges the applied configuration `r` into `l` in place (`TypedValue.Merge`): maps key by
/// key, associative lists item by item, everything else replaced by the applied value.
pub(crate) fn merge(l: &mut Value, r: &Value, s: &TypeSchema) {
    if empty_ish(Some(l)) && empty_ish(Some(r)) {
        *l = r.clone();
        return;
    }
    match (&mut *l, r) {
        (Value::Object(lm), Value::Object(rm)) if s.is_granular_map() => {
            for (k, rv) in rm {
                match lm.get_mut(k) {
                    Some(lv) => merge(lv, rv, s.child(k).0),
                    None => {
                        lm.insert(k.clone(), rv.clone());
                    }
                }
            }
        }
        (Value::Array(la), Value::Array(ra)) if s.associative_list().is_some() => {
            if let Some((is, lt)) = s.associative_list()
                && let Some(out) = merge_list(std::mem::take(la), ra, is, lt)
            {
                *la = out;
                return;
            }
            *l = r.clone();
        }
        // An applied null does not wipe a live non-empty map or associative list.
        (Value::Object(_), Value::Null) if s.is_granular_map() => {}
        (Value::Array(_), Value::Null) if s.associative_list().is_some() => {}
        _ => *l = r.clone(),
    }
}

/// Merges an associative list as structured-merge-diff does: items in both are merged; items
/// only live keep their place; applied items come in applied order, and a live item that is
/// also applied waits until the applied order reaches it. None when an item has no valid key.
fn merge_list(
    lhs: Vec<Value>,
    rhs: &[Value],
    is: &TypeSchema,
    lt: &ListType,
) -> Option<Vec<Value>> {
    let lkeys: Vec<String> = lhs
        .iter()
        .map(|v| item_key(lt, v))
        .collect::<Result<_, _>>()
        .ok()?;
    let rkeys: Vec<String> = rhs
        .iter()
        .map(|v| item_key(lt, v))
        .collect::<Result<_, _>>()
        .ok()?;
    let rindex = first_index(&rkeys);
    let lindex = first_index(&lkeys);
    // A live item takes part in matching only at its first occurrence; later duplicates
    // stay where they are, untouched.
    let in_rhs = |li: usize| {
        lindex.get(lkeys[li].as_str()) == Some(&li) && rindex.contains_key(lkeys[li].as_str())
    };
    // Applied items that also exist live, in applied order.
    let shared: Vec<usize> = (0..rkeys.len())
        .filter(|&ri| {
            rindex.get(rkeys[ri].as_str()) == Some(&ri) && lindex.contains_key(rkeys[ri].as_str())
        })
        .collect();
    let mut next_shared = shared.iter().copied().peekable();
    let mut lslots: Vec<Option<Value>> = lhs.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(lslots.len().max(rhs.len()));
    let (llen, rlen) = (lkeys.len(), rkeys.len());
    let (mut li, mut ri) = (0, 0);
    while li < llen || ri < rlen {
        if li < llen && ri < rlen {
            if in_rhs(li) && lkeys[li] == rkeys[ri] {
                if let Some(mut lv) = lslots[li].take() {
                    merge(&mut lv, &rhs[ri], is);
                    out.push(lv);
                }
                li += 1;
                ri += 1;
                next_shared.next();
                continue;
            }
            if in_rhs(li) && next_shared.peek().is_some_and(|&n| rkeys[n] != lkeys[li]) {
                // A shared item, but not the next one in applied order: it comes later.
                li += 1;
                continue;
            }
        }
        if li < llen && !in_rhs(li) {
            if let Some(lv) = lslots[li].take() {
                out.push(lv);
            }
            li += 1;
            continue;
        }
        if ri < rlen {
            // The applied item, merged onto its live counterpart when there is one.
            let counterpart = lindex
                .get(rkeys[ri].as_str())
                .and_then(|&l| lslots[l].take());
            match counterpart {
                Some(mut lv) => {
                    merge(&mut lv, &rhs[ri], is);
                    out.push(lv);
                }
                None => out.push(rhs[ri].clone()),
            }
            if next_shared.peek() == Some(&ri) {
                next_shared.next();
            }
            ri += 1;
        } else {
            // Only shared live items remain; they went out with their applied items (the
            // take() keeps anything else rather than dropping it).
            if let Some(lv) = lslots[li].take() {
                out.push(lv);
            }
            li += 1;
        }
    }
    Some(out)
}

/// The difference between two objects (`TypedValue.Compare`).
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// Nothing differs.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// Struct paths treated as always present on the old side (Go non-pointer structs).
#[derive(Debug, Default)]
pub(crate) struct Implicit {
    children: HashMap<&'static str, Implicit>,
}

impl Implicit {
    /// Builds the tree of implicit paths.
    pub fn from_paths(paths: &[&[&'static str]]) -> Self {
        let mut root = Implicit::default();
        for p in paths {
            let mut node = &mut root;
            for e in *p {
                node = node.children.entry(e).or_default();
            }
        }
        root
    }
}

/// Compares `old` and `new` (root objects). `metadata.managedFields` is ignored.
pub(crate) fn compare(old: &Value, new: &Value, s: &TypeSchema, implicit: &Implicit) -> Comparison {
    let mut c = Comparison::default();
    let mut w = CompareWalk {
        a: &mut c.added,
        m: &mut c.modified,
        r: &mut c.removed,
    };
    w.walk(Some(old), Some(new), s, Some(implicit), Ctx::Root);
    c.added.member = false;
    c.modified.member = false;
    c.removed.member = false;
    c
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Root,
    Metadata,
    Other,
}

struct CompareWalk<'a> {
    a: &'a mut FieldSet,
    m: &'a mut FieldSet,
    r: &'a mut FieldSet,
}

impl CompareWalk<'_> {
    fn walk(
        &mut self,
        l: Option<&Value>,
        r: Option<&Value>,
        s: &TypeSchema,
        imp: Option<&Implicit>,
        ctx: Ctx,
    ) {
        // An implicit field is never absent in Go: a missing struct is an empty object and a
        // missing non-omitempty list is null.
        let empty = Value::Object(serde_json::Map::new());
        let zero = |other: Option<&Value>| match other {
            Some(Value::Array(_)) => &Value::Null,
            _ => &empty,
        };
        let (l, r) = match imp {
            Some(_) => (l.or(Some(zero(r))), r.or(Some(zero(l)))),
            None => (l, r),
        };
        let both_empty = empty_ish(l) && empty_ish(r);
        let is_map =
            |v: Option<&Value>| matches!(v, None | Some(Value::Null) | Some(Value::Object(_)));
        let is_list =
            |v: Option<&Value>| matches!(v, None | Some(Value::Null) | Some(Value::Array(_)));
        if !both_empty && s.is_granular_map() && is_map(l) && is_map(r) {
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            let visit = |k: &String, lv: Option<&Value>, rv: Option<&Value>, this: &mut Self| {
                if ctx == Ctx::Metadata && k == "managedFields" {
                    return;
                }
                let cctx = if ctx == Ctx::Root && k == "metadata" {
                    Ctx::Metadata
                } else {
                    Ctx::Other
                };
                let cimp = imp.and_then(|i| i.children.get(k.as_str()));
                this.child("f:", k, lv, rv, s.child(k).0, cimp, cctx);
            };
            if let Some(lm) = lm {
                for (k, lv) in lm {
                    visit(k, Some(lv), rm.and_then(|m| m.get(k)), self);
                }
            }
            if let Some(rm) = rm {
                for (k, rv) in rm {
                    if lm.is_none_or(|m| !m.contains_key(k)) {
                        visit(k, None, Some(rv), self);
                    }
                }
            }
            self.mark_node(l, r);
            return;
        }
        if !both_empty
            && is_list(l)
            && is_list(r)
            && let Some((is, lt)) = s.associative_list()
        {
            let la = l
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let ra = r
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if let Some((lk, rk)) = keys_of(la, lt).zip(keys_of(ra, lt)) {
                let lmap: HashMap<&str, usize> = first_index(&lk);
                let mut seen: HashSet<&str> = HashSet::with_capacity(rk.len());
                for (i, k) in rk.iter().enumerate() {
                    if !seen.insert(k.as_str()) {
                        continue;
                    }
                    let lv = lmap.get(k.as_str()).map(|&li| &la[li]);
                    self.child("", k, lv, Some(&ra[i]), is, None, Ctx::Other);
                }
                for (i, k) in lk.iter().enumerate() {
                    if seen.contains(k.as_str()) || lmap.get(k.as_str()) != Some(&i) {
                        continue;
                    }
                    self.child("", k, Some(&la[i]), None, is, None, Ctx::Other);
                }
                self.mark_node(l, r);
                return;
            }
        }
        // A leaf: scalar, atomic value, type change, or empty on both sides.
        match (l, r) {
            (None, _) => self.a.member = true,
            (_, None) => self.r.member = true,
            (Some(a), Some(b)) if !same_value(a, b) => self.m.member = true,
            _ => {}
        }
    }

    /// A non-leaf node that appears or disappears is itself added or removed.
    fn mark_node(&mut self, l: Option<&Value>, r: Option<&Value>) {
        if l.is_none() {
            self.a.member = true;
        } else if r.is_none() {
            self.r.member = true;
        }
    }

    /// Compares one child; its path element (`prefix` + `name`) is only built when it differs.
    #[allow(clippy::too_many_arguments)]
    fn child(
        &mut self,
        prefix: &str,
        name: &str,
        l: Option<&Value>,
        r: Option<&Value>,
        s: &TypeSchema,
        imp: Option<&Implicit>,
        ctx: Ctx,
    ) {
        let (mut a, mut m, mut rm) = (
            FieldSet::default(),
            FieldSet::default(),
            FieldSet::default(),
        );
        CompareWalk {
            a: &mut a,
            m: &mut m,
            r: &mut rm,
        }
        .walk(l, r, s, imp, ctx);
        if a.is_empty() && m.is_empty() && rm.is_empty() {
            return;
        }
        let key = format!("{prefix}{name}");
        if !a.is_empty() {
            self.a.children.insert(key.clone(), a);
        }
        if !m.is_empty() {
            self.m.children.insert(key.clone(), m);
        }
        if !rm.is_empty() {
            self.r.children.insert(key, rm);
        }
    }
}

/// Whether two values are equal as structured-merge-diff's `value.Equals` sees them: numbers by
/// their numeric value (`0` equals `0.0`, as a float field decoded by kube-apiserver holds either),
/// everything else structurally.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn keys_of(items: &[Value], lt: &ListType) -> Option<Vec<String>> {
    items.iter().map(|v| item_key(lt, v).ok()).collect()
}

fn first_index(keys: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        m.entry(k.as_str()).or_insert(i);
    }
    m
}

/// Removes from `v` what `last` (the applier's previous set) owned and nobody owns now
/// (`owned`: every other manager's set plus the applier's new set). Named struct fields that
/// have owned paths below them count as owned themselves (`EnsureNamedFieldsAreMembers`), so a
/// struct the applier stops applying is removed whole, while one still used by anybody stays.
pub(crate) fn remove_unowned(
    v: &mut Value,
    last: &FieldSet,
    owned: Option<&FieldSet>,
    s: &TypeSchema,
) {
    let ensured = |n: Option<&FieldSet>, named: bool| {
        n.is_some_and(|n| n.member || (named && !n.children.is_empty()))
    };
    match v {
        Value::Object(m) if s.is_granular_map() => {
            for (k, lchild) in &last.children {
                let Some(name) = k.strip_prefix("f:") else {
                    continue;
                };
                let (cs, named) = s.child(name);
                let ochild = owned.and_then(|o| o.children.get(k));
                if ensured(Some(lchild), named) && !ensured(ochild, named) {
                    m.remove(name);
                } else if !lchild.children.is_empty()
                    && let Some(cv) = m.get_mut(name)
                {
                    remove_unowned(cv, lchild, ochild, cs);
                }
            }
        }
        Value::Array(items) => {
            let Some((is, lt)) = s.associative_list() else {
                return;
            };
            let mut drop = vec![false; items.len()];
            let mut index: HashMap<String, usize> = HashMap::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Ok(k) = item_key(lt, item) {
                    index.entry(k).or_insert(i);
                }
            }
            for (k, lchild) in &last.children {
                let Some(&i) = index.get(k) else { continue };
                let ochild = owned.and_then(|o| o.children.get(k));
                if lchild.member && !ochild.is_some_and(|o| o.member) {
                    drop[i] = true;
                } else if !lchild.children.is_empty() {
                    remove_unowned(&mut items[i], lchild, ochild, is);
                }
            }
            if drop.iter().any(|d| *d) {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !drop[i];
                    i += 1;
                    keep
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::{keyed, obj, set_of_scalars};
    use serde_json::json;

    fn containers_schema() -> TypeSchema {
        obj(vec![("containers", keyed(obj(vec![]), &["name"]))])
    }

    #[test]
    fn keyed_list_merge_keeps_live_only_items_in_place_and_follows_applied_order() {
        let mut live = json!({"containers": [{"name": "a"}, {"name": "x", "image": "x"}, {"name": "b", "image": "old"}]});
        let applied = json!({"containers": [{"name": "b", "image": "new"}, {"name": "a", "image": "a"}, {"name": "c"}]});
        merge(&mut live, &applied, &containers_schema());
        assert_eq!(
            live,
            json!({"containers": [
                {"name": "x", "image": "x"},
                {"name": "b", "image": "new"},
                {"name": "a", "image": "a"},
                {"name": "c"}
            ]})
        );
    }

    #[test]
    fn merging_the_same_list_twice_is_stable() {
        let s = containers_schema();
        let mut live = json!({"containers": [{"name": "x"}, {"name": "a"}]});
        let applied = json!({"containers": [{"name": "b"}, {"name": "a"}]});
        merge(&mut live, &applied, &s);
        let once = live.clone();
        merge(&mut live, &applied, &s);
        assert_eq!(live, once);
    }

    #[test]
    fn field_set_of_a_keyed_list_owns_items_and_their_fields() {
        let s = containers_schema();
        let set = to_field_set(&json!({"containers": [{"name": "a", "image": "i"}]}), &s).unwrap();
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}}})
        );
    }

    #[test]
    fn field_set_rejects_items_without_key_and_duplicates() {
        let s = containers_schema();
        let e = to_field_set(&json!({"containers": [{"image": "i"}]}), &s).unwrap_err();
        assert!(e.to_string().contains("omits key field \"name\""), "{e}");
        let e =
            to_field_set(&json!({"containers": [{"name": "a"}, {"name": "a"}]}), &s).unwrap_err();
        assert!(e.to_string().contains("duplicate entries"), "{e}");
    }

    #[test]
    fn an_integer_and_a_float_of_the_same_value_are_no_change_as_in_structured_merge_diff() {
        let s = obj(vec![]);
        let c = compare(
            &json!({"min": 0, "list": [1, {"x": 2}]}),
            &json!({"min": 0.0, "list": [1.0, {"x": 2.0}]}),
            &s,
            &Implicit::default(),
        );
        assert!(c.is_same(), "{:?}", c.modified.to_fields_v1());
        let c = compare(
            &json!({"min": 0}),
            &json!({"min": 0.5}),
            &s,
            &Implicit::default(),
        );
        assert_eq!(c.modified.to_fields_v1(), json!({"f:min": {}}));
    }

    #[test]
    fn compare_reports_added_modified_and_removed_paths() {
        let s = obj(vec![("f", set_of_scalars())]);
        let c = compare(
            &json!({"a": 1, "b": 2, "f": ["x", "y"]}),
            &json!({"a": 1, "b": 3, "c": {"d": 1}, "f": ["y", "z"]}),
            &s,
            &Implicit::default(),
        );
        assert_eq!(
            c.added.to_fields_v1(),
            json!({"f:c": {".": {}, "f:d": {}}, "f:f": {"v:\"z\"": {}}})
        );
        assert_eq!(c.modified.to_fields_v1(), json!({"f:b": {}}));
        assert_eq!(c.removed.to_fields_v1(), json!({"f:f": {"v:\"x\"": {}}}));
    }
}
