//! From text to [`ast::File`]: the pest grammar, then a walk that builds
//! typed nodes with spans and turns grammar failures into findings.

mod errors;
mod values;
mod walk;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest_derive::Parser;

use super::ast::*;
use super::scan;
use crate::diagnostics::{Code, Finding, help_for};
use crate::source::{FileId, Span};
use errors::{grammar_error, is_keyword};
use walk::Walker;

#[derive(Parser)]
#[grammar = "../../grammar/livedesk.pest"]
struct Grammar;

/// Parses one file. Returns the tree, or every problem found in it.
pub fn parse(file: FileId, text: &str) -> Result<File, Vec<Finding>> {
    let scan = scan::scan(file, text);
    if let Some(finding) = scan.too_deep {
        return Err(vec![finding]);
    }
    let mut pairs =
        Grammar::parse(Rule::file, text).map_err(|e| vec![grammar_error(file, text, &e)])?;
    let Some(root) = pairs.next() else {
        return Err(vec![
            Finding::error(Code::Syntax, "empty parse").at(Span::new(file, 0, 0), "here"),
        ]);
    };
    let mut walker = Walker {
        file,
        findings: Vec::new(),
    };
    let items = root
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .filter_map(|p| walker.item(p))
        .collect();
    if walker.findings.is_empty() {
        Ok(File {
            items,
            comments: scan.comments,
        })
    } else {
        Err(walker.findings)
    }
}

/// The children of a node that carry meaning (keywords dropped).
pub(super) fn children(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}
