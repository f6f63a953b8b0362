//! CEL `x-kubernetes-validations`, evaluated the way apiextensions-apiserver's
//! `schema/cel` validator does. The CEL language and the Kubernetes function library
//! come from `kube-cel` (and the `cel` crate it re-exports); this module binds values,
//! correlates `oldSelf` and turns results into field errors.

use std::collections::HashMap;
use std::sync::Arc;

use kube_cel::KubeCelExt;
use kube_cel::cel::objects::{Key, Map, OptionalValue};
use kube_cel::cel::{Context, Program, Value as Cel};
use serde_json::Value;

use crate::formats::{decode_base64, parse_duration_nanos};
use crate::path::FieldPath;
use crate::schema::{Additional, Node};
use crate::{ErrorType, FieldError, RootInfo};

/// The `reason`s a rule may declare (anything else is rejected when the schema is compiled).
const REASONS: &[&str] = &[
    "FieldValueInvalid",
    "FieldValueForbidden",
    "FieldValueRequired",
    "FieldValueDuplicate",
];

/// CEL macros/functions apiserver has but the `cel` crate under kube-cel cannot evaluate
/// (they parse, then fail at runtime as undeclared references).
const UNSUPPORTED: &[&str] = &[
    "bind",
    "sortBy",
    "transformList",
    "transformMap",
    "transformMapEntry",
];

/// Rejects a program using a function from [`UNSUPPORTED`], naming it.
fn check_supported(program: &Program, source: &str) -> Result<(), String> {
    let refs = program.references();
    match UNSUPPORTED.iter().find(|f| refs.has_function(f)) {
        Some(f) => Err(format!(
            "{source:?} uses `{f}`, which the embedded CEL engine (kube-cel 0.8 on cel 0.13) cannot evaluate; rewrite it without `{f}`"
        )),
        None => Ok(()),
    }
}

/// One compiled `x-kubernetes-validations` entry.
pub(crate) struct CompiledRule {
    rule: String,
    program: Program,
    message: Option<String>,
    message_program: Option<Program>,
    reason: Option<String>,
    /// `fieldPath` without its leading dot, appended to the node's path in errors.
    field_path: Option<String>,
    optional_old_self: bool,
    /// The rule mentions `oldSelf`: a transition rule, only run on update.
    uses_old_self: bool,
}

impl std::fmt::Debug for CompiledRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRule")
            .field("rule", &self.rule)
            .finish()
    }
}

fn str_field<'a>(raw: &'a Value, key: &str) -> Option<&'a str> {
    raw.get(key).and_then(Value::as_str)
}

impl CompiledRule {
    /// Compiles one rule object; the error is a message for [`crate::SchemaError`].
    pub(crate) fn compile(raw: &Value) -> Result<Self, String> {
        let rule = str_field(raw, "rule")
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| "rule: Required value: every x-kubernetes-validations entry needs a non-empty `rule`".to_string())?
            .to_string();
        let program = Program::compile(&rule)
            .map_err(|e| format!("compilation failed for rule {rule:?}: {e}"))?;
        check_supported(&program, &rule)?;
        let message_program = match str_field(raw, "messageExpression") {
            Some(expr) => {
                let program = Program::compile(expr).map_err(|e| {
                    format!("messageExpression compilation failed for {expr:?}: {e}")
                })?;
                check_supported(&program, expr)?;
                Some(program)
            }
            None => None,
        };
        let reason = str_field(raw, "reason").map(str::to_string);
        if let Some(r) = &reason
            && !REASONS.contains(&r.as_str())
        {
            return Err(format!(
                "reason: Unsupported value: {r:?}: supported values: {}",
                REASONS
                    .iter()
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let optional_old_self = raw.get("optionalOldSelf").and_then(Value::as_bool) == Some(true);
        let uses_old_self = program.references().has_variable("oldSelf");
        if optional_old_self && !uses_old_self {
            return Err(format!(
                "optionalOldSelf: Forbidden: may not be set if oldSelf is not used in rule {rule:?}"
            ));
        }
        Ok(Self {
            program,
            message: str_field(raw, "message")
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty()),
            message_program,
            reason,
            field_path: str_field(raw, "fieldPath")
                .map(|p| p.trim_start_matches('.').to_string())
                .filter(|p| !p.is_empty()),
            optional_old_self,
            uses_old_self,
            rule,
        })
    }

    /// `ruleMessageOrDefault`: the static message, or `failed rule: <rule>`.
    fn message_or_default(&self) -> String {
        match &self.message {
            Some(m) => m.clone(),
            None => format!("failed rule: {}", self.rule.trim()),
        }
    }
}

/// The CEL environment (all Kubernetes library functions), built once per validator.
pub(crate) struct CelEnv {
    base: Context<'static>,
}

impl std::fmt::Debug for CelEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CelEnv")
    }
}

