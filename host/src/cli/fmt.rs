//! `livedesk fmt`: the canonical layout, proven safe before anything is
//! written.

use std::path::PathBuf;
use std::process::ExitCode;

use livedesk::diagnostics;
use livedesk::dsl::{self, span::Sources};

pub fn run(files: &[PathBuf], check: bool) -> anyhow::Result<ExitCode> {
    let mut unformatted = false;
    let mut broken = false;
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| dsl::Error::Io {
            path: file.clone(),
            source,
        })?;
        let mut sources = Sources::new();
        let id = sources.add(file, text.clone());
        let parsed = match dsl::parse(id, &text) {
            Ok(parsed) => parsed,
            Err(findings) => {
                eprint!("{}", diagnostics::render_human(&sources, &findings));
                broken = true;
                continue;
            }
        };
        let formatted = dsl::format(&parsed, &text);
        verify(file, &parsed, &formatted)?;
        if formatted == text {
            continue;
        }
        if check {
            println!("would reformat {}", file.display());
            unformatted = true;
        } else {
            std::fs::write(file, &formatted).map_err(|source| dsl::Error::Io {
                path: file.clone(),
                source,
            })?;
            println!("formatted {}", file.display());
        }
    }
    Ok(if broken || unformatted {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The formatted text must parse to the same tree, keep every comment, and
/// be a fixed point; otherwise nothing is written.
fn verify(file: &std::path::Path, before: &dsl::ast::File, formatted: &str) -> anyhow::Result<()> {
    let mut sources = Sources::new();
    let id = sources.add(file, formatted.to_string());
    let after = dsl::parse(id, formatted).map_err(|_| {
        anyhow::anyhow!(
            "formatting {} gave text that does not parse; file left unchanged",
            file.display()
        )
    })?;
    let texts = |f: &dsl::ast::File| {
        f.comments
            .iter()
            .map(|c| c.text.clone())
            .collect::<Vec<_>>()
    };
    if after.items != before.items || texts(&after) != texts(before) {
        anyhow::bail!(
            "formatting {} would change its meaning; file left unchanged",
            file.display()
        );
    }
    if dsl::format(&after, formatted) != formatted {
        anyhow::bail!(
            "formatting {} is not stable; file left unchanged",
            file.display()
        );
    }
    Ok(())
}
