//! OpenAPI value validation as kube-openapi's `validate.SchemaValidator` performs it for
//! kube-apiserver, with its errors converted the way apiextensions-apiserver's
//! `kubeOpenAPIResultToFieldErrors` does. Paths here are kube-openapi's (`a.b[0].c`,
//! map values as `a.b.key`).

use serde_json::{Number, Value};

use crate::gofmt::{float_v, quote};
use crate::schema::{Additional, Node};
use crate::{ErrorType, FieldError, formats, listtype};

/// The field of an error reported for kube-openapi name `name` (leading dot trimmed,
/// the root rendered as Go prints a nil path).
fn err_field(name: &str) -> String {
    let trimmed = name.strip_prefix('.').unwrap_or(name);
    if trimmed.is_empty() {
        "<nil>".to_string()
    } else {
        trimmed.to_string()
    }
}

fn err(name: &str, error_type: ErrorType, value: Option<Value>, detail: String) -> FieldError {
    FieldError {
        field: err_field(name),
        error_type,
        value,
        detail,
    }
}

/// A composite error (allOf/anyOf/oneOf/not): not a `*errors.Validation`, so apiserver
/// reports it at the nil path with an empty value.
fn composite(detail: String) -> FieldError {
    FieldError {
        field: "<nil>".into(),
        error_type: ErrorType::Invalid,
        value: Some(Value::String(String::new())),
        detail,
    }
}

/// JSON type name and Go format a decoded value has (`schemaInfoForType`).
fn schema_info(value: &Value) -> (&'static str, &'static str) {
    match value {
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) if n.is_f64() => ("number", "float64"),
        Value::Number(_) => ("integer", "int64"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
        Value::Null => ("null", ""),
    }
}

fn contains(types: &[String], t: &str) -> bool {
    types.iter().any(|x| x == t)
}

/// Validates `value` against `node`, appending apiserver field errors to `out`.
///
/// `old` is the correlated value of the stored object on update: where it equals the new
/// value, errors are ratcheted away (CRDValidationRatcheting, GA in Kubernetes 1.33).
pub(crate) fn validate(
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if old.is_some_and(|o| o == value) {
        return;
    }
    if value.is_null() {
        // Only the type and enum validators look at null.
        if !node.types.is_empty() && !node.nullable {
            out.push(invalid_type(path, &node.types.join(","), "null"));
        }
        check_enum(node, value, path, out);
        return;
    }
    check_type(node, value, path, out);
    check_schema_props(node, value, old, path, out);
    match value {
        Value::String(s) => {
            check_string(node, s, path, out);
            check_format(node, s, path, out);
        }
        Value::Number(n) => check_number(node, n, path, out),
        Value::Array(items) => check_slice(node, items, old, path, out),
        _ => {}
    }
    check_enum(node, value, path, out);
    if let Value::Object(obj) = value {
        check_object(node, obj, old, path, out);
    }
}

/// `errors.InvalidType` with a string value: `x in body must be of type T: "v"`.
fn invalid_type(path: &str, type_name: &str, data: &str) -> FieldError {
    err(
        path,
        ErrorType::TypeInvalid,
        Some(Value::String(data.to_string())),
        format!(
            "{path} in body must be of type {type_name}: {}",
            quote(data)
        ),
    )
}

fn check_type(node: &Node, value: &Value, path: &str, out: &mut Vec<FieldError>) {
    let format = node.format.as_deref().unwrap_or("");
    if node.types.is_empty() && format.is_empty() {
        return;
    }
    let (sch_type, data_format) = schema_info(value);
    let is_string_or_slice = matches!(value, Value::String(_) | Value::Array(_));
    let is_float_int = sch_type == "number"
        && value.as_f64().is_some_and(|f| f.fract() == 0.0)
        && contains(&node.types, "integer");
    let is_int_float = sch_type == "integer" && contains(&node.types, "number");
    let format_compatible =
        contains(&node.types, sch_type) || data_format == format || is_float_int || is_int_float;
    if !is_string_or_slice && !format.is_empty() && !format_compatible {
        out.push(invalid_type(path, format, data_format));
        return;
    }
    // A string format on a string/array value skips the type check (kube-openapi quirk).
    let numeric = contains(&node.types, "number") || contains(&node.types, "integer");
    if !numeric && !format.is_empty() && is_string_or_slice {
        return;
    }
    if !(contains(&node.types, sch_type) || is_float_int || is_int_float) {
        out.push(invalid_type(path, &node.types.join(","), sch_type));
    }
}

