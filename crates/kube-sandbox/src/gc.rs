//! What kube-controller-manager does after deletions: the garbage collector (ownerReferences,
//! foreground/orphan propagation), the namespace controller (termination) and the CRD
//! cleanup (a deleted CRD's objects go, then the CRD and its endpoints).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{DeleteOpts, delete_locked};
use crate::meta::{finalizers_of, is_deleting, name_of, namespace_of, uid_of};
use crate::registry::{GroupResource, ResourceDef};
use crate::store::{State, Store};

/// Runs collection passes whenever woken (and every second, for dependents created with
/// dangling owners), until `shutdown` flips.
pub async fn run(store: Arc<Store>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = store.gc_notify.notified() => {}
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        for _ in 0..50 {
            let mut st = store.write();
            let changed = pass(&mut st);
            drop(st);
            if !changed {
                break;
            }
        }
    }
}

struct Owner {
    deleting: bool,
    finalizers: Vec<String>,
}

fn set_finalizers(st: &mut State, gr: &GroupResource, obj: &Value, finalizers: Vec<String>) {
    let mut o = obj.clone();
    o["metadata"]["finalizers"] = json!(finalizers);
    if finalizers.is_empty()
        && let Some(m) = o["metadata"].as_object_mut()
    {
        m.remove("finalizers");
    }
    st.put(gr, o);
}

fn def_of(st: &State, gr: &GroupResource) -> Option<Arc<ResourceDef>> {
    st.defs.get(gr).cloned()
}

