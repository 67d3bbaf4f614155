//! `livedesk explain`: one routing decision with its full trace.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use livedesk::greeting;
use livedesk::model::AgentState;
use livedesk::routing::{self, AgentBoard, Input, explain};

use super::Format;
use super::fixture::Fixture;

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
    let fixture = Fixture::read(fixture)?;
    let at = fixture.instant(at)?;
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