fn check_string(node: &Node, s: &str, path: &str, out: &mut Vec<FieldError>) {
    let len = s.chars().count() as u64;
    // kube-openapi stops at the first failing string check.
    if let Some(max) = node.max_length
        && len > max
    {
        let unit = if max == 1 { "byte" } else { "bytes" };
        out.push(err(
            path,
            ErrorType::TooLong,
            None,
            format!("may not be more than {max} {unit}"),
        ));
        return;
    }
    if let Some(min) = node.min_length
        && len < min
    {
        out.push(err(
            path,
            ErrorType::Invalid,
            Some(Value::String(s.to_string())),
            format!("{path} in body should be at least {min} chars long"),
        ));
        return;
    }
    if let Some((pattern, re)) = &node.pattern
        && !re.is_match(s)
    {
        out.push(err(
            path,
            ErrorType::Invalid,
            Some(Value::String(s.to_string())),
            format!("{path} in body should match '{pattern}'"),
        ));
    }
}

fn check_format(node: &Node, s: &str, path: &str, out: &mut Vec<FieldError>) {
    if let Some(format) = &node.format
        && !formats::validates(format, s)
    {
        out.push(err(
            path,
            ErrorType::TypeInvalid,
            Some(Value::String(s.to_string())),
            format!("{path} in body must be of type {format}: {}", quote(s)),
        ));
    }
}

/// Prints a bound the way kube-openapi's native-type validators do: as an integer when
/// both the value and the bound are integral, else as Go's `%v` of a float64.
fn bound(b: f64, value_is_int: bool) -> String {
    if value_is_int && b.fract() == 0.0 && b.abs() < 9.0e18 {
        format!("{}", b as i64)
    } else {
        float_v(b)
    }
}

/// `swag.IsFloat64AJSONInteger`, the test kube-openapi applies to `value / multipleOf`.
fn is_json_integer(f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    let g = f.round();
    if f == g {
        return true;
    }
    let diff = (f - g).abs();
    diff / (f.abs() + g.abs()) < 1e-9
}

fn check_number(node: &Node, n: &Number, path: &str, out: &mut Vec<FieldError>) {
    let is_int = !n.is_f64();
    let data = n.as_f64().unwrap_or(0.0);
    let value = Some(Value::Number(n.clone()));
    if let Some(factor) = node.multiple_of
        && factor > 0.0
    {
        let ok = match n.as_i64() {
            Some(i) if factor.fract() == 0.0 && factor < 9.0e18 => i % (factor as i64) == 0,
            _ => {
                let mult = if factor < 1.0 {
                    1.0 / factor * data
                } else {
                    data / factor
                };
                is_json_integer(mult)
            }
        };
        if !ok {
            out.push(err(
                path,
                ErrorType::Invalid,
                value.clone(),
                format!(
                    "{path} in body should be a multiple of {}",
                    bound(factor, is_int)
                ),
            ));
        }
    }
    if let Some(min) = node.minimum {
        let fails = if node.exclusive_minimum {
            data <= min
        } else {
            data < min
        };
        if fails {
            let op = if node.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.push(err(
                path,
                ErrorType::Invalid,
                value.clone(),
                format!("{path} in body should be {op} {}", bound(min, is_int)),
            ));
        }
    }
    if let Some(max) = node.maximum {
        let fails = if node.exclusive_maximum {
            data >= max
        } else {
            data > max
        };
        if fails {
            let op = if node.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            out.push(err(
                path,
                ErrorType::Invalid,
                value,
                format!("{path} in body should be {op} {}", bound(max, is_int)),
            ));
        }
    }
}

