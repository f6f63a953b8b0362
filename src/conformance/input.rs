//! Reading manifests for `check`: files, folders (recursively), `-` for stdin; multi-document YAML, JSON,
//! `List` objects. Does I/O in [`read_paths`] only; [`parse_text`] is pure.
//!
//! serde_yaml reports no positions for values, so documents are split here, by scanning for `---`
//! separators, and each object's line is the line of its top-level `kind:` (or, failing that, the first
//! line of its document). A document that fails to parse becomes an [`InputError`] with its absolute line;
//! the documents around it are still read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::engine::SourceObject;
use super::report::Location;

/// A file or document that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file (`-` for stdin).
    pub file: Arc<str>,
    /// 1-based line; 0 when the file could not be read at all.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

/// Everything read from the inputs.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Kubernetes objects (List items individually).
    pub objects: Vec<SourceObject>,
    /// Unreadable files and unparsable documents.
    pub errors: Vec<InputError>,
    /// Documents skipped because they are no Kubernetes objects (no `apiVersion`/`kind`, e.g. Helm
    /// `values.yaml` in a chart folder).
    pub skipped: usize,
}

/// Reads every path: `-` from `stdin`, folders recursively (files ending in `.yaml`, `.yml`, `.json`, in
/// name order, hidden entries skipped), other paths as files whatever their extension.
pub fn read_paths(paths: &[PathBuf], mut stdin: impl Read) -> Inputs {
    let mut inputs = Inputs::default();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            match stdin.read_to_string(&mut text) {
                Ok(_) => parse_text("-", &text, looks_like_json(&text), &mut inputs),
                Err(e) => inputs.errors.push(InputError {
                    file: Arc::from("-"),
                    line: 0,
                    message: format!("cannot read standard input: {e}"),
                }),
            }
        } else if p.is_dir() {
            let mut files = Vec::new();
            if let Err((dir, e)) = collect_dir(p, &mut files) {
                inputs.errors.push(InputError {
                    file: Arc::from(dir.display().to_string()),
                    line: 0,
                    message: format!("cannot read folder: {e}"),
                });
            }
            for f in files {
                read_file(&f, &mut inputs);
            }
        } else {
            read_file(p, &mut inputs);
        }
    }
    inputs
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
    let rd = std::fs::read_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_dir(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(path: &Path, inputs: &mut Inputs) {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let json =
                path.extension().and_then(|e| e.to_str()) == Some("json") || looks_like_json(&text);
            parse_text(&name, &text, json, inputs);
        }
        Err(e) => inputs.errors.push(InputError {
            file: Arc::from(name),
            line: 0,
            message: format!("cannot read file: {e}"),
        }),
    }
}

/// JSON when the first non-blank character opens an object or array (`kubectl get -o json`).
fn looks_like_json(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(['{', '['])
}

/// Parses one file's text (YAML stream or JSON values) into `inputs`.
pub fn parse_text(file: &str, text: &str, json: bool, inputs: &mut Inputs) {
    let file: Arc<str> = Arc::from(file);
    let text = text.trim_start_matches('\u{feff}');
    if json {
        parse_json(&file, text, inputs);
    } else {
        for doc in split_yaml(text) {
            parse_yaml_doc(&file, &doc, inputs);
        }
    }
}

/// One YAML document of a stream: its text and the 1-based line of its first line.
struct Doc<'a> {
    text: &'a str,
    first_line: usize,
}

/// Whether a line is a document separator (`---`, optionally followed by a comment or content).
fn is_separator(line: &str) -> bool {
    let line = line.trim_end_matches('\r');
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t") || line == "..."
}

fn split_yaml(text: &str) -> Vec<Doc<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize; // byte offset of the current document
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if is_separator(line.trim_end_matches('\n')) {
            docs.push(Doc {
                text: &text[start..offset],
                first_line: start_line,
            });
            // `--- {inline}` content after the marker is rare in manifests; it is dropped with the marker.
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    docs.push(Doc {
        text: &text[start..],
        first_line: start_line,
    });
    docs
}

/// The first line of a document that is neither blank nor a comment (0-based, relative).
fn first_content_line(text: &str) -> Option<usize> {
    text.lines().position(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    })
}

fn parse_yaml_doc(file: &Arc<str>, doc: &Doc<'_>, inputs: &mut Inputs) {
    let Some(content) = first_content_line(doc.text) else {
        return;
    };
    let value: Value = match serde_yaml::from_str(doc.text) {
        Ok(v) => v,
        Err(e) => {
            let rel = e.location().map_or(content + 1, |l| l.line());
            // serde_yaml names the position relative to the document; the absolute line is reported instead.
            let msg = strip_position(&e.to_string());
            inputs.errors.push(InputError {
                file: file.clone(),
                line: doc.first_line + rel - 1,
                message: format!("YAML document does not parse: {msg}"),
            });
            return;
        }
    };
    let kind_line = doc
        .text
        .lines()
        .position(|l| l.starts_with("kind:"))
        .unwrap_or(content);
    let line = doc.first_line + kind_line;
    let item_lines = list_item_lines(doc.text)
        .into_iter()
        .map(|l| doc.first_line + l)
        .collect::<Vec<_>>();
    push_value(file, value, line, &item_lines, inputs);
}

