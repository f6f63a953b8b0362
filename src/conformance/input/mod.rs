//! The one manifest reader of `check`, `grundschutz`, `render` and `sandbox --apply`: files, folders
//! (recursively, symbolic-link loops detected), `-` for stdin; YAML streams (`---`, `...`, CRLF, byte order
//! marks), JSON documents and streams of them, YAML streams whose documents are JSON, `List` objects.
//!
//! I/O happens in [`read_paths`] and [`walk`] only; [`parse_text`] is pure. Documents are split here by
//! their `---`/`...` lines (YAML forbids those markers inside a document, so a line scan is exact) and each
//! is parsed on its own, so that a broken document is reported at its absolute line and the documents
//! around it are still read. An object's line is the line of its top-level `kind` (or, failing that, the
//! first line of its document).
//!
//! Hostile input is bounded: a file or stdin over [`MAX_INPUT_BYTES`] is not read past the limit, nesting
//! deeper than [`MAX_DEPTH`] and alias expansion ("billion laughs") stop the parser within its budget,
//! and bytes that are no UTF-8 text are refused before any parsing.

mod parse;
mod walk;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use parse::parse_text;

use super::engine::SourceObject;

/// The most bytes read from one file or from stdin; a larger input is an error, not a truncated read.
/// Generous for manifests (the largest CustomResourceDefinition bundles are a few MiB).
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// The deepest nesting of mappings and sequences read (Kubernetes objects, CRD schemas included, stay
/// far below it; JSON parsing stops at the same depth).
pub const MAX_DEPTH: usize = 128;

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
    /// Notes for the user (a folder not entered twice, a symbolic-link loop not followed).
    pub notes: Vec<String>,
}

/// Reads every path: `-` from `stdin`, folders recursively (files ending in `.yaml`, `.yml`, `.json`, in
/// name order, hidden entries skipped, every real folder and file once), other paths as files whatever
/// their extension.
pub fn read_paths(paths: &[PathBuf], stdin: impl Read) -> Inputs {
    let mut inputs = Inputs::default();
    let mut stdin = Some(stdin);
    let mut walker = walk::Walker::default();
    for p in paths {
        if p.as_os_str() == "-" {
            match stdin.take() {
                Some(s) => read_source("-", s, true, &mut inputs),
                None => inputs
                    .notes
                    .push("`-` given more than once: standard input is read once".to_owned()),
            }
        } else if p.is_dir() {
            let files = walker.files(p, &mut inputs);
            for f in files {
                read_file(&f, &mut inputs);
            }
        } else {
            read_file(p, &mut inputs);
        }
    }
    inputs
}

fn read_file(path: &Path, inputs: &mut Inputs) {
    let name = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(f) => read_source(&name, f, false, inputs),
        Err(e) => inputs.errors.push(InputError {
            file: Arc::from(name),
            line: 0,
            message: format!("cannot read file: {e}"),
        }),
    }
}

/// Reads at most [`MAX_INPUT_BYTES`] (plus one, to tell that there was more) and parses them.
fn read_source(name: &str, source: impl Read, stdin: bool, inputs: &mut Inputs) {
    let mut bytes = Vec::new();
    let what = if stdin { "standard input" } else { "file" };
    let error = |message: String| InputError {
        file: Arc::from(name),
        line: 0,
        message,
    };
    if let Err(e) = source.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes) {
        inputs
            .errors
            .push(error(format!("cannot read {what}: {e}")));
        return;
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        inputs.errors.push(error(format!(
            "{what} is larger than {} MiB, the most `check` reads from one input; split it into several files",
            MAX_INPUT_BYTES / (1024 * 1024)
        )));
        return;
    }
    match parse::decode(bytes) {
        Ok(text) => parse_text(name, &text, stdin, inputs),
        Err((line, message)) => inputs.errors.push(InputError {
            file: Arc::from(name),
            line,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, name: &str) {
        let text = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
        std::fs::write(path, text).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_to_a_parent_folder_are_not_followed_and_every_file_is_read_once() {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("app");
        std::fs::create_dir_all(app.join("sub")).unwrap();
        write(&root.path().join("top.yaml"), "top");
        write(&app.join("a.yaml"), "a");
        write(&app.join("sub/b.yaml"), "b");
        // Two links back up: without loop detection the walk would be exponential or endless.
        std::os::unix::fs::symlink("..", app.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("../..", app.join("sub/top")).unwrap();
        // A link to a file already read is not read twice.
        std::os::unix::fs::symlink("a.yaml", app.join("again.yaml")).unwrap();
        let inputs = read_paths(&[root.path().to_path_buf()], std::io::empty());
        let mut names: Vec<&str> = inputs
            .objects
            .iter()
            .map(|o| o.value["metadata"]["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, vec!["a", "b", "top"]);
        assert!(inputs.errors.is_empty(), "{:?}", inputs.errors);
        assert_eq!(inputs.notes.len(), 2, "{:?}", inputs.notes);
        assert!(
            inputs
                .notes
                .iter()
                .all(|n| n.contains("symbolic-link loop")),
            "{:?}",
            inputs.notes
        );
    }

    #[test]
    fn an_input_over_the_size_limit_is_refused_without_reading_it_whole() {
        let big = std::io::repeat(b'#').take(MAX_INPUT_BYTES * 4);
        let inputs = read_paths(&[PathBuf::from("-")], big);
        assert!(inputs.objects.is_empty());
        assert_eq!(inputs.errors.len(), 1);
        assert!(
            inputs.errors[0].message.contains("larger than 16 MiB"),
            "{:?}",
            inputs.errors
        );
    }
}