impl CelEnv {
    pub(crate) fn new() -> Self {
        Self {
            base: Context::default().with_all(),
        }
    }
}

/// CEL reserved words: a property with this name is reachable as `__name__`.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// apiserver's property-name escaping; `None` = the property is not accessible from CEL.
fn escape(name: &str) -> Option<String> {
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

fn cel_string(s: &str) -> Cel {
    Cel::String(Arc::new(s.to_string()))
}

fn cel_map(map: HashMap<Key, Cel>) -> Cel {
    Cel::Map(Map { map: Arc::new(map) })
}

/// Converts a JSON value to CEL, typed by its schema (apiserver's `UnstructuredToVal`).
fn to_cel(value: &Value, node: Option<&Node>) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            // A `type: number` field is a CEL double even when the JSON has no fraction.
            if node.is_some_and(|n| n.type_name == "number") {
                Cel::Float(n.as_f64().unwrap_or(0.0))
            } else if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => string_to_cel(s, node),
        Value::Array(items) => {
            let item_node = node.and_then(|n| n.items.as_deref());
            Cel::List(Arc::new(
                items.iter().map(|i| to_cel(i, item_node)).collect(),
            ))
        }
        Value::Object(obj) => {
            let is_map = node.is_some_and(|n| matches!(n.additional, Additional::Schema(_)));
            let mut map = HashMap::with_capacity(obj.len());
            for (k, v) in obj {
                let child = node.and_then(|n| n.field_schema(k));
                // Map keys are data and stay as they are; property names are escaped.
                let key = if is_map && !node.is_some_and(|n| n.properties.contains_key(k)) {
                    Some(k.clone())
                } else {
                    escape(k)
                };
                if let Some(key) = key {
                    map.insert(Key::String(Arc::new(key)), to_cel(v, child));
                }
            }
            if node.is_some_and(|n| n.embedded) {
                for (k, empty) in [("apiVersion", cel_string("")), ("kind", cel_string(""))] {
                    map.entry(Key::String(Arc::new(k.to_string())))
                        .or_insert(empty);
                }
                map.entry(Key::String(Arc::new("metadata".to_string())))
                    .or_insert_with(|| cel_map(HashMap::new()));
            }
            cel_map(map)
        }
    }
}

fn string_to_cel(s: &str, node: Option<&Node>) -> Cel {
    let format = node
        .filter(|n| !n.int_or_string)
        .and_then(|n| n.raw_format.as_deref());
    match format {
        Some("date-time") => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => Cel::Timestamp(t),
            Err(_) => cel_string(s),
        },
        Some("duration") => match parse_duration_nanos(s).and_then(|n| i64::try_from(n).ok()) {
            Some(n) => Cel::Duration(chrono::Duration::nanoseconds(n)),
            None => cel_string(s),
        },
        Some("byte") => match decode_base64(s) {
            Some(bytes) => Cel::Bytes(Arc::new(bytes)),
            None => cel_string(s),
        },
        _ => cel_string(s),
    }
}

