//! {{name}}: a LiveDesk routing condition. It holds when the message being
//! routed contains the `keyword` from its `config { … }` block, ignoring
//! case. Edit `evaluate` to decide what you need; `context` holds the
//! channel, the contact, the conversation and its latest messages.

// `checked-condition-plugin` is a condition that also checks its config
// when LiveDesk loads it; `generate_all` generates the WASI types too.
wit_bindgen::generate!({ path: "wit", world: "checked-condition-plugin", generate_all });

use exports::livedesk::plugin::condition::Guest;
use exports::livedesk::plugin::config_check::{self, ConfigEntry, ConfigProblem};
use livedesk::plugin::host::{self, Level};
use livedesk::plugin::types::Context;

struct Plugin;

impl Guest for Plugin {
    fn evaluate(context: Context) -> Result<bool, String> {
        // An `Err` is a plugin error: it counts as "no match", and
        // `livedesk test --deny-plugin-errors` fails the test.
        let keyword = host::config("keyword").ok_or("`keyword` is not set")?;
        let Some(message) = context.message else {
            host::log(Level::Debug, "no message to look at");
            return Ok(false);
        };
        let holds = message
            .content
            .to_lowercase()
            .contains(&keyword.to_lowercase());
        host::log(Level::Debug, &format!("looked for {keyword:?}: {holds}"));
        Ok(holds)
    }
}

const KEYS: [&str; 1] = ["keyword"];

impl config_check::Guest for Plugin {
    // Runs when `livedesk check` (or the daemon) loads the plugin: each
    // problem is an error at its key in the `.livedesk` file.
    fn check_config(entries: Vec<ConfigEntry>) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = entries
            .iter()
            .filter(|e| !KEYS.contains(&e.key.as_str()))
            .map(|e| ConfigProblem {
                key: Some(e.key.clone()),
                message: format!("unknown key; the keys are {}", KEYS.join(", ")),
            })
            .collect();
        if !entries.iter().any(|e| e.key == "keyword") {
            problems.push(ConfigProblem {
                key: None,
                message: "`keyword` is required".into(),
            });
        }
        problems
    }
}

export!(Plugin);
