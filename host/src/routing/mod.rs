//! The routing engine: who handles a new conversation, and why.
//!
//! [`decide`] is a pure function of the configuration, the conversation's
//! data, the instant, and the agents' states: routing rules in file order
//! (first match wins) → the channel's enabled AI agent → human
//! auto-assignment → the queue when nobody is eligible. It defines the two
//! small traits it needs from the outside world — [`ConditionPlugins`] and
//! [`AgentStates`] — and never does I/O itself.

mod assignment;
pub mod attributes;
mod evaluate;
pub mod explain;
pub mod trace;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{
    AgentId, AiAgentId, Channel, ChannelId, ConditionId, Config, Policy, Target, TeamId,
};
use crate::model::Priority;
use crate::model::{AgentState, Contact, Conversation, Message};
use evaluate::{Evaluator, Facts};
pub use trace::{
    Candidate, LeafResult, LeafTrace, LogLevel, PluginLog, PluginOutput, RuleTrace, Selection,
    Trace,
};

/// Everything a decision reads about the conversation.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub config: &'a Config,
    pub channel_id: ChannelId,
    pub channel: &'a Channel,
    pub contact: &'a Contact,
    pub conversation: &'a Conversation,
    /// The message that opened the conversation, if any.
    pub message: Option<&'a Message>,
    pub at: DateTime<Utc>,
}

impl<'a> Input<'a> {
    pub fn new(
        config: &'a Config,
        channel_id: ChannelId,
        contact: &'a Contact,
        conversation: &'a Conversation,
        message: Option<&'a Message>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            config,
            channel_id,
            channel: config.channel(channel_id),
            contact,
            conversation,
            message,
            at,
        }
    }
}

/// Evaluates plugin conditions. The plugin host implements it; a failure
/// makes the condition not match, never the decision fail.
pub trait ConditionPlugins {
    fn evaluate(&self, condition: ConditionId, input: &Input<'_>) -> PluginCall;
}

/// A condition plugin's answer and what the call left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginCall {
    pub result: Result<bool, PluginError>,
    /// Empty for most calls: only a plugin that logs or writes to
    /// standard error leaves something.
    pub output: PluginOutput,
}

impl From<Result<bool, PluginError>> for PluginCall {
    fn from(result: Result<bool, PluginError>) -> Self {
        Self {
            result,
            output: PluginOutput::default(),
        }
    }
}

/// Why a plugin gave no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin host is running")]
    Unavailable,
    #[error("stopped at its time limit of {} ms", .0.as_millis())]
    Timeout(std::time::Duration),
    /// The time limit struck while the plugin was allocating: under a
    /// short limit, an allocation loop runs out of time before memory.
    #[error(
        "stopped at its time limit of {} ms while growing its memory ({:.1} MiB more during the call, {:.1} of its {} MiB limit)",
        .timeout.as_millis(),
        *.grown as f64 / 1048576.0,
        *.peak as f64 / 1048576.0,
        .limit >> 20
    )]
    TimeoutGrowingMemory {
        timeout: std::time::Duration,
        grown: u64,
        peak: u64,
        limit: u64,
    },
    #[error("stopped at its memory limit of {} MiB", .0 >> 20)]
    MemoryLimit(u64),
    #[error("stopped at its host I/O budget of {0} bytes")]
    HostIo(u64),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned an error: {0}")]
    Failed(String),
    /// An agent's action the host cannot carry out (an empty reply).
    #[error("returned a malformed action: {0}")]
    Malformed(String),
}

/// For routing without a plugin host: every plugin condition fails.
pub struct NoPlugins;

impl ConditionPlugins for NoPlugins {
    fn evaluate(&self, _: ConditionId, _: &Input<'_>) -> PluginCall {
        Err(PluginError::Unavailable).into()
    }
}

/// The agents' current states and the round-robin positions.
pub trait AgentStates {
    fn state(&self, agent: AgentId) -> AgentState;
    /// The agent a pool's round robin picked last.
    fn last_picked(&self, pool: Pool) -> Option<AgentId>;
}

/// An in-memory [`AgentStates`]: agents not listed get `default`.
#[derive(Debug, Clone, Default)]
pub struct AgentBoard {
    pub states: HashMap<AgentId, AgentState>,
    pub last_picked: HashMap<Pool, AgentId>,
    pub default: AgentState,
}

