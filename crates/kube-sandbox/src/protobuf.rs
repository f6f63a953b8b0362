//! Decoding of the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`) for the
//! few kinds kubectl's typed commands send that way (`kubectl create namespace|configmap|secret|
//! serviceaccount`), and `DeleteOptions`. Other kinds answer 415, as apiserver does for kinds
//! without protobuf.
//!
//! The field numbers are those of k8s.io/api's `generated.proto`.

use serde_json::{Map, Value, json};

/// How a field is decoded.
#[derive(Clone, Copy)]
enum F {
    Str,
    /// Bytes, shown base64-encoded in JSON.
    Bytes,
    Int,
    Bool,
    /// `metav1.Time`: seconds, nanos.
    Time,
    Msg(&'static [(u64, &'static str, F)]),
    RepeatedStr,
    RepeatedMsg(&'static [(u64, &'static str, F)]),
    MapStrStr,
    MapStrBytes,
}

const OWNER_REF: &[(u64, &str, F)] = &[
    (1, "kind", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (5, "apiVersion", F::Str),
    (6, "controller", F::Bool),
    (7, "blockOwnerDeletion", F::Bool),
];

const OBJECT_META: &[(u64, &str, F)] = &[
    (1, "name", F::Str),
    (2, "generateName", F::Str),
    (3, "namespace", F::Str),
    (5, "uid", F::Str),
    (6, "resourceVersion", F::Str),
    (7, "generation", F::Int),
    (8, "creationTimestamp", F::Time),
    (9, "deletionTimestamp", F::Time),
    (10, "deletionGracePeriodSeconds", F::Int),
    (11, "labels", F::MapStrStr),
    (12, "annotations", F::MapStrStr),
    (13, "ownerReferences", F::RepeatedMsg(OWNER_REF)),
    (14, "finalizers", F::RepeatedStr),
];

const NAMESPACE: &[(u64, &str, F)] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(&[(1, "finalizers", F::RepeatedStr)])),
    (3, "status", F::Msg(&[(1, "phase", F::Str)])),
];

const CONFIG_MAP: &[(u64, &str, F)] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapStrStr),
    (3, "binaryData", F::MapStrBytes),
    (4, "immutable", F::Bool),
];

const SECRET: &[(u64, &str, F)] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapStrBytes),
    (3, "type", F::Str),
    (4, "stringData", F::MapStrStr),
    (5, "immutable", F::Bool),
];

const OBJECT_REF: &[(u64, &str, F)] = &[
    (1, "kind", F::Str),
    (2, "namespace", F::Str),
    (3, "name", F::Str),
];

const SERVICE_ACCOUNT: &[(u64, &str, F)] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "secrets", F::RepeatedMsg(OBJECT_REF)),
    (
        3,
        "imagePullSecrets",
        F::RepeatedMsg(&[(1, "name", F::Str)]),
    ),
    (4, "automountServiceAccountToken", F::Bool),
];

/// `metav1.DeleteOptions` (client-go sends them as protobuf, e.g. `helm uninstall`).
const DELETE_OPTIONS: &[(u64, &str, F)] = &[
    (1, "gracePeriodSeconds", F::Int),
    (
        2,
        "preconditions",
        F::Msg(&[(1, "uid", F::Str), (2, "resourceVersion", F::Str)]),
    ),
    (3, "orphanDependents", F::Bool),
    (4, "propagationPolicy", F::Str),
    (5, "dryRun", F::RepeatedStr),
    (
        6,
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        F::Bool,
    ),
];

const RESOURCE_ATTRIBUTES: &[(u64, &str, F)] = &[
    (1, "namespace", F::Str),
    (2, "verb", F::Str),
    (3, "group", F::Str),
    (4, "version", F::Str),
    (5, "resource", F::Str),
    (6, "subresource", F::Str),
    (7, "name", F::Str),
];

const NON_RESOURCE_ATTRIBUTES: &[(u64, &str, F)] = &[(1, "path", F::Str), (2, "verb", F::Str)];

/// `SelfSubjectAccessReview` (`kubectl auth can-i`).
const SELF_SUBJECT_ACCESS_REVIEW: &[(u64, &str, F)] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "resourceAttributes", F::Msg(RESOURCE_ATTRIBUTES)),
            (2, "nonResourceAttributes", F::Msg(NON_RESOURCE_ATTRIBUTES)),
        ]),
    ),
];

/// `SubjectAccessReview` and `LocalSubjectAccessReview` (without `spec.extra`).
const SUBJECT_ACCESS_REVIEW: &[(u64, &str, F)] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "resourceAttributes", F::Msg(RESOURCE_ATTRIBUTES)),
            (2, "nonResourceAttributes", F::Msg(NON_RESOURCE_ATTRIBUTES)),
            (3, "user", F::Str),
            (4, "groups", F::RepeatedStr),
            (6, "uid", F::Str),
        ]),
    ),
];

/// `SelfSubjectReview` (`kubectl auth whoami`) and `SelfSubjectRulesReview`.
const SELF_SUBJECT_REVIEW: &[(u64, &str, F)] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(&[(1, "namespace", F::Str)])),
];

const UNKNOWN: &[(u64, &str, F)] = &[
    (
        1,
        "typeMeta",
        F::Msg(&[(1, "apiVersion", F::Str), (2, "kind", F::Str)]),
    ),
    (2, "raw", F::Bytes),
];

