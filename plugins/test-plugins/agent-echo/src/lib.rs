//! Test plugin: an AI agent that echoes the message. Loaded as a routing
//! condition it must be rejected: it exports the wrong world.

wit_bindgen::generate!({ path: "../../../wit", world: "agent-plugin", generate_all });

use exports::livedesk::plugin::agent::{Action, Guest};
use livedesk::plugin::types::Context;

struct AgentEcho;

impl Guest for AgentEcho {
    fn respond(context: Context) -> Result<Action, String> {
        let text = context.message.map(|m| m.content).unwrap_or_default();
        Ok(Action::Reply(format!("you said: {text}")))
    }
}

export!(AgentEcho);
