//! An AI agent backed by any OpenAI-compatible Chat Completions API.
//!
//! Sends the conversation (system prompt, then the recent messages with
//! their roles) to `{base_url}/chat/completions` and returns the model's
//! reply. The model is offered one tool, `handoff`; when it calls it, or
//! when the API cannot be reached or fails, the conversation goes to
//! human agents. Config:
//!
//! - `api_key` (use `env("OPENAI_API_KEY")` in the `.livedesk` file)
//! - `base_url` (default `https://api.openai.com/v1`; any compatible server)
//! - `model` (default `gpt-4o-mini`), `system_prompt`, `temperature`, `max_tokens`

wit_bindgen::generate!({
    path: "../../wit",
    world: "agent-plugin",
    // The `wasi:http` imports and the `wasi:io` types they use.
    generate_all,
});

mod chat;
mod transport;

use exports::livedesk::plugin::agent::{Action, Guest};
use livedesk::plugin::host::{self, Level};
use livedesk::plugin::types::Context;

struct GptAgent;

impl Guest for GptAgent {
    fn respond(context: Context) -> Result<Action, String> {
        let settings = chat::Settings::from_host()?;
        let request = chat::request(&settings, &context);
        let body = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        let url = format!(
            "{}/chat/completions",
            settings.base_url.trim_end_matches('/')
        );
        let response = match transport::post_json(&url, settings.api_key.as_deref(), &body) {
            Ok(response) => response,
            Err(e) => {
                host::log(
                    Level::Warn,
                    &format!("cannot reach the language model: {e}"),
                );
                return Ok(Action::HandOff(format!(
                    "the AI agent could not reach its language model ({e})"
                )));
            }
        };
        if !(200..300).contains(&response.status) {
            host::log(
                Level::Warn,
                &format!("language model answered HTTP {}", response.status),
            );
            return Ok(Action::HandOff(format!(
                "the AI agent's language model failed (HTTP {})",
                response.status
            )));
        }
        match chat::action(&response.body) {
            Ok(action) => Ok(action),
            Err(e) => {
                host::log(
                    Level::Warn,
                    &format!("unusable answer from the language model: {e}"),
                );
                Ok(Action::HandOff(format!(
                    "the AI agent's language model gave an unusable answer ({e})"
                )))
            }
        }
    }
}

export!(GptAgent);
