//! Discovery documents (legacy and aggregated v2) and the OpenAPI v3 index kubectl consults.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::registry::{ResourceDef, api_version};

/// The server version reported at `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "35",
        "emulationMajor": "1",
        "emulationMinor": "35",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "34",
        "gitVersion": "v1.35.0",
        "gitCommit": "kube-sandbox",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// Groups (non-core) with their served versions, preferred first.
fn groups(defs: &[Arc<ResourceDef>]) -> BTreeMap<String, Vec<String>> {
    let mut g: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in defs {
        let vs = g.entry(d.group.clone()).or_default();
        for v in d.served_versions() {
            if !vs.contains(&v) {
                vs.push(v);
            }
        }
    }
    g
}

/// `/api`.
pub fn api_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": api_version(name, v), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(json!({}))})
}

/// `/apis`.
pub fn api_group_list(defs: &[Arc<ResourceDef>]) -> Value {
    let groups: Vec<Value> = groups(defs)
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn api_group(defs: &[Arc<ResourceDef>], group: &str) -> Option<Value> {
    let g = groups(defs);
    let vs = g.get(group).filter(|_| !group.is_empty())?;
    let mut v = group_json(group, vs);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Some(v)
}

fn serves(d: &ResourceDef, group: &str, version: &str) -> bool {
    d.group == group && d.served_versions().iter().any(|v| v == version)
}

/// `/api/v1`, `/apis/<group>/<version>`.
pub fn resource_list(defs: &[Arc<ResourceDef>], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for d in defs.iter().filter(|d| serves(d, group, version)) {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs(),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if d.has_status {
            resources.push(json!({"name": format!("{}/status", d.plural), "singularName": "", "namespaced": d.namespaced, "kind": d.kind, "verbs": ["get", "patch", "update"]}));
        }
        if crate::api::has_scale(d) {
            resources.push(json!({"name": format!("{}/scale", d.plural), "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if d.group.is_empty() && d.kind == "Namespace" {
            resources.push(json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version(group, version), "resources": resources}),
    )
}

/// The aggregated discovery (`apidiscovery.k8s.io/v2`) for `/api` (core) or `/apis`.
pub fn aggregated(defs: &[Arc<ResourceDef>], core: bool) -> Value {
    let mut items = Vec::new();
    for (g, versions) in groups(defs) {
        if g.is_empty() != core {
            continue;
        }
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = defs
                    .iter()
                    .filter(|d| serves(d, &g, v))
                    .map(|d| {
                        let mut r = json!({
                            "resource": d.plural,
                            "responseKind": {"group": d.group, "version": v, "kind": d.kind},
                            "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": d.singular,
                            "verbs": d.verbs(),
                        });
                        if !d.short_names.is_empty() {
                            r["shortNames"] = json!(d.short_names);
                        }
                        if !d.categories.is_empty() {
                            r["categories"] = json!(d.categories);
                        }
                        let mut subs = Vec::new();
                        if d.has_status {
                            subs.push(json!({"subresource": "status", "responseKind": {"group": d.group, "version": v, "kind": d.kind}, "verbs": ["get", "patch", "update"]}));
                        }
                        if crate::api::has_scale(d) {
                            subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
                        }
                        if !subs.is_empty() {
                            r["subresources"] = json!(subs);
                        }
                        r
                    })
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": vs}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// The `Content-Type` of an aggregated discovery answer.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/openapi/v3`: one entry per served group version.
pub fn openapi_v3_root(defs: &[Arc<ResourceDef>], rv: u64) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, versions) in groups(defs) {
        for v in versions {
            let key = if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            };
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={rv:016X}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// The published schema of a kind: a CRD version's `openAPIV3Schema` (with `apiVersion`, `kind`
/// and `metadata` as apiextensions-apiserver adds them), so that `kubectl explain` works; an
/// open object (`x-kubernetes-preserve-unknown-fields`) for built-ins, which the server
/// validates by decoding.
fn kind_schema(d: &ResourceDef, version: &str, gvk: Value) -> Value {
    let crd_schema = d
        .custom
        .as_ref()
        .and_then(|c| c.schemas.get(version))
        .filter(|s| s.is_object());
    let Some(schema) = crd_schema else {
        return json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-group-version-kind": [gvk]});
    };
    let mut schema = schema.clone();
    let standard = [
        (
            "apiVersion",
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}),
        ),
        (
            "kind",
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}),
        ),
        (
            "metadata",
            json!({"type": "object", "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
        ),
    ];
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("type").or_insert_with(|| json!("object"));
        let props = obj
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(props) = props {
            for (name, s) in standard {
                props.entry(name).or_insert(s);
            }
        }
        obj.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
    }
    schema
}

/// `/openapi/v3/apis/<g>/<v>`: the operations of a group version, with the query parameters
/// kubectl checks for (`fieldValidation`, `fieldManager`, `dryRun`), and the kinds' schemas
/// (see [`kind_schema`]).
pub fn openapi_v3_group_version(
    defs: &[Arc<ResourceDef>],
    group: &str,
    version: &str,
) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        {"name": "force", "in": "query", "schema": {"type": "boolean"}},
    ]);
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut any = false;
    for d in defs.iter().filter(|d| serves(d, group, version)) {
        any = true;
        let gvk = json!({"group": group, "version": version, "kind": d.kind});
        let schema_name = format!("{}.{}.{}", group, version, d.kind);
        let reference = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}});
        let op = |verb: &str| json!({"operationId": format!("{verb}{}", d.kind), "parameters": params, "responses": ok, "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk});
        let item = format!(
            "{prefix}/{}{}/{{name}}",
            if d.namespaced {
                "namespaces/{namespace}/"
            } else {
                ""
            },
            d.plural
        );
        paths.insert(item, json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
        let coll = format!(
            "{prefix}/{}{}",
            if d.namespaced {
                "namespaces/{namespace}/"
            } else {
                ""
            },
            d.plural
        );
        paths.insert(coll, json!({"get": op("list"), "post": op("post")}));
        schemas.insert(schema_name, kind_schema(d, version, gvk));
    }
    if !any {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
