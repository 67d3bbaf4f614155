//! `test` blocks after validation: a routing scenario and what it must give.

use chrono::{DateTime, Utc};

use super::{AgentId, AiAgentId, ChannelId, ConditionId, TeamId};
use crate::model::Priority;
use crate::model::{Availability, Contact, Conversation, Message};
use crate::source::Span;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub channel: ChannelId,
    pub at: DateTime<Utc>,
    pub contact: Contact,
    pub conversation: Conversation,
    pub message: Option<Message>,
    /// Agents not listed are online with no open conversations.
    pub agents: Vec<AgentFixture>,
    pub expectations: Vec<(Expectation, Span)>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy)]
pub struct AgentFixture {
    pub agent: AgentId,
    pub availability: Availability,
    pub open_conversations: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Agent(AgentId),
    Team(TeamId),
    AiAgent(AiAgentId),
    Queued,
    /// Index of the rule in its channel.
    Rule(usize),
    NoRule,
    Welcome,
    Unavailable,
    NoGreeting,
    Label(String),
    Priority(Priority),
    /// The condition plugin was called and answered every time (`ok`), or
    /// failed at least once (`error`).
    Plugin {
        condition: ConditionId,
        ok: bool,
    },
}
