//! Parsing one input's text: splitting the stream into documents, parsing each as JSON or YAML within
//! budgets, and turning the values into objects with their lines. Pure.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

use super::{InputError, Inputs, MAX_DEPTH, Reading, light};
use crate::conformance::engine::SourceObject;
use crate::conformance::report::Location;

/// The input's bytes as text: UTF-8 (a byte order mark is dropped later) or UTF-16 with its byte order
/// mark. Anything else is refused with the line of the first offending byte: binary files are not parsed.
pub(super) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, (usize, String)> {
    if let Some(units) = utf16_units(bytes) {
        return String::from_utf16(&units).map(Cow::Owned).map_err(|_| {
            (
                1,
                "not valid UTF-16 text though it starts like it".to_owned(),
            )
        });
    }
    let line_of = |at: usize| bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
    if let Some(at) = memchr::memchr(0, bytes) {
        return Err((
            line_of(at),
            "not a text file (it holds a NUL byte): is it binary?".to_owned(),
        ));
    }
    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
        (
            line_of(e.valid_up_to()),
            "not UTF-8 text (an invalid byte sequence): is it binary, or saved in another encoding?"
                .to_owned(),
        )
    })
}

/// The 16-bit units of a text that starts with a UTF-16 byte order mark.
fn utf16_units(bytes: &[u8]) -> Option<Vec<u16>> {
    let from: fn([u8; 2]) -> u16 = match bytes.get(..2)? {
        [0xFF, 0xFE] => u16::from_le_bytes,
        [0xFE, 0xFF] => u16::from_be_bytes,
        _ => return None,
    };
    let units = bytes[2..]
        .chunks(2)
        .map(|c| from([c[0], c.get(1).copied().unwrap_or(0)]))
        .collect();
    Some(units)
}

/// One document of a stream.
struct Doc<'a> {
    /// Its text (owned only when a `--- ` line carried content that had to be kept).
    text: Cow<'a, str>,
    /// The 1-based line of its first line in the input.
    first_line: usize,
}

/// Whether `line` (without its line break) is a marker, and what follows the marker on it.
fn marker(line: &str) -> Option<&str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let rest = line
        .strip_prefix("---")
        .or_else(|| line.strip_prefix("..."))?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

/// Splits a stream at its `---` and `...` lines. Content after `--- ` on the marker's line (`--- {…}`,
/// `--- |`) is kept, at its column, as the first line of the next document. Only the lines that start with
/// `---` or `...` are looked at (found by a vectorised search), and lines are counted between them.
fn split(text: &str) -> Vec<Doc<'_>> {
    let mut docs = Vec::new();
    let (mut start, mut first_line) = (0usize, 1usize);
    // The 1-based line of byte `counted`.
    let (mut counted, mut line_no) = (0usize, 1usize);
    let mut carried: Option<String> = None;
    for at in MarkerLines::new(text) {
        let end = memchr::memchr(b'\n', &text.as_bytes()[at..]).map_or(text.len(), |i| at + i);
        let Some(rest) = marker(&text[at..end]) else {
            continue;
        };
        line_no += memchr::memchr_iter(b'\n', &text.as_bytes()[counted..at]).count();
        counted = at;
        let body = &text[start..at];
        docs.push(Doc {
            text: carried
                .take()
                .map_or(Cow::Borrowed(body), |c| Cow::Owned(c + body)),
            first_line,
        });
        let rest = rest.trim_end();
        if !rest.is_empty() && !rest.trim_start().starts_with('#') {
            carried = Some(format!("   {rest}\n"));
        }
        start = (end + 1).min(text.len());
        first_line = if carried.is_some() {
            line_no
        } else {
            line_no + 1
        };
    }
    let body = &text[start..];
    docs.push(Doc {
        text: carried.map_or(Cow::Borrowed(body), |c| Cow::Owned(c + body)),
        first_line,
    });
    docs
}

/// The starts of the lines that begin with `---` or `...`, in order.
struct MarkerLines<'a> {
    text: &'a str,
    /// The next `\n---` and `\n...` at or after `from` (offsets of the `\n`), when looked up.
    dashes: Option<Option<usize>>,
    dots: Option<Option<usize>>,
    from: usize,
    first: bool,
}

