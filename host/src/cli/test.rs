//! `livedesk test`: the `test` blocks, reported like a test runner.

use std::path::PathBuf;
use std::process::ExitCode;

use livedesk::scenarios;

/// Runs the tests of `files`; with `deny_plugin_errors`, a test in which a
/// plugin failed unexpectedly fails.
pub fn run(files: &[PathBuf], deny_plugin_errors: bool) -> anyhow::Result<ExitCode> {
    let (mut passed, mut failed, mut errors) = (0usize, 0usize, 0usize);
    for file in files {
        let (config, found) = super::load(file)?;
        let Some(config) = config else {
            errors += found.max(1);
            continue;
        };
        let Some(plugins) = super::load_plugins(&config) else {
            errors += 1;
            continue;
        };
        let results = scenarios::run(&config, plugins.as_ref());
        println!("running {} tests from {}", results.len(), file.display());
        for result in &results {
            if result.passed(deny_plugin_errors) {
                passed += 1;
                println!("test {} ... ok", result.scenario.name);
                // Passed, but perhaps only because a failing plugin read
                // as "no match": say so.
                for error in &result.plugin_errors {
                    println!(
                        "    warning: {error} (read as no match; `--deny-plugin-errors` fails the test)"
                    );
                }
            } else {
                failed += 1;
                println!("test {} ... FAILED", result.scenario.name);
                let location = config.sources.get(result.scenario.span.file).map(|f| {
                    let (line, col) = f.line_col(result.scenario.span.start as usize);
                    format!("{}:{line}:{col}", f.path.display())
                });
                for failure in &result.failures {
                    println!("    {failure}");
                }
                for error in &result.plugin_errors {
                    println!("    {error}");
                }
                if let Some(location) = location {
                    println!("    --> {location}");
                }
            }
        }
        println!();
    }
    if errors > 0 {
        // The tests of a file with errors did not run: say so, not "0 failed".
        let plural = if errors == 1 { "" } else { "s" };
        println!(
            "test result: FAILED. {errors} configuration error{plural}; {passed} passed; {failed} failed"
        );
        return Ok(ExitCode::from(1));
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!("test result: {verdict}. {passed} passed; {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
