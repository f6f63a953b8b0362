//! HTTP routing: paths, verbs, content negotiation, fault injection and request recording.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::{self, DeleteOpts, FieldValidation, PatchType, Reply, Target, WriteOpts};
use crate::discovery;
use crate::faults::{FaultAction, FaultTarget, Faults};
use crate::list::{self, ListOpts, Render};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::stats::{Recorder, RequestRecord};
use crate::status::ApiError;
use crate::store::Store;
use crate::table;
use crate::watch::{self, WatchOpts};

/// Shared by every request.
pub struct App {
    pub store: Arc<Store>,
    pub faults: Faults,
    pub recorder: Arc<Recorder>,
    /// `127.0.0.1:PORT`, for `/api`'s serverAddressByClientCIDRs.
    pub server_addr: String,
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Version,
    Health,
    Api,
    Apis,
    Group(String),
    ResourceList(String, String),
    OpenApiV3Root,
    OpenApiV3(String, String),
    Resource {
        group: String,
        version: String,
        namespace: String,
        plural: String,
        name: String,
        sub: String,
        watch_path: bool,
    },
    Unknown,
}

fn parse_path(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["healthz" | "readyz" | "livez", ..] => return Route::Health,
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["apis", g] => return Route::Group(g.to_string()),
        ["api", v] => return Route::ResourceList(String::new(), v.to_string()),
        ["apis", g, v] => return Route::ResourceList(g.to_string(), v.to_string()),
        ["openapi", "v3"] => return Route::OpenApiV3Root,
        ["openapi", "v3", "api", v] => return Route::OpenApiV3(String::new(), v.to_string()),
        ["openapi", "v3", "apis", g, v] => return Route::OpenApiV3(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return Route::Unknown,
    };
    let (watch_path, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let s = |i: usize| rest.get(i).map(|x| x.to_string()).unwrap_or_default();
    let (namespace, plural, name, sub, extra) = if rest.first() == Some(&"namespaces")
        && rest.len() >= 3
        && !matches!(rest[2], "status" | "finalize")
    {
        (s(1), s(2), s(3), s(4), rest.len() > 5)
    } else {
        (String::new(), s(0), s(1), s(2), rest.len() > 3)
    };
    if plural.is_empty() || extra {
        return Route::Unknown;
    }
    Route::Resource {
        group,
        version,
        namespace,
        plural,
        name,
        sub,
        watch_path,
    }
}

fn json_response(code: u16, body: &Value) -> Response {
    // The bytes `Display` writes, with stored managedFields written out ([`crate::stored`]).
    bytes_response(code, crate::stored::to_json(body), "application/json")
}

fn bytes_response(code: u16, body: Vec<u8>, content_type: &str) -> Response {
    let code = axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK);
    let mut r = (code, body).into_response();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r
}

fn reply_response(reply: Reply) -> Response {
    let mut r = json_response(reply.code, &reply.body);
    for w in reply.warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", crate::status::go_quote(&w))) {
            r.headers_mut().append("Warning", v);
        }
    }
    r
}

struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The manager apiserver derives from the user agent when `fieldManager` is absent.
fn manager_from_user_agent(ua: &str) -> String {
    let m = ua.split('/').next().unwrap_or("").trim();
    let m: String = m.chars().take(128).collect();
    if m.is_empty() { "unknown".into() } else { m }
}