/// One pass; true when something changed (the caller repeats until stable).
pub fn pass(st: &mut State) -> bool {
    let mut changed = false;
    // With nothing being deleted and nothing removed since the last pass, only a dependent written
    // since then can have something to collect (an owner that never existed): the pass looks at
    // those, not at every object with owners (a pass a second over 50,000 reader roles, bindings
    // and reports was a tenth of the sandbox's CPU at 10,000 onboardings).
    let full = std::mem::take(&mut st.gc_full) || !st.gc_deleting.is_empty();
    let fresh = std::mem::take(&mut st.gc_fresh);
    let look_at = if full { &st.gc_watch } else { &fresh };
    // What has owners or is being deleted, and the owners it names, as they are at the start of
    // the pass.
    let all: Vec<(GroupResource, Arc<Value>)> = look_at
        .iter()
        .filter_map(|(gr, key)| Some((gr.clone(), st.objects.get(gr)?.get(key)?.clone())))
        .collect();
    let owners: HashMap<String, Owner> = all
        .iter()
        .filter_map(|(_, obj)| obj.pointer("/metadata/ownerReferences")?.as_array())
        .flatten()
        .filter_map(|r| r.get("uid")?.as_str())
        .filter_map(|uid| {
            let obj = st.by_uid.get(uid)?;
            let owner = Owner {
                deleting: is_deleting(obj),
                finalizers: finalizers_of(obj),
            };
            Some((uid.to_string(), owner))
        })
        .collect();
    let mut blocking: HashMap<String, usize> = HashMap::new();
    let mut dependents: HashMap<String, usize> = HashMap::new();
    for (gr, obj) in &all {
        let Some(refs) = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
        else {
            continue;
        };
        if refs.is_empty() {
            continue;
        }
        let ns = namespace_of(obj).to_string();
        let name = name_of(obj).to_string();
        let mut keep = Vec::new();
        let mut orphaned = false;
        let mut solid = false;
        let mut foreground = false;
        for r in refs {
            let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
            *dependents.entry(uid.to_string()).or_default() += 1;
            if r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
                *blocking.entry(uid.to_string()).or_default() += 1;
            }
            match owners.get(uid) {
                Some(o) if o.deleting && o.finalizers.iter().any(|f| f == "orphan") => {
                    orphaned = true
                }
                Some(o) if o.deleting && o.finalizers.iter().any(|f| f == "foregroundDeletion") => {
                    foreground = true;
                    keep.push(r.clone());
                }
                Some(o) if o.deleting && o.finalizers.is_empty() => keep.push(r.clone()),
                Some(_) => {
                    solid = true;
                    keep.push(r.clone());
                }
                None => keep.push(r.clone()),
            }
        }
        if orphaned {
            let mut o = (**obj).clone();
            o["metadata"]["ownerReferences"] = json!(keep);
            if keep.is_empty()
                && let Some(m) = o["metadata"].as_object_mut()
            {
                m.remove("ownerReferences");
            }
            st.put(gr, o);
            changed = true;
            continue;
        }
        if solid || is_deleting(obj) {
            continue;
        }
        // Every owner is gone (or going): delete the dependent.
        let Some(def) = def_of(st, gr) else { continue };
        let propagation = if foreground {
            "Foreground"
        } else {
            "Background"
        };
        let opts = DeleteOpts {
            propagation: Some(propagation.into()),
            ..DeleteOpts::default()
        };
        let owners_gone = refs.iter().all(|r| {
            let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
            owners.get(uid).is_none_or(|o| o.deleting)
        });
        let any_absent_or_fg = foreground
            || refs
                .iter()
                .any(|r| !owners.contains_key(r.get("uid").and_then(Value::as_str).unwrap_or("")));
        if owners_gone && any_absent_or_fg && delete_locked(st, &def, &ns, &name, &opts).is_ok() {
            changed = true;
        }
    }
    if !full {
        // Nothing is being deleted: no owner waits, no namespace or CRD terminates.
        return changed;
    }
    // Owners waiting for dependents (foreground) or orphaning them.
    for (gr, obj) in &all {
        if !is_deleting(obj) {
            continue;
        }
        let uid = uid_of(obj);
        let mut f = finalizers_of(obj);
        let before = f.len();
        if blocking.get(uid).copied().unwrap_or(0) == 0 {
            f.retain(|x| x != "foregroundDeletion");
        }
        if dependents.get(uid).copied().unwrap_or(0) == 0 {
            f.retain(|x| x != "orphan");
        }
        if f.len() != before
            && st
                .get(gr, namespace_of(obj), name_of(obj))
                .is_some_and(|cur| cur == *obj)
        {
            set_finalizers(st, gr, obj, f);
            changed = true;
        }
    }
    changed |= namespaces(st);
    changed |= crds(st);
    // Anything deleting without finalizers goes.
    let ns_gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    let done: Vec<(GroupResource, String, String)> = st
        .gc_watch
        .iter()
        .filter_map(|(gr, key)| Some((gr, st.objects.get(gr)?.get(key)?)))
        .filter(|(gr, o)| {
            is_deleting(o)
                && finalizers_of(o).is_empty()
                && !(**gr == ns_gr
                    && o.pointer("/spec/finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty()))
        })
        .map(|(gr, o)| {
            (
                gr.clone(),
                namespace_of(o).to_string(),
                name_of(o).to_string(),
            )
        })
        .collect();
    for (gr, ns, name) in done {
        st.remove(&gr, &ns, &name);
        changed = true;
    }
    changed
}

/// The namespace controller: empties terminating namespaces, then drops their `kubernetes`
/// finalizer.
fn namespaces(st: &mut State) -> bool {
    let ns_gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    let terminating: Vec<Arc<Value>> = st
        .gc_watch
        .iter()
        .filter(|(gr, _)| *gr == ns_gr)
        .filter_map(|(gr, key)| st.objects.get(gr)?.get(key).cloned())
        .filter(|n| is_deleting(n))
        .collect();
    let mut changed = false;
    for ns in terminating {
        let name = name_of(&ns).to_string();
        let mut contents = Vec::new();
        for (gr, map) in &st.objects {
            for ((n, obj_name), obj) in map.range((name.clone(), String::new())..) {
                if *n != name {
                    break;
                }
                if !is_deleting(obj) {
                    contents.push((gr.clone(), obj_name.clone()));
                }
            }
        }
        for (gr, obj_name) in contents {
            if let Some(def) = def_of(st, &gr)
                && def.namespaced
                && delete_locked(st, &def, &name, &obj_name, &DeleteOpts::default()).is_ok()
            {
                changed = true;
            }
        }
        if let Some(updated) = deletion_conditions(st, &name) {
            st.put(&ns_gr, updated);
            changed = true;
        }
        let Some(ns) = st.get(&ns_gr, "", &name) else {
            continue;
        };
        let spec_f = ns
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if st.namespace_is_empty(&name) && spec_f.iter().any(|f| f == "kubernetes") {
            let mut o = (*ns).clone();
            let rest: Vec<Value> = spec_f.into_iter().filter(|f| f != "kubernetes").collect();
            o["spec"]["finalizers"] = json!(rest);
            st.put(&ns_gr, o);
            changed = true;
        }
    }
    changed
}

/// The conditions the namespace controller reports on a terminating namespace (what is left,
/// held by which finalizers); the namespace with them when they changed.
fn deletion_conditions(st: &State, name: &str) -> Option<Value> {
    let ns_gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    let ns = st.get(&ns_gr, "", name)?;
    let mut resources: Vec<String> = Vec::new();
    let mut finalizers: std::collections::BTreeMap<String, usize> = Default::default();
    for (gr, map) in &st.objects {
        let mut count = 0;
        for ((n, _), obj) in map.range((name.to_string(), String::new())..) {
            if n != name {
                break;
            }
            count += 1;
            for f in finalizers_of(obj) {
                *finalizers.entry(f).or_default() += 1;
            }
        }
        if count > 0 {
            resources.push(format!(
                "{}.{} has {count} resource instances",
                gr.resource, gr.group
            ));
        }
    }
    resources.sort();
    let ok = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "False", "reason": reason, "message": message});
    let mut conditions = vec![
        ok(
            "NamespaceDeletionDiscoveryFailure",
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        ok(
            "NamespaceDeletionGroupVersionParsingFailure",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        ok(
            "NamespaceDeletionContentFailure",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
    ];
    conditions.push(if resources.is_empty() {
        ok(
            "NamespaceContentRemaining",
            "ContentRemoved",
            "All content successfully removed",
        )
    } else {
        json!({"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
            "message": format!("Some resources are remaining: {}", resources.join(", "))})
    });
    conditions.push(if finalizers.is_empty() {
        ok(
            "NamespaceFinalizersRemaining",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        )
    } else {
        let held: Vec<String> = finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        json!({"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
            "message": format!("Some content in the namespace has finalizers remaining: {}", held.join(", "))})
    });
    let old: Vec<Value> = ns
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let without_time = |c: &Value| {
        let mut c = c.clone();
        if let Some(o) = c.as_object_mut() {
            o.remove("lastTransitionTime");
        }
        c
    };
    if old.iter().map(without_time).collect::<Vec<_>>() == conditions {
        return None;
    }
    let now = crate::meta::now();
    for c in &mut conditions {
        let kept = old
            .iter()
            .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
            .and_then(|o| o.get("lastTransitionTime").cloned());
        c["lastTransitionTime"] = kept.unwrap_or_else(|| json!(now));
    }
    let mut updated = (*ns).clone();
    updated["status"]["conditions"] = json!(conditions);
    Some(updated)
}

/// CRD cleanup: a deleting CRD's objects are deleted, then its finalizer removed; a removed
/// CRD's endpoints and objects disappear.
fn crds(st: &mut State) -> bool {
    let crd_gr = GroupResource {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
    };
    let mut changed = false;
    let customs: Vec<Arc<ResourceDef>> = st
        .defs
        .values()
        .filter(|d| d.custom.is_some())
        .cloned()
        .collect();
    for def in customs {
        let crd_name = def
            .custom
            .as_ref()
            .map(|c| c.crd_name.clone())
            .unwrap_or_default();
        match st.get(&crd_gr, "", &crd_name) {
            None => {
                // The CRD is gone: its objects go without events of their own, as the storage is dropped.
                st.defs.remove(&def.key());
                st.drop_resource(&def.key());
                changed = true;
            }
            Some(crd) if is_deleting(&crd) => {
                let objs = st.list(&def.key(), None);
                for o in &objs {
                    if !is_deleting(o) {
                        let (ns, name) = (namespace_of(o).to_string(), name_of(o).to_string());
                        if delete_locked(st, &def, &ns, &name, &DeleteOpts::default()).is_ok() {
                            changed = true;
                        }
                    }
                }
                if st.list(&def.key(), None).is_empty() {
                    let f: Vec<String> = finalizers_of(&crd)
                        .into_iter()
                        .filter(|f| f != crate::crd::CLEANUP_FINALIZER)
                        .collect();
                    if f.len() != finalizers_of(&crd).len() {
                        set_finalizers(st, &crd_gr, &crd, f);
                        changed = true;
                    }
                }
            }
            Some(_) => {}
        }
    }
    changed
}
