//! `livedesk check`: every problem of every file, in one run.

use std::path::PathBuf;
use std::process::ExitCode;

use livedesk::config;
use livedesk::diagnostics::{self, Code, Finding};
use livedesk::plugins;

use super::Format;

pub fn run(files: &[PathBuf], format: Format, deny_warnings: bool) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut reports = Vec::new();
    for file in files {
        let loaded = config::load(file)?;
        let mut findings = loaded.findings;
        // Plugins are loaded (compiled, checked against their world) only
        // once the file itself is sound: `config` is absent when it has
        // errors.
        if let Some(config) = &loaded.config {
            if let Err(plugin_findings) = plugins::load(config, plugins::Purpose::Check) {
                findings.extend(plugin_findings);
            }
        }
        let summary = loaded.config.as_ref().map(|c| {
            let rules: usize = c.channels.iter().map(|ch| ch.rules.len()).sum();
            format!(
                "{} channel(s), {} agent(s), {rules} rule(s), {} test(s)",
                c.channels.len(),
                c.agents.len(),
                c.scenarios.len()
            )
        });
        let sources = loaded.sources;
        let (errors, warnings) = diagnostics::count(&findings);
        failed |= errors > 0 || (deny_warnings && warnings > 0);
        match format {
            Format::Human => {
                eprint!("{}", diagnostics::render_human(&sources, &findings));
                println!("{}: {}", file.display(), verdict(&findings, summary));
            }
            Format::Json => reports.push(diagnostics::render_json(&sources, &findings)),
        }
    }
    if format == Format::Json {
        // One document per file, in a JSON array.
        let values: Vec<serde_json::Value> = reports
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect();
        let files: Vec<_> = files.iter().map(|f| f.display().to_string()).collect();
        let doc: Vec<_> = files
            .iter()
            .zip(values)
            .map(|(file, mut report)| {
                if let Some(obj) = report.as_object_mut() {
                    obj.insert("path".into(), serde_json::Value::String(file.clone()));
                }
                report
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `livedesk check --explain CODE`: what a code means, with an example.
pub fn explain(code: &str) -> anyhow::Result<ExitCode> {
    if code == "all" {
        let pages: Vec<String> = Code::ALL.iter().map(|c| c.render_explanation()).collect();
        print!("{}", pages.join("\n"));
        return Ok(ExitCode::SUCCESS);
    }
    match Code::parse(code) {
        Some(code) => {
            print!("{}", code.render_explanation());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let names = Code::ALL.iter().map(|c| c.as_str());
            let hint = diagnostics::did_you_mean(code, names)
                .map(|close| format!("; did you mean `{close}`?"))
                .unwrap_or_default();
            eprintln!("error: no finding has the code `{code}`{hint}");
            Ok(ExitCode::from(2))
        }
    }
}

fn verdict(findings: &[Finding], summary: Option<String>) -> String {
    let (errors, warnings) = diagnostics::count(findings);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings, summary) {
        (0, 0, Some(s)) => format!("ok ({s})"),
        (0, w, Some(s)) => format!("ok with {} ({s})", plural(w, "warning")),
        (e, w, _) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}
