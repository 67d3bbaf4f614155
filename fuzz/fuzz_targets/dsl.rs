//! `livedesk check` on arbitrary text: parse (with includes refused, as the
//! text has no file), validate, render every finding. Nothing may panic or
//! overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livedesk::config;
use livedesk::diagnostics::{render_human, render_json};
use livedesk::dsl;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/nonexistent/fuzz.livedesk");
    match dsl::load_text(path, text.to_owned()) {
        Ok(program) => {
            let validated = config::validate(&program);
            let _ = render_human(&program.sources, &validated.findings);
            let _ = render_json(&program.sources, &validated.findings);
            if validated.config.is_some() {
                // A valid file formats without a panic.
                if let Some((_, file)) = program.files.first() {
                    let _ = dsl::format(file, text);
                }
            }
        }
        Err(rejected) => {
            let _ = render_human(&rejected.sources, &rejected.findings);
        }
    }
});
