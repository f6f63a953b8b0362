//! The verbs: get, list, create, update, patch (merge, JSON, strategic, apply), delete and
//! deletecollection, with apiserver's metadata, status-subresource and finalizer semantics.

use std::sync::Arc;

use crd_validation::{ErrorType, FieldError};
use field_manager::{ApplyError, Subresource};
use serde_json::{Map, Value, json};

use crate::auth::UserInfo;
use crate::meta::{self, finalizers_of, is_deleting, name_of, namespace_of, rv_of, uid_of};
use crate::registry::{GroupResource, ResourceDef};
use crate::status::{ApiError, field_error, go_quote};
use crate::store::{State, Store};
use crate::{crd, typed};

/// The resource a request addresses.
#[derive(Debug, Clone)]
pub struct Target {
    pub def: Arc<ResourceDef>,
    /// The version in the URL (custom kinds may be served under several).
    pub version: String,
    pub namespace: String,
    pub name: String,
    /// `status`, `finalize`, or none.
    pub sub: Option<String>,
}

impl Target {
    fn subresource(&self) -> Subresource<'_> {
        match &self.sub {
            Some(s) => Subresource::Named(s),
            None => Subresource::Main,
        }
    }

    fn gr(&self) -> GroupResource {
        self.def.storage_key()
    }
}

/// `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

/// Options common to writes.
#[derive(Debug, Clone)]
pub struct WriteOpts {
    pub dry_run: bool,
    /// `fieldManager`, or the one apiserver derives from the user agent.
    pub manager: String,
    /// Whether `fieldManager` was given explicitly (apply requires it).
    pub manager_given: bool,
    pub validation: FieldValidation,
    pub force: bool,
    /// Who asks; `None` for the sandbox's own controllers (not subject to admission policies).
    pub user: Option<Arc<UserInfo>>,
}

/// A successful answer: code, body and `Warning` headers.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

/// Deletion options from the query and the DeleteOptions body.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub dry_run: bool,
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    /// Who asks; `None` for the sandbox's own controllers (garbage collector, namespace
    /// lifecycle), which admission policies do not see.
    pub user: Option<Arc<UserInfo>>,
}

/// Rewrites `apiVersion` for the requested version of a custom kind (no conversion: same schema).
pub fn to_version(def: &ResourceDef, obj: &Value, version: &str) -> Value {
    if crate::events::is_view(def) {
        return crate::events::from_core(obj);
    }
    let mut out = obj.clone();
    if version != def.version {
        out["apiVersion"] = json!(crate::registry::api_version(&def.group, version));
    }
    out
}

/// Drops null fields of `metadata`, and the stored form of managedFields should a client have sent
/// one ([`crate::stored`]): every body that is written passes here.
fn strip_nulls_in_metadata(obj: &mut Value) {
    crate::stored::strip_client_kept(obj);
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.retain(|_, v| !v.is_null());
    }
}

/// Decodes (built-ins) or prunes, defaults and validates (custom kinds) a new object.
fn admit(
    def: &ResourceDef,
    obj: Value,
    old: Option<&Value>,
    opts: &WriteOpts,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let name = name_of(&obj).to_string();
    let handled = |e: String| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            def.kind, def.version, def.kind
        ))
    };
    let (out, unknown, errors) = if let Some(validator) = def.validator() {
        let mut out = obj.clone();
        let errors = validator.admit(&mut out, old);
        // Metadata is decoded by apiserver itself, not pruned by the schema: the input's
        // metadata goes back in unchanged and none of it is unknown; apiVersion and kind are
        // not unknown where the schema dropped them either.
        let mut skip = vec!["metadata"];
        if let Some(o) = out.as_object() {
            skip.extend(
                ["apiVersion", "kind"]
                    .into_iter()
                    .filter(|k| o.get(*k).is_none()),
            );
        }
        let unknown = typed::unknown_fields_except(&obj, &out, &skip);
        let mut obj = obj;
        if let (Some(m), Some(orig)) = (
            out.as_object_mut(),
            obj.as_object_mut().and_then(|o| o.remove("metadata")),
        ) {
            m.insert("metadata".into(), orig);
        }
        (out, unknown, errors)
    } else {
        match typed::decode_builtin(&def.group, &def.kind, &obj) {
            Some(Ok(decoded)) => {
                let unknown = typed::unknown_fields(&obj, &decoded);
                (decoded, unknown, Vec::new())
            }
            Some(Err(e)) => return Err(handled(e.to_string())),
            None => (obj, Vec::new(), Vec::new()),
        }
    };
    if !unknown.is_empty() {
        match opts.validation {
            FieldValidation::Strict => {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|u| format!("unknown field {}", go_quote(u)))
                    .collect();
                return Err(handled(format!(
                    "strict decoding error: {}",
                    list.join(", ")
                )));
            }
            FieldValidation::Warn => warnings.extend(
                unknown
                    .iter()
                    .map(|u| format!("unknown field {}", go_quote(u))),
            ),
            FieldValidation::Ignore => {}
        }
    }
    let mut errors = errors;
    errors.extend(meta::validate_metadata(&out));
    if !errors.is_empty() {
        return Err(ApiError::invalid(&def.group, &def.kind, &name, &errors));
    }
    Ok(out)
}

