//! Behaviour tests of apply, record_update and strategic_merge against kube-apiserver's
//! observable results.

use serde_json::{Value, json};

use crate::*;

const T1: &str = "2026-01-01T00:00:00Z";
const T2: &str = "2026-01-01T00:01:00Z";
const T3: &str = "2026-01-01T00:02:00Z";

fn cm_schema() -> TypeSchema {
    TypeSchema::builtin("v1", "ConfigMap")
}

fn deploy_schema() -> TypeSchema {
    TypeSchema::builtin("apps/v1", "Deployment")
}

fn cm(labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns", "labels": labels}})
}

/// The managedFields entries of `obj`.
fn entries(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The fieldsV1 of the entry of `manager` with `operation`.
fn fields_of(obj: &Value, manager: &str, operation: &str) -> Option<Value> {
    entries(obj)
        .into_iter()
        .find(|e| {
            e["manager"] == manager && e["operation"] == operation && e.get("subresource").is_none()
        })
        .map(|e| e["fieldsV1"].clone())
}

fn apply_ok(
    live: Option<&Value>,
    cfg: &Value,
    manager: &str,
    schema: &TypeSchema,
    now: &str,
) -> Value {
    apply(live, cfg, manager, Subresource::Main, false, schema, now).unwrap()
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

#[test]
fn two_managers_applying_the_same_label_value_share_ownership() {
    let s = cm_schema();
    let a = apply_ok(None, &cm(json!({"team": "x"})), "alice", &s, T1);
    let b = apply_ok(Some(&a), &cm(json!({"team": "x"})), "bob", &s, T2);
    let owned = json!({"f:metadata": {"f:labels": {"f:team": {}}}});
    assert_eq!(fields_of(&b, "alice", "Apply"), Some(owned.clone()));
    assert_eq!(fields_of(&b, "bob", "Apply"), Some(owned));
    // Any change of the shared field by either of them now conflicts with the other.
    let err = apply(
        Some(&b),
        &cm(json!({"team": "y"})),
        "bob",
        Subresource::Main,
        false,
        &s,
        T3,
    )
    .unwrap_err();
    match err {
        ApplyError::Conflicts(c) => assert_eq!(
            c,
            vec![Conflict {
                manager: "alice".into(),
                field: ".metadata.labels.team".into()
            }]
        ),
        other => panic!("expected conflicts, got {other}"),
    }
}

#[test]
fn changing_a_field_owned_by_another_manager_conflicts_naming_field_and_manager() {
    let s = deploy_schema();
    let base = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
    let live = apply_ok(None, &base, "helm", &s, T1);
    let mine = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3}});
    let err = apply(Some(&live), &mine, "hpa", Subresource::Main, false, &s, T2).unwrap_err();
    let ApplyError::Conflicts(c) = &err else {
        panic!("expected conflicts, got {err}")
    };
    assert_eq!(
        c,
        &vec![Conflict {
            manager: "helm".into(),
            field: ".spec.replicas".into()
        }]
    );
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"helm\": .spec.replicas"
    );
}

#[test]
fn force_apply_takes_the_value_and_moves_ownership_to_the_applier() {
    let s = deploy_schema();
    let base = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1, "paused": false}});
    let live = apply_ok(None, &base, "helm", &s, T1);
    let mine = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3}});
    let out = apply(Some(&live), &mine, "hpa", Subresource::Main, true, &s, T2).unwrap();
    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(
        fields_of(&out, "hpa", "Apply"),
        Some(json!({"f:spec": {"f:replicas": {}}}))
    );
    assert_eq!(
        fields_of(&out, "helm", "Apply"),
        Some(json!({"f:spec": {"f:paused": {}}}))
    );
}

#[test]
fn a_manager_that_stops_applying_a_label_removes_it() {
    let s = cm_schema();
    let a = apply_ok(
        None,
        &cm(json!({"keep": "1", "drop": "2"})),
        "alice",
        &s,
        T1,
    );
    let b = apply_ok(Some(&a), &cm(json!({"keep": "1"})), "alice", &s, T2);
    assert_eq!(b["metadata"]["labels"], json!({"keep": "1"}));
    assert_eq!(
        fields_of(&b, "alice", "Apply"),
        Some(json!({"f:metadata": {"f:labels": {"f:keep": {}}}}))
    );
}

