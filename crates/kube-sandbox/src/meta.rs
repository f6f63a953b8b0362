//! Object metadata helpers: names, timestamps, uids and apimachinery's metadata validation.

use crd_validation::{ErrorType, FieldError};
use rand::Rng;
use serde_json::Value;

use crate::registry::NameRule;
use crate::status::field_error;

/// `metadata.name` or "".
pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace` or "".
pub fn namespace_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.uid` or "".
pub fn uid_of(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.resourceVersion` or "".
pub fn rv_of(obj: &Value) -> &str {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.finalizers`.
pub fn finalizers_of(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// Now, as apiserver writes timestamps (RFC 3339, seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A random version-4 UUID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// apiserver's generateName suffix: 5 characters from an alphabet without vowels and look-alikes.
pub fn generate_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Standard base64 (Secret `stringData` → `data`).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1])
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Validates a name by its kind's rule; the messages are apimachinery's.
pub fn validate_name(name: &str, rule: NameRule, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let invalid = |detail: &str| {
        field_error(
            field,
            ErrorType::Invalid,
            Some(Value::String(name.into())),
            detail,
        )
    };
    match rule {
        NameRule::Label => {
            if name.len() > 63 {
                errs.push(invalid("must be no more than 63 characters"));
            }
            if !is_dns1123_label(name) {
                errs.push(invalid(DNS1123_LABEL_MSG));
            }
        }
        NameRule::Subdomain => {
            if name.len() > 253 {
                errs.push(invalid("must be no more than 253 characters"));
            }
            if !is_dns1123_subdomain(name) {
                errs.push(invalid(DNS1123_SUBDOMAIN_MSG));
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                errs.push(invalid(&format!("may not be '{name}'")));
            }
            if name.contains('/') || name.contains('%') {
                errs.push(invalid("may not contain '/' or '%'"));
            }
        }
    }
    errs
}

fn is_qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && (p.is_empty() || !is_dns1123_subdomain(p))
    {
        return Err("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
    }
    let b = name.as_bytes();
    if b.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if b.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    let ok = b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
    if !ok {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
    }
    Ok(())
}

fn is_label_value(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    if b.is_empty() {
        return Ok(());
    }
    if b.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let ok = b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
    if !ok {
        return Err("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into());
    }
    Ok(())
}

/// apimachinery's ObjectMeta checks of labels, annotations, finalizers and ownerReferences.
pub fn validate_metadata(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Err(d) = is_qualified_name(k) {
                errs.push(field_error(
                    "metadata.labels",
                    ErrorType::Invalid,
                    Some(Value::String(k.clone())),
                    &d,
                ));
            }
            match v.as_str() {
                Some(s) => {
                    if let Err(d) = is_label_value(s) {
                        errs.push(field_error(
                            "metadata.labels",
                            ErrorType::Invalid,
                            Some(v.clone()),
                            &d,
                        ));
                    }
                }
                None => errs.push(field_error(
                    "metadata.labels",
                    ErrorType::Invalid,
                    Some(v.clone()),
                    "must be a string",
                )),
            }
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in ann {
            if let Err(d) = is_qualified_name(&k.to_lowercase()) {
                errs.push(field_error(
                    "metadata.annotations",
                    ErrorType::Invalid,
                    Some(Value::String(k.clone())),
                    &d,
                ));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > 256 * 1024 {
            errs.push(field_error(
                "metadata.annotations",
                ErrorType::TooLong,
                None,
                "must have at most 262144 bytes",
            ));
        }
    }
    for (i, f) in finalizers_of(obj).iter().enumerate() {
        if let Err(d) = is_qualified_name(f) {
            errs.push(field_error(
                &format!("metadata.finalizers[{i}]"),
                ErrorType::Invalid,
                Some(Value::String(f.clone())),
                &d,
            ));
        }
    }
    if let Some(refs) = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
    {
        let mut controllers = 0;
        for (i, r) in refs.iter().enumerate() {
            for field in ["apiVersion", "kind", "name", "uid"] {
                if r.get(field)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    errs.push(field_error(
                        &format!("metadata.ownerReferences[{i}].{field}"),
                        ErrorType::Invalid,
                        Some(Value::String(String::new())),
                        &format!("{field} must not be empty"),
                    ));
                }
            }
            if r.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers += 1;
            }
        }
        if controllers > 1 {
            errs.push(field_error(
                "metadata.ownerReferences",
                ErrorType::Invalid,
                None,
                "Only one reference can have Controller set to true",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"hello world"), "aGVsbG8gd29ybGQ=");
    }

    #[test]
    fn uid_is_a_version_4_uuid() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn names_follow_rfc_1123() {
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("A"));
        assert!(!is_dns1123_label("a.b"));
    }
}