fn check_kind(def: &ResourceDef, obj: &Value, version: &str) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !kind.is_empty() && kind != def.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            def.kind
        )));
    }
    let served = def.served_versions();
    let ok_version = av.is_empty()
        || served
            .iter()
            .any(|v| crate::registry::api_version(&def.group, v) == av)
        || av == crate::registry::api_version(&def.group, version);
    if !ok_version {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            crate::registry::api_version(&def.group, version)
        )));
    }
    Ok(())
}

/// The object at `path` inside `v`, created where missing or null; `None` when a value of another
/// type is in the way (the decoder then rejects the object).
fn map_at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for key in path {
        let Value::Object(m) = cur else { return None };
        let e = m.entry(key.to_string()).or_insert(Value::Null);
        if e.is_null() {
            *e = json!({});
        }
        cur = e;
    }
    cur.as_object_mut()
}

/// Refuses bodies whose top level or `metadata` is not an object, as apiserver's decoder does.
fn check_shape(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let ok = obj.is_object()
        && obj
            .get("metadata")
            .is_none_or(|m| m.is_object() || m.is_null());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: the object and its metadata must be JSON objects",
            def.kind, def.version, def.kind
        )))
    }
}

/// Kind-specific defaults and derived fields apiserver sets on every write.
fn normalize(def: &ResourceDef, obj: &mut Value, old: Option<&Value>, store: &Store) {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Namespace") => {
            let name = name_of(obj).to_string();
            if let Some(labels) = map_at(obj, &["metadata", "labels"]) {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if old.is_none()
                && obj.pointer("/spec/finalizers").is_none()
                && let Some(spec) = map_at(obj, &["spec"])
            {
                spec.insert("finalizers".into(), json!(["kubernetes"]));
            }
            if obj.pointer("/status/phase").is_none()
                && let Some(status) = map_at(obj, &["status"])
            {
                status.insert("phase".into(), json!("Active"));
            }
        }
        ("", "Secret") => {
            // stringData is write-only: merged into data (base64), never stored.
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|o| o.remove("stringData"))
                && let Some(data) = map_at(obj, &["data"])
            {
                for (k, v) in sd {
                    let s = v.as_str().unwrap_or_default();
                    data.insert(k, json!(meta::base64(s.as_bytes())));
                }
            }
            if obj.get("type").is_none_or(Value::is_null)
                && let Some(o) = obj.as_object_mut()
            {
                o.insert("type".into(), json!("Opaque"));
            }
        }
        ("", "Pod") if old.is_none() && obj.pointer("/status/phase").is_none() => {
            if let Some(o) = obj.as_object_mut() {
                o.insert(
                    "status".into(),
                    json!({"phase": "Pending", "qosClass": "BestEffort"}),
                );
            }
        }
        ("", "Service") => {
            let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned();
            let Some(spec) = map_at(obj, &["spec"]) else {
                return;
            };
            spec.entry("type").or_insert(json!("ClusterIP"));
            spec.entry("sessionAffinity").or_insert(json!("None"));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    p.entry("protocol").or_insert(json!("TCP"));
                    if !p.contains_key("targetPort") {
                        let port = p.get("port").cloned().unwrap_or(Value::Null);
                        p.insert("targetPort".into(), port);
                    }
                }
            }
            if spec.get("type") != Some(&json!("ExternalName")) {
                // The cluster IP is allocated once and immutable afterwards.
                match old_ip {
                    Some(ip) => {
                        spec.insert("clusterIP".into(), ip);
                    }
                    None if spec.get("clusterIP").is_none_or(|v| v.as_str() == Some("")) => {
                        let n = store
                            .next_ip
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        spec.insert(
                            "clusterIP".into(),
                            json!(format!("10.96.{}.{}", (n / 254) % 256, n % 254 + 1)),
                        );
                    }
                    None => {}
                }
                let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
                spec.insert("clusterIPs".into(), json!([ip]));
                if !spec.contains_key("ipFamilies") {
                    spec.insert("ipFamilies".into(), json!(["IPv4"]));
                    spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
                }
                spec.entry("internalTrafficPolicy")
                    .or_insert(json!("Cluster"));
            }
            if let Some(o) = obj.as_object_mut() {
                o.entry("status").or_insert(json!({"loadBalancer": {}}));
            }
        }
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("replicas").or_insert(json!(1));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let terminating = is_deleting(obj);
            let status = crd::accepted_status(obj, &meta::now(), terminating);
            if let Some(o) = obj.as_object_mut() {
                o.insert("status".into(), status);
            }
        }
        _ => {}
    }
}