fn fault_error(status: u16, retry_after: Option<u64>, target: &FaultTarget<'_>) -> ApiError {
    let mut e = match status {
        429 => ApiError::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        409 => ApiError::conflict(
            "",
            target.resource,
            target.name,
            "injected conflict; please apply your changes to the latest version and try again",
        ),
        404 => ApiError::not_found("", target.resource, target.name),
        403 => ApiError::forbidden("", target.resource, target.name, "injected fault"),
        410 => ApiError::gone("too old resource version: injected fault"),
        503 => ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => ApiError::new(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        500 => ApiError::internal("injected fault"),
        c => ApiError::new(
            c,
            "InternalError",
            format!("injected fault with status {c}"),
        ),
    };
    e.retry_after = retry_after;
    e
}

/// The single handler behind every path.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let params = Params(
        Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map(|q| q.0)
            .unwrap_or_default(),
    );
    let user_agent = header_str(&headers, header::USER_AGENT).to_string();
    let route = parse_path(&path);
    let mut record = RequestRecord {
        time: SystemTime::now(),
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        verb: "discovery".into(),
        resource: String::new(),
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
        user_agent: user_agent.clone(),
        field_manager: params.get("fieldManager").unwrap_or("").to_string(),
        status: 0,
    };
    let user = match crate::auth::authenticate(&app.store.read(), &headers) {
        Ok(u) => Arc::new(u),
        Err(e) => {
            let resp = e.into_response();
            record.status = resp.status().as_u16();
            app.recorder.record(record);
            return resp;
        }
    };
    let response = match route {
        Route::Resource {
            group,
            version,
            namespace,
            plural,
            name,
            sub,
            watch_path,
        } => {
            let watch = watch_path || params.flag("watch");
            let content_type = header_str(&headers, header::CONTENT_TYPE).to_string();
            let verb = match (&method, name.is_empty()) {
                (&Method::GET, false) if !watch => "get",
                (&Method::GET, _) if watch => "watch",
                (&Method::GET, true) => "list",
                (&Method::POST, _) => "create",
                (&Method::PUT, _) => "update",
                (&Method::PATCH, _) if content_type.starts_with("application/apply-patch") => {
                    "apply"
                }
                (&Method::PATCH, _) => "patch",
                (&Method::DELETE, false) => "delete",
                (&Method::DELETE, true) => "deletecollection",
                _ => "unknown",
            };
            record.verb = verb.into();
            record.resource = plural.clone();
            record.subresource = sub.clone();
            record.namespace = namespace.clone();
            record.name = name.clone();
            let target = FaultTarget {
                verb,
                resource: &plural,
                namespace: &namespace,
                name: &name,
            };
            match app.faults.check(&target) {
                Some(FaultAction::Fail {
                    status,
                    retry_after,
                }) => fault_error(status, retry_after, &target).into_response(),
                other => {
                    if let Some(FaultAction::Delay(d)) = other {
                        tokio::time::sleep(d).await;
                    }
                    let declared = headers
                        .get(header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let body = match crate::body::read(declared, req.into_body()).await {
                        Ok(b) => b,
                        Err(e) => {
                            let resp = e.into_response();
                            record.status = resp.status().as_u16();
                            app.recorder.record(record);
                            return resp;
                        }
                    };
                    let rr = ResourceRequest {
                        group,
                        version,
                        namespace,
                        plural,
                        name,
                        sub,
                        verb,
                    };
                    if body.len() < crate::body::BLOCKING_THRESHOLD {
                        match resource(&app, &rr, &params, &headers, &body, &user) {
                            Ok(r) => r,
                            Err(e) => e.into_response(),
                        }
                    } else {
                        // Decoding a large body must not hold up other requests.
                        let app = app.clone();
                        let handled = tokio::task::spawn_blocking(move || {
                            match resource(&app, &rr, &params, &headers, &body, &user) {
                                Ok(r) => r,
                                Err(e) => e.into_response(),
                            }
                        })
                        .await;
                        handled.unwrap_or_else(|e| {
                            ApiError::internal(format!("handling the request: {e}")).into_response()
                        })
                    }
                }
            }
        }
        other => {
            let attrs =
                crate::rbac::Attributes::non_resource(&method.as_str().to_ascii_lowercase(), &path);
            let decision = crate::rbac::authorize(&app.store.read(), &user, &attrs);
            if decision.allowed {
                discovery_response(&app, other, &headers)
            } else {
                crate::rbac::forbidden(&user, &attrs, &decision.reason).into_response()
            }
        }
    };
    record.status = response.status().as_u16();
    app.recorder.record(record);
    response
}

fn discovery_response(app: &App, route: Route, headers: &HeaderMap) -> Response {
    let accept = header_str(headers, header::ACCEPT);
    let aggregated = accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=APIGroupDiscoveryList"));
    let defs: Vec<_> = app.store.read().defs.values().cloned().collect();
    let found = match route {
        Route::Version => Some(discovery::version()),
        Route::Health => return bytes_response(200, b"ok".to_vec(), "text/plain; charset=utf-8"),
        Route::Api if aggregated => {
            return bytes_response(
                200,
                discovery::aggregated(&defs, true).to_string().into_bytes(),
                discovery::AGGREGATED_CONTENT_TYPE,
            );
        }
        Route::Apis if aggregated => {
            return bytes_response(
                200,
                discovery::aggregated(&defs, false).to_string().into_bytes(),
                discovery::AGGREGATED_CONTENT_TYPE,
            );
        }
        Route::Api => Some(discovery::api_versions(&app.server_addr)),
        Route::Apis => Some(discovery::api_group_list(&defs)),
        Route::Group(g) => discovery::api_group(&defs, &g),
        Route::ResourceList(g, v) => discovery::resource_list(&defs, &g, &v),
        Route::OpenApiV3Root => Some(discovery::openapi_v3_root(&defs, app.store.read().rv)),
        Route::OpenApiV3(g, v) => discovery::openapi_v3_group_version(&defs, &g, &v),
        Route::Resource { .. } | Route::Unknown => None,
    };
    match found {
        Some(v) => json_response(200, &v),
        None => ApiError::path_not_found().into_response(),
    }
}