#[test]
fn dropping_a_label_another_manager_also_owns_keeps_it_and_drops_only_ownership() {
    let s = cm_schema();
    let a = apply_ok(
        None,
        &cm(json!({"shared": "v", "mine": "m"})),
        "alice",
        &s,
        T1,
    );
    let b = apply_ok(Some(&a), &cm(json!({"shared": "v"})), "bob", &s, T2);
    let c = apply_ok(Some(&b), &cm(json!({"mine": "m"})), "alice", &s, T3);
    assert_eq!(c["metadata"]["labels"], json!({"shared": "v", "mine": "m"}));
    assert_eq!(
        fields_of(&c, "alice", "Apply"),
        Some(json!({"f:metadata": {"f:labels": {"f:mine": {}}}}))
    );
    assert_eq!(
        fields_of(&c, "bob", "Apply"),
        Some(json!({"f:metadata": {"f:labels": {"f:shared": {}}}}))
    );
}

#[test]
fn dropping_all_labels_removes_the_labels_map_that_nobody_else_uses() {
    let s = cm_schema();
    let a = apply_ok(None, &cm(json!({"a": "1"})), "alice", &s, T1);
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "data": {"k": "v"}});
    let b = apply_ok(Some(&a), &cfg, "alice", &s, T2);
    assert!(b["metadata"].get("labels").is_none(), "{b}");
    assert_eq!(b["data"], json!({"k": "v"}));
}

fn deploy_with(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": containers}}}
    })
}

#[test]
fn containers_of_two_managers_merge_by_name_and_each_owns_its_items() {
    let s = deploy_schema();
    let a = apply_ok(
        None,
        &deploy_with(json!([{"name": "app", "image": "app:1"}])),
        "alice",
        &s,
        T1,
    );
    let b = apply_ok(
        Some(&a),
        &deploy_with(json!([{"name": "sidecar", "image": "proxy:1"}])),
        "bob",
        &s,
        T2,
    );
    assert_eq!(
        b["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:1"}])
    );
    assert_eq!(
        fields_of(&b, "bob", "Apply"),
        Some(
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}})
        )
    );
    // Alice changing bob's sidecar image conflicts on that exact path.
    let cfg = deploy_with(
        json!([{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:2"}]),
    );
    let err = apply(Some(&b), &cfg, "alice", Subresource::Main, false, &s, T3).unwrap_err();
    let ApplyError::Conflicts(c) = err else {
        panic!("expected conflicts")
    };
    assert_eq!(
        c[0].field,
        ".spec.template.spec.containers[name=\"sidecar\"].image"
    );
    assert_eq!(c[0].manager, "bob");
    // Alice stops applying her container: it goes, bob's stays.
    let d = apply_ok(Some(&b), &deploy_with(json!([])), "alice", &s, T3);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"],
        json!([{"name": "sidecar", "image": "proxy:1"}])
    );
}

#[test]
fn an_atomic_list_is_replaced_whole_and_owned_as_one_leaf() {
    let s = deploy_schema();
    let tol = |t: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"template": {"spec": {"tolerations": t}}}})
    };
    let a = apply_ok(
        None,
        &tol(json!([{"key": "a"}, {"key": "b"}])),
        "alice",
        &s,
        T1,
    );
    assert_eq!(
        fields_of(&a, "alice", "Apply"),
        Some(json!({"f:spec": {"f:template": {"f:spec": {"f:tolerations": {}}}}}))
    );
    let b = apply_ok(Some(&a), &tol(json!([{"key": "c"}])), "alice", &s, T2);
    assert_eq!(
        b["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "c"}])
    );
    // Another manager changing an atomic list conflicts on the list as a whole.
    let err = apply(
        Some(&b),
        &tol(json!([{"key": "c"}, {"key": "d"}])),
        "bob",
        Subresource::Main,
        false,
        &s,
        T3,
    )
    .unwrap_err();
    let ApplyError::Conflicts(c) = err else {
        panic!("expected conflicts")
    };
    assert_eq!(c[0].field, ".spec.template.spec.tolerations");
}