/// The part of an object that bumps `metadata.generation` when it changes.
/// Without a status subresource, status is part of it (as apiserver's CR strategy does).
fn spec_part(obj: &Value, has_status: bool) -> Map<String, Value> {
    obj.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| {
                    let meta = matches!(k.as_str(), "metadata" | "apiVersion" | "kind");
                    !(meta || has_status && k.as_str() == "status")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The object without its resourceVersion: two writes that leave this equal are a no-op.
/// managedFields count (a new co-owner is a change); the field manager keeps timestamps of
/// unchanged entries, so a repeated identical write stays a no-op.
fn without_volatile(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    o
}

fn ensure_namespace(st: &State, t: &Target, name: &str) -> Result<(), ApiError> {
    if !t.def.namespaced {
        return Ok(());
    }
    let ns_gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    match st.get(&ns_gr, "", &t.namespace) {
        None => Err(ApiError::not_found("", "namespaces", &t.namespace)),
        Some(ns) if is_deleting(&ns) => {
            let mut e = ApiError::forbidden(
                &t.def.group,
                &t.def.plural,
                name,
                &format!(
                    "unable to create new content in namespace {} because it is being terminated",
                    t.namespace
                ),
            );
            // kube-apiserver's NamespaceLifecycle admission names the cause too.
            if let Some(d) = e.details.as_mut() {
                d["causes"] = json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {} is being terminated", t.namespace),
                    "field": "metadata.namespace",
                }]);
            }
            Err(e)
        }
        Some(_) => Ok(()),
    }
}

/// GET of one object.
pub fn get(store: &Store, t: &Target) -> Result<Value, ApiError> {
    let st = store.read();
    let obj = st
        .get(&t.gr(), &t.namespace, &t.name)
        .ok_or_else(|| ApiError::not_found(&t.def.group, &t.def.plural, &t.name))?;
    Ok(to_version(&t.def, &obj, &t.version))
}

/// Pod Security admission of a new Pod or workload in `namespace` (see `podsecurity`).
fn pod_security(
    st: &State,
    def: &ResourceDef,
    namespace: &str,
    name: &str,
    obj: &Value,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if def.custom.is_some() || !def.namespaced {
        return Ok(());
    }
    let ns_gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    let Some(ns) = st.get(&ns_gr, "", namespace) else {
        return Ok(());
    };
    let (refusal, warned) = crate::podsecurity::admit(&def.group, &def.kind, obj, &ns);
    if let Some(why) = refusal {
        return Err(ApiError::forbidden(&def.group, &def.plural, name, &why));
    }
    warnings.extend(warned);
    Ok(())
}

/// Pod Security admission of an update, as kube-apiserver's: a Pod is checked again when what
/// the policy looks at changed, a workload's template warns again, and a namespace whose enforce
/// level changes warns about the Pods in it that violate the new level.
fn pod_security_update(
    st: &State,
    def: &ResourceDef,
    namespace: &str,
    name: &str,
    new: &Value,
    old: &Value,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if def.custom.is_some() {
        return Ok(());
    }
    if def.group.is_empty() && def.kind == "Namespace" {
        let pods_gr = GroupResource {
            group: String::new(),
            resource: "pods".into(),
        };
        let pods = st.list(&pods_gr, Some(name));
        let pods: Vec<&Value> = pods.iter().map(|p| &**p).collect();
        warnings.extend(crate::podsecurity::namespace_update_warnings(
            new, old, &pods,
        ));
        return Ok(());
    }
    if def.group.is_empty()
        && def.kind == "Pod"
        && !crate::podsecurity::significant_pod_update(new, old)
    {
        return Ok(());
    }
    pod_security(st, def, namespace, name, new, warnings)
}

/// Validating admission of a user's write after the built-in checks: RBAC escalation
/// prevention on roles and bindings, then the ValidatingAdmissionPolicies.
#[allow(clippy::too_many_arguments)]
fn admission(
    st: &State,
    t: &Target,
    operation: &str,
    name: &str,
    object: Option<&Value>,
    old: Option<&Value>,
    user: Option<&UserInfo>,
    dry_run: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let Some(user) = user else {
        return Ok(());
    };
    if let Some(obj) = object
        && t.sub.is_none()
    {
        crate::rbac::check_escalation(st, user, &t.def, &t.namespace_for(&t.def), obj)?;
    }
    let req = crate::vap::Request {
        user,
        operation,
        def: &t.def,
        version: &t.version,
        sub: t.sub.as_deref().unwrap_or(""),
        namespace: &t.namespace_for(&t.def),
        name,
        object,
        old,
        dry_run,
    };
    warnings.extend(crate::vap::admit(st, &req)?);
    Ok(())
}