impl AgentStates for AgentBoard {
    fn state(&self, agent: AgentId) -> AgentState {
        self.states.get(&agent).copied().unwrap_or(self.default)
    }

    fn last_picked(&self, pool: Pool) -> Option<AgentId> {
        self.last_picked.get(&pool).copied()
    }
}

impl AgentBoard {
    /// Records an assignment the way the daemon would: one more open
    /// conversation, a new last-assigned time, the round-robin position.
    pub fn record(&mut self, decision: &Decision, at: DateTime<Utc>) {
        if let (Outcome::Agent(agent), Some(pool)) = (decision.outcome, decision.pool) {
            let mut state = self.state(agent);
            state.open_conversations = state.open_conversations.saturating_add(1);
            state.last_assigned_at = Some(at);
            self.states.insert(agent, state);
            self.last_picked.insert(pool, agent);
        }
    }
}

/// A set of agents that auto-assignment chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Pool {
    /// The channel's agents.
    Channel(ChannelId),
    Team(TeamId),
    /// One named agent (a rule's `assign agent`).
    Agent(AgentId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Outcome {
    Agent(AgentId),
    AiAgent(AiAgentId),
    /// Nobody eligible now: wait in the pool's queue.
    Queued,
}

/// Which step of the priority order decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "rule", rename_all = "snake_case")]
pub enum Tier {
    Rule(u16),
    AiAgent,
    Human,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub tier: Tier,
    /// The pool a human was (or will be) chosen from.
    pub pool: Option<Pool>,
    pub labels: Vec<String>,
    pub priority: Option<Priority>,
    pub trace: Trace,
}

impl Decision {
    /// The rule that decided, if one did.
    pub fn rule(&self) -> Option<usize> {
        match self.tier {
            Tier::Rule(i) => Some(usize::from(i)),
            _ => None,
        }
    }
}

/// What the rules say about a conversation before anyone is picked: the
/// rules that matched, in order, as far as routing can need them, and the
/// trace of every condition evaluated. Computing it may call plugins and
/// reads no agent state, so it is done before any storage transaction.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Matched rules in file order, up to and including the first that
    /// cannot step aside (every one before it says `otherwise continue`).
    pub matched: Vec<u16>,
    pub trace: Trace,
}

/// Routes one new conversation: [`evaluate`], then [`conclude`].
pub fn decide(
    input: &Input<'_>,
    agents: &dyn AgentStates,
    plugins: &dyn ConditionPlugins,
) -> Decision {
    conclude(input, evaluate(input, plugins), agents)
}

/// The pure part of a decision: the rules' conditions, plugins included.
pub fn evaluate(input: &Input<'_>, plugins: &dyn ConditionPlugins) -> Verdict {
    let channel = input.channel;
    let facts = Facts::new(input);
    let mut trace = Trace {
        revision: input.config.revision.clone(),
        within_hours: facts.within_hours,
        rules: Vec::with_capacity(channel.rules.len()),
        // Most conditions have one to three leaves.
        leaves: Vec::with_capacity(channel.rules.len() * 2),
        selection: None,
        notes: Vec::new(),
    };
    let mut matched = Vec::new();
    for (index, rule) in channel.rules.iter().enumerate() {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        let mut evaluator = Evaluator {
            facts: &facts,
            plugins,
            rule: index,
            leaves: &mut trace.leaves,
            next_leaf: 0,
        };
        let holds = evaluator.eval(&rule.condition);
        trace.rules.push(RuleTrace {
            rule: index,
            matched: holds,
        });
        if !holds {
            continue;
        }
        matched.push(index);
        // Only a rule that may step aside lets later rules matter.
        let may_step_aside = matches!(rule.target, Target::Agent(_) | Target::Team(_))
            && rule.otherwise == crate::model::Fallback::Continue;
        if !may_step_aside {
            break;
        }
    }
    Verdict { matched, trace }
}