impl<'a> MarkerLines<'a> {
    fn new(text: &'a str) -> Self {
        MarkerLines {
            text,
            dashes: None,
            dots: None,
            from: 0,
            first: true,
        }
    }

    fn find_from(&self, needle: &memchr::memmem::Finder<'static>) -> Option<usize> {
        needle
            .find(&self.text.as_bytes()[self.from..])
            .map(|i| self.from + i)
    }
}

impl Iterator for MarkerLines<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if std::mem::replace(&mut self.first, false)
            && (self.text.starts_with("---") || self.text.starts_with("..."))
        {
            return Some(0);
        }
        // The searchers are built once: building one for every look-up cost as much as the search in
        // documents of a few hundred bytes.
        static DASHES: LazyLock<memchr::memmem::Finder<'static>> =
            LazyLock::new(|| memchr::memmem::Finder::new("\n---"));
        static DOTS: LazyLock<memchr::memmem::Finder<'static>> =
            LazyLock::new(|| memchr::memmem::Finder::new("\n..."));
        if self.dashes.is_none() {
            self.dashes = Some(self.find_from(&DASHES));
        }
        if self.dots.is_none() {
            self.dots = Some(self.find_from(&DOTS));
        }
        let (dashes, dots) = (self.dashes.flatten(), self.dots.flatten());
        let newline = match (dashes, dots) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        if dashes == Some(newline) {
            self.dashes = None;
        }
        if dots == Some(newline) {
            self.dots = None;
        }
        self.from = newline + 1;
        Some(newline + 1)
    }
}

/// The splitting as it was first written (a scan of every line), to hold [`split`] to it in tests.
#[cfg(test)]
fn split_line_by_line(text: &str) -> Vec<(String, usize)> {
    let mut docs = Vec::new();
    let (mut start, mut first_line, mut offset) = (0usize, 1usize, 0usize);
    let mut carried: Option<String> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let Some(rest) = marker(line.trim_end_matches('\n')) else {
            offset += line.len();
            continue;
        };
        let body = &text[start..offset];
        docs.push((carried.take().unwrap_or_default() + body, first_line));
        let rest = rest.trim_end();
        if !rest.is_empty() && !rest.trim_start().starts_with('#') {
            carried = Some(format!("   {rest}\n"));
        }
        offset += line.len();
        start = offset;
        first_line = if carried.is_some() { i + 1 } else { i + 2 };
    }
    docs.push((carried.unwrap_or_default() + &text[start..], first_line));
    docs
}

/// The texts of the files under `tests/fixtures`, for tests that hold a fast path to the plain one.
#[cfg(test)]
pub(super) fn fixture_texts_for_tests() -> Vec<String> {
    let mut texts = Vec::new();
    let mut stack =
        vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                texts.push(text);
            }
        }
    }
    texts
}

/// The documents of a stream, for tests of the readers.
#[cfg(test)]
pub(super) fn split_for_tests(text: &str) -> Vec<String> {
    split(text)
        .into_iter()
        .map(|d| d.text.trim_start_matches('\u{feff}').to_owned())
        .collect()
}

/// Parses one input's text (its name is `file`) into `inputs`. For stdin, Helm's `# Source: PATH`
/// comments name the file and line of each document (`helm template … | check -`).
pub fn parse_text(file: &str, text: &str, stdin: bool, inputs: &mut Inputs) {
    parse_text_with(file, text, stdin, None, inputs);
}

/// [`parse_text`], reading whole only the YAML documents whose top-level `apiVersion` and `kind` `wanted`
/// names (all when `None`). Of the others only the top-level `apiVersion`, `kind` and `metadata` entries are
/// parsed, found by a scan of the lines: a large CustomResourceDefinition costs a line scan, not a parse.
/// Whatever the scan cannot tell for sure (JSON, flow style, lists, anchors) is read whole.
pub fn parse_text_with(
    file: &str,
    text: &str,
    stdin: bool,
    wanted: Option<super::Wanted>,
    inputs: &mut Inputs,
) {
    let later = None;
    parse_text_reading(file, text, stdin, Reading { wanted, later }, inputs);
}