/// The core/v1 Event target behind an events.k8s.io/v1 one: writes through the view are
/// converted and stored as core Events.
fn core_event_target(store: &Store, t: &Target) -> Result<Target, ApiError> {
    let def = store
        .read()
        .def("", "events")
        .ok_or_else(ApiError::path_not_found)?;
    Ok(Target {
        def,
        version: "v1".into(),
        ..t.clone()
    })
}

/// A reply of the core Event store as the events.k8s.io/v1 view answers it.
fn view_reply(t: &Target, mut reply: Reply) -> Reply {
    reply.body = to_version(&t.def, &reply.body, &t.version);
    reply
}

/// POST: create (or, with `applied` set, the create half of a server-side apply).
pub fn create(store: &Store, t: &Target, body: Value, opts: &WriteOpts) -> Result<Reply, ApiError> {
    if crate::events::is_view(&t.def) {
        check_shape(&t.def, &body)?;
        check_kind(&t.def, &body, &t.version)?;
        let core = core_event_target(store, t)?;
        return create(store, &core, crate::events::to_core(&body), opts).map(|r| view_reply(t, r));
    }
    let mut st = store.write();
    create_locked(&mut st, store, t, body, opts, false)
}

fn create_locked(
    st: &mut State,
    store: &Store,
    t: &Target,
    body: Value,
    opts: &WriteOpts,
    applied: bool,
) -> Result<Reply, ApiError> {
    let def = &t.def;
    check_shape(def, &body)?;
    check_kind(def, &body, &t.version)?;
    let mut obj = body;
    obj["kind"] = json!(def.kind);
    obj["apiVersion"] = json!(def.api_version());
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    strip_nulls_in_metadata(&mut obj);
    // Namespace from the path; a different one in the body is refused.
    if def.namespaced {
        let body_ns = namespace_of(&obj).to_string();
        if !body_ns.is_empty() && body_ns != t.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(t.namespace);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    let mut name = name_of(&obj).to_string();
    if name.is_empty()
        && let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        && !prefix.is_empty()
    {
        name = format!("{prefix}{}", meta::generate_suffix());
        obj["metadata"]["name"] = json!(name);
    }
    ensure_namespace(st, t, &name)?;
    if name.is_empty() {
        return Err(ApiError::invalid(
            &def.group,
            &def.kind,
            "",
            &[field_error(
                "metadata.name",
                ErrorType::Required,
                None,
                "name or generateName is required",
            )],
        ));
    }
    let mut name_errs = meta::validate_name(&name, def.name_rule, "metadata.name");
    if def.custom.is_none() && def.kind == "CustomResourceDefinition" {
        name_errs.clear();
    }
    if !name_errs.is_empty() {
        return Err(ApiError::invalid(&def.group, &def.kind, &name, &name_errs));
    }
    // Status is not written by create when a status subresource exists.
    if def.has_status
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    let m = &mut obj["metadata"];
    if let Some(mm) = m.as_object_mut() {
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            mm.remove(k);
        }
        if !applied {
            mm.remove("managedFields");
        }
    }
    m["uid"] = json!(meta::new_uid());
    m["creationTimestamp"] = json!(meta::now());
    if def.uses_generation {
        m["generation"] = json!(1);
    } else if let Some(mm) = m.as_object_mut() {
        mm.remove("generation");
    }
    normalize(def, &mut obj, None, store);
    let mut warnings = Vec::new();
    let mut obj = admit(def, obj, None, opts, &mut warnings)?;
    pod_security(st, def, &t.namespace, &name, &obj, &mut warnings)?;
    admission(
        st,
        t,
        "CREATE",
        &name,
        Some(&obj),
        None,
        opts.user.as_deref(),
        opts.dry_run,
        &mut warnings,
    )?;
    if def.kind == "CustomResourceDefinition" && def.group == "apiextensions.k8s.io" {
        let newdef =
            crd::to_def(&obj).map_err(|e| ApiError::invalid(&def.group, &def.kind, &name, &e))?;
        if st
            .def(&newdef.group, &newdef.plural)
            .is_some_and(|d| d.custom.is_none())
        {
            return Err(ApiError::invalid(
                &def.group,
                &def.kind,
                &name,
                &[field_error(
                    "spec.names.plural",
                    ErrorType::Invalid,
                    Some(json!(newdef.plural)),
                    "conflicts with a built-in resource",
                )],
            ));
        }
        let mut f = finalizers_of(&obj);
        if !f.iter().any(|x| x == crd::CLEANUP_FINALIZER) {
            f.push(crd::CLEANUP_FINALIZER.into());
            obj["metadata"]["finalizers"] = json!(f);
        }
        if !opts.dry_run {
            st.defs.insert(newdef.key(), Arc::new(newdef));
        }
    }
    if !applied {
        obj = field_manager::record_update(
            None,
            &obj,
            &opts.manager,
            t.subresource(),
            &def.type_schema,
            &meta::now(),
        );
    }
    if st.get(&t.gr(), &t.namespace_for(def), &name).is_some() {
        return Err(ApiError::already_exists(&def.group, &def.plural, &name));
    }
    if opts.dry_run {
        return Ok(Reply {
            code: 201,
            body: to_version(def, &obj, &t.version),
            warnings,
        });
    }
    let stored = st.put(&t.gr(), obj);
    if def.group.is_empty() && def.kind == "Namespace" {
        create_default_service_account(st, &name);
    }
    Ok(Reply {
        code: 201,
        body: to_version(def, &stored, &t.version),
        warnings,
    })
}

