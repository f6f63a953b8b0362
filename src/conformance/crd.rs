//! Validation of CONPlus custom resources (`FachverfahrenOnboarding`, `Ressort`, `ConformanceProfile`) in
//! `check`'s input against the CRD schemas the operator serves, as kube-apiserver would on apply. Pure.
//!
//! Findings are of the meta rule `crd-schema`. Besides the structural schema and CEL rules (via the
//! `crd-validation` crate), each object must deserialize into the operator's typed resource, and a
//! ConformanceProfile must resolve (known rule ids, parseable durations and expiry dates): an object the
//! controller cannot read is as broken as one the apiserver rejects. Onboardings are also put through the
//! controller's own validate step (`controller::validate::problems`).

use std::collections::HashMap;

use crd_validation::{RootInfo, SchemaValidator};
use serde_json::Value;

use super::engine::SourceObject;
use super::profile::resolve_custom;
use super::report::{Finding, ObjectRef};
use super::rules::{PssLevel, RuleId};
use crate::api::{ConformanceProfile, FachverfahrenOnboarding, GROUP, ProtectionLevel, Ressort};

/// Compiled validators per (apiVersion, kind) of every served version of every CONPlus CRD.
pub struct CrdValidators {
    validators: HashMap<(String, String), Result<SchemaValidator, String>>,
    /// The openAPIV3Schema per (apiVersion, kind), for naming unknown fields.
    schemas: HashMap<(String, String), Value>,
    kinds: Vec<String>,
}

impl Default for CrdValidators {
    fn default() -> Self {
        Self::new()
    }
}

impl CrdValidators {
    /// Compiles the schemas of [`crate::api::crds`], found by group and kind.
    pub fn new() -> Self {
        let mut validators = HashMap::new();
        let mut schemas = HashMap::new();
        let mut kinds = Vec::new();
        for crd in crate::api::crds() {
            if crd.spec.group != GROUP {
                continue;
            }
            let kind = crd.spec.names.kind.clone();
            kinds.push(kind.clone());
            for v in &crd.spec.versions {
                if !v.served {
                    continue;
                }
                let api_version = format!("{}/{}", crd.spec.group, v.name);
                if let Some(schema) = v
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    && let Ok(json) = serde_json::to_value(schema)
                {
                    schemas.insert((api_version.clone(), kind.clone()), json);
                }
                let compiled = match v
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                {
                    Some(schema) => SchemaValidator::new(
                        schema,
                        RootInfo {
                            api_version: api_version.clone(),
                            kind: kind.clone(),
                        },
                    )
                    .map_err(|e| e.to_string()),
                    None => Err("the CRD version has no openAPIV3Schema".to_owned()),
                };
                validators.insert((api_version, kind.clone()), compiled);
            }
        }
        CrdValidators {
            validators,
            schemas,
            kinds,
        }
    }