#[test]
fn a_set_list_merges_values_of_several_managers_and_owns_each_value() {
    let s = cm_schema();
    let fin = |f: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": f}});
    let a = apply_ok(None, &fin(json!(["a/x"])), "alice", &s, T1);
    let b = apply_ok(Some(&a), &fin(json!(["b/y"])), "bob", &s, T2);
    assert_eq!(b["metadata"]["finalizers"], json!(["a/x", "b/y"]));
    assert_eq!(
        fields_of(&b, "bob", "Apply"),
        Some(json!({"f:metadata": {"f:finalizers": {"v:\"b/y\"": {}}}}))
    );
    let c = apply_ok(Some(&b), &fin(json!([])), "alice", &s, T3);
    assert_eq!(c["metadata"]["finalizers"], json!(["b/y"]));
}

#[test]
fn status_subresource_apply_entries_are_separate_from_main_resource_entries() {
    let s = deploy_schema();
    let main = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
    let a = apply_ok(None, &main, "ctl", &s, T1);
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "status": {"replicas": 1}});
    let b = apply(
        Some(&a),
        &status,
        "ctl",
        Subresource::Named("status"),
        false,
        &s,
        T2,
    )
    .unwrap();
    let es = entries(&b);
    assert_eq!(es.len(), 2, "{es:?}");
    assert!(es.iter().any(|e| e.get("subresource").is_none()
        && e["fieldsV1"] == json!({"f:spec": {"f:replicas": {}}})));
    assert!(es.iter().any(|e| e["subresource"] == "status"
        && e["fieldsV1"] == json!({"f:status": {"f:replicas": {}}})));
    // The status apply did not remove spec.replicas: it is another manager identity.
    assert_eq!(b["spec"]["replicas"], 1);
}

#[test]
fn reapplying_identical_configuration_returns_an_equal_object_with_unchanged_managed_fields() {
    let s = deploy_schema();
    let cfg = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "b"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}}
    });
    let a = apply_ok(None, &cfg, "alice", &s, T1);
    let b = apply_ok(Some(&a), &cfg, "alice", &s, T2);
    assert_eq!(
        a, b,
        "a no-op apply must not change anything, not even the time"
    );
    assert_eq!(entries(&b)[0]["time"], T1);
    assert_eq!(
        serde_json::to_vec(&a).unwrap(),
        serde_json::to_vec(&b).unwrap()
    );
}

#[test]
fn apply_and_update_entries_of_the_same_manager_are_kept_apart() {
    let s = cm_schema();
    let a = apply_ok(None, &cm(json!({"a": "1"})), "tool", &s, T1);
    let mut edited = a.clone();
    edited["metadata"]["labels"]["b"] = json!("2");
    let b = record_update(Some(&a), &edited, "tool", Subresource::Main, &s, T2);
    let es = entries(&b);
    assert_eq!(es.len(), 2);
    assert_eq!(es[0]["operation"], "Apply");
    assert_eq!(es[1]["operation"], "Update");
    assert_eq!(
        es[1]["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:b": {}}}})
    );
    assert_eq!(es[1]["time"], T2);
}

#[test]
fn record_update_takes_changed_fields_from_their_appliers() {
    let s = deploy_schema();
    let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1, "paused": false}});
    let a = apply_ok(None, &cfg, "helm", &s, T1);
    let mut edited = a.clone();
    edited["spec"]["replicas"] = json!(5);
    let b = record_update(Some(&a), &edited, "kubectl-edit", Subresource::Main, &s, T2);
    assert_eq!(
        fields_of(&b, "helm", "Apply"),
        Some(json!({"f:spec": {"f:paused": {}}}))
    );
    assert_eq!(
        fields_of(&b, "kubectl-edit", "Update"),
        Some(json!({"f:spec": {"f:replicas": {}}}))
    );
    // Helm can now set replicas back without a conflict only by forcing; a plain apply conflicts.
    let err = apply(Some(&b), &cfg, "helm", Subresource::Main, false, &s, T3).unwrap_err();
    assert!(
        matches!(err, ApplyError::Conflicts(ref c) if c[0].manager == "kubectl-edit"),
        "{err}"
    );
}

