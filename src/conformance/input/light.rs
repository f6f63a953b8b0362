//! Reading a YAML document's `apiVersion`, `kind` and `metadata` without parsing the rest, for documents
//! of kinds no rule reads (a CustomResourceDefinition of a few MiB, a dashboard ConfigMap). Pure.
//!
//! A document whose top-level mapping is in block style has its top-level keys at column 0, and every
//! line of their values is indented or (a compact sequence) starts with `-`. So the lines of the
//! `apiVersion`, `kind` and `metadata` entries are found by a scan, and only they are parsed, as a small
//! YAML document of their own. Whatever the scan cannot tell for sure is left to the full parse: the
//! document then reads as it always did.

use serde_json::Value;

use super::parse::options;

/// The document's `apiVersion`, `kind` and `metadata` as an object, with the (0-based) line of `kind`,
/// when `wanted` does not want it whole and the scan is sure of it. Only the lines at column 0 are looked
/// at (the others cannot start a top-level entry); lines are counted only up to `kind`. For the kinds
/// `held` names, whose heads are held to their whole parse later, the scan stops at the first entry after
/// all three.
pub(super) fn read(
    text: &str,
    wanted: impl Fn(&str, &str) -> bool + Copy,
    held: impl Fn(&str, &str) -> bool,
) -> Option<(Value, usize)> {
    let bytes = text.as_bytes();
    let mut api_version = None;
    let mut kind = None;
    let mut kind_line = 0;
    let mut keep = String::new();
    // The start of the entry being kept (`apiVersion`, `kind`, `metadata`), if one is.
    let mut keeping: Option<usize> = None;
    let mut metadata = false;
    let (mut counted, mut line_no) = (0usize, 0usize);
    let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    for start in starts {
        if bytes.get(start).is_none_or(|b| *b == b' ') {
            continue;
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let line = &text[start..end];
        let line = if end < bytes.len() {
            line.strip_suffix('\r').unwrap_or(line)
        } else {
            line
        };
        let Some(key) = top_level_key(line) else {
            continue;
        };
        if let Some(from) = keeping.take() {
            push_lines(&mut keep, &text[from..start]);
        }
        if matches!(key, "apiVersion" | "kind" | "metadata") {
            keeping = Some(start);
        }
        match key {
            "apiVersion" => api_version = Some(plain_value(line)?),
            "kind" => {
                line_no += memchr::memchr_iter(b'\n', &bytes[counted..start]).count();
                counted = start;
                (kind, kind_line) = (Some(plain_value(line)?), line_no);
            }
            "metadata" => metadata = true,
            "" => return None,
            _ => {}
        }
        let Some((a, k)) = api_version.zip(kind) else {
            continue;
        };
        // A wanted kind is read whole: no need to scan further.
        if wanted(group_of(a), k) || k.ends_with("List") {
            return None;
        }
        if metadata && keeping.is_none() && held(group_of(a), k) {
            break;
        }
    }
    if let Some(from) = keeping {
        push_lines(&mut keep, &text[from..]);
    }
    parse_kept(&keep, api_version?, kind?, kind_line, wanted)
}

/// The kept lines (apiVersion, kind, metadata) of a document whose kind no rule reads, parsed;
/// `None` when a rule reads the kind, it is a List, or the parse disagrees with the scan (the
/// full parse then reads the document).
fn parse_kept(
    keep: &str,
    api_version: &str,
    kind: &str,
    kind_line: usize,
    wanted: impl Fn(&str, &str) -> bool,
) -> Option<(Value, usize)> {
    if wanted(group_of(api_version), kind) || kind.ends_with("List") {
        return None;
    }
    let value: Value = match super::fast::parse(keep) {
        Some(v) => v,
        None => serde_saphyr::from_str_with_options(keep, options()).ok()?,
    };
    let same = |k: &str, want: &str| value.get(k).and_then(Value::as_str) == Some(want);
    (same("apiVersion", api_version) && same("kind", kind)).then_some((value, kind_line))
}

/// Appends the lines of `chunk` to `keep` as `str::lines` gives them, each with a `\n`.
fn push_lines(keep: &mut String, chunk: &str) {
    if memchr::memchr(b'\r', chunk.as_bytes()).is_some() {
        for line in chunk.lines() {
            keep.push_str(line);
            keep.push('\n');
        }
        return;
    }
    keep.push_str(chunk);
    if !chunk.is_empty() && !chunk.ends_with('\n') {
        keep.push('\n');
    }
}

#[cfg(test)]
/// [`read`] as it was first written (a scan of every line), to hold it to that in tests.
fn read_line_by_line(text: &str, wanted: super::Wanted) -> Option<(Value, usize)> {
    let mut api_version = None;
    let mut kind = None;
    let mut kind_line = 0;
    let mut keep = String::new();
    let mut keeping = false;
    for (i, line) in text.lines().enumerate() {
        if let Some(key) = top_level_key(line) {
            keeping = matches!(key, "apiVersion" | "kind" | "metadata");
            match key {
                "apiVersion" => api_version = Some(plain_value(line)?),
                "kind" => (kind, kind_line) = (Some(plain_value(line)?), i),
                "" => return None,
                _ => {}
            }
            // A wanted kind is read whole: no need to scan further.
            if let (Some(a), Some(k)) = (api_version, kind)
                && (wanted(group_of(a), k) || k.ends_with("List"))
            {
                return None;
            }
        }
        if keeping {
            keep.push_str(line);
            keep.push('\n');
        }
    }
    parse_kept(&keep, api_version?, kind?, kind_line, wanted)
}

/// The API group of an `apiVersion` (`""` for the core group).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The key of a top-level entry (`kind` of `kind: Foo`); `""` for a line at column 0 that the scan cannot
/// read (a quoted or complex key, flow style, a tag, an anchor); `None` for other lines.
fn top_level_key(line: &str) -> Option<&str> {
    let first = line.chars().next()?;
    if first.is_whitespace() || first == '#' || first == '-' {
        return None;
    }
    let key = line.split_once(':').map_or("", |(k, _)| k);
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    Some(if simple { key } else { "" })
}

/// The plain scalar after `key:` (quotes and a trailing comment dropped); `None` when it is anything else.
fn plain_value(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once(':')?;
    // Up to ` #` (`split(" #").next()` without building a substring searcher for every line).
    let rest = rest
        .as_bytes()
        .windows(2)
        .position(|w| w == b" #")
        .map_or(rest, |i| &rest[..i])
        .trim();
    let unquoted = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(rest);
    let plain = !unquoted.is_empty()
        && unquoted
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'));
    plain.then_some(unquoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing_wanted(_: &str, _: &str) -> bool {
        false
    }

    /// [`plain_value`] as it was first written (`split(" #")`).
    fn plain_value_by_split(line: &str) -> Option<&str> {
        let (_, rest) = line.split_once(':')?;
        let rest = rest.split(" #").next().unwrap_or_default().trim();
        let unquoted = rest
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
            .unwrap_or(rest);
        let plain = !unquoted.is_empty()
            && unquoted
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'));
        plain.then_some(unquoted)
    }

    #[test]
    fn a_plain_value_ends_where_splitting_at_space_hash_ends_it() {
        let mut read = 0;
        for line in [
            "kind: A",
            "kind: A # c",
            "kind: A#b",
            "kind: 'A' #c #d",
            "kind: \"A\"  # c",
            "kind: # c",
            "kind:  #",
            "kind: A #",
            "kind: A  ##",
            "apiVersion: example.org/v1 # version",
            "apiVersion: v1#x",
            "kind:",
            "kind",
            "kind: A: B",
        ] {
            let value = plain_value(line);
            assert_eq!(value, plain_value_by_split(line), "{line:?}");
            read += usize::from(value.is_some());
        }
        assert!(read >= 6, "{read}");
    }

    #[test]
    fn only_api_version_kind_and_metadata_of_an_unread_kind_are_parsed() {
        // The spec is no valid YAML at all: it is not parsed.
        let text = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: x.example.org\n  annotations:\n    a: b\nspec:\n  group: [unclosed\n";
        let (v, line) = read(text, nothing_wanted, never).expect("read by the scan");
        assert_eq!(line, 1);
        assert_eq!(
            v,
            serde_json::json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "x.example.org", "annotations": {"a": "b"}}})
        );
    }

    #[test]
    fn scanning_the_lines_at_column_0_only_reads_what_a_scan_of_every_line_reads() {
        let mut docs: Vec<String> = [
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n# c\n-x\n\tt\ndata:\n  a: b",
            "apiVersion: v1\r\nkind: Secret\r\nmetadata:\r\n  name: a\r\n\r\nspec: 1\r",
            "\n\n# head\nmetadata:\n  name: x\n\nkind: Widget\napiVersion: example.org/v1\n  \nstatus: {}\n",
            "kind: A\napiVersion: x/v1\nmetadata: {name: a}\nkind: B\n",
            "apiVersion: x/v1\nkind: A\nmetadata:\n  name: a\n\"q\": 1\n",
            "apiVersion: x/v1\nkind: \"A\"\nmetadata:\n  name: a\nmetadata2: x",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        for text in super::super::parse::fixture_texts_for_tests() {
            docs.extend(super::super::parse::split_for_tests(&text));
        }
        let read_some = |_: &str, k: &str| k == "Deployment" || k == "Namespace";
        let mut light = 0;
        for doc in &docs {
            for wanted in [nothing_wanted as super::super::Wanted, read_some] {
                let (a, b) = (read(doc, wanted, never), read_line_by_line(doc, wanted));
                light += usize::from(a.is_some());
                assert_eq!(a, b, "{doc:?}");
            }
        }
        assert!(light > 50, "only {light} documents read by the scan");
    }

    #[test]
    fn wanted_kinds_lists_and_what_the_scan_cannot_tell_are_left_to_the_full_parse() {
        let wanted = |_: &str, k: &str| k == "Deployment";
        for text in [
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n",
            "apiVersion: v1\nkind: List\nitems: []\n",
            "apiVersion: v1\nkind: &k ConfigMap\nmetadata:\n  name: x\n",
            "\"kind\": ConfigMap\napiVersion: v1\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: *m\n",
            "apiVersion: v1\nmetadata:\n  name: no-kind\n",
        ] {
            assert!(read(text, wanted, never).is_none(), "{text}");
        }
    }

    fn never(_: &str, _: &str) -> bool {
        false
    }

    #[test]
    fn the_scan_of_a_kind_whose_head_is_held_to_its_whole_parse_stops_after_the_head() {
        // A line the scan cannot read after the head: it gives up, unless the whole parse will judge it.
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 1\n\"q\": 1\n";
        let head = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}});
        assert_eq!(read(text, nothing_wanted, never), None);
        let held = |_: &str, k: &str| k == "Deployment";
        assert_eq!(read(text, nothing_wanted, held), Some((head, 1)));
        // Without its metadata read yet, the scan goes on.
        let text = "apiVersion: apps/v1\nkind: Deployment\nspec: {}\nmetadata:\n  name: x\n";
        let (v, _) = read(text, nothing_wanted, held).expect("read by the scan");
        assert_eq!(v["metadata"]["name"], "x");
    }
}

