//! Showing findings: rustc-style text with a caret snippet for people, JSON
//! for scripts and editors.

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, Chars, Config};
use serde::Serialize;

use super::{Finding, Severity};
use crate::source::Sources;

/// Renders findings as text:
///
/// ```text
/// error: unknown agent `alise@acme.test`
///   --> acme.livedesk:12:18
///    |
/// 12 |     assign agent "alise@acme.test"
///    |                  ^^^^^^^^^^^^^^^^^ no agent has this name
///    |
///    = help: did you mean "alice@acme.test"?
/// ```
pub fn render_human(sources: &Sources, findings: &[Finding]) -> String {
    let mut files = SimpleFiles::new();
    for (_, file) in sources.iter() {
        files.add(file.path.display().to_string(), file.text.as_str());
    }
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut out = String::new();
    for finding in findings {
        let diagnostic = to_codespan(finding);
        match term::emit_into_string(&config, &files, &diagnostic) {
            Ok(text) => out.push_str(&text),
            // A span that does not fit its file is our bug; still say what is wrong.
            Err(_) => out.push_str(&format!(
                "{}: {}\n",
                severity_word(finding.severity),
                finding.message
            )),
        }
    }
    out
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn to_codespan(finding: &Finding) -> Diagnostic<usize> {
    let diagnostic = match finding.severity {
        Severity::Error => Diagnostic::error(),
        Severity::Warning => Diagnostic::warning(),
    };
    let mut labels = Vec::new();
    if let Some(span) = finding.span {
        labels
            .push(Label::primary(span.file.0 as usize, span.range()).with_message(&finding.label));
    }
    for (span, text) in &finding.related {
        labels.push(Label::secondary(span.file.0 as usize, span.range()).with_message(text));
    }
    let notes = finding
        .help
        .iter()
        .map(|help| format!("help: {help}"))
        .collect();
    diagnostic
        .with_message(&finding.message)
        .with_labels(labels)
        .with_notes(notes)
}

#[derive(Serialize)]
struct JsonReport<'a> {
    errors: usize,
    warnings: usize,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    severity: Severity,
    code: &'a str,
    message: &'a str,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    label: &'a str,
    help: Option<&'a str>,
}

/// Renders findings as one JSON document with 1-based lines and columns.
pub fn render_json(sources: &Sources, findings: &[Finding]) -> String {
    let (errors, warnings) = super::count(findings);
    let findings = findings
        .iter()
        .map(|f| {
            let located = f.span.and_then(|span| {
                let file = sources.get(span.file)?;
                let (line, column) = file.line_col(span.start as usize);
                let (end_line, end_column) = file.line_col(span.end as usize);
                Some((
                    file.path.display().to_string(),
                    line,
                    column,
                    end_line,
                    end_column,
                ))
            });
            JsonFinding {
                severity: f.severity,
                code: f.code.as_str(),
                message: &f.message,
                file: located.as_ref().map(|l| l.0.clone()),
                line: located.as_ref().map(|l| l.1),
                column: located.as_ref().map(|l| l.2),
                end_line: located.as_ref().map(|l| l.3),
                end_column: located.as_ref().map(|l| l.4),
                label: &f.label,
                help: f.help.as_deref(),
            }
        })
        .collect();
    let report = JsonReport {
        errors,
        warnings,
        findings,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