/// A decoded field: number, varint value (wire type 0) and bytes (wire type 2).
type Field<'a> = (u64, u64, Option<&'a [u8]>);

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let s = self.buf.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(s)
    }

    /// Next `(field, wire type, varint value or bytes)`.
    fn field(&mut self) -> Option<Option<Field<'a>>> {
        if self.pos >= self.buf.len() {
            return Some(None);
        }
        let tag = self.varint()?;
        let (field, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => Some(Some((field, self.varint()?, None))),
            2 => Some(Some((field, 0, Some(self.bytes()?)))),
            1 => {
                self.pos += 8;
                Some(Some((field, 0, None)))
            }
            5 => {
                self.pos += 4;
                Some(Some((field, 0, None)))
            }
            _ => None,
        }
    }
}

fn map_entry(buf: &[u8], bytes_value: bool) -> Option<(String, Value)> {
    let mut r = Reader { buf, pos: 0 };
    let (mut k, mut v) = (String::new(), json!(""));
    while let Some((field, _, data)) = r.field()? {
        match (field, data) {
            (1, Some(d)) => k = String::from_utf8(d.to_vec()).ok()?,
            (2, Some(d)) if bytes_value => v = json!(crate::meta::base64(d)),
            (2, Some(d)) => v = json!(String::from_utf8(d.to_vec()).ok()?),
            _ => {}
        }
    }
    Some((k, v))
}

fn message(buf: &[u8], schema: &[(u64, &str, F)]) -> Option<Value> {
    let mut out = Map::new();
    let mut r = Reader { buf, pos: 0 };
    while let Some((field, varint, data)) = r.field()? {
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == field) else {
            continue;
        };
        let name = name.to_string();
        match (kind, data) {
            // Go writes empty strings and zero numbers that JSON would omit.
            (F::Str, Some([])) | (F::Int, None)
                if varint == 0 && data.is_none_or(<[u8]>::is_empty) => {}
            (F::Str, Some(d)) => {
                out.insert(name, json!(String::from_utf8(d.to_vec()).ok()?));
            }
            (F::Bytes, Some(d)) => {
                out.insert(name, json!(crate::meta::base64(d)));
            }
            (F::Int, None) => {
                out.insert(name, json!(varint as i64));
            }
            (F::Bool, None) => {
                out.insert(name, json!(varint != 0));
            }
            (F::Time, Some(d)) => {
                let t = message(d, &[(1, "seconds", F::Int)])?;
                let secs = t.get("seconds").and_then(Value::as_i64).unwrap_or(0);
                if secs == 0 {
                    continue;
                }
                let ts = jiff::Timestamp::from_second(secs).ok()?;
                out.insert(name, json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
            }
            (F::Msg(s), Some(d)) => {
                out.insert(name, message(d, s)?);
            }
            (F::RepeatedStr, Some(d)) => {
                let s = json!(String::from_utf8(d.to_vec()).ok()?);
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()?
                    .push(s);
            }
            (F::RepeatedMsg(s), Some(d)) => {
                let m = message(d, s)?;
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()?
                    .push(m);
            }
            (F::MapStrStr | F::MapStrBytes, Some(d)) => {
                let (k, v) = map_entry(d, matches!(kind, F::MapStrBytes))?;
                out.entry(name)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()?
                    .insert(k, v);
            }
            _ => return None,
        }
    }
    Some(Value::Object(out))
}

/// Decodes a protobuf request body (`k8s\0` + `runtime.Unknown`) into the JSON object, for the
/// kinds listed in the module documentation; `None` for anything else.
pub fn decode(body: &[u8]) -> Option<Value> {
    let rest = body.strip_prefix(b"k8s\0")?;
    let unknown = message(rest, UNKNOWN)?;
    let api_version = unknown
        .pointer("/typeMeta/apiVersion")?
        .as_str()?
        .to_string();
    let kind = unknown.pointer("/typeMeta/kind")?.as_str()?.to_string();
    // `raw` was base64-encoded by the generic decoder; take the bytes again.
    let raw = raw_field(rest)?;
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            SUBJECT_ACCESS_REVIEW
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview")
        | ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        // Registered in every group version.
        (_, "DeleteOptions") => DELETE_OPTIONS,
        _ => return None,
    };
    let mut obj = message(raw, schema)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Some(obj)
}

fn raw_field(buf: &[u8]) -> Option<&[u8]> {
    let mut r = Reader { buf, pos: 0 };
    while let Some((field, _, data)) = r.field()? {
        if field == 2 {
            return data;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(field: u64, wire: u64) -> u8 {
        ((field << 3) | wire) as u8
    }

    fn ld(field: u64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![tag(field, 2), data.len() as u8];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_config_map_as_kubectl_sends_it() {
        let meta = [
            ld(1, b"cm1"),
            ld(11, &[ld(1, b"app"), ld(2, b"web")].concat()),
        ]
        .concat();
        let cm = [ld(1, &meta), ld(2, &[ld(1, b"k"), ld(2, b"v")].concat())].concat();
        let type_meta = [ld(1, b"v1"), ld(2, b"ConfigMap")].concat();
        let unknown = [ld(1, &type_meta), ld(2, &cm)].concat();
        let body = [b"k8s\0".as_slice(), &unknown].concat();
        let obj = decode(&body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1", "labels": {"app": "web"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn refuses_kinds_without_a_schema() {
        let type_meta = [ld(1, b"apps/v1"), ld(2, b"Deployment")].concat();
        let body = [b"k8s\0".as_slice(), &ld(1, &type_meta), &ld(2, b"")].concat();
        assert!(decode(&body).is_none());
    }
}