    /// Whether `check` validates this object (its group is CONPlus's).
    pub fn applies(obj: &Value) -> bool {
        obj.get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|av| av.split_once('/').is_some_and(|(g, _)| g == GROUP))
    }

    /// The `crd-schema` findings of one object (empty when valid or not a CONPlus resource).
    pub fn validate(&self, obj: &SourceObject) -> Vec<Finding> {
        let v = &obj.value;
        if !Self::applies(v) {
            return Vec::new();
        }
        let s = |path: &[&str]| {
            path.iter()
                .try_fold(v, |cur, p| cur.get(*p))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let (api_version, kind) = (s(&["apiVersion"]), s(&["kind"]));
        let oref = ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: v
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            name: s(&["metadata", "name"]).to_owned(),
        };
        let rule = RuleId::CrdSchema.rule();
        let finding = |message: String| Finding {
            rule: RuleId::CrdSchema,
            severity: rule.severity,
            bsi: rule.bsi,
            pss: PssLevel::None,
            object: oref.clone(),
            container: None,
            message,
            location: obj.location.clone(),
        };
        let mut out = Vec::new();
        let key = (api_version.to_owned(), kind.to_owned());
        let validator = match self.validators.get(&key) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                let message =
                    format!("the operator's CRD schema for {kind} cannot be compiled: {e}");
                return vec![finding(message)];
            }
            None => return vec![finding(self.unknown_kind(api_version, kind))],
        };
        out.extend(metadata_problems(&oref).into_iter().map(&finding));
        // As the API server's strict field validation (kubectl's default): a misspelt field is named as
        // unknown rather than leaving only the "Required value" of the field it was meant to be.
        if let Some(schema) = self.schemas.get(&key) {
            let mut unknown = Vec::new();
            unknown_fields(schema, v, "", &mut unknown);
            out.extend(
                unknown
                    .into_iter()
                    .map(|f| finding(format!("{f}: unknown field \"{f}\""))),
            );
        }
        let schema_errors = validator.validate(v, None);
        if !schema_errors.is_empty() {
            out.extend(schema_errors.into_iter().map(|e| finding(e.to_string())));
            return out;
        }
        // The typed view the controller reads must accept the object too (checked only when the schema
        // accepts it, so that one mistake is not reported twice).
        out.extend(typed_problems(kind, v).into_iter().map(&finding));
        out
    }

    /// Why an object of a CONPlus group has no schema.
    fn unknown_kind(&self, api_version: &str, kind: &str) -> String {
        if self.kinds.iter().any(|k| k == kind) {
            format!("apiVersion {api_version} is not served for {kind}")
        } else {
            format!(
                "no CONPlus resource of kind {kind:?}; the kinds are {}",
                self.kinds.join(", ")
            )
        }
    }
}

/// What the API server says about the name and namespace of a CONPlus resource.
fn metadata_problems(oref: &ObjectRef) -> Vec<String> {
    let mut out = Vec::new();
    if oref.name.is_empty() {
        out.push("metadata.name: Required value: name is required".to_owned());
    }
    // The CRDs are cluster-scoped; the apiserver ignores a namespace there, kubectl refuses it on apply.
    if oref.namespace.is_some() {
        out.push(format!(
            "metadata.namespace: Invalid value: {} is cluster-scoped",
            oref.kind
        ));
    }
    out
}

/// What the operator's typed view of a valid object refuses: a value its types cannot read, what the
/// controller's validate step refuses (it marks the onboarding Failed), a profile that does not resolve.
fn typed_problems(kind: &str, v: &Value) -> Vec<String> {
    let cannot_read =
        |e: serde_json::Error| vec![format!("the operator cannot read this {kind}: {e}")];
    match kind {
        "FachverfahrenOnboarding" => {
            match serde_json::from_value::<FachverfahrenOnboarding>(v.clone()) {
                Err(e) => cannot_read(e),
                Ok(fvo) => crate::controller::validate::problems(&fvo),
            }
        }
        "Ressort" => serde_json::from_value::<Ressort>(v.clone())
            .err()
            .map_or_else(Vec::new, cannot_read),
        "ConformanceProfile" => match serde_json::from_value::<ConformanceProfile>(v.clone()) {
            Err(e) => cannot_read(e),
            Ok(p) => resolve_custom(&p, ProtectionLevel::Normal)
                .err()
                .map(|e| vec![e.to_string()])
                .unwrap_or_default(),
        },
        _ => Vec::new(),
    }
}

/// The paths (`spec.enviroments`) of fields of `v` that `schema` does not declare, where it prunes unknown
/// fields (no `x-kubernetes-preserve-unknown-fields`, no `additionalProperties`). `metadata`, `apiVersion`
/// and `kind` at the root are the API server's own.
fn unknown_fields(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in map {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) | (None, Some(s)) => unknown_fields(s, child, &join(k), out),
                    (None, None) if props.is_some() => out.push(join(k)),
                    (None, None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    unknown_fields(s, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}
