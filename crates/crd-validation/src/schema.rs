//! The compiled form of a structural schema: one [`Node`] per schema node, with its
//! regex and CEL programs compiled once.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use crate::SchemaError;
use crate::cel::CompiledRule;

/// `additionalProperties` of a node.
#[derive(Debug)]
pub(crate) enum Additional {
    /// Not set: only declared properties are known.
    Absent,
    /// `additionalProperties: true|false`.
    Bool(bool),
    /// A schema for the values of a map.
    Schema(Box<Node>),
}

/// One compiled schema node.
#[derive(Debug)]
pub(crate) struct Node {
    /// The types a value may have (`["integer","string"]` for int-or-string), empty = any.
    pub types: Vec<String>,
    /// The single declared `type` (empty when none), as apiserver reports it in CEL errors.
    pub type_name: String,
    pub nullable: bool,
    /// A format apiserver keeps (unsupported ones are stripped, as `StripUnsupportedFormatsPostProcess`).
    pub format: Option<String>,
    /// The format as declared, for CEL typing (`date-time`, `duration`, `byte`).
    pub raw_format: Option<String>,
    pub int_or_string: bool,
    pub preserve_unknown: bool,
    pub embedded: bool,
    pub properties: BTreeMap<String, Node>,
    pub additional: Additional,
    pub items: Option<Box<Node>>,
    pub required: Vec<String>,
    pub enum_values: Option<Vec<Value>>,
    pub pattern: Option<(String, Regex)>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub unique_items: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
    pub default: Option<Value>,
    pub rules: Vec<CompiledRule>,
    /// Whether this node or any node below it has CEL rules (lets the CEL walk skip subtrees).
    pub has_rules: bool,
}

/// Formats kube-apiserver keeps in CRD schemas; every other format is dropped before
/// validation (apiextensions-apiserver `supportedFormats`, compared without dashes).
const SUPPORTED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

fn u64_of(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

fn f64_of(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn bool_of(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn child_path(path: &str, segment: &str) -> String {
    if path.is_empty() {
        segment.to_string()
    } else {
        format!("{path}.{segment}")
    }
}

impl Node {
    /// Compiles the schema node at `path` (a JSON-pointer-like location used in errors).
    pub(crate) fn compile(schema: &Value, path: &str) -> Result<Node, SchemaError> {
        let invalid = |message: String| SchemaError::Invalid {
            path: if path.is_empty() {
                "openAPIV3Schema".into()
            } else {
                path.into()
            },
            message,
        };
        if !schema.is_object() {
            return Err(invalid("a schema must be a JSON object".into()));
        }
        let int_or_string = bool_of(schema, "x-kubernetes-int-or-string");
        let type_name = schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let types = if int_or_string {
            vec!["integer".to_string(), "string".to_string()]
        } else if type_name.is_empty() {
            Vec::new()
        } else {
            vec![type_name.clone()]
        };
        let raw_format = schema
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_string);
        let format = raw_format
            .as_deref()
            .filter(|f| SUPPORTED_FORMATS.contains(&f.replace('-', "").as_str()))
            .map(str::to_string);

        let mut properties = BTreeMap::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                let p = child_path(path, &format!("properties[{name}]"));
                properties.insert(name.clone(), Node::compile(prop, &p)?);
            }
        }
        let additional = match schema.get("additionalProperties") {
            None | Some(Value::Null) => Additional::Absent,
            Some(Value::Bool(b)) => Additional::Bool(*b),
            Some(s) => Additional::Schema(Box::new(Node::compile(
                s,
                &child_path(path, "additionalProperties"),
            )?)),
        };
        let items = match schema.get("items") {
            None | Some(Value::Null) => None,
            Some(Value::Array(_)) => {
                return Err(invalid(
                    "items must be a single schema in a structural schema, not a list".into(),
                ));
            }
            Some(s) => Some(Box::new(Node::compile(s, &child_path(path, "items"))?)),
        };
        let pattern = match schema.get("pattern").and_then(Value::as_str) {
            Some(p) => {
                let re = Regex::new(p).map_err(|e| {
                    invalid(format!(
                        "pattern {p:?} is not a valid regular expression: {e}"
                    ))
                })?;
                Some((p.to_string(), re))
            }
            None => None,
        };
        let compile_list = |key: &str| -> Result<Vec<Node>, SchemaError> {
            match schema.get(key).and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Node::compile(s, &child_path(path, &format!("{key}[{i}]"))))
                    .collect(),
                None => Ok(Vec::new()),
            }
        };
        let all_of = compile_list("allOf")?;
        let any_of = compile_list("anyOf")?;
        let one_of = compile_list("oneOf")?;
        let not = match schema.get("not") {
            None | Some(Value::Null) => None,
            Some(s) => Some(Box::new(Node::compile(s, &child_path(path, "not"))?)),
        };
        let rules = match schema
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
        {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    CompiledRule::compile(r).map_err(|message| SchemaError::Invalid {
                        path: child_path(
                            if path.is_empty() {
                                "openAPIV3Schema"
                            } else {
                                path
                            },
                            &format!("x-kubernetes-validations[{i}]"),
                        ),
                        message,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let list_map_keys = schema
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();

        let has_rules = !rules.is_empty()
            || properties.values().any(|p| p.has_rules)
            || items.as_ref().is_some_and(|i| i.has_rules)
            || matches!(&additional, Additional::Schema(a) if a.has_rules);

        Ok(Node {
            types,
            type_name,
            nullable: bool_of(schema, "nullable"),
            format,
            raw_format,
            int_or_string,
            preserve_unknown: bool_of(schema, "x-kubernetes-preserve-unknown-fields"),
            embedded: bool_of(schema, "x-kubernetes-embedded-resource"),
            properties,
            additional,
            items,
            required: schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            enum_values: schema.get("enum").and_then(Value::as_array).cloned(),
            pattern,
            min_length: u64_of(schema, "minLength"),
            max_length: u64_of(schema, "maxLength"),
            min_items: u64_of(schema, "minItems"),
            max_items: u64_of(schema, "maxItems"),
            min_properties: u64_of(schema, "minProperties"),
            max_properties: u64_of(schema, "maxProperties"),
            minimum: f64_of(schema, "minimum"),
            maximum: f64_of(schema, "maximum"),
            exclusive_minimum: bool_of(schema, "exclusiveMinimum"),
            exclusive_maximum: bool_of(schema, "exclusiveMaximum"),
            multiple_of: f64_of(schema, "multipleOf"),
            unique_items: bool_of(schema, "uniqueItems"),
            list_type: schema
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            list_map_keys,
            all_of,
            any_of,
            one_of,
            not,
            default: schema.get("default").cloned(),
            rules,
            has_rules,
        })
    }

    /// The schema of the value under `key` of an object with this schema, if any.
    pub(crate) fn field_schema(&self, key: &str) -> Option<&Node> {
        match self.properties.get(key) {
            Some(p) => Some(p),
            None => match &self.additional {
                Additional::Schema(s) => Some(s),
                _ => None,
            },
        }
    }
}
