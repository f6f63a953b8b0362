//! Request bodies: apiserver's size limit, and decoding that cannot be made slow by nesting.

use axum::body::{Body, Bytes};
use futures::StreamExt;
use serde_json::Value;

use crate::status::ApiError;

/// kube-apiserver's `--max-request-body-bytes` default (3 MiB); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Deepest nesting of arrays and objects accepted in a YAML body (JSON bodies are bounded by
/// serde_json's own recursion limit of 128).
pub const MAX_DEPTH: usize = 128;

/// Bodies at least this large are decoded and handled off the async executor.
pub const BLOCKING_THRESHOLD: usize = 64 * 1024;

/// 413 as kube-apiserver answers it.
pub fn too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {MAX_BODY_BYTES}"),
    )
}

/// Reads the body, refusing (without buffering the rest) one longer than [`MAX_BODY_BYTES`].
pub async fn read(declared_len: Option<u64>, body: Body) -> Result<Bytes, ApiError> {
    if declared_len.is_some_and(|l| l > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// The deepest nesting of `[`/`{` flow collections outside quoted strings, stopping early once
/// past `limit`.
fn flow_depth_exceeds(body: &[u8], limit: usize) -> bool {
    let (mut depth, mut quote, mut escaped) = (0usize, None::<u8>, false);
    for &b in body {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if b == b'\\' && q == b'"' {
                    escaped = true;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'[' | b'{' => {
                    depth += 1;
                    if depth > limit {
                        return true;
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    false
}

/// Decodes a JSON or YAML body. A body that starts as JSON falls back to the YAML parser only
/// when declared YAML; YAML nested deeper than [`MAX_DEPTH`] is refused before parsing.
pub fn decode(body: &[u8], content_type: &str) -> Result<Value, String> {
    if looks_like_json(body) {
        match serde_json::from_slice(body) {
            Ok(v) => return Ok(v),
            // A YAML flow collection (`{a: 1}`) is no JSON; anything else declared is refused.
            Err(e) if !content_type.contains("yaml") => return Err(e.to_string()),
            Err(_) => {}
        }
    }
    if flow_depth_exceeds(body, MAX_DEPTH) {
        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
    }
    serde_yaml::from_slice(body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_never_reach_the_yaml_parser() {
        let deep = "[".repeat(200_000);
        let started = std::time::Instant::now();
        assert!(decode(deep.as_bytes(), "application/json").is_err());
        assert!(decode(deep.as_bytes(), "application/yaml").is_err());
        assert!(decode(deep.as_bytes(), "").is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn yaml_and_json_bodies_decode() {
        assert_eq!(
            decode(b"a: 1\nb: [x]\n", "application/yaml").unwrap(),
            serde_json::json!({"a": 1, "b": ["x"]})
        );
        assert_eq!(
            decode(br#"{"a": "[[["}"#, "application/json").unwrap(),
            serde_json::json!({"a": "[[["})
        );
        assert_eq!(
            decode(b"a: '[[[['\n", "application/yaml").unwrap(),
            serde_json::json!({"a": "[[[["})
        );
    }
}