/// [`parse_text`], reading the documents as far as `reading` says.
pub(super) fn parse_text_reading(
    file: &str,
    text: &str,
    stdin: bool,
    reading: Reading,
    inputs: &mut Inputs,
) {
    let file: Arc<str> = Arc::from(file);
    for doc in split(text) {
        let body = doc.text.trim_start_matches('\u{feff}');
        let Some(content) = first_content_line(body) else {
            continue;
        };
        let at = Place {
            file: file.clone(),
            first_line: doc.first_line,
            source: if stdin { helm_source(body) } else { None },
        };
        let first = body.lines().nth(content).unwrap_or_default().trim_start();
        if first.starts_with(['{', '[']) && json_doc(&at, body, inputs) {
            continue;
        }
        if let Some(wanted) = reading.wanted
            && let Some((value, line)) = light::read(body, reading.now(wanted), |g, k| {
                reading.later_kind(wanted, g, k)
            })
        {
            if !reading.is_later(wanted, &value) {
                push_value(&at, value, line, &[], inputs);
                continue;
            }
            if has_head(&value) {
                let doc = Deferred::new(body, at.clone(), content);
                inputs.deferred.push((inputs.objects.len(), doc));
                push_value(&at, value, line, &[], inputs);
                continue;
            }
        }
        yaml_doc(&at, body, content, inputs);
    }
}

impl Reading {
    /// Which kinds the light reader leaves to the full parse now.
    fn now(self, wanted: super::Wanted) -> impl Fn(&str, &str) -> bool + Copy {
        let later = self.later;
        move |group: &str, kind: &str| wanted(group, kind) && !later.is_some_and(|l| l(group, kind))
    }

    /// Whether objects of `kind` in `group` are read whole later.
    fn later_kind(self, wanted: super::Wanted, group: &str, kind: &str) -> bool {
        self.later
            .is_some_and(|l| wanted(group, kind) && l(group, kind))
    }

    /// Whether the head the light reader gave is that of a kind read whole later.
    fn is_later(self, wanted: super::Wanted, head: &Value) -> bool {
        let s = |k: &str| head.get(k).and_then(Value::as_str).unwrap_or_default();
        let group = s("apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
        self.later_kind(wanted, group, s("kind"))
    }
}

/// Whether a head has the `apiVersion` and `kind` of an object (so that it is one object, as its whole
/// document will be).
fn has_head(head: &Value) -> bool {
    let has = |k: &str| {
        head.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    has("apiVersion") && has("kind")
}

/// A document read as its head only, to be read whole when it is evaluated.
#[derive(Debug)]
pub(super) struct Deferred {
    /// Its text.
    body: Box<str>,
    at: Place,
    /// Its first line that is neither blank nor a comment (0-based, relative).
    content: usize,
}

impl Deferred {
    fn new(body: &str, at: Place, content: usize) -> Self {
        let body = Box::from(body);
        Deferred { body, at, content }
    }

    /// What reading the document whole gives.
    pub(super) fn read(&self) -> Inputs {
        let mut inputs = Inputs::default();
        yaml_doc(&self.at, &self.body, self.content, &mut inputs);
        inputs
    }
}

/// Where a document is: its input and first line, and the Helm template it came from.
#[derive(Debug, Clone)]
struct Place {
    file: Arc<str>,
    first_line: usize,
    /// The template's path and the (0-based, relative) line of its `# Source:` comment.
    source: Option<(Arc<str>, usize)>,
}

impl Place {
    /// The location of the relative (0-based) line `rel`.
    fn location(&self, rel: usize) -> Location {
        match &self.source {
            Some((path, comment)) if rel > *comment => Location {
                file: path.clone(),
                line: rel - comment,
            },
            _ => Location {
                file: self.file.clone(),
                line: self.first_line + rel,
            },
        }
    }

    fn error(&self, rel: usize, message: String) -> InputError {
        InputError {
            file: self.file.clone(),
            line: self.first_line + rel,
            message,
        }
    }
}

/// The first line of a document that is neither blank nor a comment (0-based, relative).
fn first_content_line(text: &str) -> Option<usize> {
    text.lines().position(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
    })
}

/// Helm's `# Source: chart/templates/x.yaml` before a document's content.
fn helm_source(text: &str) -> Option<(Arc<str>, usize)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .find_map(|(i, l)| {
            let path = l.trim().strip_prefix("# Source:")?.trim();
            (!path.is_empty()).then(|| (Arc::from(path), i))
        })
}