/// The stateful part of a decision, run where agents' loads are read
/// under the assignment lock: the first matched rule whose target can take
/// the conversation (or that does not step aside), else the channel's AI
/// agent, else its humans.
pub fn conclude(input: &Input<'_>, verdict: Verdict, agents: &dyn AgentStates) -> Decision {
    let channel = input.channel;
    let Verdict { matched, mut trace } = verdict;

    // 1. Routing rules, in order; the first that matches decides.
    for index in matched {
        let Some(rule) = channel.rules.get(usize::from(index)) else {
            continue;
        };
        let (labels, priority) = (rule.labels.clone(), rule.priority);
        let tier = Tier::Rule(index);
        let (outcome, pool) = match rule.target {
            Target::Agent(agent) => human(input, Pool::Agent(agent), agents, &mut trace),
            Target::Team(team) => human(input, Pool::Team(team), agents, &mut trace),
            Target::Queue => (Outcome::Queued, Some(Pool::Channel(input.channel_id))),
            Target::AiAgent(ai) if input.config.ai_agent(ai).enabled => {
                (Outcome::AiAgent(ai), None)
            }
            Target::AiAgent(ai) => {
                trace.notes.push(format!(
                    "AI agent `{}` is disabled; the channel's human agents take over",
                    input.config.ai_agent(ai).name
                ));
                channel_humans(input, agents, &mut trace)
            }
        };
        let unavailable =
            matches!(rule.target, Target::Agent(_) | Target::Team(_)) && outcome == Outcome::Queued;
        if unavailable && rule.otherwise == crate::model::Fallback::Continue {
            trace.notes.push(format!(
                "rule `{}` matched but its target has nobody free; `otherwise continue` routes on",
                rule.name
            ));
            trace.selection = None;
            continue;
        }
        // Rules after the deciding one were evaluated in case it stepped
        // aside; the trace tells only what decided.
        trace.rules.retain(|r| r.rule <= index);
        trace.leaves.retain(|l| l.rule <= index);
        return Decision {
            outcome,
            tier,
            pool,
            labels,
            priority,
            trace,
        };
    }

    // 2. The channel's AI agent, when it and the channel have it enabled.
    if let Some(ai) = channel.ai_agent {
        if ai.enabled && input.config.ai_agent(ai.agent).enabled {
            return Decision {
                outcome: Outcome::AiAgent(ai.agent),
                tier: Tier::AiAgent,
                pool: None,
                labels: Vec::new(),
                priority: None,
                trace,
            };
        }
        trace.notes.push(format!(
            "AI agent `{}` is disabled",
            input.config.ai_agent(ai.agent).name
        ));
    }

    // 3. Human auto-assignment over the channel's agents.
    let (outcome, pool) = channel_humans(input, agents, &mut trace);
    Decision {
        outcome,
        tier: Tier::Human,
        pool,
        labels: Vec::new(),
        priority: None,
        trace,
    }
}

fn channel_humans(
    input: &Input<'_>,
    agents: &dyn AgentStates,
    trace: &mut Trace,
) -> (Outcome, Option<Pool>) {
    human(input, Pool::Channel(input.channel_id), agents, trace)
}

fn human(
    input: &Input<'_>,
    pool: Pool,
    agents: &dyn AgentStates,
    trace: &mut Trace,
) -> (Outcome, Option<Pool>) {
    let selection = pick_human(input.config, input.channel_id, pool, agents);
    let outcome = selection.picked.map_or(Outcome::Queued, Outcome::Agent);
    trace.selection = Some(selection);
    (outcome, Some(pool))
}

/// Picks a human from `pool` the way routing does, for a conversation of
/// `channel` that waited in the queue, was handed off by an AI agent or is
/// being reassigned.
pub fn pick_human(
    config: &Config,
    channel: ChannelId,
    pool: Pool,
    agents: &dyn AgentStates,
) -> Selection {
    let (policy, members): (Policy, &[AgentId]) = match &pool {
        // One named agent: there is nothing to rotate.
        Pool::Agent(agent) => (Policy::LeastLoad, std::slice::from_ref(agent)),
        Pool::Team(team) => (config.channel(channel).policy, &config.team(*team).agents),
        Pool::Channel(c) => (config.channel(*c).policy, &config.channel(*c).agents),
    };
    assignment::select(config, policy, members, agents, agents.last_picked(pool))
}