/// The root `self`: apiVersion/kind always present, `metadata` limited to name/generateName.
fn root_to_cel(value: &Value, node: &Node, root: &RootInfo) -> Cel {
    let Cel::Map(converted) = to_cel(value, Some(node)) else {
        return to_cel(value, Some(node));
    };
    // Patch the converted map instead of cloning the JSON object first.
    let mut map = Arc::unwrap_or_clone(converted.map);
    for (key, fallback) in [("apiVersion", &root.api_version), ("kind", &root.kind)] {
        if !fallback.is_empty() {
            map.entry(Key::String(Arc::new(key.to_string())))
                .or_insert_with(|| cel_string(fallback));
        }
    }
    let meta_key = Key::String(Arc::new("metadata".to_string()));
    if let Some(Value::Object(meta)) = value.get("metadata") {
        let mut kept = HashMap::new();
        for k in ["name", "generateName"] {
            if let Some(Value::String(s)) = meta.get(k) {
                kept.insert(Key::String(Arc::new(k.to_string())), cel_string(s));
            }
        }
        map.insert(meta_key, cel_map(kept));
    }
    cel_map(map)
}

/// Walks the object like apiserver's CEL validator: a node's rules, then its children.
pub(crate) struct Walker<'a> {
    pub env: &'a CelEnv,
    pub root: &'a RootInfo,
    pub errors: Vec<FieldError>,
}

