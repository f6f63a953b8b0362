//! ValidatingAdmissionPolicies (`admissionregistration.k8s.io/v1`) evaluated as kube-apiserver
//! evaluates them: every binding of a policy whose match constraints and match resources select
//! the request, per parameter object (`paramKind`, `paramRef`), `matchConditions`, `variables`,
//! `validations` with `message`/`messageExpression`/`reason`, `failurePolicy` and the binding's
//! `validationActions` (Deny refuses, Warn adds a warning, Audit is not recorded). The CEL
//! language and the Kubernetes function library are `kube-cel`'s; the `authorizer` variable is
//! not offered (an expression that uses it fails as an error would, under the failurePolicy).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use kube_cel::KubeCelExt;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, Program, Value as Cel};
use serde_json::{Value, json};

use crate::auth::UserInfo;
use crate::meta::name_of;
use crate::rbac::strings;
use crate::registry::{GroupResource, ResourceDef};
use crate::selectors::LabelSelector;
use crate::status::{ApiError, qualified_resource};
use crate::store::State;

const GROUP: &str = "admissionregistration.k8s.io";

/// One admission request, as the policies see it.
pub struct Request<'a> {
    pub user: &'a UserInfo,
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub operation: &'a str,
    pub def: &'a ResourceDef,
    pub version: &'a str,
    /// The subresource, empty for the main resource.
    pub sub: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old: Option<&'a Value>,
    pub dry_run: bool,
}

/// Compiled programs by source text (policies are evaluated on many requests).
fn compile(source: &str) -> Result<Arc<Program>, String> {
    type Cache = Mutex<HashMap<String, Result<Arc<Program>, String>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = match cache.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    if cache.len() > 4096 {
        cache.clear();
    }
    cache
        .entry(source.to_string())
        .or_insert_with(|| {
            Program::compile(source)
                .map(Arc::new)
                .map_err(|e| format!("compilation failed: {e}"))
        })
        .clone()
}

fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let map: HashMap<Key, Cel> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

/// Whether one of `rules` (NamedRuleWithOperations) selects the request.
fn rules_match(rules: Option<&Value>, req: &Request<'_>) -> bool {
    rules
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|rule| rule_matches(rule, req))
}

fn rule_matches(rule: &Value, req: &Request<'_>) -> bool {
    let any = |field: &str, want: &str| {
        let list = strings(rule.get(field));
        list.iter().any(|x| x == "*" || x == want)
    };
    if !any("operations", req.operation)
        || !any("apiGroups", &req.def.group)
        || !any("apiVersions", req.version)
    {
        return false;
    }
    let scope = rule.get("scope").and_then(Value::as_str).unwrap_or("*");
    if (scope == "Cluster" && req.def.namespaced) || (scope == "Namespaced" && !req.def.namespaced)
    {
        return false;
    }
    let names = strings(rule.get("resourceNames"));
    if !names.is_empty() && !names.iter().any(|n| n == req.name) {
        return false;
    }
    strings(rule.get("resources")).iter().any(|r| {
        let (res, sub) = r.split_once('/').unwrap_or((r.as_str(), ""));
        let res_ok = res == "*" || res == req.def.plural;
        let sub_ok = if r.contains('/') {
            sub == "*" || sub == req.sub
        } else {
            req.sub.is_empty()
        };
        res_ok && sub_ok
    })
}

/// `matchConstraints` of a policy or `matchResources` of a binding.
fn resources_match(m: &Value, req: &Request<'_>, namespace: Option<&Value>) -> bool {
    if m.get("resourceRules").is_some() && !rules_match(m.get("resourceRules"), req) {
        return false;
    }
    if rules_match(m.get("excludeResourceRules"), req) {
        return false;
    }
    if let Some(sel) = m.get("namespaceSelector").filter(|s| !s.is_null()) {
        let selector = LabelSelector::from_object(sel);
        let subject = if req.def.group.is_empty() && req.def.kind == "Namespace" {
            req.object.or(req.old)
        } else if req.def.namespaced {
            namespace
        } else {
            None
        };
        if let Some(subject) = subject
            && !selector.matches(subject)
        {
            return false;
        }
    }
    if let Some(sel) = m.get("objectSelector").filter(|s| !s.is_null()) {
        let selector = LabelSelector::from_object(sel);
        let matched = [req.object, req.old]
            .into_iter()
            .flatten()
            .any(|o| selector.matches(o));
        if !matched {
            return false;
        }
    }
    true
}