fn check_slice(
    node: &Node,
    items: &[Value],
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if let Some(item_node) = node.items.as_deref() {
        let old_items = old.and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let old_item = old_items.and_then(|o| listtype::correlate(node, item, o));
            validate(item_node, item, old_item, &format!("{path}[{i}]"), out);
        }
    }
    let size = items.len() as u64;
    if let Some(min) = node.min_items
        && size < min
    {
        out.push(err(
            path,
            ErrorType::Invalid,
            Some(Value::from(size)),
            format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = node.max_items
        && size > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        out.push(err(
            path,
            ErrorType::TooMany,
            Some(Value::from(size)),
            format!("must have at most {max} {unit}"),
        ));
    }
    if node.unique_items
        && items
            .iter()
            .enumerate()
            .any(|(i, x)| items[..i].contains(x))
    {
        out.push(err(
            path,
            ErrorType::Invalid,
            Some(Value::String(String::new())),
            format!("{path} in body shouldn't contain duplicates"),
        ));
    }
}

/// JSON equality with numbers compared by value (Go converts the datum to the enum's type).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn check_enum(node: &Node, value: &Value, path: &str, out: &mut Vec<FieldError>) {
    let Some(allowed) = node.enum_values.as_ref().filter(|e| !e.is_empty()) else {
        return;
    };
    // A null datum never matches (Go cannot convert nil to the enum value's type).
    if !value.is_null() && allowed.iter().any(|a| json_eq(a, value)) {
        return;
    }
    let supported: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            Value::String(s) => quote(s),
            other => quote(&crate::gofmt::json_marshal(other)),
        })
        .collect();
    out.push(err(
        path,
        ErrorType::NotSupported,
        Some(value.clone()),
        format!("supported values: {}", supported.join(", ")),
    ));
}

fn check_object(
    node: &Node,
    obj: &serde_json::Map<String, Value>,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let num_keys = obj.len() as u64;
    // Property-count violations end the object's validation, as in kube-openapi.
    if let Some(min) = node.min_properties
        && num_keys < min
    {
        out.push(err(
            path,
            ErrorType::Invalid,
            Some(Value::from(num_keys)),
            format!("{path} in body should have at least {min} properties"),
        ));
        return;
    }
    if let Some(max) = node.max_properties
        && num_keys > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        out.push(err(
            path,
            ErrorType::TooMany,
            Some(Value::from(num_keys)),
            format!("must have at most {max} {unit}"),
        ));
        return;
    }
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    if let Additional::Schema(values) = &node.additional {
        for k in &keys {
            if !node.properties.contains_key(k.as_str())
                && let Some(v) = obj.get(k.as_str())
            {
                let old_v = old.and_then(|o| o.get(k.as_str()));
                validate(values, v, old_v, &format!("{path}.{k}"), out);
            }
        }
    }
    for (name, prop) in &node.properties {
        if let Some(v) = obj.get(name) {
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            validate(prop, v, old.and_then(|o| o.get(name)), &child, out);
        }
    }
    for name in &node.required {
        if !obj.contains_key(name) {
            out.push(err(
                &format!("{path}.{name}"),
                ErrorType::Required,
                None,
                String::new(),
            ));
        }
    }
}

/// Orders failed branches like kube-openapi's `MatchCount`: a branch whose type matched
/// passed more checks than one that failed on type, then fewer errors is closer.
fn closeness(errors: &[FieldError]) -> (usize, usize) {
    let type_errors = errors
        .iter()
        .filter(|e| e.error_type == ErrorType::TypeInvalid)
        .count();
    (type_errors, errors.len())
}

fn check_schema_props(
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let run = |branch: &Node| {
        let mut errs = Vec::new();
        validate(branch, value, old, path, &mut errs);
        errs
    };
    if !node.any_of.is_empty() {
        let results: Vec<Vec<FieldError>> = node.any_of.iter().map(run).collect();
        if !results.iter().any(Vec::is_empty) {
            out.push(composite(format!(
                "{} must validate at least one schema (anyOf)",
                quote(path)
            )));
            // kube-openapi reports the branch that came closest (most passed checks).
            if let Some(best) = results.into_iter().min_by_key(|r| closeness(r)) {
                out.extend(best);
            }
        }
    }
    if !node.one_of.is_empty() {
        let results: Vec<Vec<FieldError>> = node.one_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let extra = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            out.push(composite(format!(
                "{} must validate one and only one schema (oneOf). {extra}",
                quote(path)
            )));
            if valid == 0
                && let Some(best) = results.into_iter().min_by_key(|r| closeness(r))
            {
                out.extend(best);
            }
        }
    }
    if !node.all_of.is_empty() {
        let mut valid = 0;
        for branch in &node.all_of {
            let errs = run(branch);
            if errs.is_empty() {
                valid += 1;
            }
            out.extend(errs);
        }
        if valid != node.all_of.len() {
            let extra = if valid == 0 { ". None validated" } else { "" };
            out.push(composite(format!(
                "{} must validate all the schemas (allOf){extra}",
                quote(path)
            )));
        }
    }
    if let Some(not) = &node.not
        && run(not).is_empty()
    {
        out.push(composite(format!(
            "{} must not validate the schema (not)",
            quote(path)
        )));
    }
}