impl Target {
    fn namespace_for(&self, def: &ResourceDef) -> String {
        if def.namespaced {
            self.namespace.clone()
        } else {
            String::new()
        }
    }
}

/// What kube-controller-manager's service account controller does for a new namespace.
pub fn create_default_service_account(st: &mut State, ns: &str) {
    let gr = GroupResource {
        group: String::new(),
        resource: "serviceaccounts".into(),
    };
    if st.get(&gr, ns, "default").is_some() {
        return;
    }
    let sa = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": ns, "uid": meta::new_uid(), "creationTimestamp": meta::now()},
    });
    st.put(&gr, sa);
}

/// PUT: replace, with optimistic concurrency on `metadata.resourceVersion`.
pub fn update(store: &Store, t: &Target, body: Value, opts: &WriteOpts) -> Result<Reply, ApiError> {
    let def = &t.def;
    check_shape(def, &body)?;
    check_kind(def, &body, &t.version)?;
    if crate::events::is_view(def) {
        let core = core_event_target(store, t)?;
        return update(store, &core, crate::events::to_core(&body), opts).map(|r| view_reply(t, r));
    }
    let body_name = name_of(&body);
    if !body_name.is_empty() && body_name != t.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            t.name
        )));
    }
    if def.namespaced {
        let ns = namespace_of(&body);
        if !ns.is_empty() && ns != t.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let mut st = store.write();
    let live = st
        .get(&t.gr(), &t.namespace, &t.name)
        .map(|l| crate::stored::expanded(&l))
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, &t.name))?;
    let want_rv = rv_of(&body);
    if !want_rv.is_empty() && want_rv != rv_of(&live) {
        return Err(ApiError::stale(&def.group, &def.plural, &t.name));
    }
    let mut new = body;
    if new.pointer("/metadata/managedFields").is_none() {
        new["metadata"]["managedFields"] = live
            .pointer("/metadata/managedFields")
            .cloned()
            .unwrap_or(json!([]));
    }
    commit_update(&mut st, store, t, &live, new, opts, false)
}

