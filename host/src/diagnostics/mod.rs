//! Findings about `.livedesk` files — errors and warnings with a location,
//! a label and a help line — and how they are shown to people and scripts.
//!
//! Every stage that reads configuration (parsing, validation, plugin loading)
//! reports through [`Finding`], so `livedesk check` can show all problems of
//! every stage in one run and in one style.

mod code;
mod render;
mod suggest;

pub use code::Code;
pub use render::{render_human, render_json};
pub use suggest::{did_you_mean, help_for};

use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in the configuration.
///
/// Messages are short and lowercase with the offending input in backticks:
/// "unknown agent `bob@acme.test`".
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    /// What it is about; a stable, kebab-case name for scripts
    /// (`unknown-agent`).
    pub code: Code,
    pub message: String,
    /// Where the problem is, and what to say under it.
    pub span: Option<Span>,
    pub label: String,
    /// Other places that explain the problem (a first definition, a cycle).
    pub related: Vec<(Span, String)>,
    pub help: Option<String>,
}

impl Finding {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            related: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Counts of a list of findings.
pub fn count(findings: &[Finding]) -> (usize, usize) {
    let errors = findings.iter().filter(|f| f.is_error()).count();
    (errors, findings.len() - errors)
}
