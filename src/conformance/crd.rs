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
        CrdValidators { validators, kinds }
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
        let validator = match self
            .validators
            .get(&(api_version.to_owned(), kind.to_owned()))
        {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                out.push(finding(format!(
                    "the operator's CRD schema for {kind} cannot be compiled: {e}"
                )));
                return out;
            }
            None if self.kinds.iter().any(|k| k == kind) => {
                out.push(finding(format!(
                    "apiVersion {api_version} is not served for {kind}"
                )));
                return out;
            }
            None => {
                out.push(finding(format!(
                    "no CONPlus resource of kind {kind:?}; the kinds are {}",
                    self.kinds.join(", ")
                )));
                return out;
            }
        };
        if s(&["metadata", "name"]).is_empty() {
            out.push(finding(
                "metadata.name: Required value: name is required".to_owned(),
            ));
        }
        // The CRDs are cluster-scoped; the apiserver ignores a namespace there, kubectl refuses it on apply.
        if oref.namespace.is_some() {
            out.push(finding(format!(
                "metadata.namespace: Invalid value: {kind} is cluster-scoped"
            )));
        }
        let schema_errors = validator.validate(v, None);
        if !schema_errors.is_empty() {
            out.extend(schema_errors.into_iter().map(|e| finding(e.to_string())));
            return out;
        }
        // The typed view the controller reads must accept the object too (checked only when the schema
        // accepts it, so that one mistake is not reported twice).
        let typed = match kind {
            "FachverfahrenOnboarding" => {
                match serde_json::from_value::<FachverfahrenOnboarding>(v.clone()) {
                    Err(e) => Some(e),
                    Ok(fvo) => {
                        // What the controller's validate step would refuse (it marks the onboarding Failed).
                        out.extend(
                            crate::controller::validate::problems(&fvo)
                                .into_iter()
                                .map(&finding),
                        );
                        None
                    }
                }
            }
            "Ressort" => serde_json::from_value::<Ressort>(v.clone()).err(),
            "ConformanceProfile" => match serde_json::from_value::<ConformanceProfile>(v.clone()) {
                Err(e) => Some(e),
                Ok(p) => {
                    if let Err(e) = resolve_custom(&p, ProtectionLevel::Normal) {
                        out.push(finding(e.to_string()));
                    }
                    None
                }
            },
            _ => None,
        };
        if let Some(e) = typed {
            out.push(finding(format!(
                "the operator cannot read this {kind}: {e}"
            )));
        }
        out
    }
}