/// The parameter objects a binding names, `None` when the policy takes none.
fn params(
    st: &State,
    policy: &Value,
    binding: &Value,
    req: &Request<'_>,
) -> Result<Option<Vec<Value>>, String> {
    let Some(kind) = policy.pointer("/spec/paramKind").filter(|k| !k.is_null()) else {
        return Ok(None);
    };
    let api_version = kind.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind_name = kind.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let Some(def) = st
        .defs
        .values()
        .find(|d| d.group == group && d.kind == kind_name)
    else {
        return Err(format!(
            "failed to configure policy: failed to find resource referenced by paramKind: '{api_version}, Kind={kind_name}'"
        ));
    };
    let Some(param_ref) = binding.pointer("/spec/paramRef").filter(|r| !r.is_null()) else {
        return Err(
            "failed to configure binding: paramRef is required when the policy has a paramKind"
                .into(),
        );
    };
    let ns = if def.namespaced {
        param_ref
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(req.namespace)
            .to_string()
    } else {
        String::new()
    };
    let key = GroupResource {
        group: def.group.clone(),
        resource: def.plural.clone(),
    };
    let found: Vec<Value> = match param_ref.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => st
            .get(&key, &ns, name)
            .map(|o| vec![(*o).clone()])
            .unwrap_or_default(),
        _ => {
            let selector =
                LabelSelector::from_object(param_ref.get("selector").unwrap_or(&Value::Null));
            let scope = def.namespaced.then_some(ns.as_str());
            st.list(&key, scope)
                .into_iter()
                .filter(|o| selector.matches(o))
                .map(|o| (*o).clone())
                .collect()
        }
    };
    if found.is_empty()
        && param_ref
            .get("parameterNotFoundAction")
            .and_then(Value::as_str)
            == Some("Deny")
    {
        return Err(
            "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction".into(),
        );
    }
    Ok(Some(found))
}

