//! Walking folders: every real folder and file once, however many symbolic links lead to it, so that a
//! link to a parent folder neither counts files twice nor runs away.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{InputError, Inputs};

/// The folders and files already taken, by canonical path.
#[derive(Default)]
pub(super) struct Walker {
    dirs: HashSet<PathBuf>,
    files: HashSet<PathBuf>,
}

impl Walker {
    /// The manifest files under `dir` (recursively, sorted by name, hidden entries skipped) not taken yet.
    pub(super) fn files(&mut self, dir: &Path, inputs: &mut Inputs) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut ancestors = Vec::new();
        self.walk(dir, &mut ancestors, &mut out, inputs);
        out
    }

    fn walk(
        &mut self,
        dir: &Path,
        ancestors: &mut Vec<PathBuf>,
        out: &mut Vec<PathBuf>,
        inputs: &mut Inputs,
    ) {
        let canonical = match std::fs::canonicalize(dir) {
            Ok(c) => c,
            Err(e) => return push_error(inputs, dir, &e),
        };
        if ancestors.contains(&canonical) {
            inputs.notes.push(format!(
                "not following {}: it leads back to {}, a folder it is inside (a symbolic-link loop)",
                dir.display(),
                canonical.display()
            ));
            return;
        }
        if !self.dirs.insert(canonical.clone()) {
            inputs.notes.push(format!(
                "not reading {} again: it is {}, read already",
                dir.display(),
                canonical.display()
            ));
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => return push_error(inputs, dir, &e),
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        ancestors.push(canonical);
        for path in entries {
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                self.walk(&path, ancestors, out, inputs);
            } else if is_manifest(&path) && self.take_file(&path) {
                out.push(path);
            }
        }
        ancestors.pop();
    }

    /// Whether the file was not taken yet (by another path or link).
    fn take_file(&mut self, path: &Path) -> bool {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.files.insert(canonical)
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn push_error(inputs: &mut Inputs, dir: &Path, e: &std::io::Error) {
    inputs.errors.push(InputError {
        file: Arc::from(dir.display().to_string()),
        line: 0,
        message: format!("cannot read folder: {e}"),
    });
}