#[test]
fn record_update_drops_removed_fields_from_every_manager() {
    let s = cm_schema();
    let a = apply_ok(None, &cm(json!({"a": "1", "b": "2"})), "alice", &s, T1);
    let mut edited = a.clone();
    edited["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("a");
    let b = record_update(Some(&a), &edited, "bob", Subresource::Main, &s, T2);
    assert_eq!(
        fields_of(&b, "alice", "Apply"),
        Some(json!({"f:metadata": {"f:labels": {"f:b": {}}}}))
    );
    // Removing a field gives bob nothing to own: no entry for him.
    assert_eq!(fields_of(&b, "bob", "Update"), None);
}

#[test]
fn record_update_of_an_unchanged_object_changes_nothing() {
    let s = cm_schema();
    let a = record_update(
        None,
        &cm(json!({"a": "1"})),
        "bob",
        Subresource::Main,
        &s,
        T1,
    );
    let b = record_update(Some(&a), &a, "bob", Subresource::Main, &s, T2);
    assert_eq!(a, b);
}

#[test]
fn create_of_a_deployment_records_update_fields_in_the_shape_kube_apiserver_writes() {
    let s = deploy_schema();
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}, "uid": "u", "resourceVersion": "1"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2", "resources": {}}]}
            }
        }
    });
    let out = record_update(None, &obj, "kubectl-create", Subresource::Main, &s, T1);
    assert_eq!(
        entries(&out),
        vec![json!({
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                    "f:template": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:name": {}, "f:resources": {}
                        }}}
                    }
                }
            },
            "manager": "kubectl-create",
            "operation": "Update",
            "time": T1
        })]
    );
}

#[test]
fn server_side_apply_of_a_deployment_writes_fields_v1_like_kube_apiserver() {
    let s = deploy_schema();
    let cfg = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{
                    "name": "nginx", "image": "nginx:1.14.2",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "A", "value": "1"}]
                }]}
            }
        }
    });
    let out = apply_ok(None, &cfg, "kubectl", &s, T1);
    // kube-apiserver's literal managedFields for `kubectl apply --server-side` of this manifest.
    let expected: Value = serde_json::from_str(
        r#"[{
          "manager": "kubectl",
          "operation": "Apply",
          "apiVersion": "apps/v1",
          "time": "2026-01-01T00:00:00Z",
          "fieldsType": "FieldsV1",
          "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
              "f:replicas": {},
              "f:selector": {},
              "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                  ".": {},
                  "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                  "f:image": {},
                  "f:name": {},
                  "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                }}}
              }
            }
          }
        }]"#,
    )
    .unwrap();
    assert_eq!(entries(&out), expected.as_array().unwrap().clone());
    assert_eq!(without_managed_fields(&out), cfg);
}

#[test]
fn applying_managed_fields_or_a_non_object_is_invalid() {
    let s = cm_schema();
    let mut cfg = cm(json!({}));
    cfg["metadata"]["managedFields"] = json!([]);
    assert!(matches!(
        apply(None, &cfg, "m", Subresource::Main, false, &s, T1),
        Err(ApplyError::Invalid(_))
    ));
    assert!(matches!(
        apply(None, &json!([1]), "m", Subresource::Main, false, &s, T1),
        Err(ApplyError::Invalid(_))
    ));
    let dup = deploy_with(json!([{"name": "a"}, {"name": "a"}]));
    let err = apply(
        None,
        &dup,
        "m",
        Subresource::Main,
        false,
        &deploy_schema(),
        T1,
    )
    .unwrap_err();
    assert!(err.to_string().contains("duplicate entries"), "{err}");
}

#[test]
fn managed_fields_list_apply_entries_first_then_updates_by_time() {
    let s = cm_schema();
    let a = record_update(
        None,
        &cm(json!({"a": "1"})),
        "creator",
        Subresource::Main,
        &s,
        T1,
    );
    let b = apply_ok(Some(&a), &cm(json!({"b": "2"})), "applier", &s, T2);
    let ops: Vec<Value> = entries(&b).iter().map(|e| e["manager"].clone()).collect();
    assert_eq!(ops, vec![json!("applier"), json!("creator")]);
}