/// The `request` variable: an `admission.k8s.io/v1` AdmissionRequest.
fn request_value(req: &Request<'_>) -> Value {
    let resource =
        json!({"group": req.def.group, "version": req.version, "resource": req.def.plural});
    let kind = json!({"group": req.def.group, "version": req.version, "kind": req.def.kind});
    let options_kind = match req.operation {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        _ => "DeleteOptions",
    };
    json!({
        "uid": crate::meta::new_uid(),
        "kind": kind,
        "resource": resource,
        "subResource": req.sub,
        "requestKind": kind,
        "requestResource": resource,
        "requestSubResource": req.sub,
        "name": req.name,
        "namespace": req.namespace,
        "operation": req.operation,
        "userInfo": req.user.to_json(),
        "dryRun": req.dry_run,
        "options": {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"},
    })
}

/// What one evaluation decided.
enum Outcome {
    Admit,
    /// A validation failed or an error under `failurePolicy: Fail`: message and reason.
    Refuse(String, String),
}

fn eval_string(program: &Program, ctx: &Context<'_>) -> Option<String> {
    match program.execute(ctx) {
        Ok(Cel::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn evaluate(policy: &Value, base: &HashMap<&str, Cel>) -> Outcome {
    let spec = policy.get("spec").cloned().unwrap_or(Value::Null);
    let fail_open = spec.get("failurePolicy").and_then(Value::as_str) == Some("Ignore");
    let error = |message: String| {
        if fail_open {
            Outcome::Admit
        } else {
            Outcome::Refuse(message, "Invalid".into())
        }
    };
    let mut ctx = Context::default().with_all();
    for (k, v) in base {
        ctx.add_variable_from_value(*k, v.clone());
    }
    for mc in spec
        .get("matchConditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let expr = mc.get("expression").and_then(Value::as_str).unwrap_or("");
        let name = mc.get("name").and_then(Value::as_str).unwrap_or("");
        let program = match compile(expr) {
            Ok(p) => p,
            Err(e) => return error(format!("failed to evaluate match condition {name:?}: {e}")),
        };
        match program.execute(&ctx) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => return Outcome::Admit,
            Ok(other) => {
                return error(format!(
                    "failed to evaluate match condition {name:?}: expected a bool, got {other:?}"
                ));
            }
            Err(e) => return error(format!("failed to evaluate match condition {name:?}: {e}")),
        }
    }
    // Variables in order; one that fails stays unbound, so that using it fails too.
    let mut variables: HashMap<Key, Cel> = HashMap::new();
    for var in spec
        .get("variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = var.get("name").and_then(Value::as_str).unwrap_or("");
        let expr = var.get("expression").and_then(Value::as_str).unwrap_or("");
        ctx.add_variable_from_value(
            "variables",
            Cel::Map(Map {
                map: Arc::new(variables.clone()),
            }),
        );
        if let Ok(program) = compile(expr)
            && let Ok(v) = program.execute(&ctx)
        {
            variables.insert(Key::String(Arc::new(name.to_string())), v);
        }
    }
    ctx.add_variable_from_value(
        "variables",
        Cel::Map(Map {
            map: Arc::new(variables),
        }),
    );
    for v in spec
        .get("validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let expr = v.get("expression").and_then(Value::as_str).unwrap_or("");
        let program = match compile(expr) {
            Ok(p) => p,
            Err(e) => return error(format!("expression '{expr}' resulted in error: {e}")),
        };
        match program.execute(&ctx) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => {
                let message = v
                    .get("messageExpression")
                    .and_then(Value::as_str)
                    .and_then(|m| compile(m).ok())
                    .and_then(|p| eval_string(&p, &ctx))
                    .or_else(|| {
                        v.get("message")
                            .and_then(Value::as_str)
                            .map(|m| m.trim().to_string())
                            .filter(|m| !m.is_empty())
                    })
                    .unwrap_or_else(|| format!("failed expression: {}", expr.trim()));
                let reason = v
                    .get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("Invalid")
                    .to_string();
                return Outcome::Refuse(message, reason);
            }
            Ok(other) => {
                return error(format!(
                    "expression '{expr}' resulted in error: expected a bool, got {other:?}"
                ));
            }
            Err(e) => return error(format!("expression '{expr}' resulted in error: {e}")),
        }
    }
    Outcome::Admit
}

fn reason_code(reason: &str) -> (u16, &'static str) {
    match reason {
        "Unauthorized" => (401, "Unauthorized"),
        "Forbidden" => (403, "Forbidden"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    }
}

/// Evaluates every policy binding on `req`: the first denial as kube-apiserver answers it, or
/// the warnings of bindings that only warn.
pub fn admit(st: &State, req: &Request<'_>) -> Result<Vec<String>, ApiError> {
    let policies_key = GroupResource {
        group: GROUP.into(),
        resource: "validatingadmissionpolicies".into(),
    };
    let bindings_key = GroupResource {
        group: GROUP.into(),
        resource: "validatingadmissionpolicybindings".into(),
    };
    let mut bindings = st.list(&bindings_key, None);
    if bindings.is_empty() {
        return Ok(Vec::new());
    }
    bindings.sort_by_key(|b| name_of(b).to_string());
    let namespace = (!req.namespace.is_empty())
        .then(|| {
            st.get(
                &GroupResource {
                    group: String::new(),
                    resource: "namespaces".into(),
                },
                "",
                req.namespace,
            )
        })
        .flatten();
    let mut warnings = Vec::new();
    let mut base: Option<HashMap<&str, Cel>> = None;
    for binding in &bindings {
        let policy_name = binding
            .pointer("/spec/policyName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(policy) = st.get(&policies_key, "", policy_name) else {
            continue;
        };
        let constraints = policy
            .pointer("/spec/matchConstraints")
            .cloned()
            .unwrap_or(Value::Null);
        if !resources_match(&constraints, req, namespace.as_deref()) {
            continue;
        }
        if let Some(m) = binding
            .pointer("/spec/matchResources")
            .filter(|m| !m.is_null())
            && !resources_match(m, req, namespace.as_deref())
        {
            continue;
        }
        let base = base.get_or_insert_with(|| {
            HashMap::from([
                ("object", req.object.map(to_cel).unwrap_or(Cel::Null)),
                ("oldObject", req.old.map(to_cel).unwrap_or(Cel::Null)),
                ("request", to_cel(&request_value(req))),
                (
                    "namespaceObject",
                    namespace.as_deref().map(to_cel).unwrap_or(Cel::Null),
                ),
            ])
        });
        let outcomes: Vec<Outcome> = match params(st, &policy, binding, req) {
            Err(e) => {
                let fail_open = policy
                    .pointer("/spec/failurePolicy")
                    .and_then(Value::as_str)
                    == Some("Ignore");
                if fail_open {
                    Vec::new()
                } else {
                    vec![Outcome::Refuse(e, "Invalid".into())]
                }
            }
            Ok(None) => {
                let mut vars = base.clone();
                vars.insert("params", Cel::Null);
                vec![evaluate(&policy, &vars)]
            }
            Ok(Some(params)) => params
                .iter()
                .map(|p| {
                    let mut vars = base.clone();
                    vars.insert("params", to_cel(p));
                    evaluate(&policy, &vars)
                })
                .collect(),
        };
        let actions = strings(binding.pointer("/spec/validationActions"));
        for outcome in outcomes {
            let Outcome::Refuse(message, reason) = outcome else {
                continue;
            };
            let binding_name = name_of(binding);
            if actions.iter().any(|a| a == "Deny") {
                let message = format!(
                    "ValidatingAdmissionPolicy '{policy_name}' with binding '{binding_name}' denied request: {message}"
                );
                let qualified = qualified_resource(&req.def.group, &req.def.plural);
                let full = if req.name.is_empty() {
                    format!("{qualified} is forbidden: {message}")
                } else {
                    format!("{qualified} \"{}\" is forbidden: {message}", req.name)
                };
                let (code, reason) = reason_code(&reason);
                let mut details = json!({"kind": req.def.plural, "causes": [{"message": message}]});
                if !req.name.is_empty() {
                    details["name"] = json!(req.name);
                }
                if !req.def.group.is_empty() {
                    details["group"] = json!(req.def.group);
                }
                return Err(ApiError::new(code, reason, full).with_details(details));
            }
            if actions.iter().any(|a| a == "Warn") {
                warnings.push(format!(
                    "Validation failed for ValidatingAdmissionPolicy '{policy_name}' with binding '{binding_name}': {message}"
                ));
            }
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, vars: &[(&str, Value)]) -> Cel {
        let mut ctx = Context::default().with_all();
        for (k, v) in vars {
            ctx.add_variable_from_value(*k, to_cel(v));
        }
        compile(expr).unwrap().execute(&ctx).unwrap()
    }

    #[test]
    fn map_filters_list_concatenation_and_join_evaluate_as_in_kube_apiserver() {
        let labels = json!({"a/x": "1", "b": "2"});
        assert_eq!(
            run(
                "labels.filter(k, k.startsWith('a/')).map(k, 'label ' + k).join(', ')",
                &[("labels", labels.clone())]
            ),
            Cel::String(Arc::new("label a/x".into()))
        );
        assert_eq!(
            run(
                "o != null && has(o.metadata.labels) && 'b' in o.metadata.labels",
                &[("o", json!({"metadata": {"labels": labels}}))]
            ),
            Cel::Bool(true)
        );
        assert_eq!(run("o != null", &[("o", Value::Null)]), Cel::Bool(false));
        assert_eq!(
            run("{'x': 'y'}[k] + ''", &[("k", json!("x"))]),
            Cel::String(Arc::new("y".into()))
        );
    }
}
