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

mod fast;
mod light;
mod parse;
mod walk;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parse::Deferred;
pub use parse::{parse_text, parse_text_with};

/// The YAML parser's options with this module's budgets, for other YAML `check` reads (`--profile`).
pub fn yaml_options() -> serde_saphyr::Options {
    parse::options()
}

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
    /// The objects read as their head only (`apiVersion`, `kind`, `metadata`), by their index in
    /// `objects`, ascending: their documents are read whole when evaluated ([`Inputs::whole`]).
    deferred: Vec<(usize, Deferred)>,
}

/// A document read as its head only does not read whole as the one object its head promised (it does not
/// parse, say): the inputs are to be read whole ([`Inputs::read_deferred`]) and evaluated again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a document read as its head does not read whole as that object")]
pub struct HeadMismatch;

/// Which documents are read whole: `wanted(group, kind)`. The others are read as their `apiVersion`, `kind`
/// and `metadata` only, without parsing the rest (see [`parse_text_with`]).
pub type Wanted = fn(&str, &str) -> bool;

/// How far documents are read at first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// The kinds read whole (all when `None`); of the others only the head: `apiVersion`, `kind` and
    /// `metadata`.
    pub wanted: Option<Wanted>,
    /// Of the kinds read whole, those read as their head at first and whole only when they are evaluated
    /// ([`Inputs::whole`]), so that their trees need not all be in memory at once.
    pub later: Option<Wanted>,
}

/// Reads every path: `-` from `stdin`, folders recursively (files ending in `.yaml`, `.yml`, `.json`, in
/// name order, hidden entries skipped, every real folder and file once), other paths as files whatever
/// their extension. Every document is read whole.
pub fn read_paths(paths: &[PathBuf], stdin: impl Read) -> Inputs {
    read_paths_with(paths, stdin, None)
}

/// What one input is.
enum Source {
    Stdin,
    File(PathBuf),
}

/// [`read_paths`], reading whole only the documents `wanted` names (all when `None`). Files are read and
/// parsed in parallel, one thread per core; the result is in input order all the same.
pub fn read_paths_with(paths: &[PathBuf], stdin: impl Read, wanted: Option<Wanted>) -> Inputs {
    let later = None;
    read_paths_reading(paths, stdin, Reading { wanted, later })
}

/// [`read_paths_with`], reading the documents as far as `reading` says.
pub fn read_paths_reading(paths: &[PathBuf], stdin: impl Read, reading: Reading) -> Inputs {
    let mut inputs = Inputs::default();
    let mut sources = Vec::new();
    let mut stdin_given = false;
    let mut walker = walk::Walker::default();
    for p in paths {
        if p.as_os_str() == "-" {
            if std::mem::replace(&mut stdin_given, true) {
                inputs
                    .notes
                    .push("`-` given more than once: standard input is read once".to_owned());
            } else {
                sources.push(Source::Stdin);
            }
        } else if p.is_dir() {
            sources.extend(walker.files(p, &mut inputs).into_iter().map(Source::File));
        } else {
            sources.push(Source::File(p.clone()));
        }
    }
    // Standard input is read here (it need not be `Send`); the files on every core.
    let mut from_stdin = Inputs::default();
    if stdin_given {
        read_source("-", stdin, 0, reading, &mut Vec::new(), &mut from_stdin);
    }
    let files: Vec<&PathBuf> = sources
        .iter()
        .filter_map(|s| match s {
            Source::File(f) => Some(f),
            Source::Stdin => None,
        })
        .collect();
    // Each thread reads its files into one buffer: a fresh one per file would be paged in again for every
    // file (and, above malloc's mmap threshold, unmapped again after it).
    let mut from_files = parallel_map(&files, Vec::new, |buffer, f| {
        let mut i = Inputs::default();
        read_file(f, reading, buffer, &mut i);
        i
    })
    .into_iter();
    for source in &sources {
        match source {
            Source::Stdin => inputs.merge(std::mem::take(&mut from_stdin)),
            Source::File(_) => inputs.merge(from_files.next().unwrap_or_default()),
        }
    }
    inputs
}

impl Inputs {
    /// Appends what another input gave.
    fn merge(&mut self, other: Inputs) {
        let base = self.objects.len();
        let deferred = other.deferred.into_iter().map(|(i, d)| (base + i, d));
        self.deferred.extend(deferred);
        self.objects.extend(other.objects);
        self.errors.extend(other.errors);
        self.skipped += other.skipped;
        self.notes.extend(other.notes);
    }

    /// The whole object of which `objects[i]` is the head, read now; `None` when `objects[i]` was read
    /// whole (or as far as it is ever read) already.
    pub fn whole(&self, i: usize) -> Option<Result<SourceObject, HeadMismatch>> {
        let at = self.deferred.binary_search_by_key(&i, |(j, _)| *j).ok()?;
        let (head, (_, doc)) = (self.objects.get(i)?, self.deferred.get(at)?);
        let mut read = doc.read();
        let whole = read.objects.pop();
        let alone = read.objects.is_empty() && read.errors.is_empty() && read.skipped == 0;
        Some(
            whole
                .filter(|w| alone && same_head(head, w))
                .ok_or(HeadMismatch),
        )
    }

