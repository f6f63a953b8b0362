//! CustomResourceDefinitions: checking them, and turning one into a served resource.

use std::collections::BTreeMap;
use std::sync::Arc;

use crd_validation::{ErrorType, FieldError, RootInfo, SchemaValidator};
use field_manager::TypeSchema;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use crate::registry::{CustomInfo, NameRule, PrinterColumn, ResourceDef, api_version};
use crate::status::field_error;

/// The finalizer apiserver puts on a CRD so that its objects are removed before it.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Checks a CRD as apiextensions-apiserver does (the parts that matter for serving it) and
/// builds its resource definition.
pub fn to_def(obj: &Value) -> Result<ResourceDef, Vec<FieldError>> {
    let crd: CustomResourceDefinition = serde_json::from_value(obj.clone()).map_err(|e| {
        vec![field_error(
            "spec",
            ErrorType::Invalid,
            None,
            &e.to_string(),
        )]
    })?;
    let spec = &crd.spec;
    let names = &spec.names;
    let mut errs = Vec::new();
    let name = crd.metadata.name.clone().unwrap_or_default();
    let want = format!("{}.{}", names.plural, spec.group);
    if name != want {
        errs.push(field_error(
            "metadata.name",
            ErrorType::Invalid,
            Some(json!(name)),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if spec.group.is_empty() {
        errs.push(field_error("spec.group", ErrorType::Required, None, ""));
    } else if !spec.group.contains('.') {
        errs.push(field_error(
            "spec.group",
            ErrorType::Invalid,
            Some(json!(spec.group)),
            "should be a domain with at least one dot",
        ));
    }
    if names.plural.is_empty() {
        errs.push(field_error(
            "spec.names.plural",
            ErrorType::Required,
            None,
            "",
        ));
    }
    if names.kind.is_empty() {
        errs.push(field_error(
            "spec.names.kind",
            ErrorType::Required,
            None,
            "",
        ));
    }
    if spec.scope != "Namespaced" && spec.scope != "Cluster" {
        errs.push(field_error(
            "spec.scope",
            ErrorType::NotSupported,
            Some(json!(spec.scope)),
            "supported values: \"Cluster\", \"Namespaced\"",
        ));
    }
    if spec.versions.is_empty() {
        errs.push(field_error(
            "spec.versions",
            ErrorType::Invalid,
            Some(json!([])),
            "must have exactly one version marked as storage version",
        ));
    }
    let storage: Vec<_> = spec.versions.iter().filter(|v| v.storage).collect();
    if storage.len() != 1 && !spec.versions.is_empty() {
        errs.push(field_error(
            "spec.versions",
            ErrorType::Invalid,
            Some(serde_json::to_value(&spec.versions).unwrap_or(Value::Null)),
            "must have exactly one version marked as storage version",
        ));
    }
    let mut validators = BTreeMap::new();
    let mut schemas = BTreeMap::new();
    let mut selectable_fields = BTreeMap::new();
    let mut columns = BTreeMap::new();
    let mut versions = Vec::new();
    let mut storage_version = String::new();
    let mut type_schema = TypeSchema::Deduced;
    for (i, v) in spec.versions.iter().enumerate() {
        let Some(schema) = v
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        else {
            errs.push(field_error(
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                ErrorType::Required,
                None,
                "schemas are required",
            ));
            continue;
        };
        let root = RootInfo {
            api_version: api_version(&spec.group, &v.name),
            kind: names.kind.clone(),
        };
        schemas.insert(
            v.name.clone(),
            serde_json::to_value(schema).unwrap_or(Value::Null),
        );
        selectable_fields.insert(
            v.name.clone(),
            v.selectable_fields
                .iter()
                .flatten()
                .map(|f| f.json_path.trim_start_matches('.').to_string())
                .collect(),
        );
        match SchemaValidator::new(schema, root) {
            Ok(val) => {
                validators.insert(v.name.clone(), Arc::new(val));
            }
            Err(e) => errs.push(field_error(
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                ErrorType::Invalid,
                None,
                &e.to_string(),
            )),
        }
        columns.insert(
            v.name.clone(),
            v.additional_printer_columns
                .iter()
                .flatten()
                .map(|c| PrinterColumn {
                    name: c.name.clone(),
                    type_: c.type_.clone(),
                    format: c.format.clone().unwrap_or_default(),
                    description: c.description.clone().unwrap_or_default(),
                    priority: i64::from(c.priority.unwrap_or(0)),
                    json_path: c.json_path.clone(),
                })
                .collect(),
        );
        if v.storage {
            storage_version = v.name.clone();
            type_schema = TypeSchema::from_openapi(schema);
        }
        if v.served {
            versions.push(v.name.clone());
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    // Storage version first: it is the preferred one in discovery.
    versions.sort_by_key(|v| *v != storage_version);
    let has_status = spec.versions.iter().any(|v| {
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    });
    Ok(ResourceDef {
        group: spec.group.clone(),
        version: storage_version,
        kind: names.kind.clone(),
        plural: names.plural.clone(),
        singular: names
            .singular
            .clone()
            .unwrap_or_else(|| names.kind.to_lowercase()),
        namespaced: spec.scope == "Namespaced",
        short_names: names.short_names.clone().unwrap_or_default(),
        categories: names.categories.clone().unwrap_or_default(),
        has_status,
        uses_generation: true,
        delete_returns_object: true,
        name_rule: NameRule::Subdomain,
        create_only: false,
        custom: Some(CustomInfo {
            versions,
            validators,
            columns,
            crd_name: name,
            schemas,
            selectable_fields,
        }),
        type_schema: Arc::new(type_schema),
    })
}

/// The status apiextensions-apiserver gives an accepted CRD.
pub fn accepted_status(obj: &Value, now: &str, terminating: bool) -> Value {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let storage: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"] == json!(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"}),
        json!({"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}),
    ];
    if terminating {
        conditions.push(json!({"type": "Terminating", "status": "True", "lastTransitionTime": now, "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"}));
    }
    // Keep earlier transition times when the conditions did not change.
    if let Some(old) = obj.pointer("/status/conditions").and_then(Value::as_array) {
        for c in &mut conditions {
            if let Some(o) = old
                .iter()
                .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
            {
                c["lastTransitionTime"] = o["lastTransitionTime"].clone();
            }
        }
    }
    json!({"conditions": conditions, "acceptedNames": names, "storedVersions": storage})
}