struct ResourceRequest {
    group: String,
    version: String,
    namespace: String,
    plural: String,
    name: String,
    sub: String,
    verb: &'static str,
}

fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    crate::body::decode(body, content_type)
        .map_err(|e| ApiError::bad_request(format!("the request body could not be decoded: {e}")))
}

/// The name a list or watch is limited to by `fieldSelector=metadata.name=x` (kube-apiserver
/// authorizes it as a request for that name).
fn selected_name(params: &Params) -> String {
    let Some(selector) = params.get("fieldSelector") else {
        return String::new();
    };
    let parts: Vec<&str> = selector.split(',').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [only] => only
            .strip_prefix("metadata.name==")
            .or_else(|| only.strip_prefix("metadata.name="))
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

fn resource(
    app: &Arc<App>,
    rr: &ResourceRequest,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
    user: &Arc<crate::auth::UserInfo>,
) -> Result<Response, ApiError> {
    let name = if rr.name.is_empty() && matches!(rr.verb, "list" | "watch") {
        selected_name(params)
    } else {
        rr.name.clone()
    };
    let attrs = crate::rbac::request_attributes(
        rr.verb,
        &rr.group,
        &rr.plural,
        &rr.sub,
        &rr.namespace,
        &name,
    );
    let decision = crate::rbac::authorize(&app.store.read(), user, &attrs);
    if !decision.allowed {
        return Err(crate::rbac::forbidden(user, &attrs, &decision.reason));
    }
    let role_write = rr.group == "rbac.authorization.k8s.io"
        && rr.plural == "clusterroles"
        && !matches!(rr.verb, "get" | "list" | "watch")
        && params.get("dryRun") != Some("All");
    // The written role's name (a create names it in the body) and how it was before: the
    // aggregation runs only when the role aggregates, or was or is selected by a role that does.
    let role = role_write.then(|| {
        let name = if name.is_empty() {
            crate::rbac::created_name(body)
        } else {
            name.clone()
        };
        let before = crate::rbac::stored_cluster_role(&app.store.read(), &name);
        (name, before)
    });
    let response = serve_resource(app, rr, params, headers, body, user)?;
    if let Some((name, before)) = role {
        let mut st = app.store.write();
        let after = crate::rbac::stored_cluster_role(&st, &name);
        if name.is_empty()
            || crate::rbac::concerns_aggregation(&st, before.as_deref())
            || crate::rbac::concerns_aggregation(&st, after.as_deref())
        {
            crate::rbac::aggregate(&mut st);
        }
    }
    Ok(response)
}

fn serve_resource(
    app: &Arc<App>,
    rr: &ResourceRequest,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
    user: &Arc<crate::auth::UserInfo>,
) -> Result<Response, ApiError> {
    let def = app
        .store
        .read()
        .def(&rr.group, &rr.plural)
        .filter(|d| d.served_versions().contains(&rr.version))
        .ok_or_else(ApiError::path_not_found)?;
    if !rr.namespace.is_empty() && !def.namespaced {
        return Err(ApiError::path_not_found());
    }
    let sub_ok = match rr.sub.as_str() {
        "" => true,
        "status" => def.has_status,
        "scale" => api::has_scale(&def) && matches!(rr.verb, "get" | "update" | "patch"),
        "finalize" => def.group.is_empty() && def.kind == "Namespace" && rr.verb == "update",
        _ => false,
    };
    if !sub_ok {
        return Err(ApiError::path_not_found());
    }
    if def.create_only {
        if rr.verb != "create" || !rr.name.is_empty() {
            return Err(ApiError::method_not_allowed());
        }
        let body_type = header_str(headers, header::CONTENT_TYPE);
        // kubectl sends reviews as protobuf.
        let review = if body_type.contains("protobuf") {
            crate::protobuf::decode(body).ok_or_else(|| {
                ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
                )
            })?
        } else {
            parse_body(body, body_type)?
        };
        let answer = crate::rbac::review(&app.store.read(), user, &def, &rr.namespace, review)?;
        return Ok(json_response(201, &answer));
    }
    let target = Target {
        def: def.clone(),
        version: rr.version.clone(),
        namespace: rr.namespace.clone(),
        name: rr.name.clone(),
        sub: (!rr.sub.is_empty()).then(|| rr.sub.clone()),
    };
    let accept = header_str(headers, header::ACCEPT);
    let render = Render::from_accept(accept);
    let dry_run = params.get("dryRun") == Some("All");
    let manager_param = params.get("fieldManager").filter(|m| !m.is_empty());
    let opts = WriteOpts {
        dry_run,
        manager: manager_param
            .map(String::from)
            .unwrap_or_else(|| manager_from_user_agent(header_str(headers, header::USER_AGENT))),
        manager_given: manager_param.is_some(),
        validation: match params.get("fieldValidation") {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        },
        force: params.flag("force"),
        user: Some(user.clone()),
    };
    let selectors = || -> Result<(LabelSelector, FieldSelector), ApiError> {
        Ok((
            LabelSelector::parse(params.get("labelSelector").unwrap_or(""))?,
            FieldSelector::parse(params.get("fieldSelector").unwrap_or(""), &def, &rr.version)?,
        ))
    };
    let store = &app.store;
    // JSON and YAML bodies are decoded; protobuf only for the kinds kubectl's typed commands
    // send that way (see `protobuf`), others are refused as apiserver refuses them for CRs.
    let body_type = header_str(headers, header::CONTENT_TYPE);
    let decoded_proto;
    let body = if matches!(rr.verb, "create" | "update" | "delete" | "deletecollection")
        && !body.is_empty()
        && body_type.contains("protobuf")
    {
        decoded_proto = crate::protobuf::decode(body)
            .ok_or_else(|| {
                ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
                )
            })?
            .to_string()
            .into_bytes();
        decoded_proto.as_slice()
    } else {
        body
    };
    if rr.sub == "scale" {
        return match rr.verb {
            "get" => Ok(json_response(200, &api::get_scale(store, &target)?)),
            "update" => Ok(reply_response(api::write_scale(
                store,
                &target,
                parse_body(body, body_type)?,
                None,
                &opts,
            )?)),
            _ => {
                let ct = header_str(headers, header::CONTENT_TYPE);
                let pt = PatchType::from_content_type(ct);
                let patch: Value = parse_body(body, body_type)?;
                Ok(reply_response(api::write_scale(
                    store,
                    &target,
                    patch,
                    Some(pt.unwrap_or(PatchType::Apply)),
                    &opts,
                )?))
            }
        };
    }
    match rr.verb {
        "get" => {
            let obj = api::get(store, &target)?;
            match render {
                Render::Metadata => Ok(json_response(200, &list::partial_metadata(&obj))),
                Render::Table => {
                    let rv = store.read().rv;
                    let t = table::table(
                        &def,
                        &rr.version,
                        &[Arc::new(obj)],
                        rv,
                        None,
                        params.get("includeObject").unwrap_or("Metadata"),
                    );
                    Ok(json_response(200, &t))
                }
                Render::Full => Ok(json_response(200, &obj)),
            }
        }
        "list" => {
            let (label_selector, field_selector) = selectors()?;
            let lo = ListOpts {
                label_selector,
                field_selector,
                limit: params.get("limit").and_then(|l| l.parse().ok()),
                continue_token: params.get("continue").map(String::from),
                resource_version: params.get("resourceVersion").map(String::from),
                resource_version_match: params.get("resourceVersionMatch").map(String::from),
            };
            let page = list::list(store, &target, &lo)?;
            if render == Render::Table {
                let t = table::table(
                    &def,
                    &rr.version,
                    &page.items,
                    page.rv,
                    page.continue_token.as_deref(),
                    params.get("includeObject").unwrap_or("Metadata"),
                );
                return Ok(json_response(200, &t));
            }
            Ok(bytes_response(
                200,
                list::render_list(&target, &page, render),
                "application/json",
            ))
        }
        "watch" => {
            let (mut label_selector, mut field_selector) = selectors()?;
            if !rr.name.is_empty() {
                field_selector =
                    FieldSelector::parse(&format!("metadata.name={}", rr.name), &def, &rr.version)?;
                label_selector = label_selector.clone();
            }
            let wo = WatchOpts {
                resource_version: params.get("resourceVersion").map(String::from),
                allow_bookmarks: params.flag("allowWatchBookmarks"),
                send_initial_events: params.flag("sendInitialEvents"),
                timeout: params
                    .get("timeoutSeconds")
                    .and_then(|t| t.parse::<u64>().ok())
                    .map(Duration::from_secs),
                label_selector,
                field_selector,
            };
            let mut target = target;
            target.name = String::new();
            let body: Body = watch::start(store.clone(), target, wo, render);
            let mut r = Response::new(body);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, private"),
            );
            Ok(r)
        }
        "create" => {
            if !rr.name.is_empty() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = parse_body(body, body_type)?;
            Ok(reply_response(api::create(store, &target, obj, &opts)?))
        }
        "update" => {
            if rr.name.is_empty() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = parse_body(body, body_type)?;
            Ok(reply_response(api::update(store, &target, obj, &opts)?))
        }
        "patch" | "apply" => {
            if rr.name.is_empty() {
                return Err(ApiError::method_not_allowed());
            }
            let ct = header_str(headers, header::CONTENT_TYPE);
            let pt = PatchType::from_content_type(ct).ok_or_else(|| {
                ApiError::unsupported_media_type(ct, &api::accepted_patch_types(&def))
            })?;
            Ok(reply_response(api::patch(store, &target, pt, body, &opts)?))
        }
        "delete" | "deletecollection" => {
            let b: Value = if body.is_empty() {
                json!({})
            } else {
                parse_body(body, body_type)?
            };
            let orphan = params
                .get("orphanDependents")
                .map(|v| v == "true")
                .or_else(|| b.get("orphanDependents").and_then(Value::as_bool));
            let propagation = params
                .get("propagationPolicy")
                .map(String::from)
                .or_else(|| {
                    b.get("propagationPolicy")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .or_else(|| {
                    orphan.map(|o| {
                        if o {
                            "Orphan".to_string()
                        } else {
                            "Background".to_string()
                        }
                    })
                });
            if let Some(p) = &propagation
                && !matches!(p.as_str(), "Foreground" | "Background" | "Orphan")
            {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    &[crate::status::field_error(
                        "propagationPolicy",
                        crd_validation::ErrorType::NotSupported,
                        Some(json!(p)),
                        "supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
                    )],
                ));
            }
            let del = DeleteOpts {
                dry_run: dry_run
                    || b.get("dryRun")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|x| x == "All")),
                propagation,
                precondition_uid: b
                    .pointer("/preconditions/uid")
                    .and_then(Value::as_str)
                    .map(String::from),
                precondition_rv: b
                    .pointer("/preconditions/resourceVersion")
                    .and_then(Value::as_str)
                    .map(String::from),
                user: Some(user.clone()),
            };
            if rr.verb == "delete" {
                Ok(reply_response(api::delete(store, &target, &del)?))
            } else {
                let (label_selector, field_selector) = selectors()?;
                let lo = ListOpts {
                    label_selector,
                    field_selector,
                    ..ListOpts::default()
                };
                Ok(json_response(
                    200,
                    &list::delete_collection(store, &target, &lo, &del)?,
                ))
            }
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_to_namespaced_cluster_and_watch_resources() {
        assert_eq!(
            parse_path("/api/v1/namespaces/ns1/configmaps/a"),
            Route::Resource {
                group: "".into(),
                version: "v1".into(),
                namespace: "ns1".into(),
                plural: "configmaps".into(),
                name: "a".into(),
                sub: "".into(),
                watch_path: false
            }
        );
        assert_eq!(
            parse_path("/api/v1/namespaces/ns1/status"),
            Route::Resource {
                group: "".into(),
                version: "v1".into(),
                namespace: "".into(),
                plural: "namespaces".into(),
                name: "ns1".into(),
                sub: "status".into(),
                watch_path: false
            }
        );
        assert_eq!(
            parse_path("/apis/apps/v1/watch/deployments"),
            Route::Resource {
                group: "apps".into(),
                version: "v1".into(),
                namespace: "".into(),
                plural: "deployments".into(),
                name: "".into(),
                sub: "".into(),
                watch_path: true
            }
        );
        assert_eq!(
            parse_path("/apis/example.com/v1"),
            Route::ResourceList("example.com".into(), "v1".into())
        );
        assert_eq!(parse_path("/nope"), Route::Unknown);
    }
}
