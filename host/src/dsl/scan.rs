//! A lexical pass that runs before the grammar: it finds comments (which the
//! grammar skips but `fmt` must keep) and refuses nesting deep enough to
//! exhaust the parser's stack.

use super::ast::Comment;
use crate::diagnostics::{Code, Finding};
use crate::source::{FileId, Span};

/// Deepest `(`/`[`/`{` nesting accepted. Real files stay under ten; the bound
/// exists so that hostile input is an error, never a stack overflow.
pub const MAX_NESTING: usize = 64;

pub struct Scan {
    pub comments: Vec<Comment>,
    pub too_deep: Option<Finding>,
}

pub fn scan(file: FileId, text: &str) -> Scan {
    let mut comments = Vec::new();
    let mut too_deep = None;
    let mut depth = 0usize;
    let mut line_has_code = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => line_has_code = false,
            '"' => {
                line_has_code = true;
                // Skip the string; an escape protects the next character. A
                // string never spans lines, so a newline ends it either way.
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' if chars.peek().is_some_and(|&(_, n)| n != '\n') => {
                            chars.next();
                        }
                        '"' => break,
                        '\n' => {
                            line_has_code = false;
                            break;
                        }
                        _ => {}
                    }
                }
            }
            '#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let body = text[i..end].trim_end();
                comments.push(Comment {
                    text: body.to_string(),
                    span: Span::new(file, i, i + body.len()),
                    trailing: line_has_code,
                });
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            }
            '(' | '[' | '{' => {
                line_has_code = true;
                depth += 1;
                if depth > MAX_NESTING && too_deep.is_none() {
                    too_deep = Some(
                        Finding::error(Code::NestingTooDeep, "nesting is too deep")
                            .at(
                                Span::new(file, i, i + 1),
                                format!("more than {MAX_NESTING} levels"),
                            )
                            .help("split the condition into simpler parts"),
                    );
                }
            }
            ')' | ']' | '}' => {
                line_has_code = true;
                depth = depth.saturating_sub(1);
            }
            c if c.is_whitespace() => {}
            _ => line_has_code = true,
        }
    }
    Scan { comments, too_deep }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_comments_but_not_hashes_in_strings() {
        let text = "# head\nagent \"a#b\" { # tail\n  name \"x\\\"#\" }\n";
        let scan = scan(FileId(0), text);
        let found: Vec<_> = scan
            .comments
            .iter()
            .map(|c| (c.text.as_str(), c.trailing))
            .collect();
        assert_eq!(found, [("# head", false), ("# tail", true)]);
    }

    #[test]
    fn refuses_deep_nesting() {
        let text = "(".repeat(MAX_NESTING + 1);
        assert!(scan(FileId(0), &text).too_deep.is_some());
        assert!(scan(FileId(0), &"(".repeat(MAX_NESTING)).too_deep.is_none());
    }
}