/// Parses a document that starts like JSON as a stream of JSON values. `false` when its first value is
/// no JSON (a YAML flow mapping such as `{a: 1}`), so that it is parsed as YAML instead.
fn json_doc(at: &Place, text: &str, inputs: &mut Inputs) -> bool {
    let line_at = |offset: usize| {
        text.as_bytes()[..offset.min(text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    };
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut first = true;
    loop {
        let before = stream.byte_offset();
        let start = before + text[before..].len() - text[before..].trim_start().len();
        match stream.next() {
            None => return true,
            Some(Ok(v)) => {
                let end = stream.byte_offset();
                let kind = text[start..end]
                    .find("\"kind\"")
                    .map_or(line_at(start), |i| line_at(start + i));
                push_value(at, v, kind, &[], inputs);
            }
            Some(Err(_)) if first => return false,
            Some(Err(e)) => {
                let message = format!("JSON does not parse: {e}");
                inputs
                    .errors
                    .push(at.error(e.line().saturating_sub(1), message));
                // A JSON stream cannot be resynchronised after an error.
                return true;
            }
        }
        first = false;
    }
}

/// The parser's limits: see [`super`] for why.
pub(super) fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
        },
        with_snippet: false,
    }
}

fn yaml_doc(at: &Place, text: &str, content: usize, inputs: &mut Inputs) {
    let parsed = super::fast::parse(text)
        .map_or_else(|| serde_saphyr::from_str_with_options(text, options()), Ok);
    let value: Value = match parsed {
        Ok(v) => v,
        Err(e) => {
            let rel = e
                .location()
                .and_then(|l| usize::try_from(l.line()).ok())
                .filter(|l| *l > 0)
                .map_or(content, |l| l - 1);
            let message = format!("YAML document does not parse: {}", yaml_message(&e));
            inputs.errors.push(at.error(rel, message));
            return;
        }
    };
    let kind = text
        .lines()
        .position(|l| l.starts_with("kind:"))
        .unwrap_or(content);
    // The lines of a List's items; other documents need no scan for them.
    let items = if value.as_object().is_some_and(is_list) {
        list_item_lines(text)
    } else {
        Vec::new()
    };
    push_value(at, value, kind, &items, inputs);
}

/// The parser's message without its own position (the absolute line is reported instead).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let msg = e.without_snippet().to_string();
    let msg = msg.lines().next().unwrap_or_default().trim();
    let msg = msg.find(" at line ").map_or(msg, |i| &msg[..i]);
    if msg.contains("recursion limit") || msg.contains("depth") || msg.contains("nesting") {
        return format!("{msg}: nested deeper than {MAX_DEPTH} levels, the most `check` reads");
    }
    msg.to_owned()
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

/// Whether an object is a `List` (or `*List`) with its items.
fn is_list(map: &serde_json::Map<String, Value>) -> bool {
    map.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && map.get("items").is_some_and(Value::is_array)
}

