//! Validates, defaults and prunes JSON objects against the structural schema of a
//! CustomResourceDefinition version, and evaluates its CEL `x-kubernetes-validations`,
//! the way kube-apiserver (v1.33) does on create and update.
//!
//! Pipeline of [`SchemaValidator::admit`], in apiserver's order:
//! 1. pruning of undeclared fields (`x-kubernetes-preserve-unknown-fields` and
//!    `x-kubernetes-embedded-resource` respected; root `apiVersion`/`kind`/`metadata` kept),
//! 2. removal of non-nullable `null`s without default, then defaulting,
//! 3. OpenAPI validation (kube-openapi semantics and messages; on update, errors of
//!    unchanged values are ratcheted away as with CRDValidationRatcheting),
//! 4. `apiVersion`/`kind` of embedded resources, `x-kubernetes-list-type` set/map uniqueness,
//! 5. CEL rules — skipped, with apiserver's "some validation rules were not checked"
//!    error, when step 3/4 produced a blocking error (type, required, enum, too long/many).
//!
//! Field paths follow apiserver exactly, which means two notations: OpenAPI errors use
//! kube-openapi paths (`spec.list[0].name`, map values `spec.labels.key`), list-type and
//! CEL errors use `field.Path` (`spec.labels[key]`); the object root prints as `<nil>`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod cel;
mod embedded;
mod formats;
mod gofmt;
mod listtype;
mod openapi;
mod path;
mod prune;
mod schema;

use std::fmt;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;

use crate::path::FieldPath;
use crate::schema::Node;

/// The kind of a field error, as in apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `FieldValueRequired`: "Required value".
    Required,
    /// `FieldValueInvalid`: "Invalid value".
    Invalid,
    /// `FieldValueNotSupported`: "Unsupported value" (enum violations).
    NotSupported,
    /// `FieldValueDuplicate`: "Duplicate value" (list-type set/map).
    Duplicate,
    /// `FieldValueTooLong`: "Too long" (maxLength).
    TooLong,
    /// `FieldValueTooMany`: "Too many" (maxItems, maxProperties).
    TooMany,
    /// `FieldValueForbidden`: "Forbidden" (CEL rules with that reason).
    Forbidden,
    /// `FieldValueTypeInvalid`: prints as "Invalid value" (wrong type, bad format).
    TypeInvalid,
    /// `InternalError`: "Internal error".
    Internal,
}

impl ErrorType {
    /// The `reason` of a `StatusCause` (`FieldValueRequired`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
            ErrorType::Internal => "InternalError",
        }
    }

    /// apimachinery's `ErrorType.String()`: the words that start the error body.
    pub fn label(self) -> &'static str {
        match self {
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
}

/// One rejected field: `spec.environments[0].name: Invalid value: "Prod": ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Path in apimachinery notation: `spec.environments[0].name`, `metadata.labels[app]`;
    /// `<nil>` for the object root, as Go prints it.
    pub field: String,
    /// What kind of violation this is.
    pub error_type: ErrorType,
    /// The offending value, when the error type shows one (`None` = omitted).
    pub value: Option<Value>,
    /// The explanation after the value (may be empty).
    pub detail: String,
}

impl FieldError {
    /// apimachinery's `field.Error.ErrorBody()`: the message without the field.
    pub fn body(&self) -> String {
        let mut s = match (self.error_type, &self.value) {
            (
                ErrorType::Required
                | ErrorType::Forbidden
                | ErrorType::TooLong
                | ErrorType::Internal,
                _,
            )
            | (_, None) => self.error_type.label().to_string(),
            (t, Some(v)) => format!("{}: {}", t.label(), gofmt::bad_value(v)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    /// apimachinery's `field.Error.Error()`: `<field>: <body>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// The text of apiserver's 422 `Invalid` status for these errors
/// (`apierrors.NewInvalid`): `Kind.group "name" is invalid: [e1, e2]`, one error without
/// brackets, duplicate messages listed once.
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut messages: Vec<String> = Vec::with_capacity(errors.len());
    for e in errors {
        let m = e.to_string();
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    let aggregate = match messages.len() {
        0 => "<nil>".to_string(),
        1 => messages.swap_remove(0),
        _ => format!("[{}]", messages.join(", ")),
    };
    format!("{qualified} {} is invalid: {aggregate}", gofmt::quote(name))
}

/// The CRD-level facts a schema cannot tell: they fill `self.apiVersion`/`self.kind` of
/// the root in CEL when the object lacks them.
#[derive(Debug, Clone, Default)]
pub struct RootInfo {
    /// `group/version` of the custom resource.
    pub api_version: String,
    /// The custom resource's kind.
    pub kind: String,
}

/// The schema itself could not be compiled (a CEL rule that does not parse, ...).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema node at `path` is not usable; fix the CRD's `openAPIV3Schema` there.
    #[error("invalid schema at {path}: {message}")]
    Invalid {
        /// Where in the schema (`properties[spec].x-kubernetes-validations[0]`).
        path: String,
        /// What is wrong and what to change.
        message: String,
    },
}

/// The apiserver's error when CEL rules were skipped because of blocking schema errors.
const RULES_NOT_CHECKED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

struct Inner {
    root: Node,
    env: cel::CelEnv,
    info: RootInfo,
}

/// A compiled validator for one CRD version: regexes and CEL programs are compiled once
/// in [`SchemaValidator::new`]; cloning is cheap and the validator is `Send + Sync`.
#[derive(Clone)]
pub struct SchemaValidator {
    inner: Arc<Inner>,
}

impl fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaValidator")
            .field("kind", &self.inner.info.kind)
            .finish()
    }
}

impl SchemaValidator {
    /// Compiles the `openAPIV3Schema` of a CRD version. Fails on what apiserver would
    /// reject when the CRD is created: CEL rules or patterns that do not compile, a
    /// non-object root, a root `metadata` schema constraining more than name/generateName.
    pub fn new(schema: &JSONSchemaProps, root: RootInfo) -> Result<Self, SchemaError> {
        let json = serde_json::to_value(schema).map_err(|e| SchemaError::Invalid {
            path: "openAPIV3Schema".into(),
            message: format!("the schema cannot be serialised to JSON: {e}"),
        })?;
        let node = Node::compile(&json, "")?;
        if node.type_name != "object" {
            return Err(SchemaError::Invalid {
                path: "openAPIV3Schema.type".into(),
                message: format!("must be \"object\" at the root, not {:?}", node.type_name),
            });
        }
        if let Some(meta) = node.properties.get("metadata")
            && let Some(extra) = meta
                .properties
                .keys()
                .find(|k| *k != "name" && *k != "generateName")
        {
            return Err(SchemaError::Invalid {
                path: "openAPIV3Schema.properties[metadata]".into(),
                message: format!(
                    "only name and generateName may be specified for metadata, not {extra:?}"
                ),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root: node,
                env: cel::CelEnv::new(),
                info: root,
            }),
        })
    }

