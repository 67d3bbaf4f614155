//! The conversation fixture `explain` routes and `plugin run` hands to a
//! plugin: one JSON format for both, every part optional (documented once,
//! in the README's command-line section).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use livedesk::model::{AgentState, Contact, Conversation, Message};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fixture {
    pub contact: Contact,
    pub conversation: Conversation,
    /// The message being routed or answered.
    pub message: Option<Message>,
    /// Earlier messages, oldest first: what an AI agent sees as the
    /// conversation so far. Routing does not read them.
    pub history: Vec<Message>,
    /// Agents' states for routing; agents not listed are as their block says.
    pub agents: BTreeMap<String, AgentState>,
    pub at: Option<DateTime<Utc>>,
}

impl Fixture {
    /// The fixture in `path`, or an empty one.
    pub fn read(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("reading the fixture {}", path.display()))
    }

    /// `--at` if given, else the fixture's `at`, else now.
    pub fn instant(&self, at: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
        Ok(match at {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .with_context(|| format!("`--at {text}` is not an RFC 3339 time"))?
                .with_timezone(&Utc),
            None => self.at.unwrap_or_else(Utc::now),
        })
    }
}
