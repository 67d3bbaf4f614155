//! The parser and validator never panic: truncated, mutated and hostile
//! input gives findings, never a crash or a stack overflow.

use std::path::{Path, PathBuf};

use livedesk::config;
use livedesk::diagnostics::{render_human, render_json};
use livedesk::dsl::{self, span::Sources};
use proptest::prelude::*;

fn example_texts() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = vec![
        root.join("quickstart.livedesk"),
        root.join("acme.livedesk"),
        root.join("acme/people.livedesk"),
    ];
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.clone(),
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
        })
        .collect()
}

/// What `livedesk check` does with a file, from text to rendered findings.
/// Returns whether the text was accepted.
fn check(path: &Path, text: &str) -> bool {
    match dsl::load_text(path, text.to_string()) {
        Ok(program) => {
            let validated = config::validate(&program);
            let _ = render_human(&program.sources, &validated.findings);
            let _ = render_json(&program.sources, &validated.findings);
            validated.config.is_some()
        }
        Err(rejected) => {
            assert!(!rejected.findings.is_empty(), "rejected without a finding");
            for f in &rejected.findings {
                if let Some(span) = f.span {
                    assert!(span.start <= span.end, "backwards span in {f:?}");
                    let len = rejected.sources.text(span.file).len() as u32;
                    assert!(span.end <= len, "span past the end in {f:?}");
                }
            }
            let _ = render_human(&rejected.sources, &rejected.findings);
            let _ = render_json(&rejected.sources, &rejected.findings);
            false
        }
    }
}

#[test]
fn every_truncation_of_every_example_is_handled() {
    for (path, text) in example_texts() {
        let mut rejected = 0;
        for (cut, _) in text.char_indices() {
            if !check(&path, &text[..cut]) {
                rejected += 1;
            }
        }
        assert!(
            rejected > 0,
            "{}: no truncation was rejected",
            path.display()
        );
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        "channel \"c\" {{ rule \"r\" {{ when {}contact.a == \"x\"{} assign queue }} }}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(!check(Path::new("deep.livedesk"), &deep));
    let nots = format!(
        "channel \"c\" {{ rule \"r\" {{ when {}true assign queue }} }}",
        "not ".repeat(100_000)
    );
    assert!(!check(Path::new("nots.livedesk"), &nots));
    let braces = "{".repeat(1_000_000);
    assert!(!check(Path::new("braces.livedesk"), &braces));
    let long_chain = format!(
        "channel \"c\" {{ rule \"r\" {{ when {} assign queue }} }}",
        vec!["contact.a == \"x\""; 20_000].join(" or ")
    );
    assert!(
        check(Path::new("chain.livedesk"), &long_chain),
        "a long flat chain is fine"
    );
}

#[test]
fn nesting_within_the_limit_is_accepted() {
    let depth = 60;
    let text = format!(
        "channel \"c\" {{ rule \"r\" {{ when {}contact.a == \"x\"{} assign queue }} }}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    assert!(check(Path::new("ok.livedesk"), &text));
}

const NOISE: &[&str] = &[
    "{", "}", "\"", "(", ")", "[", "]", "#", "\\", "..", "-", ",", "\n", "not ", " and ", "24:00",
    "é", "env(", "rule", "0",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..3, 0usize..NOISE.len()), 1..6),
    ) {
        let examples = example_texts();
        let (path, text) = &examples[which % examples.len()];
        let mut text = text.clone();
        for (at, kind, noise) in edits {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
            let i = boundaries[at.index(boundaries.len())];
            match kind {
                0 => text.insert_str(i, NOISE[noise]),
                1 => {
                    if let Some(c) = text[i..].chars().next() {
                        text.replace_range(i..i + c.len_utf8(), "");
                    }
                }
                _ => {
                    if let Some(c) = text[i..].chars().next() {
                        text.replace_range(i..i + c.len_utf8(), NOISE[noise]);
                    }
                }
            }
        }
        check(path, &text);
        assert_formatting_round_trips(path, &text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let mut sources = Sources::new();
        let id = sources.add("any.livedesk", text.clone());
        let _ = dsl::parse(id, &text);
    }

    #[test]
    fn formatting_round_trips_through_layout_changes(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..LAYOUT.len()), 0..12),
    ) {
        let examples = example_texts();
        let (path, text) = &examples[which % examples.len()];
        // Insert layout noise only where a space already stands, so the
        // file keeps parsing: spacing, blank lines and comments.
        let mut text = text.clone();
        for (at, noise) in edits {
            let spaces: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).collect();
            if spaces.is_empty() { break; }
            let i = spaces[at.index(spaces.len())];
            if in_string_or_comment(&text, i) { continue; }
            text.insert_str(i, LAYOUT[noise]);
        }
        assert_formatting_round_trips(path, &text)?;
    }
}

const LAYOUT: &[&str] = &["  ", "\n", "\n\n", "\t", " # a comment\n", "\n# own line\n"];

/// Whether byte `i` of `text` lies inside a string literal or a comment.
fn in_string_or_comment(text: &str, i: usize) -> bool {
    let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
    let mut in_string = false;
    let mut escaped = false;
    for c in text[line_start..i].chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '#' if !in_string => return true,
            _ => {}
        }
    }
    in_string
}

/// If `text` parses, formatting it keeps the tree and every comment, and
/// formatting again changes nothing.
fn assert_formatting_round_trips(path: &Path, text: &str) -> Result<(), TestCaseError> {
    let mut sources = Sources::new();
    let id = sources.add(path, text.to_string());
    let Ok(parsed) = dsl::parse(id, text) else {
        return Ok(());
    };
    let once = dsl::format(&parsed, text);
    let reparsed = dsl::parse(id, &once).map_err(|e| {
        TestCaseError::fail(format!("formatted text does not parse: {e:?}\n{once}"))
    })?;
    prop_assert_eq!(&parsed.items, &reparsed.items);
    let comments = |f: &dsl::ast::File| {
        f.comments
            .iter()
            .map(|c| c.text.clone())
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(comments(&parsed), comments(&reparsed));
    prop_assert_eq!(dsl::format(&reparsed, &once), once);
    Ok(())
}
