//! The `.livedesk` language as text: grammar binding, syntax tree with spans,
//! parser, include loading and the canonical formatter.
//!
//! This layer knows the shape of the language, not its meaning: it never
//! resolves a name or checks a value. That is `config`'s job.

pub mod ast;
mod format;
mod parser;
mod program;
mod scan;

/// Files and positions, which every layer above the text shares.
pub use crate::source as span;

pub use format::format;
pub use parser::parse;
pub use program::{Program, Rejected, load, load_text};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}