/// Shared tail of update, patch and apply: subresource rules, admission, generation,
/// managedFields, no-op detection, finalizer-driven removal.
fn commit_update(
    st: &mut State,
    store: &Store,
    t: &Target,
    live: &Arc<Value>,
    new: Value,
    opts: &WriteOpts,
    applied: bool,
) -> Result<Reply, ApiError> {
    let def = &t.def;
    check_shape(def, &new)?;
    let mut new = new;
    new["kind"] = json!(def.kind);
    new["apiVersion"] = json!(def.api_version());
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    strip_nulls_in_metadata(&mut new);
    match t.sub.as_deref() {
        Some("status") => {
            // The status endpoint changes only status (and managedFields).
            let mut merged = (**live).clone();
            match new.get("status") {
                Some(s) => merged["status"] = s.clone(),
                None => {
                    if let Some(o) = merged.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            merged["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
            new = merged;
        }
        Some("finalize") => {
            let mut merged = (**live).clone();
            merged["spec"]["finalizers"] = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            new = merged;
        }
        _ => {
            if def.has_status {
                match live.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
        }
    }
    // Fields only the server sets.
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match live["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("selfLink");
    }
    normalize(def, &mut new, Some(live), store);
    let mut warnings = Vec::new();
    let mut new = admit(def, new, Some(live), opts, &mut warnings)?;
    if is_deleting(live) {
        let old_f = finalizers_of(live);
        let added: Vec<String> = finalizers_of(&new)
            .into_iter()
            .filter(|f| !old_f.contains(f))
            .collect();
        if !added.is_empty() {
            return Err(ApiError::invalid(
                &def.group,
                &def.kind,
                &t.name,
                &[field_error(
                    "metadata.finalizers",
                    ErrorType::Forbidden,
                    None,
                    &format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                        serde_json::to_string(&added).unwrap_or_default()
                    ),
                )],
            ));
        }
    }
    if t.sub.is_none() {
        pod_security_update(st, def, &t.namespace, &t.name, &new, live, &mut warnings)?;
    }
    admission(
        st,
        t,
        "UPDATE",
        &t.name,
        Some(&new),
        Some(live),
        opts.user.as_deref(),
        opts.dry_run,
        &mut warnings,
    )?;
    if def.kind == "CustomResourceDefinition" && def.group == "apiextensions.k8s.io" {
        let newdef =
            crd::to_def(&new).map_err(|e| ApiError::invalid(&def.group, &def.kind, &t.name, &e))?;
        if !opts.dry_run {
            st.defs.insert(newdef.key(), Arc::new(newdef));
        }
    }
    if def.uses_generation && spec_part(&new, def.has_status) != spec_part(live, def.has_status) {
        let g = live
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    if !applied {
        new = field_manager::record_update(
            Some(live),
            &new,
            &opts.manager,
            t.subresource(),
            &def.type_schema,
            &meta::now(),
        );
    }
    // Unchanged object: no write, no new resourceVersion (as apiserver).
    if without_volatile(&new) == without_volatile(live) {
        return Ok(Reply {
            code: 200,
            body: to_version(def, live, &t.version),
            warnings,
        });
    }
    if opts.dry_run {
        return Ok(Reply {
            code: 200,
            body: to_version(def, &new, &t.version),
            warnings,
        });
    }
    if is_deleting(&new) && finalizers_of(&new).is_empty() && !namespace_waits(def, &new) {
        st.put(&t.gr(), new);
        let removed = st.remove(&t.gr(), &t.namespace, &t.name);
        store.gc_notify.notify_one();
        let body = removed.map(|r| (*r).clone()).unwrap_or(Value::Null);
        return Ok(Reply {
            code: 200,
            body: to_version(def, &body, &t.version),
            warnings,
        });
    }
    let stored = st.put(&t.gr(), new);
    if is_deleting(&stored) {
        store.gc_notify.notify_one();
    }
    Ok(Reply {
        code: 200,
        body: to_version(def, &stored, &t.version),
        warnings,
    })
}

/// A namespace stays until its `spec.finalizers` are gone too.
fn namespace_waits(def: &ResourceDef, obj: &Value) -> bool {
    def.group.is_empty()
        && def.kind == "Namespace"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

/// The patch types apiserver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    /// From the request's Content-Type.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// The media types a resource accepts for PATCH.
pub fn accepted_patch_types(def: &ResourceDef) -> Vec<&'static str> {
    let mut v = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if def.custom.is_none() {
        v.push("application/strategic-merge-patch+json");
    }
    v
}

/// PATCH in all four flavours.
pub fn patch(
    store: &Store,
    t: &Target,
    pt: PatchType,
    raw: &[u8],
    opts: &WriteOpts,
) -> Result<Reply, ApiError> {
    let def = &t.def;
    if pt == PatchType::Strategic && def.custom.is_some() {
        return Err(ApiError::unsupported_media_type(
            "application/strategic-merge-patch+json",
            &accepted_patch_types(def),
        ));
    }
    let patch: Value = if pt == PatchType::Apply {
        crate::body::decode(raw, "application/apply-patch+yaml")
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(raw)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    if pt == PatchType::Apply {
        if !opts.manager_given {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        check_shape(def, &patch)?;
        check_kind(def, &patch, &t.version)?;
        if patch
            .get("kind")
            .is_none_or(|k| k.as_str().is_none_or(str::is_empty))
        {
            return Err(ApiError::bad_request("invalid object type: /, Kind="));
        }
        let n = name_of(&patch);
        if !n.is_empty() && n != t.name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                t.name
            )));
        }
    }
    // events.k8s.io/v1: the patch applies to the view, the result is stored as a core Event.
    let core = if crate::events::is_view(def) {
        Some(core_event_target(store, t)?)
    } else {
        None
    };
    let mut st = store.write();
    // The write merges into, and compares with, the object with its managedFields as the list.
    let live = st
        .get(&t.gr(), &t.namespace, &t.name)
        .map(|l| crate::stored::expanded(&l));
    let Some(live) = live else {
        if pt != PatchType::Apply || t.sub.is_some() {
            return Err(ApiError::not_found(&def.group, &def.plural, &t.name));
        }
        // Apply to a missing object creates it.
        let mut applied = apply_config(def, &patch, t);
        applied["metadata"]["name"] = json!(t.name);
        if def.namespaced {
            applied["metadata"]["namespace"] = json!(t.namespace);
        }
        let obj = field_manager::apply(
            None,
            &applied,
            &opts.manager,
            t.subresource(),
            opts.force,
            &def.type_schema,
            &meta::now(),
        )
        .map_err(|e| apply_error(def, &t.name, e))?;
        return match &core {
            Some(c) => create_locked(&mut st, store, c, crate::events::to_core(&obj), opts, true)
                .map(|r| view_reply(t, r)),
            None => create_locked(&mut st, store, t, obj, opts, true),
        };
    };
    let stored = live;
    let live = match &core {
        Some(_) => Arc::new(to_version(def, &stored, &t.version)),
        None => stored.clone(),
    };
    let new = match pt {
        PatchType::Merge => {
            let mut doc = (*live).clone();
            json_patch::merge(&mut doc, &patch);
            doc
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut doc = (*live).clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            doc
        }
        PatchType::Strategic => field_manager::strategic_merge(&live, &patch, &def.type_schema)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        PatchType::Apply => {
            let applied = apply_config(def, &patch, t);
            field_manager::apply(
                Some(&live),
                &applied,
                &opts.manager,
                t.subresource(),
                opts.force,
                &def.type_schema,
                &meta::now(),
            )
            .map_err(|e| apply_error(def, &t.name, e))?
        }
    };
    // A resourceVersion in the patch is a precondition.
    let want_rv = rv_of(&new);
    if !want_rv.is_empty() && want_rv != rv_of(&live) {
        return Err(ApiError::stale(&def.group, &def.plural, &t.name));
    }
    match &core {
        Some(c) => commit_update(
            &mut st,
            store,
            c,
            &stored,
            crate::events::to_core(&new),
            opts,
            pt == PatchType::Apply,
        )
        .map(|r| view_reply(t, r)),
        None => commit_update(&mut st, store, t, &live, new, opts, pt == PatchType::Apply),
    }
}

/// What an apply request may set: no status on the main resource, only status on `/status`.
fn apply_config(def: &ResourceDef, patch: &Value, t: &Target) -> Value {
    let mut applied = patch.clone();
    applied["apiVersion"] = json!(def.api_version());
    if let Some(o) = applied.as_object_mut() {
        match t.sub.as_deref() {
            Some(_) => {
                o.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"))
            }
            None if def.has_status => {
                o.remove("status");
            }
            None => {}
        }
    }
    applied
}

fn apply_error(def: &ResourceDef, name: &str, e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflicts(conflicts) => {
            let message = if conflicts.len() == 1 {
                format!(
                    "Apply failed with 1 conflict: conflict with {}: {}",
                    go_quote(&conflicts[0].manager),
                    conflicts[0].field
                )
            } else {
                let mut managers: Vec<&str> =
                    conflicts.iter().map(|c| c.manager.as_str()).collect();
                managers.sort_unstable();
                managers.dedup();
                let mut lines = Vec::new();
                for m in managers {
                    lines.push(format!("conflicts with {}:", go_quote(m)));
                    for c in conflicts.iter().filter(|c| c.manager == m) {
                        lines.push(format!("- {}", c.field));
                    }
                }
                format!(
                    "Apply failed with {} conflicts: {}",
                    conflicts.len(),
                    lines.join("\n")
                )
            };
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", go_quote(&c.manager)), "field": c.field}))
                .collect();
            ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
        }
        ApplyError::Invalid(m) => ApiError::invalid(
            &def.group,
            &def.kind,
            name,
            &[FieldError {
                field: String::new(),
                error_type: ErrorType::Invalid,
                value: None,
                detail: m,
            }],
        ),
    }
}

/// DELETE of one object.
pub fn delete(store: &Store, t: &Target, opts: &DeleteOpts) -> Result<Reply, ApiError> {
    let mut st = store.write();
    let r = delete_locked(&mut st, &t.def, &t.namespace, &t.name, opts)?;
    store.gc_notify.notify_one();
    Ok(Reply {
        code: r.0,
        body: to_version(&t.def, &r.1, &t.version),
        warnings: Vec::new(),
    })
}

/// Deletes under the lock (also used by the garbage collector and deletecollection).
/// Returns the code and body apiserver would answer with.
pub fn delete_locked(
    st: &mut State,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> Result<(u16, Value), ApiError> {
    let gr = def.storage_key();
    let live = st
        .get(&gr, ns, name)
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
    if let Some(uid) = &opts.precondition_uid
        && uid != uid_of(&live)
    {
        return Err(ApiError::conflict(
            &def.group,
            &def.plural,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                uid_of(&live)
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_rv
        && rv != rv_of(&live)
    {
        return Err(ApiError::conflict(
            &def.group,
            &def.plural,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                rv_of(&live)
            ),
        ));
    }
    let is_namespace = def.group.is_empty() && def.kind == "Namespace";
    if is_namespace && matches!(name, "default" | "kube-system" | "kube-public") {
        return Err(ApiError::forbidden(
            "",
            "namespaces",
            name,
            "this namespace may not be deleted",
        ));
    }
    if let Some(user) = opts.user.as_deref() {
        let t = Target {
            def: Arc::new(def.clone()),
            version: def.version.clone(),
            namespace: ns.to_string(),
            name: name.to_string(),
            sub: None,
        };
        admission(
            st,
            &t,
            "DELETE",
            name,
            None,
            // Admission policies read the old object with its managedFields as the list.
            Some(&crate::stored::expanded(&live)),
            Some(user),
            opts.dry_run,
            &mut Vec::new(),
        )?;
    }
    let mut finalizers = finalizers_of(&live);
    match opts.propagation.as_deref() {
        Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
            finalizers.push("foregroundDeletion".into())
        }
        Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
            finalizers.push("orphan".into())
        }
        _ => {}
    }
    let is_crd = def.group == "apiextensions.k8s.io" && def.kind == "CustomResourceDefinition";
    if finalizers.is_empty() && !is_namespace {
        if opts.dry_run {
            return Ok((200, deleted_body(def, &live)));
        }
        let removed = st.remove(&gr, ns, name).unwrap_or(live);
        return Ok((200, deleted_body(def, &removed)));
    }
    // Graceful: mark for deletion, the finalizers' owners (or the namespace controller) finish.
    let mut obj = (*live).clone();
    if !is_deleting(&obj) {
        obj["metadata"]["deletionTimestamp"] = json!(meta::now());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        // The first deletion changes what the object's controllers must do: kube-apiserver
        // bumps a generation the object has (markAsDeleting; the graceful deletion of Pods,
        // which bumps theirs in BeforeDelete, is not modelled: the sandbox's Pods go at once).
        if let Some(generation) = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .filter(|g| *g > 0)
        {
            obj["metadata"]["generation"] = json!(generation + 1);
        }
    }
    if !finalizers.is_empty() {
        obj["metadata"]["finalizers"] = json!(finalizers);
    }
    if is_namespace {
        obj["status"]["phase"] = json!("Terminating");
    }
    if is_crd {
        obj["status"] = crd::accepted_status(&obj, &meta::now(), true);
    }
    if opts.dry_run {
        return Ok((200, obj));
    }
    if obj == *live {
        return Ok((200, obj));
    }
    let stored = st.put(&gr, obj);
    st.gc_pending = true;
    Ok((200, (*stored).clone()))
}

fn deleted_body(def: &ResourceDef, obj: &Value) -> Value {
    if def.delete_returns_object {
        return obj.clone();
    }
    let mut details = json!({"name": name_of(obj), "kind": def.plural, "uid": uid_of(obj)});
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// Whether a kind has the `scale` subresource (autoscaling/v1 Scale).
pub fn has_scale(def: &ResourceDef) -> bool {
    def.group == "apps"
        && matches!(
            def.kind.as_str(),
            "Deployment" | "StatefulSet" | "ReplicaSet"
        )
}

/// The autoscaling/v1 `Scale` view of an object.
fn to_scale(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// GET of the `scale` subresource.
pub fn get_scale(store: &Store, t: &Target) -> Result<Value, ApiError> {
    let st = store.read();
    let obj = st
        .get(&t.gr(), &t.namespace, &t.name)
        .ok_or_else(|| ApiError::not_found(&t.def.group, &t.def.plural, &t.name))?;
    Ok(to_scale(&obj))
}

/// PUT (`patch` None, `body` the Scale) or PATCH (merge / JSON patch of the Scale) of the
/// `scale` subresource: only `spec.replicas` of the object changes.
pub fn write_scale(
    store: &Store,
    t: &Target,
    body: Value,
    patch: Option<PatchType>,
    opts: &WriteOpts,
) -> Result<Reply, ApiError> {
    let def = &t.def;
    let mut st = store.write();
    let live = st
        .get(&t.gr(), &t.namespace, &t.name)
        .map(|l| crate::stored::expanded(&l))
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, &t.name))?;
    let current = to_scale(&live);
    let scale = match patch {
        None => body,
        Some(PatchType::Merge) => {
            let mut doc = current.clone();
            json_patch::merge(&mut doc, &body);
            doc
        }
        Some(PatchType::Json) => {
            let ops: json_patch::Patch = serde_json::from_value(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            doc
        }
        Some(_) => {
            return Err(ApiError::unsupported_media_type(
                "",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                ],
            ));
        }
    };
    let want_rv = rv_of(&scale);
    if !want_rv.is_empty() && want_rv != rv_of(&live) {
        return Err(ApiError::stale(&def.group, &def.plural, &t.name));
    }
    let Some(replicas) = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
    else {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            &t.name,
            &[field_error(
                "spec.replicas",
                ErrorType::Invalid,
                scale.pointer("/spec/replicas").cloned(),
                "must be greater than or equal to 0",
            )],
        ));
    };
    let mut new = (*live).clone();
    new["spec"]["replicas"] = json!(replicas);
    let reply = commit_update(&mut st, store, t, &live, new, opts, false)?;
    Ok(Reply {
        code: reply.code,
        body: to_scale(&reply.body),
        warnings: reply.warnings,
    })
}
