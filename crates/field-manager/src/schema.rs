//! The merge shape of a type (`TypeSchema`): which maps are granular or atomic, which lists are
//! atomic, sets or keyed maps. Built from a CRD's structural schema or from the built-in table
//! of Kubernetes kinds (the `+listType` / `+listMapKey` / `+mapType` / `+structType` markers of
//! `k8s.io/api`).

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

/// How a list merges (`x-kubernetes-list-type`, `+listType`, `+listMapKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// The list is one value: replaced whole, owned as one leaf field.
    Atomic,
    /// A set of scalars: merged by value, items owned as `v:<json>`.
    Set,
    /// A list of objects identified by the named key fields: merged by key, items owned as
    /// `k:{"key":value}`.
    Map(Vec<String>),
}

/// The merge-relevant shape of a type: which lists are keyed, which maps atomic.
///
/// A schema only needs to describe what differs from the defaults: inside an `Object`, a field
/// that is not listed in `fields` (and no `values` schema is given) is treated as a struct field
/// of unknown type: objects below it are granular structs, lists below it are atomic.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeSchema {
    /// A struct (named `fields`) and/or a map (`values` for every other key).
    Object {
        /// Named fields (struct members, `properties`).
        fields: BTreeMap<String, TypeSchema>,
        /// `additionalProperties` / map values.
        values: Option<Box<TypeSchema>>,
        /// `x-kubernetes-map-type: atomic` / `+structType=atomic`: owned and replaced whole.
        atomic: bool,
    },
    /// A list with its item type and merge strategy.
    List {
        /// The schema of every item.
        items: Box<TypeSchema>,
        /// How items are identified and merged.
        list_type: ListType,
    },
    /// A scalar (string, number, bool, int-or-string, quantity).
    Scalar,
    /// No schema known: objects are granular maps, lists atomic (as SSA "deduced").
    Deduced,
}

/// An object with no declared fields: every key is a struct field of unknown type.
pub(crate) static UNKNOWN_STRUCT: TypeSchema = TypeSchema::Object {
    fields: BTreeMap::new(),
    values: None,
    atomic: false,
};
static DEDUCED: TypeSchema = TypeSchema::Deduced;

impl TypeSchema {
    /// From a CRD version's structural schema (`openAPIV3Schema`).
    ///
    /// Honours `x-kubernetes-list-type` (lists without it are atomic, as in kube-apiserver),
    /// `x-kubernetes-list-map-keys`, `x-kubernetes-map-type: atomic`, `properties`,
    /// `additionalProperties` and `x-kubernetes-preserve-unknown-fields` (unknown content below
    /// it is deduced). `metadata` always gets the `ObjectMeta` shape.
    pub fn from_openapi(schema: &JSONSchemaProps) -> Self {
        let mut root = convert_openapi(schema);
        if let TypeSchema::Object { fields, .. } = &mut root {
            fields.insert("metadata".to_string(), object_meta());
        } else {
            // A root without properties still is an object with metadata.
            let mut fields = BTreeMap::new();
            fields.insert("metadata".to_string(), object_meta());
            root = TypeSchema::Object {
                fields,
                values: Some(Box::new(TypeSchema::Deduced)),
                atomic: false,
            };
        }
        root
    }

    /// The merge shape of a built-in kind (`v1`/`Pod`, `apps/v1`/`Deployment`, ...).
    /// Unknown kinds get [`TypeSchema::Deduced`].
    pub fn builtin(api_version: &str, kind: &str) -> Self {
        crate::builtin::schema_for(api_version, kind).unwrap_or(TypeSchema::Deduced)
    }

    /// The schema of the value under `key` and whether `key` is a named (struct) field.
    pub(crate) fn child(&self, key: &str) -> (&TypeSchema, bool) {
        match self {
            TypeSchema::Object { fields, values, .. } => {
                if let Some(s) = fields.get(key) {
                    (s, true)
                } else if let Some(v) = values {
                    (v, false)
                } else {
                    (&UNKNOWN_STRUCT, true)
                }
            }
            _ => (&DEDUCED, false),
        }
    }