    /// Reads every document read as its head only whole, in place: the inputs are then those that reading
    /// them whole at once gives.
    pub fn read_deferred(&mut self) {
        let mut deferred = std::mem::take(&mut self.deferred).into_iter().peekable();
        let heads = std::mem::take(&mut self.objects);
        for (i, head) in heads.into_iter().enumerate() {
            match deferred.next_if(|(j, _)| *j == i) {
                Some((_, doc)) => {
                    let read = doc.read();
                    self.objects.extend(read.objects);
                    self.errors.extend(read.errors);
                    self.skipped += read.skipped;
                }
                None => self.objects.push(head),
            }
        }
    }
}

/// Whether `whole` is the object `head` was read as: the same place, `apiVersion`, `kind` and `metadata`.
fn same_head(head: &SourceObject, whole: &SourceObject) -> bool {
    let same = |k: &str| head.value.get(k) == whole.value.get(k);
    head.location == whole.location && same("apiVersion") && same("kind") && same("metadata")
}

/// `f` over `items` on every core (`std::thread::available_parallelism`), results in the order of `items`;
/// each thread hands `f` its own `state` (made by `init`) for every item it takes.
fn parallel_map<T: Sync, S, R: Send>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len());
    if threads <= 1 {
        let mut state = init();
        return items.iter().map(|item| f(&mut state, item)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        let mut state = init();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(&mut state, item)));
        }
    };
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
        for h in handles {
            // The parser does not panic; if it did, the panic goes on as it would without threads.
            let done = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (i, r) in done {
                slots[i] = Some(r);
            }
        }
    });
    slots.into_iter().flatten().collect()
}

fn read_file(path: &Path, reading: Reading, buffer: &mut Vec<u8>, inputs: &mut Inputs) {
    let name = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(f) => {
            // Read into a buffer of the file's size: no doubling and copying of a growing one.
            let size = f.metadata().map_or(0, |m| m.len()).min(MAX_INPUT_BYTES) + 1;
            let capacity = usize::try_from(size).unwrap_or(0);
            read_source(&name, f, capacity, reading, buffer, inputs);
        }
        Err(e) => inputs.errors.push(InputError {
            file: Arc::from(name),
            line: 0,
            message: format!("cannot read file: {e}"),
        }),
    }
}

/// Reads at most [`MAX_INPUT_BYTES`] (plus one, to tell that there was more) into `bytes` (emptied first)
/// and parses them. A `capacity` of 0 means standard input (of unknown size); a file gives its size (plus
/// one).
fn read_source(
    name: &str,
    source: impl Read,
    capacity: usize,
    reading: Reading,
    bytes: &mut Vec<u8>,
    inputs: &mut Inputs,
) {
    let stdin = capacity == 0;
    bytes.clear();
    bytes.reserve(capacity);
    let what = if stdin { "standard input" } else { "file" };
    let error = |message: String| InputError {
        file: Arc::from(name),
        line: 0,
        message,
    };
    if let Err(e) = source.take(MAX_INPUT_BYTES + 1).read_to_end(bytes) {
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
        Ok(text) => parse::parse_text_reading(name, &text, stdin, reading, inputs),
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
    fn kinds_read_later_are_heads_until_read_whole_and_then_what_reading_them_whole_at_first_gives()
    {
        use crate::conformance::engine::{read_when_evaluated, reads_whole};
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance");
        let read = |later| {
            let reading = Reading {
                wanted: Some(reads_whole),
                later,
            };
            read_paths_reading(std::slice::from_ref(&fixtures), std::io::empty(), reading)
        };
        let (at_first, mut later) = (read(None), read(Some(read_when_evaluated)));
        assert!(later.deferred.len() > 10, "{} heads", later.deferred.len());
        let (mut read_whole, mut mismatches) = (Vec::new(), Vec::new());
        for (i, head) in later.objects.iter().enumerate() {
            match later.whole(i) {
                None => read_whole.push(head.clone()),
                Some(Ok(whole)) => {
                    let keys: Vec<&String> = head.value.as_object().unwrap().keys().collect();
                    assert_eq!(keys, ["apiVersion", "kind", "metadata"], "{:?}", head.value);
                    read_whole.push(whole);
                }
                Some(Err(HeadMismatch)) => mismatches.push(head.value["metadata"]["name"].clone()),
            }
        }
        // The ConfigMap of `broken/mixed.yaml` whose data does not parse.
        assert_eq!(mismatches, ["broken"]);
        assert_eq!(at_first.errors.len(), 1, "{:?}", at_first.errors);
        assert!(later.errors.is_empty(), "{:?}", later.errors);
        read_whole.retain(|o| o.value["metadata"]["name"] != "broken");
        assert_eq!(read_whole, at_first.objects);
        later.read_deferred();
        assert!(later.deferred.is_empty());
        assert_eq!(later.objects, at_first.objects);
        assert_eq!(later.errors, at_first.errors);
        assert_eq!(later.skipped, at_first.skipped);
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
