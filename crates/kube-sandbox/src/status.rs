//! `metav1.Status` error responses with the reasons, codes and message formats of kube-apiserver.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crd_validation::{ErrorType, FieldError};
use serde_json::{Value, json};

/// An API error that renders as a `metav1.Status` body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// `Retry-After` header in seconds (429 and some 5xx).
    pub retry_after: Option<u64>,
}

/// The resource as named in messages: `configmaps`, `deployments.apps`.
pub fn qualified_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// The kind as named in Invalid messages: `ConfigMap`, `Widget.example.com`.
pub fn qualified_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

fn details(group: &str, plural: &str, name: &str) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(plural));
    Value::Object(d)
}

impl ApiError {
    /// A bare error with a code, reason and message.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 404 `configmaps "x" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified_resource(group, plural)),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    /// 404 for a path that addresses no resource at all.
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 409 `configmaps "x" already exists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!(
                "{} \"{name}\" already exists",
                qualified_resource(group, plural)
            ),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    /// 409 Conflict with apiserver's "Operation cannot be fulfilled" wording.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified_resource(group, plural)
            ),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    /// 409 for a stale `resourceVersion` on update.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 403 `configmaps "x" is forbidden: ...`.
    pub fn forbidden(group: &str, plural: &str, name: &str, why: &str) -> Self {
        let qr = qualified_resource(group, plural);
        let message = if name.is_empty() {
            format!("{qr} is forbidden: {why}")
        } else {
            format!("{qr} \"{name}\" is forbidden: {why}")
        };
        let mut e = Self::new(403, "Forbidden", message);
        e.details = Some(details(group, plural, name));
        e
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    /// 410 Expired (`too old resource version`).
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 415 for a patch type the resource does not accept.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
        .with_details(json!({"causes": [{"reason": "UnsupportedMediaType", "message": content_type}]}))
    }

    /// 500 InternalError.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message.to_string()}]}))
    }

    /// 422 Invalid built from field errors, exactly as apiserver's `NewInvalid`.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.error_type.reason(), "message": error_body(e), "field": e.field}))
            .collect();
        let qk = qualified_kind(group, kind);
        let message = match errors {
            [] => format!("{qk} \"{name}\" is invalid"),
            [one] => format!("{qk} \"{name}\" is invalid: {}", field_error_string(one)),
            many => format!(
                "{qk} \"{name}\" is invalid: [{}]",
                many.iter()
                    .map(field_error_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut d = serde_json::Map::new();
        d.insert("name".into(), json!(name));
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        d.insert("kind".into(), json!(kind));
        d.insert("causes".into(), Value::Array(causes));
        Self::new(422, "Invalid", message).with_details(Value::Object(d))
    }

    /// Attaches `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = self.details.clone();
        if let Some(secs) = self.retry_after {
            let d = details.get_or_insert_with(|| json!({}));
            d["retryAfterSeconds"] = json!(secs);
        }
        if let Some(d) = details {
            s["details"] = d;
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_status().to_string();
        let mut resp = (code, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// The `field.ErrorType` string of apimachinery (`Invalid value`, `Required value`, ...).
fn type_string(t: ErrorType) -> &'static str {
    match t {
        ErrorType::Required => "Required value",
        ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
        ErrorType::NotSupported => "Unsupported value",
        ErrorType::Duplicate => "Duplicate value",
        ErrorType::TooLong => "Too long",
        ErrorType::TooMany => "Too many",
        ErrorType::Forbidden => "Forbidden",
        ErrorType::Internal => "Internal error",
    }
}

/// `field.Error.ErrorBody()`: the message without the field path.
pub fn error_body(e: &FieldError) -> String {
    let t = type_string(e.error_type);
    let shows_value = matches!(
        e.error_type,
        ErrorType::Invalid
            | ErrorType::TypeInvalid
            | ErrorType::NotSupported
            | ErrorType::Duplicate
            | ErrorType::TooMany
    );
    let mut s = match (&e.value, shows_value) {
        (Some(Value::String(v)), true) => format!("{t}: {}", go_quote(v)),
        (Some(v @ (Value::Number(_) | Value::Bool(_))), true) => format!("{t}: {v}"),
        (Some(v), true) => format!("{t}: {v}"),
        _ => t.to_string(),
    };
    if !e.detail.is_empty() {
        s.push_str(": ");
        s.push_str(&e.detail);
    }
    s
}

/// `field.Error.Error()`: `spec.x: Invalid value: "y": detail`.
pub fn field_error_string(e: &FieldError) -> String {
    format!("{}: {}", e.field, error_body(e))
}

/// Go's `%q` for the strings apiserver prints (JSON escaping matches it for printable text).
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A field error built here (metadata checks), in crd-validation's type.
pub fn field_error(
    field: &str,
    error_type: ErrorType,
    value: Option<Value>,
    detail: &str,
) -> FieldError {
    FieldError {
        field: field.to_string(),
        error_type,
        value,
        detail: detail.to_string(),
    }
}