/// Adds a parsed document: a `List` (or `*List`) expands to its items, a top-level array to its elements.
/// `line` and `item_lines` are 0-based, relative to the document.
fn push_value(at: &Place, value: Value, line: usize, item_lines: &[usize], inputs: &mut Inputs) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                push_value(at, item, line, &[], inputs);
            }
        }
        Value::Object(mut map) => {
            if is_list(&map) {
                let Some(Value::Array(items)) = map.remove("items") else {
                    return;
                };
                let lines_match = item_lines.len() == items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let l = if lines_match { item_lines[i] } else { line };
                    push_value(at, item, l, &[], inputs);
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
                location: Some(at.location(line)),
            });
        }
        _ => inputs.errors.push(at.error(
            line,
            "document is neither a Kubernetes object nor a list of objects".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Inputs {
        let mut i = Inputs::default();
        parse_text("f.yaml", text, false, &mut i);
        i
    }

    fn lines(i: &Inputs) -> Vec<usize> {
        i.objects
            .iter()
            .map(|o| o.location.as_ref().unwrap().line)
            .collect()
    }

    fn names(i: &Inputs) -> Vec<&str> {
        i.objects
            .iter()
            .map(|o| o.value["metadata"]["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn splitting_at_the_marker_lines_only_gives_the_documents_of_a_scan_of_every_line() {
        let mut texts: Vec<String> = [
            "",
            "---",
            "---\n",
            "...\n---\n",
            "a: 1\n---\nb: 2\n...\n--- # c\n---  {c: 3}\n--- |\n  x\n----\n---x\n...y\n  ---\n",
            "a: 1\r\n---\r\nb: 2\r\n...\r\n",
            "x: |\n  ---\n\n---\n---\n...\n...\n---",
            "\u{feff}---\na: 1\n---\t# tab\nb: 2\n--- \n",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        texts.extend(fixture_texts_for_tests());
        assert!(texts.len() > 20, "{} texts", texts.len());
        for text in &texts {
            let fast: Vec<(String, usize)> = split(text)
                .into_iter()
                .map(|d| (d.text.into_owned(), d.first_line))
                .collect();
            assert_eq!(fast, split_line_by_line(text), "{text:?}");
        }
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

    #[test]
    fn a_yaml_stream_of_json_documents_is_read_as_kubectl_reads_it() {
        let text = "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n---\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Secret\",\n  \"metadata\": {\"name\": \"b\"}\n}\n---\n{apiVersion: v1, kind: Service, metadata: {name: c}}\n";
        let i = parse(text);
        assert!(i.errors.is_empty(), "{:?}", i.errors);
        assert_eq!(names(&i), vec!["a", "b", "c"]);
        assert_eq!(lines(&i), vec![1, 5, 9]);
    }

    #[test]
    fn document_end_markers_byte_order_marks_crlf_and_content_after_the_marker_are_read() {
        let text = "\u{feff}apiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: a}\r\n...\r\n---\r\n\u{feff}apiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: b}\r\n--- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\r\n--- # a comment\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: d\r\n...\r\n";
        let i = parse(text);
        assert!(i.errors.is_empty(), "{:?}", i.errors);
        assert_eq!(names(&i), vec!["a", "b", "c", "d"]);
        assert_eq!(lines(&i), vec![2, 7, 9, 12]);
    }

    #[test]
    fn a_parse_error_is_reported_at_the_line_of_the_mistake() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: {a: b\n";
        let i = parse(text);
        assert_eq!(names(&i), vec!["a"]);
        assert_eq!(i.errors.len(), 1, "{:?}", i.errors);
        assert!((9..=10).contains(&i.errors[0].line), "{:?}", i.errors);
    }

    #[test]
    fn helm_source_comments_name_the_template_and_the_line_within_it_for_stdin() {
        let text = "---\n# Source: app/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n---\n# Source: app/templates/service.yaml\n\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n";
        let mut i = Inputs::default();
        parse_text("-", text, true, &mut i);
        let locs: Vec<(String, usize)> = i
            .objects
            .iter()
            .map(|o| {
                let l = o.location.as_ref().unwrap();
                (l.file.to_string(), l.line)
            })
            .collect();
        assert_eq!(
            locs,
            vec![
                ("app/templates/deployment.yaml".to_owned(), 2),
                ("app/templates/service.yaml".to_owned(), 3)
            ]
        );
        // A file keeps its own name and lines.
        let i = parse(text);
        assert_eq!(lines(&i), vec![4, 10]);
    }

    #[test]
    fn utf16_text_is_decoded_and_binary_is_refused_with_its_line() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "kind: A\n".encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        assert_eq!(decode(&bytes).unwrap(), "kind: A\n");
        let (line, msg) = decode(b"a: 1\nb: \xC3\x28\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(msg.contains("not UTF-8"), "{msg}");
        let (line, msg) = decode(b"a: 1\n\n\x00\x01").unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("NUL"), "{msg}");
    }
}