    /// True when objects of this type merge key by key (not atomic).
    pub(crate) fn is_granular_map(&self) -> bool {
        matches!(
            self,
            TypeSchema::Object { atomic: false, .. } | TypeSchema::Deduced
        )
    }

    /// The item schema and list type when lists of this type merge item by item.
    pub(crate) fn associative_list(&self) -> Option<(&TypeSchema, &ListType)> {
        match self {
            TypeSchema::List { items, list_type } if *list_type != ListType::Atomic => {
                Some((items, list_type))
            }
            _ => None,
        }
    }

    /// The list type of lists of this type (atomic when not a declared list).
    pub(crate) fn list_type(&self) -> Option<(&TypeSchema, &ListType)> {
        match self {
            TypeSchema::List { items, list_type } => Some((items, list_type)),
            _ => None,
        }
    }
}

/// Converts one node of a structural schema.
fn convert_openapi(p: &JSONSchemaProps) -> TypeSchema {
    if p.x_kubernetes_int_or_string == Some(true) {
        return TypeSchema::Scalar;
    }
    let preserve = p.x_kubernetes_preserve_unknown_fields == Some(true);
    let ty = p.type_.as_deref();
    let has_properties = p.properties.as_ref().is_some_and(|m| !m.is_empty());
    if ty == Some("array") || (ty.is_none() && p.items.is_some()) {
        let items = match &p.items {
            Some(JSONSchemaPropsOrArray::Schema(s)) => convert_openapi(s),
            Some(JSONSchemaPropsOrArray::Schemas(v)) => v
                .first()
                .map(convert_openapi)
                .unwrap_or(TypeSchema::Deduced),
            None => TypeSchema::Deduced,
        };
        let list_type = match p.x_kubernetes_list_type.as_deref() {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(p.x_kubernetes_list_map_keys.clone().unwrap_or_default()),
            // Lists without the extension are atomic for custom resources.
            _ => ListType::Atomic,
        };
        return TypeSchema::List {
            items: Box::new(items),
            list_type,
        };
    }
    if ty == Some("object")
        || (ty.is_none() && (has_properties || p.additional_properties.is_some()))
    {
        let fields: BTreeMap<String, TypeSchema> = p
            .properties
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), convert_openapi(v)))
            .collect();
        let values = match &p.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(s)) => Some(Box::new(convert_openapi(s))),
            Some(JSONSchemaPropsOrBool::Bool(true)) => Some(Box::new(TypeSchema::Deduced)),
            _ if preserve => Some(Box::new(TypeSchema::Deduced)),
            _ => None,
        };
        if fields.is_empty() && preserve && p.x_kubernetes_map_type.is_none() {
            return TypeSchema::Deduced;
        }
        if fields.is_empty() && values.is_none() && p.x_kubernetes_map_type.is_none() {
            // `type: object` without properties: the content is free-form (or empty).
            return if preserve {
                TypeSchema::Deduced
            } else {
                TypeSchema::Object {
                    fields,
                    values: Some(Box::new(TypeSchema::Deduced)),
                    atomic: false,
                }
            };
        }
        return TypeSchema::Object {
            fields,
            values,
            atomic: p.x_kubernetes_map_type.as_deref() == Some("atomic"),
        };
    }
    if ty.is_none() && preserve {
        return TypeSchema::Deduced;
    }
    if ty.is_none() && p.x_kubernetes_embedded_resource == Some(true) {
        return TypeSchema::Deduced;
    }
    TypeSchema::Scalar
}

/// `ObjectMeta`: labels and annotations granular, finalizers a set, ownerReferences keyed by uid.
pub(crate) fn object_meta() -> TypeSchema {
    use crate::builtin::{keyed, obj, set_of_scalars, string_map};
    obj(vec![
        ("labels", string_map()),
        ("annotations", string_map()),
        ("finalizers", set_of_scalars()),
        (
            "ownerReferences",
            keyed(
                TypeSchema::Object {
                    fields: BTreeMap::new(),
                    values: None,
                    atomic: false,
                },
                &["uid"],
            ),
        ),
    ])
}