#[test]
fn apply_of_only_identifying_fields_records_no_entry() {
    let s = cm_schema();
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}});
    let out = apply_ok(None, &cfg, "m", &s, T1);
    assert!(entries(&out).is_empty());
}

#[test]
fn a_client_can_clear_managed_fields_with_a_list_of_one_empty_entry() {
    let s = cm_schema();
    let a = apply_ok(None, &cm(json!({"a": "1"})), "m", &s, T1);
    let mut edited = a.clone();
    edited["metadata"]["managedFields"] = json!([{}]);
    let b = record_update(Some(&a), &edited, "m2", Subresource::Main, &s, T2);
    assert!(entries(&b).is_empty(), "{b}");
}

#[test]
fn conflict_message_groups_several_conflicts_by_manager() {
    let c = vec![
        Conflict {
            manager: "b".into(),
            field: ".x".into(),
        },
        Conflict {
            manager: "a".into(),
            field: ".y".into(),
        },
    ];
    assert_eq!(
        conflict_message(&c),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .y\nconflicts with \"b\":\n- .x"
    );
}

// ---- schemas ----

#[test]
fn builtin_schemas_know_keyed_lists_and_unknown_kinds_are_deduced() {
    let pod = TypeSchema::builtin("v1", "Pod");
    let (containers, _) = pod.child("spec").0.child("containers");
    assert_eq!(
        containers.list_type().map(|(_, t)| t.clone()),
        Some(ListType::Map(vec!["name".into()]))
    );
    let svc = TypeSchema::builtin("v1", "Service");
    let (ports, _) = svc.child("spec").0.child("ports");
    assert_eq!(
        ports.list_type().map(|(_, t)| t.clone()),
        Some(ListType::Map(vec!["port".into(), "protocol".into()]))
    );
    let cj = TypeSchema::builtin("batch/v1", "CronJob");
    let env = cj
        .child("spec")
        .0
        .child("jobTemplate")
        .0
        .child("spec")
        .0
        .child("template")
        .0
        .child("spec")
        .0
        .child("containers")
        .0
        .list_type()
        .map(|(items, _)| items.child("env").0.clone());
    assert_eq!(
        env.and_then(|e| e.list_type().map(|(_, t)| t.clone())),
        Some(ListType::Map(vec!["name".into()]))
    );
    assert_eq!(
        TypeSchema::builtin("example.com/v1", "Widget"),
        TypeSchema::Deduced
    );
    assert_eq!(
        TypeSchema::builtin("apps/v1", "Unknown"),
        TypeSchema::Deduced
    );
}

fn crd_schema() -> TypeSchema {
    let props: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps =
        serde_json::from_value(json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                        "args": {"type": "array", "items": {"type": "string"}},
                        "rules": {
                            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}
                        },
                        "sel": {"type": "object", "x-kubernetes-map-type": "atomic",
                                "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
                        "params": {"type": "object", "additionalProperties": {"type": "string"}},
                        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }
            }
        }))
        .unwrap();
    TypeSchema::from_openapi(&props)
}

#[test]
fn crd_schemas_honour_list_and_map_type_extensions() {
    let s = crd_schema();
    let spec = s.child("spec").0;
    assert_eq!(
        spec.child("tags").0.list_type().map(|(_, t)| t.clone()),
        Some(ListType::Set)
    );
    assert_eq!(
        spec.child("args").0.list_type().map(|(_, t)| t.clone()),
        Some(ListType::Atomic)
    );
    assert_eq!(
        spec.child("rules").0.list_type().map(|(_, t)| t.clone()),
        Some(ListType::Map(vec!["name".into()]))
    );
    assert!(matches!(
        spec.child("sel").0,
        TypeSchema::Object { atomic: true, .. }
    ));
    assert_eq!(spec.child("raw").0, &TypeSchema::Deduced);
    // metadata gets ObjectMeta's shape even though the CRD does not spell it out.
    assert!(
        s.child("metadata")
            .0
            .child("finalizers")
            .0
            .list_type()
            .is_some()
    );
}

