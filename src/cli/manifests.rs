//! Reading manifests (files, folders, stdin; multi-document YAML) and applying them with
//! server-side apply, as `kubectl apply --server-side` does. Used by `sandbox --apply`,
//! `render` and the integration tests.

use std::path::{Path, PathBuf};

use crate::conformance::input::{Inputs, read_paths};

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use serde_json::Value;

/// One document of a manifest file.
#[derive(Clone, Debug)]
pub struct Document {
    /// The file it came from (`-` for stdin).
    pub file: String,
    /// The line its document starts on (1-based).
    pub line: usize,
    /// Its content.
    pub value: Value,
}

/// Why manifests could not be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or folder could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An input or a document could not be read.
    #[error("{file}:{line}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// Where the document starts.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A document's kind is not served by the API server.
    #[error("{file}:{line}: the API server does not serve {kind} in {api_version}")]
    UnknownKind {
        /// The file.
        file: String,
        /// Where the document starts.
        line: usize,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// The API server rejected a document.
    #[error("{file}:{line}: applying {kind} {name}: {source}")]
    Apply {
        /// The file.
        file: String,
        /// Where the document starts.
        line: usize,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// The API error.
        source: Box<kube::Error>,
    },
    /// Discovery failed.
    #[error("discovering the API server's resources: {0}")]
    Discovery(#[source] Box<kube::Error>),
}

/// Reads every object of a file, a folder (recursively, sorted) or stdin (`-`) with the one manifest
/// reader of `check` ([`crate::conformance::input`]); the first unreadable input or document is the error.
pub fn read_documents(path: &Path) -> Result<Vec<Document>, ManifestError> {
    let inputs = read_paths(&[path.to_path_buf()], std::io::stdin().lock());
    into_documents(inputs)
}

fn into_documents(inputs: Inputs) -> Result<Vec<Document>, ManifestError> {
    if let Some(e) = inputs.errors.into_iter().next() {
        return Err(ManifestError::Parse {
            file: e.file.to_string(),
            line: e.line,
            message: e.message,
        });
    }
    Ok(inputs
        .objects
        .into_iter()
        .map(|o| {
            let (file, line) = o
                .location
                .map_or_else(|| (String::new(), 0), |l| (l.file.to_string(), l.line));
            Document {
                file,
                line,
                value: o.value,
            }
        })
        .collect())
}

/// The order in which kinds are applied: what others depend on first.
fn apply_rank(kind: &str) -> u8 {
    match kind {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "ConformanceProfile" => 2,
        "Ressort" | "Verwaltungsaufgabe" => 3,
        "FachverfahrenOnboarding" => 5,
        _ => 4,
    }
}

/// Server-side applies every document under `field_manager`; returns `kind/name` of each.
pub async fn apply_documents(
    client: &Client,
    docs: &[Document],
    field_manager: &str,
) -> Result<Vec<String>, ManifestError> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(|e| ManifestError::Discovery(Box::new(e)))?;
    let mut ordered: Vec<&Document> = docs.iter().collect();
    ordered.sort_by_key(|d| {
        apply_rank(
            d.value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    });
    let mut applied = Vec::new();
    for doc in ordered {
        let api_version = doc
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = doc
            .value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (group, version) = api_version
            .rsplit_once('/')
            .unwrap_or(("", api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let unknown = || ManifestError::UnknownKind {
            file: doc.file.clone(),
            line: doc.line,
            api_version: api_version.clone(),
            kind: kind.clone(),
        };
        let (ar, caps) = discovery.resolve_gvk(&gvk).ok_or_else(unknown)?;
        let obj: DynamicObject =
            serde_json::from_value(doc.value.clone()).map_err(|e| ManifestError::Parse {
                file: doc.file.clone(),
                line: doc.line,
                message: e.to_string(),
            })?;
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> = match (&caps.scope, obj.metadata.namespace.as_deref()) {
            (kube::discovery::Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(client.clone(), ns, &ar)
            }
            (kube::discovery::Scope::Namespaced, None) => {
                Api::default_namespaced_with(client.clone(), &ar)
            }
            (kube::discovery::Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
        };
        api.patch(
            &name,
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(&doc.value),
        )
        .await
        .map_err(|source| ManifestError::Apply {
            file: doc.file.clone(),
            line: doc.line,
            kind: kind.clone(),
            name: name.clone(),
            source: Box::new(source),
        })?;
        applied.push(format!("{kind}/{name}"));
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::input::parse_text;

    fn parse_documents(file: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
        let mut inputs = Inputs::default();
        parse_text(file, text, false, &mut inputs);
        into_documents(inputs)
    }

    #[test]
    fn multi_document_yaml_keeps_each_objects_kind_line() {
        let text = "# comment\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n";
        let docs = parse_documents("f.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 3);
        assert_eq!(docs[1].line, 9);
        assert_eq!(docs[1].value["metadata"]["name"], "b");
    }

    #[test]
    fn list_objects_are_unpacked_and_broken_yaml_names_file_and_line() {
        let list = "kind: List\napiVersion: v1\nitems:\n- {kind: A, apiVersion: v1}\n- {kind: B, apiVersion: v1}\n";
        assert_eq!(parse_documents("l.yaml", list).unwrap().len(), 2);
        let err = parse_documents("bad.yaml", "kind: A\n---\nkind: [unclosed\n").unwrap_err();
        let ManifestError::Parse { file, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(file, "bad.yaml");
        assert!(*line >= 3, "{err}");
    }
}
