//! {{name}}: a LiveDesk AI agent. It answers a message that contains the
//! `keyword` from its `config { … }` block with the configured `answer`,
//! and hands anything else to a human. Edit `respond` to do what you need:
//! to call an HTTP API, use `wasi:http` (through a crate such as
//! `wasi` or `waki`) and list the host in the agent's `allow_hosts`.

// `checked-agent-plugin` is an agent that also checks its config when
// LiveDesk loads it; an agent needs `generate_all` for the `wasi:http` types.
wit_bindgen::generate!({ path: "wit", world: "checked-agent-plugin", generate_all });

use exports::livedesk::plugin::agent::{Action, Guest};
use exports::livedesk::plugin::config_check::{self, ConfigEntry, ConfigProblem};
use livedesk::plugin::host::{self, Level};
use livedesk::plugin::types::Context;

struct Plugin;

impl Guest for Plugin {
    fn respond(context: Context) -> Result<Action, String> {
        // An `Err`, a trap or running out of time hands the conversation to
        // a human, with the reason shown to the agents (not the customer).
        let keyword = host::config("keyword").ok_or("`keyword` is not set")?;
        let answer = host::config("answer").ok_or("`answer` is not set")?;
        let question = context.message.map(|m| m.content).unwrap_or_default();
        host::log(
            Level::Debug,
            &format!("{} earlier messages", context.conversation.recent_messages.len()),
        );
        if question.to_lowercase().contains(&keyword.to_lowercase()) {
            Ok(Action::Reply(answer))
        } else {
            Ok(Action::HandOff(format!("no answer for {question:?}")))
        }
    }
}

const KEYS: [&str; 2] = ["keyword", "answer"];

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
        for required in KEYS {
            if !entries.iter().any(|e| e.key == required) {
                problems.push(ConfigProblem {
                    key: None,
                    message: format!("`{required}` is required"),
                });
            }
        }
        problems
    }
}

export!(Plugin);