#[test]
fn apply_on_a_custom_resource_follows_its_schema() {
    let s = crd_schema();
    let cr = |spec: Value| json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w"}, "spec": spec});
    let a = apply_ok(
        None,
        &cr(
            json!({"tags": ["a"], "args": ["1"], "rules": [{"name": "r", "v": 1}], "sel": {"a": "1"},
                   "params": {"p": "1"}, "raw": {"x": {"y": 1}}}),
        ),
        "alice",
        &s,
        T1,
    );
    assert_eq!(
        fields_of(&a, "alice", "Apply"),
        Some(json!({"f:spec": {
            "f:args": {},
            "f:params": {"f:p": {}},
            "f:raw": {"f:x": {".": {}, "f:y": {}}},
            "f:rules": {"k:{\"name\":\"r\"}": {".": {}, "f:name": {}, "f:v": {}}},
            "f:sel": {},
            "f:tags": {"v:\"a\"": {}}
        }}))
    );
    let b = apply_ok(
        Some(&a),
        &cr(json!({"tags": ["b"], "rules": [{"name": "q"}]})),
        "bob",
        &s,
        T2,
    );
    assert_eq!(b["spec"]["tags"], json!(["a", "b"]));
    assert_eq!(
        b["spec"]["rules"],
        json!([{"name": "r", "v": 1}, {"name": "q"}])
    );
    let err = apply(
        Some(&b),
        &cr(json!({"args": ["2"]})),
        "bob",
        Subresource::Main,
        false,
        &s,
        T3,
    )
    .unwrap_err();
    assert!(
        matches!(err, ApplyError::Conflicts(ref c) if c[0].field == ".spec.args"),
        "{err}"
    );
    // An atomic map conflicts as a whole, even for a key alice never set.
    let err = apply(
        Some(&b),
        &cr(json!({"sel": {"a": "1", "b": "2"}})),
        "bob",
        Subresource::Main,
        false,
        &s,
        T3,
    )
    .unwrap_err();
    assert!(
        matches!(err, ApplyError::Conflicts(ref c) if c[0].field == ".spec.sel"),
        "{err}"
    );
}

// ---- strategic merge patch ----

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x/one", "x/two"]},
        "spec": {
            "containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "proxy:1"}
            ],
            "tolerations": [{"key": "t1"}]
        }
    })
}

#[test]
fn strategic_merge_merges_containers_by_name_and_env_by_name() {
    let s = TypeSchema::builtin("v1", "Pod");
    let patch = json!({"spec": {"containers": [
        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]},
        {"name": "new", "image": "n:1"}
    ]}});
    let out = strategic_merge(&pod(), &patch, &s).unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]},
            {"name": "new", "image": "n:1"},
            {"name": "sidecar", "image": "proxy:1"}
        ])
    );
}

// Orders checked against kube-apiserver v1.35.4 (`kubectl patch --type strategic`).
#[test]
fn strategic_merge_puts_new_keyed_items_first_then_live_items_in_live_order() {
    let s = TypeSchema::builtin("v1", "Pod");
    let live = json!({"spec": {"containers": [{"name": "app", "image": "app:1",
        "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]}]}});
    let env = |patch_env: Value| {
        let patch = json!({"spec": {"containers": [{"name": "app", "env": patch_env}]}});
        let out = strategic_merge(&live, &patch, &s).unwrap();
        out["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}={}",
                    e["name"].as_str().unwrap(),
                    e["value"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        env(json!([{"name": "B", "value": "2"}])),
        ["B=2", "A=1", "C=3"]
    );
    // A live item the patch names keeps its live place relative to the live items not named.
    assert_eq!(
        env(json!([{"name": "D", "value": "4"}, {"name": "C", "value": "33"}])),
        ["D=4", "A=1", "C=33"]
    );
    assert_eq!(
        env(json!([{"name": "C", "value": "33"}, {"name": "B", "value": "2"}])),
        ["A=1", "C=33", "B=2"]
    );
}

#[test]
fn strategic_merge_set_element_order_keeps_unnamed_live_items_in_their_live_place() {
    let s = TypeSchema::builtin("v1", "Pod");
    let live = json!({"spec": {"containers": [
        {"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}, {"name": "third", "image": "t:1"}
    ]}});
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "third"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "a:2"}]
    }});
    let out = strategic_merge(&live, &patch, &s).unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "side", "image": "s:1"}, {"name": "third", "image": "t:1"}, {"name": "app", "image": "a:2"}])
    );
}

