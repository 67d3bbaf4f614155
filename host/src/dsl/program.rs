//! Reading a configuration from disk: the root file and everything it
//! includes, each parsed once, with include cycles reported.

use std::path::{Path, PathBuf};

use super::ast::{File, Item};
use super::{Error, parse};
use crate::diagnostics::{Code, Finding};
use crate::source::{FileId, Sources, Span};

/// Files larger than this are refused: a routing configuration is text
/// written by people, and the cap keeps spans within `u32`.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The parsed files of one configuration, root first, then includes in the
/// order they were first reached.
#[derive(Debug, Clone)]
pub struct Program {
    pub sources: Sources,
    pub files: Vec<(FileId, File)>,
}

impl Program {
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.files.iter().flat_map(|(_, f)| f.items.iter())
    }
}

/// A configuration that could be read but not parsed: the sources (so the
/// findings can be shown with snippets) and the findings.
#[derive(Debug)]
pub struct Rejected {
    pub sources: Sources,
    pub findings: Vec<Finding>,
}

/// Loads `root` and its includes. I/O failure on the root is an [`Error`];
/// every other problem is a finding in [`Rejected`].
pub fn load(root: &Path) -> Result<Result<Program, Rejected>, Error> {
    let text = read(root).map_err(|source| Error::Io {
        path: root.to_path_buf(),
        source,
    })?;
    Ok(load_text(root, text))
}

/// Like [`load`], with the root's text already in hand (includes still come
/// from disk, relative to `root`).
pub fn load_text(root: &Path, text: String) -> Result<Program, Rejected> {
    let mut loader = Loader {
        sources: Sources::new(),
        files: Vec::new(),
        findings: Vec::new(),
        stack: Vec::new(),
    };
    let id = loader.sources.add(root, text);
    loader.visit(id, canonical(root));
    if loader.findings.is_empty() {
        Ok(Program {
            sources: loader.sources,
            files: loader.files,
        })
    } else {
        Err(Rejected {
            sources: loader.sources,
            findings: loader.findings,
        })
    }
}

struct Loader {
    sources: Sources,
    files: Vec<(FileId, File)>,
    findings: Vec<Finding>,
    /// The chain of includes being followed, for cycle detection.
    stack: Vec<(PathBuf, Option<Span>)>,
}

impl Loader {
    fn visit(&mut self, id: FileId, key: PathBuf) {
        let file = match parse(id, self.sources.text(id)) {
            Ok(file) => file,
            Err(mut findings) => {
                self.findings.append(&mut findings);
                return;
            }
        };
        let includes: Vec<_> = file
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Include(path) => Some(path.clone()),
                _ => None,
            })
            .collect();
        self.files.push((id, file));
        let dir = self
            .sources
            .path(id)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        self.stack.push((key, None));
        for include in includes {
            let path = dir.join(&include.value);
            let key = canonical(&path);
            if let Some(start) = self.stack.iter().position(|(k, _)| *k == key) {
                let mut finding = Finding::error(
                    Code::IncludeCycle,
                    format!("include cycle through `{}`", include.value),
                )
                .at(
                    include.span,
                    "this include leads back to a file that is already being read",
                )
                .help("remove one of the includes in the cycle");
                for (_, at) in &self.stack[start + 1..] {
                    if let Some(at) = at {
                        finding = finding.related(*at, "included here");
                    }
                }
                self.findings.push(finding);
                continue;
            }
            if self
                .files
                .iter()
                .any(|(fid, _)| canonical(self.sources.path(*fid)) == key)
            {
                continue; // already read through another include: once is enough
            }
            match read(&path) {
                Ok(text) => {
                    let child = self.sources.add(&path, text);
                    if let Some(top) = self.stack.last_mut() {
                        top.1 = Some(include.span);
                    }
                    self.visit(child, key);
                }
                Err(e) => self.findings.push(
                    Finding::error(
                        Code::IncludeUnreadable,
                        format!("cannot read `{}`: {e}", path.display()),
                    )
                    .at(include.span, "included here")
                    .help("include paths are relative to the file that includes them"),
                ),
            }
        }
        self.stack.pop();
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn read(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    std::fs::read_to_string(path)
}
