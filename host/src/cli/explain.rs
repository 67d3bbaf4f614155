//! `livedesk explain`: one routing decision with its full trace.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use livedesk::greeting;
use livedesk::model::{AgentState, Contact, Conversation, Message};
use livedesk::routing::{self, AgentBoard, Input, explain};
use serde::Deserialize;

use super::Format;

/// The conversation to route, as JSON. Every field is optional; agents not
/// listed are online with nothing open.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Fixture {
    contact: Contact,
    conversation: Conversation,
    message: Option<Message>,
    agents: BTreeMap<String, AgentState>,
    at: Option<DateTime<Utc>>,
}

pub fn run(
    file: &Path,
    channel: &str,
    fixture: Option<&Path>,
    at: Option<&str>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let (Some(config), _) = super::load(file)? else {
        return Ok(ExitCode::from(1));
    };
    let channel_id = super::channel(&config, channel)?;
    let Some(plugins) = super::load_plugins(&config) else {
        return Ok(ExitCode::from(1));
    };
    let fixture: Fixture = match fixture {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("reading the fixture {}", path.display()))?
        }
        None => Fixture::default(),
    };
    let at = match at {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("`--at {text}` is not an RFC 3339 time"))?
            .with_timezone(&Utc),
        None => fixture.at.unwrap_or_else(Utc::now),
    };
    // Agents the fixture does not name start as the daemon starts them.
    let mut board = AgentBoard::default();
    for (index, agent) in config.agents.iter().enumerate() {
        let id = livedesk::config::AgentId(u32::try_from(index).unwrap_or(u32::MAX));
        let state = AgentState {
            availability: agent.availability,
            ..AgentState::default()
        };
        board.states.insert(id, state);
    }
    for (email, state) in &fixture.agents {
        let agent = config
            .agent_by_email(email)
            .with_context(|| format!("the fixture names unknown agent `{email}`"))?;
        board.states.insert(agent, *state);
    }
    let input = Input::new(
        &config,
        channel_id,
        &fixture.contact,
        &fixture.conversation,
        fixture.message.as_ref(),
        at,
    );
    let decision = routing::decide(&input, &board, plugins.as_ref());
    let greeting = greeting::for_new_conversation(input.channel, at);
    match format {
        Format::Human => print!("{}", explain::render_text(&input, &decision, &greeting)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&explain::render_json(&input, &decision, &greeting))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