impl Walker<'_> {
    pub(crate) fn walk(
        &mut self,
        node: &Node,
        value: &Value,
        old: Option<&Value>,
        path: &FieldPath,
    ) {
        // Null values and subtrees without rules are never evaluated.
        if value.is_null() || !node.has_rules {
            return;
        }
        if !node.rules.is_empty() {
            self.eval_rules(node, value, old, path);
        }
        match value {
            Value::Object(obj) => {
                let mut keys: Vec<&String> = obj.keys().collect();
                keys.sort();
                for k in keys {
                    if path.is_root() && k == "metadata" {
                        continue;
                    }
                    let Some(v) = obj.get(k) else { continue };
                    let old_v = old.and_then(|o| o.get(k));
                    if let Some(child) = node.properties.get(k) {
                        self.walk(child, v, old_v, &path.child(k));
                    } else if let Additional::Schema(child) = &node.additional {
                        self.walk(child, v, old_v, &path.key(k));
                    }
                }
            }
            Value::Array(items) => {
                let Some(item_node) = node.items.as_deref() else {
                    return;
                };
                let old_items = old.and_then(Value::as_array);
                for (i, item) in items.iter().enumerate() {
                    let old_item =
                        old_items.and_then(|o| crate::listtype::correlate(node, item, o));
                    self.walk(item_node, item, old_item, &path.index(i));
                }
            }
            _ => {}
        }
    }

    fn eval_rules(&mut self, node: &Node, value: &Value, old: Option<&Value>, path: &FieldPath) {
        let self_val = if path.is_root() {
            root_to_cel(value, node, self.root)
        } else {
            to_cel(value, Some(node))
        };
        // Converting the old value is only worth it when a transition rule will read it.
        let needs_old = node.rules.iter().any(|r| r.uses_old_self);
        let old_val = old.filter(|o| needs_old && !o.is_null()).map(|o| {
            if path.is_root() {
                root_to_cel(o, node, self.root)
            } else {
                to_cel(o, Some(node))
            }
        });
        let mut ctx = self.env.base.new_inner_scope();
        ctx.add_variable_from_value("self", self_val);
        let type_value = Value::String(node.type_name.clone());
        // Ratcheting: on update, rules that ignore oldSelf cannot fail an unchanged value.
        let unchanged = old.is_some_and(|o| o == value);
        for rule in &node.rules {
            if unchanged && !rule.uses_old_self {
                continue;
            }
            let mut rule_ctx = ctx.new_inner_scope();
            if rule.uses_old_self {
                match (&old_val, rule.optional_old_self) {
                    (None, false) => continue,
                    (None, true) => rule_ctx.add_variable_from_value(
                        "oldSelf",
                        Cel::Opaque(Arc::new(OptionalValue::none())),
                    ),
                    (Some(o), true) => rule_ctx.add_variable_from_value(
                        "oldSelf",
                        Cel::Opaque(Arc::new(OptionalValue::of(o.clone()))),
                    ),
                    (Some(o), false) => rule_ctx.add_variable_from_value("oldSelf", o.clone()),
                }
            }
            let invalid = |detail: String| FieldError {
                field: path.render(),
                error_type: ErrorType::Invalid,
                value: Some(type_value.clone()),
                detail,
            };
            match rule.program.execute(&rule_ctx) {
                Ok(Cel::Bool(true)) => {}
                Ok(Cel::Bool(false)) => {
                    let err_path = match &rule.field_path {
                        Some(fp) => path.child(fp),
                        None => path.clone(),
                    };
                    let detail = match &rule.message_program {
                        Some(program) => match program.execute(&rule_ctx) {
                            Ok(Cel::String(s)) if s.contains('\n') => {
                                self.errors.push(invalid(
                                    "messageExpression should not contain line breaks".into(),
                                ));
                                continue;
                            }
                            Ok(Cel::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                            Ok(Cel::String(_)) => {
                                self.errors.push(invalid(
                                    "messageExpression should evaluate to a non-empty string"
                                        .into(),
                                ));
                                continue;
                            }
                            Ok(_) => {
                                self.errors.push(invalid(
                                    "messageExpression should evaluate to a string".into(),
                                ));
                                continue;
                            }
                            // apiserver logs a failing messageExpression and uses the message.
                            Err(_) => rule.message_or_default(),
                        },
                        None => rule.message_or_default(),
                    };
                    self.errors.push(error_for_reason(
                        err_path.render(),
                        &type_value,
                        detail,
                        rule.reason.as_deref(),
                    ));
                }
                Ok(_) => self.errors.push(invalid(format!(
                    "rule did not evaluate to a bool: {}",
                    rule.rule.trim()
                ))),
                Err(e) => {
                    let text = e.to_string();
                    let detail = if text.to_ascii_lowercase().starts_with("no such overload") {
                        format!(
                            "'{text}': call arguments did not match a supported operator, function or macro signature for rule: {}",
                            rule.rule.trim()
                        )
                    } else {
                        format!("{text} evaluating rule: {}", rule.rule.trim())
                    };
                    self.errors.push(invalid(detail));
                }
            }
        }
    }
}

/// `fieldErrorForReason`: the error type a rule's `reason` asks for.
fn error_for_reason(
    field: String,
    type_value: &Value,
    detail: String,
    reason: Option<&str>,
) -> FieldError {
    let (error_type, value, detail) = match reason {
        Some("FieldValueForbidden") => (ErrorType::Forbidden, None, detail),
        Some("FieldValueRequired") => (ErrorType::Required, None, detail),
        // field.Duplicate carries no detail.
        Some("FieldValueDuplicate") => (
            ErrorType::Duplicate,
            Some(type_value.clone()),
            String::new(),
        ),
        _ => (ErrorType::Invalid, Some(type_value.clone()), detail),
    };
    FieldError {
        field,
        error_type,
        value,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn property_names_are_escaped_like_apiserver() {
        assert_eq!(escape("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(escape("foo-bar").as_deref(), Some("foo__dash__bar"));
        assert_eq!(escape("a.b/c").as_deref(), Some("a__dot__b__slash__c"));
        assert_eq!(escape("my_field").as_deref(), Some("my_field"));
        assert_eq!(escape("x__y").as_deref(), Some("x__underscores__y"));
        assert_eq!(escape("1abc"), None);
        assert_eq!(escape("a b"), None);
    }
}
