//! Hostile test plugin: an AI agent that fails in the way the customer's
//! message names — `trap` panics (after a few lines on stderr), `loop`
//! never returns, `empty` replies with nothing, `flood` replies with more
//! than the host sends on, `shrug` hands off without a reason. Anything
//! else gets a normal reply. Each failure must hand the conversation to
//! humans with the reason shown only to them.

wit_bindgen::generate!({ path: "../../../wit", world: "agent-plugin", generate_all });

use exports::livedesk::plugin::agent::{Action, Guest};
use livedesk::plugin::host::{Level, log};
use livedesk::plugin::types::Context;

struct AgentMisbehave;

impl Guest for AgentMisbehave {
    fn respond(context: Context) -> Result<Action, String> {
        let text = context.message.map(|m| m.content).unwrap_or_default();
        log(Level::Info, &format!("asked to {text}"));
        match text.as_str() {
            "trap" => {
                eprintln!("agent-misbehave: about to fail");
                eprintln!("agent-misbehave: state = {{ step: 2 }}");
                panic!("this agent always fails on `trap`")
            }
            "loop" => {
                let mut n = context.now;
                loop {
                    n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "empty" => Ok(Action::Reply(String::new())),
            "flood" => Ok(Action::Reply("a".repeat(20_000))),
            "shrug" => Ok(Action::HandOff("  ".into())),
            _ => Ok(Action::Reply(format!("all fine: {text}"))),
        }
    }
}

export!(AgentMisbehave);
