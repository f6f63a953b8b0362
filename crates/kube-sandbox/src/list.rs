//! list and deletecollection, with selectors, `limit`/`continue` pages consistent at the
//! first page's resourceVersion, and the metadata-only and Table renderings.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::{DeleteOpts, Target, delete_locked, to_version};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::Store;

/// How a response is rendered, from the Accept header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    Full,
    Metadata,
    Table,
}

impl Render {
    /// Picks the first rendering the Accept header names that the sandbox serves.
    pub fn from_accept(accept: &str) -> Self {
        for part in accept.split(',') {
            let p = part.replace(' ', "");
            if p.contains("as=Table") && p.contains("g=meta.k8s.io") {
                return Render::Table;
            }
            if p.contains("as=PartialObjectMetadata") && p.contains("g=meta.k8s.io") {
                return Render::Metadata;
            }
            if p.starts_with("application/json") || p.starts_with("*/*") || p.is_empty() {
                return Render::Full;
            }
        }
        Render::Full
    }
}

/// The list query parameters.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

fn encode_token(snap: u64, offset: usize, rv: u64) -> String {
    let raw =
        format!("{{\"v\":\"meta.k8s.io/v1\",\"rv\":{rv},\"snap\":{snap},\"offset\":{offset}}}");
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(tok: &str) -> Option<(u64, usize, u64)> {
    let bytes: Option<Vec<u8>> = (0..tok.len())
        .step_by(2)
        .map(|i| {
            tok.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let v: Value = serde_json::from_slice(&bytes?).ok()?;
    Some((
        v["snap"].as_u64()?,
        usize::try_from(v["offset"].as_u64()?).ok()?,
        v["rv"].as_u64()?,
    ))
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// A page of a list.
pub struct Page {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Selects the objects of a list request (all namespaces when `t.namespace` is empty).
pub fn list(store: &Store, t: &Target, opts: &ListOpts) -> Result<Page, ApiError> {
    let (all, rv, offset) = match &opts.continue_token {
        Some(tok) if !tok.is_empty() => {
            let (snap, offset, _rv) =
                decode_token(tok).ok_or_else(|| ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
            let (items, rv) = store
                .snapshot(snap)
                .ok_or_else(|| ApiError::gone(CONTINUE_EXPIRED))?;
            (items, rv, offset)
        }
        _ => {
            let st = store.read();
            if opts.resource_version_match.as_deref() == Some("Exact")
                && let Some(want) = opts
                    .resource_version
                    .as_deref()
                    .and_then(|r| r.parse::<u64>().ok())
                && want != st.rv
            {
                return Err(ApiError::gone(format!(
                    "too old resource version: {want} ({})",
                    st.rv
                )));
            }
            let ns = (t.def.namespaced && !t.namespace.is_empty()).then_some(t.namespace.as_str());
            let items: Vec<Arc<Value>> = st
                .list(&t.def.storage_key(), ns)
                .into_iter()
                .filter(|o| opts.label_selector.matches(o) && opts.field_selector.matches(o))
                .collect();
            (Arc::new(items), st.rv, 0)
        }
    };
    let total = all.len();
    let end = match opts.limit {
        Some(l) if l > 0 => (offset + l).min(total),
        _ => total,
    };
    let items: Vec<Arc<Value>> = all
        .get(offset.min(total)..end)
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    let (continue_token, remaining) = if end < total {
        // Pages after the first read the same snapshot; it is saved once, on the first page.
        let snap = match &opts.continue_token {
            Some(tok) if !tok.is_empty() => decode_token(tok).map(|(s, _, _)| s).unwrap_or(0),
            _ => store.save_snapshot(all.clone(), rv),
        };
        (Some(encode_token(snap, end, rv)), Some(total - end))
    } else {
        (None, None)
    };
    Ok(Page {
        items,
        rv,
        continue_token,
        remaining,
    })
}

/// Serializes a list response without copying the items.
pub fn render_list(t: &Target, page: &Page, render: Render) -> Vec<u8> {
    let def = &t.def;
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let (kind, api_version) = match render {
        Render::Metadata => (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        ),
        _ => (
            format!("{}List", def.kind),
            crate::registry::api_version(&def.group, &t.version),
        ),
    };
    let mut out = Vec::with_capacity(256 + page.items.len() * 512);
    out.extend_from_slice(b"{\"kind\":");
    out.extend_from_slice(json!(kind).to_string().as_bytes());
    out.extend_from_slice(b",\"apiVersion\":");
    out.extend_from_slice(json!(api_version).to_string().as_bytes());
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(meta.to_string().as_bytes());
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // kube-apiserver leaves apiVersion and kind out of the items of a list of a built-in
        // kind (its typed encoder writes them for the list only); a custom resource's items,
        // stored as written, keep them.
        let builtin = def.custom.is_none();
        let r = match render {
            Render::Metadata => crate::stored::write_json(&mut out, &partial_metadata(item)),
            _ if t.version != def.version || crate::events::is_view(def) => {
                let item = to_version(def, item, &t.version);
                if builtin {
                    write_untyped(&mut out, &item)
                } else {
                    crate::stored::write_json(&mut out, &item)
                }
            }
            _ if builtin => write_untyped(&mut out, item),
            _ => crate::stored::write_json(&mut out, item),
        };
        if r.is_err() {
            out.extend_from_slice(b"null");
        }
    }
    out.extend_from_slice(b"]}");
    out
}

/// Writes `obj` without its `apiVersion` and `kind`, as kube-apiserver writes the items of a
/// list of a built-in kind.
fn write_untyped(out: &mut Vec<u8>, obj: &Value) -> Result<(), serde_json::Error> {
    let Some(map) = obj.as_object() else {
        return crate::stored::write_json(out, obj);
    };
    out.push(b'{');
    let mut first = true;
    for (k, v) in map
        .iter()
        .filter(|(k, _)| *k != "apiVersion" && *k != "kind")
    {
        if !first {
            out.push(b',');
        }
        first = false;
        crate::stored::write_entry(out, k, v, false)?;
    }
    out.push(b'}');
    Ok(())
}

/// The `PartialObjectMetadata` form of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// DELETE on a collection: deletes every selected object as a single delete would.
pub fn delete_collection(
    store: &Store,
    t: &Target,
    opts: &ListOpts,
    del: &DeleteOpts,
) -> Result<Value, ApiError> {
    let def = &t.def;
    let mut st = store.write();
    let ns = (def.namespaced && !t.namespace.is_empty()).then_some(t.namespace.as_str());
    let targets: Vec<(String, String)> = st
        .list(&def.storage_key(), ns)
        .into_iter()
        .filter(|o| opts.label_selector.matches(o) && opts.field_selector.matches(o))
        .map(|o| {
            (
                crate::meta::namespace_of(&o).to_string(),
                crate::meta::name_of(&o).to_string(),
            )
        })
        .collect();
    let mut items = Vec::new();
    for (ns, name) in targets {
        let live = st.get(&def.storage_key(), &ns, &name);
        let (_, body) = delete_locked(&mut st, def, &ns, &name, del)?;
        if body.get("kind").and_then(Value::as_str) == Some("Status") {
            if let Some(o) = live {
                items.push(to_version(def, &o, &t.version));
            }
        } else {
            items.push(to_version(def, &body, &t.version));
        }
    }
    let rv = st.rv;
    drop(st);
    store.gc_notify.notify_one();
    Ok(json!({
        "kind": format!("{}List", def.kind),
        "apiVersion": crate::registry::api_version(&def.group, &t.version),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        assert_eq!(decode_token(&encode_token(7, 500, 42)), Some((7, 500, 42)));
        assert_eq!(decode_token("zz"), None);
    }

    #[test]
    fn accept_header_picks_table_then_metadata_then_json() {
        assert_eq!(
            Render::from_accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
            Render::Table
        );
        assert_eq!(
            Render::from_accept("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Render::Metadata
        );
        assert_eq!(Render::from_accept("application/json"), Render::Full);
    }
}