#[test]
fn strategic_merge_patch_delete_removes_a_list_item_and_a_map() {
    let s = TypeSchema::builtin("v1", "Pod");
    let patch = json!({"metadata": {"labels": {"$patch": "delete"}},
                       "spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}});
    let out = strategic_merge(&pod(), &patch, &s).unwrap();
    assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 1);
    assert_eq!(out["spec"]["containers"][0]["name"], "app");
    assert!(out["metadata"].get("labels").is_none());
}

#[test]
fn strategic_merge_deletes_finalizers_with_the_primitive_list_directive_and_adds_as_a_set() {
    let s = TypeSchema::builtin("v1", "Pod");
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x/one"], "finalizers": ["x/three", "x/two"]}});
    let out = strategic_merge(&pod(), &patch, &s).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["x/three", "x/two"]));
}

#[test]
fn strategic_merge_null_removes_a_field_and_atomic_lists_are_replaced() {
    let s = TypeSchema::builtin("v1", "Pod");
    let patch =
        json!({"metadata": {"labels": {"a": null}}, "spec": {"tolerations": [{"key": "t2"}]}});
    let out = strategic_merge(&pod(), &patch, &s).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "t2"}]));
}

#[test]
fn strategic_merge_replace_directive_replaces_maps_and_lists() {
    let s = TypeSchema::builtin("v1", "Pod");
    let patch = json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}},
                       "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}});
    let out = strategic_merge(&pod(), &patch, &s).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "only", "image": "o"}])
    );
}

#[test]
fn strategic_merge_honours_retain_keys_and_set_element_order() {
    let s = TypeSchema::builtin("v1", "Pod");
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "app:3", "$retainKeys": ["name", "image"]}]
    }});
    let out = strategic_merge(&pod(), &patch, &s).unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "sidecar", "image": "proxy:1"}, {"name": "app", "image": "app:3"}])
    );
}

#[test]
fn strategic_merge_rejects_items_without_their_merge_key() {
    let s = TypeSchema::builtin("v1", "Pod");
    let err = strategic_merge(
        &pod(),
        &json!({"spec": {"containers": [{"image": "x"}]}}),
        &s,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not contain declared merge key: name"),
        "{err}"
    );
}

#[test]
fn strategic_merge_merges_service_ports_by_port() {
    let s = TypeSchema::builtin("v1", "Service");
    let live = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let out = strategic_merge(
        &live,
        &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
        &s,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );
}

#[test]
fn more_than_ten_update_managers_are_merged_into_ancient_changes() {
    let s = cm_schema();
    let mut obj = record_update(None, &cm(json!({})), "creator", Subresource::Main, &s, T1);
    for i in 0..11 {
        let mut next = obj.clone();
        next["metadata"]["labels"][format!("l{i}")] = json!("v");
        let now = format!("2026-01-01T01:{i:02}:00Z");
        obj = record_update(
            Some(&obj),
            &next,
            &format!("m{i:02}"),
            Subresource::Main,
            &s,
            &now,
        );
    }
    let es = entries(&obj);
    assert_eq!(es.len(), 10, "{es:#?}");
    let ancient = es
        .iter()
        .find(|e| e["manager"] == "ancient-changes")
        .unwrap();
    // The oldest updaters (creator, m00, then m01 on the next write) went into the bucket,
    // which carries the time of the newest update merged into it.
    assert_eq!(
        ancient["fieldsV1"],
        json!({"f:metadata": {"f:labels": {".": {}, "f:l0": {}, "f:l1": {}}}})
    );
    assert_eq!(ancient["time"], "2026-01-01T01:01:00Z");
    assert!(
        !es.iter()
            .any(|e| ["creator", "m00", "m01"].contains(&e["manager"].as_str().unwrap()))
    );
}