    /// What kube-apiserver does on a write: prune unknown fields, apply defaults, then
    /// validate types/formats/limits, list types and CEL rules (transition rules against
    /// `old`, the stored object, on update). `obj` is left pruned and defaulted.
    pub fn admit(&self, obj: &mut Value, old: Option<&Value>) -> Vec<FieldError> {
        self.prune_and_default(obj);
        let old = old.map(|o| self.defaulted_old(o));
        self.check(obj, old.as_ref())
    }

    /// Validation only, without mutating: reports exactly what [`Self::admit`] would for
    /// this object (it validates a pruned and defaulted copy). Unknown fields are NOT
    /// errors here (apiserver drops them silently); list them with
    /// [`Self::unknown_fields`] to warn like strict field validation does.
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut copy = obj.clone();
        self.prune_and_default(&mut copy);
        let old = old.map(|o| self.defaulted_old(o));
        self.check(&copy, old.as_ref())
    }

    /// The stored object as apiserver sees it on update: defaulted again when read from
    /// storage (so a default added to the schema later does not count as a change).
    fn defaulted_old(&self, old: &Value) -> Value {
        let mut copy = old.clone();
        prune::prune_nulls(&self.inner.root, &mut copy);
        prune::default(&self.inner.root, &mut copy);
        copy
    }

    /// Paths of the fields pruning would drop (`spec.foo`, `spec.list[0].bar`), for
    /// strict-field-validation style reports: `unknown field "spec.foo"`.
    pub fn unknown_fields(&self, obj: &Value) -> Vec<String> {
        let mut copy = obj.clone();
        let mut dropped = Vec::new();
        prune::prune(&self.inner.root, &mut copy, "", true, &mut dropped);
        dropped
    }

    fn prune_and_default(&self, obj: &mut Value) {
        let root = &self.inner.root;
        let mut dropped = Vec::new();
        prune::prune(root, obj, "", true, &mut dropped);
        prune::prune_nulls(root, obj);
        prune::default(root, obj);
    }

    fn check(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let root = &self.inner.root;
        let mut errors = Vec::new();
        openapi::validate(root, obj, old, "", &mut errors);
        embedded::validate(root, obj, &FieldPath::root(), &mut errors);
        // On update apiserver checks list uniqueness only if the stored object passed it.
        let old_lists_ok = old.is_none_or(|o| {
            let mut old_errs = Vec::new();
            listtype::validate(root, o, &FieldPath::root(), &mut old_errs);
            old_errs.is_empty()
        });
        if old_lists_ok {
            listtype::validate(root, obj, &FieldPath::root(), &mut errors);
        }
        if root.has_rules {
            let blocking = errors.iter().any(|e| {
                matches!(
                    e.error_type,
                    ErrorType::NotSupported
                        | ErrorType::Required
                        | ErrorType::TooLong
                        | ErrorType::TooMany
                        | ErrorType::TypeInvalid
                )
            });
            if blocking {
                errors.push(FieldError {
                    field: "<nil>".into(),
                    error_type: ErrorType::Invalid,
                    value: Some(Value::Null),
                    detail: RULES_NOT_CHECKED.into(),
                });
            } else {
                let mut walker = cel::Walker {
                    env: &self.inner.env,
                    root: &self.inner.info,
                    errors: Vec::new(),
                };
                walker.walk(root, obj, old, &FieldPath::root());
                errors.extend(walker.errors);
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests;
