//! `livedesk test`: the `test` blocks, reported like a test runner.

use std::path::PathBuf;
use std::process::ExitCode;

use livedesk::scenarios;

pub fn run(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let (mut passed, mut failed, mut invalid) = (0usize, 0usize, false);
    for file in files {
        let Some(config) = livedesk::daemon::load_reported(file)? else {
            invalid = true;
            continue;
        };
        let Some(plugins) = super::load_plugins(&config) else {
            invalid = true;
            continue;
        };
        let results = scenarios::run(&config, &plugins);
        println!("running {} tests from {}", results.len(), file.display());
        for result in &results {
            if result.passed() {
                passed += 1;
                println!("test {} ... ok", result.scenario.name);
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
                if let Some(location) = location {
                    println!("    --> {location}");
                }
            }
        }
        println!();
    }
    let verdict = if failed == 0 && !invalid {
        "ok"
    } else {
        "FAILED"
    };
    println!("test result: {verdict}. {passed} passed; {failed} failed");
    Ok(if failed > 0 || invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