#[cfg(test)]
mod same_report {
    use std::path::PathBuf;

    use crate::api::ProtectionLevel;
    use crate::conformance::engine::reads_whole;
    use crate::conformance::{evaluate, resolve_profile};

    /// Kinds no rule reads, one with an ignore annotation that lacks its reason, around kinds the rules read.
    const STREAM: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.org
  annotations:
    conformance.conplus.niedersachsen.de/ignore: image-tag
spec:
  group: example.org
  versions:
  - name: v1
    schema:
      openAPIV3Schema: {type: object}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: app
  namespace: team
spec:
  endpoints:
  - port: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: team
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx
";

    #[test]
    fn reading_unread_kinds_by_their_metadata_gives_the_same_report_as_reading_them_whole() {
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance");
        let profile = resolve_profile(None, ProtectionLevel::VeryHigh, None).unwrap();
        let now = jiff::Timestamp::UNIX_EPOCH;
        let read = |wanted| {
            let mut inputs = super::super::read_paths_with(
                std::slice::from_ref(&fixtures),
                std::io::empty(),
                wanted,
            );
            super::super::parse_text_with("stream.yaml", STREAM, false, wanted, &mut inputs);
            inputs
        };
        let (whole, light) = (read(None), read(Some(reads_whole)));
        assert_eq!(whole.errors, light.errors);
        assert_eq!(whole.objects.len(), light.objects.len());
        let light_read = whole
            .objects
            .iter()
            .zip(&light.objects)
            .filter(|(w, l)| w.value != l.value)
            .count();
        assert!(
            light_read >= 2,
            "the CRD and the ServiceMonitor are read by their metadata"
        );
        let (a, b) = (
            evaluate(&whole.objects, &profile, now),
            evaluate(&light.objects, &profile, now),
        );
        assert_eq!(a.findings, b.findings);
        assert_eq!(a.not_checked_count(), b.not_checked_count());
        assert_eq!(a.score, b.score);
        assert!(
            a.findings
                .iter()
                .any(|f| f.object.kind == "CustomResourceDefinition"),
            "the ignore annotation of a CRD read by its metadata is still judged"
        );
    }
}