#[test]
fn a_large_deployment_round_trips_through_apply_and_update_without_drift() {
    let s = deploy_schema();
    let containers: Vec<Value> = (0..20)
        .map(|c| {
            let env: Vec<Value> = (0..100)
                .map(|e| json!({"name": format!("E{e}"), "value": "x"}))
                .collect();
            json!({"name": format!("c{c}"), "image": "i", "env": env})
        })
        .collect();
    let cfg = deploy_with(Value::Array(containers));
    let first = apply_ok(None, &cfg, "a", &s, T1);
    let again = apply_ok(Some(&first), &cfg, "a", &s, T2);
    assert_eq!(first, again);
    let mut next = again.clone();
    next["spec"]["template"]["spec"]["containers"][3]["env"][50]["value"] = json!("y");
    let edited = record_update(Some(&again), &next, "b", Subresource::Main, &s, T3);
    assert_eq!(
        fields_of(&edited, "b", "Update"),
        Some(
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"c3\"}": {"f:env": {"k:{\"name\":\"E50\"}": {"f:value": {}}}}
            }}}}})
        )
    );
    let owned_by_a = fields_of(&edited, "a", "Apply").unwrap();
    assert!(owned_by_a.to_string().len() > 20_000);
    assert!(owned_by_a.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"c3\"}/f:env/k:{\"name\":\"E50\"}/f:name").is_some());
    assert!(owned_by_a.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"c3\"}/f:env/k:{\"name\":\"E50\"}/f:value").is_none());
}

#[test]
fn applying_to_an_object_without_managed_fields_credits_before_first_apply() {
    let s = cm_schema();
    let live = cm(json!({"team": "x"}));
    let err = apply(
        Some(&live),
        &cm(json!({"team": "y"})),
        "m",
        Subresource::Main,
        false,
        &s,
        T1,
    )
    .unwrap_err();
    let ApplyError::Conflicts(c) = err else {
        panic!("expected conflicts")
    };
    assert_eq!(c[0].manager, "before-first-apply");
    let out = apply_ok(
        Some(&live),
        &cm(json!({"team": "x", "new": "1"})),
        "m",
        &s,
        T1,
    );
    assert_eq!(
        fields_of(&out, "before-first-apply", "Update"),
        Some(json!({"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}))
    );
}

#[test]
fn update_entries_mark_newly_created_maps_and_lists_but_not_go_structs() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}]}});
    let out = record_update(
        None,
        &pod,
        "m",
        Subresource::Main,
        &TypeSchema::builtin("v1", "Pod"),
        T1,
    );
    assert_eq!(
        fields_of(&out, "m", "Update"),
        Some(json!({"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
            ".": {}, "f:env": {".": {}, "k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
            "f:image": {}, "f:name": {}
        }}}}))
    );
    // A custom resource has no Go struct behind it: its spec is a new map with a marker.
    let cr =
        json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w"}, "spec": {"a": 1}});
    let out = record_update(None, &cr, "m", Subresource::Main, &crd_schema(), T1);
    assert_eq!(
        fields_of(&out, "m", "Update"),
        Some(json!({"f:spec": {".": {}, "f:a": {}}}))
    );
}

#[test]
fn status_updates_are_recorded_under_the_status_subresource() {
    let s = deploy_schema();
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
    let a = record_update(None, &d, "ctl", Subresource::Main, &s, T1);
    let mut next = a.clone();
    next["status"] = json!({"replicas": 1});
    let b = record_update(Some(&a), &next, "ctl", Subresource::Named("status"), &s, T2);
    let es = entries(&b);
    assert_eq!(es.len(), 2);
    let st = es.iter().find(|e| e["subresource"] == "status").unwrap();
    assert_eq!(st["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
    assert_eq!(st["manager"], "ctl");
}

#[test]
fn strategic_merge_merges_owner_references_by_uid_and_conditions_by_type() {
    let s = TypeSchema::builtin("apps/v1", "Deployment");
    let live = json!({
        "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]},
        "status": {"conditions": [{"type": "Available", "status": "False"}]}
    });
    let patch = json!({
        "metadata": {"ownerReferences": [{"uid": "2", "$patch": "delete"}]},
        "status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}
    });
    let out = strategic_merge(&live, &patch, &s).unwrap();
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "1", "name": "a"}])
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}])
    );
}