/// Removes serde_yaml's ` at line N column M` from a message.
fn strip_position(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_owned();
    };
    let rest = &msg[i + " at line ".len()..];
    let after_line = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let after = after_line.strip_prefix(" column ").map_or(after_line, |r| {
        r.trim_start_matches(|c: char| c.is_ascii_digit())
    });
    format!("{}{}", &msg[..i], after)
}

/// Lines (0-based, relative) where the items of a top-level `items:` sequence start, best effort.
fn list_item_lines(text: &str) -> Vec<usize> {
    let mut lines = text.lines().enumerate();
    if !lines.by_ref().any(|(_, l)| l.trim_end() == "items:") {
        return Vec::new();
    }
    let mut indent = None;
    let mut out = Vec::new();
    for (i, l) in lines {
        let trimmed = l.trim_start();
        let ind = l.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if ind == 0 && !trimmed.starts_with('-') {
            break; // the next top-level key ends the sequence
        }
        if trimmed.starts_with("- ") || trimmed == "-" {
            match indent {
                None => {
                    indent = Some(ind);
                    out.push(i);
                }
                Some(n) if n == ind => out.push(i),
                _ => {}
            }
        }
    }
    out
}

fn parse_json(file: &Arc<str>, text: &str, inputs: &mut Inputs) {
    let line_at = |offset: usize| {
        text[..offset.min(text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1
    };
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let before = stream.byte_offset();
        // The value starts at the first non-blank byte after the previous one.
        let start = before + text[before..].len() - text[before..].trim_start().len();
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                let end = stream.byte_offset();
                let kind_line = text[start..end]
                    .find("\"kind\"")
                    .map_or(line_at(start), |i| line_at(start + i));
                push_value(file, v, kind_line, &[], inputs);
            }
            Some(Err(e)) => {
                inputs.errors.push(InputError {
                    file: file.clone(),
                    line: e.line().max(1),
                    message: format!("JSON does not parse: {e}"),
                });
                // A JSON stream cannot be resynchronised after an error.
                break;
            }
        }
    }
}

/// Adds a parsed document: a `List` (or `*List`) expands to its items, a top-level array to its elements.
fn push_value(
    file: &Arc<str>,
    value: Value,
    line: usize,
    item_lines: &[usize],
    inputs: &mut Inputs,
) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                push_value(file, item, line, &[], inputs);
            }
        }
        Value::Object(mut map) => {
            let is_list = map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array);
            if is_list {
                let Some(Value::Array(items)) = map.remove("items") else {
                    return;
                };
                let lines_match = item_lines.len() == items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let l = if lines_match { item_lines[i] } else { line };
                    push_value(file, item, l, &[], inputs);
                }
                return;
            }
            let has = |k: &str| {
                map.get(k)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            };
            if !(has("apiVersion") && has("kind")) {
                inputs.skipped += 1;
                return;
            }
            inputs.objects.push(SourceObject {
                value: Value::Object(map),
                location: Some(Location {
                    file: file.clone(),
                    line,
                }),
            });
        }
        _ => inputs.errors.push(InputError {
            file: file.clone(),
            line,
            message: "document is neither a Kubernetes object nor a list of objects".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Inputs {
        let mut i = Inputs::default();
        parse_text("f.yaml", text, looks_like_json(text), &mut i);
        i
    }

    fn lines(i: &Inputs) -> Vec<usize> {
        i.objects
            .iter()
            .map(|o| o.location.as_ref().unwrap().line)
            .collect()
    }

    #[test]
    fn multi_document_yaml_reports_the_kind_line_of_every_document() {
        let text = "# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# Source: x\n\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n--- \n---\n";
        let i = parse(text);
        assert!(i.errors.is_empty(), "{:?}", i.errors);
        assert_eq!(lines(&i), vec![3, 9]);
    }

    #[test]
    fn a_broken_document_is_reported_at_its_absolute_line_and_the_others_are_kept() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\n  bad: [\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: c}\n";
        let i = parse(text);
        assert_eq!(i.objects.len(), 2);
        assert_eq!(i.errors.len(), 1);
        assert!((6..=8).contains(&i.errors[0].line), "{:?}", i.errors);
        assert!(
            !i.errors[0].message.contains(" at line "),
            "{}",
            i.errors[0].message
        );
        assert_eq!(lines(&i), vec![2, 10]);
    }

    #[test]
    fn list_items_get_their_own_lines_and_non_objects_are_skipped() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n---\nreplicaCount: 3\n";
        let i = parse(text);
        assert_eq!(lines(&i), vec![4, 7]);
        assert_eq!(i.skipped, 1);
    }

    #[test]
    fn json_streams_and_arrays_are_read_with_lines() {
        let text = "{\"apiVersion\":\"v1\",\n \"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}]}\n{\n\"apiVersion\":\"v1\",\n\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"}}\n";
        let i = parse(text);
        assert!(i.errors.is_empty(), "{:?}", i.errors);
        assert_eq!(lines(&i), vec![2, 5]);
        let i = parse("{\"kind\": ");
        assert_eq!(i.errors.len(), 1);
    }
}
