//! Who handles a conversation: applying routing decisions, the durable
//! queue and its draining, hand-offs from AI agents, and reassignment when
//! an assignee does not reply in time.
//!
//! Loads are read from storage inside the transaction that assigns, after
//! [`Tx::lock_assignment`](crate::store::Tx::lock_assignment), so two
//! assignments can never both take an agent's last free seat.

use chrono::Duration;
use serde_json::{Value, json};

use super::Result;
use super::work::{Draft, Work};
use crate::config::{AgentId, ChannelId, Config};
use crate::greeting::Greeting;
use crate::model::{self, AgentState, ConversationStatus, MessageType, Priority};
use crate::routing::{self, AgentBoard, AgentStates, Decision, Input, Outcome, Pool, Selection};
use crate::store::{
    AssigneeFilter, ContactRecord, ConversationFilter, ConversationRecord, DecisionRecord,
    MessageRecord, QueueEntry,
};

/// How a pool is named in storage: stable across config revisions, unlike
/// the ids in a [`Pool`].
pub(super) fn pool_key(config: &Config, pool: Pool) -> String {
    match pool {
        Pool::Channel(c) => format!("channel:{}", config.channel(c).name),
        Pool::Team(t) => format!("team:{}", config.team(t).name),
        Pool::Agent(a) => format!("agent:{}", config.agent(a).email),
    }
}

/// The pool a stored key names in `config`; a pool that no longer exists
/// falls back to the channel's agents.
fn pool_from_key(config: &Config, channel: ChannelId, key: &str) -> Pool {
    let found = match key.split_once(':') {
        Some(("channel", name)) => config.channel_named(name).map(Pool::Channel),
        Some(("team", name)) => config
            .teams
            .iter()
            .position(|t| t.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| Pool::Team(crate::config::TeamId(i))),
        Some(("agent", email)) => config.agent_by_email(email).map(Pool::Agent),
        _ => None,
    };
    found.unwrap_or(Pool::Channel(channel))
}

/// Agents' availability, loads and round-robin positions, read from
/// storage.
pub(super) fn board(work: &mut Work<'_>) -> Result<AgentBoard> {
    work.tx.lock_assignment()?;
    let config = &work.rt.config;
    let counts = work.tx.open_counts()?;
    let mut board = AgentBoard::default();
    for record in work.tx.agents()? {
        if let Some(agent) = config.agent_by_email(&record.email) {
            board.states.insert(
                agent,
                AgentState {
                    availability: record.availability,
                    open_conversations: counts.get(&record.email).copied().unwrap_or(0),
                    last_assigned_at: record.last_assigned_at,
                },
            );
        }
    }
    let mut pools: Vec<Pool> = Vec::new();
    for c in 0..config.channels.len() {
        pools.push(Pool::Channel(ChannelId(u32::try_from(c).unwrap_or(0))));
    }
    for t in 0..config.teams.len() {
        pools.push(Pool::Team(crate::config::TeamId(
            u32::try_from(t).unwrap_or(0),
        )));
    }
    for pool in pools {
        if let Some(email) = work.tx.last_picked(&pool_key(config, pool))? {
            if let Some(agent) = config.agent_by_email(&email) {
                board.last_picked.insert(pool, agent);
            }
        }
    }
    Ok(board)
}

pub(super) fn to_model_contact(c: &ContactRecord) -> model::Contact {
    model::Contact {
        name: c.name.clone(),
        email: c.email.clone(),
        phone_number: c.phone_number.clone(),
        identifier: c.identifier.clone(),
        custom_attributes: c.custom_attributes.clone(),
    }
}

pub(super) fn to_model_conversation(c: &ConversationRecord) -> model::Conversation {
    model::Conversation {
        status: c.status,
        priority: c.priority,
        labels: c.labels.clone(),
        custom_attributes: c.custom_attributes.clone(),
    }
}

pub(super) fn to_model_message(m: &MessageRecord) -> model::Message {
    model::Message {
        content: m.content.clone(),
        message_type: m.message_type,
        content_type: m.content_type.clone(),
        created_at: Some(m.created_at),
    }
}

fn rank(priority: Option<Priority>) -> i64 {
    match priority {
        None => 0,
        Some(Priority::Low) => 1,
        Some(Priority::Medium) => 2,
        Some(Priority::High) => 3,
        Some(Priority::Urgent) => 4,
    }
}

/// What routing reads of a conversation, taken when its first message is
/// stored: the rules are evaluated from it outside any transaction.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub conversation_id: i64,
    /// The inbox, not its channel id: ids follow the configuration, which
    /// a reload may change before the rules run.
    pub inbox_id: i64,
    pub contact: model::Contact,
    pub conversation: model::Conversation,
    pub message: model::Message,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Snapshot {
    pub fn of(
        conversation: &ConversationRecord,
        contact: &ContactRecord,
        message: &MessageRecord,
    ) -> Self {
        Self {
            conversation_id: conversation.id,
            inbox_id: conversation.inbox_id,
            contact: to_model_contact(contact),
            conversation: to_model_conversation(conversation),
            message: to_model_message(message),
            at: message.created_at,
        }
    }

    pub fn input<'a>(&'a self, config: &'a Config, channel: ChannelId) -> Input<'a> {
        Input::new(
            config,
            channel,
            &self.contact,
            &self.conversation,
            Some(&self.message),
            self.at,
        )
    }
}

/// Applies the rules' `verdict` to a conversation not yet routed: picks a
/// human (or the queue) with the loads read under the assignment lock,
/// records the decision, and says whether an AI agent now handles it. The
/// verdict must come from the active configuration.
pub(super) fn apply(
    work: &mut Work<'_>,
    conversation: &mut ConversationRecord,
    snapshot: &Snapshot,
    verdict: routing::Verdict,
) -> Result<bool> {
    let rt = work.rt;
    let channel_id = work.inbox_of(conversation)?.channel;
    let board = board(work)?;
    let input = snapshot.input(&rt.config, channel_id);
    let decision = routing::conclude(&input, verdict, &board);
    let trace = routing::explain::render_json(&input, &decision, &Greeting::None);
    tracing::info!(
        conversation = conversation.id,
        revision = %rt.config.revision,
        outcome = %trace["outcome"],
        "routed"
    );

    let mut changed = Vec::new();
    for label in &decision.labels {
        if !conversation.labels.contains(label) {
            conversation.labels.push(label.clone());
        }
    }
    if !decision.labels.is_empty() {
        changed.push(("labels", Value::Null, json!(conversation.labels)));
    }
    if let Some(priority) = decision.priority {
        conversation.priority = Some(priority);
        changed.push(("priority", Value::Null, json!(priority.as_str())));
    }
    conversation.routed = true;
    work.metrics.decision(tier_name(&decision));
    insert_decision(
        work,
        conversation,
        tier_name(&decision),
        decision.outcome,
        trace,
    )?;

    let ai = match decision.outcome {
        Outcome::Agent(agent) => {
            let pool = decision.pool.unwrap_or(Pool::Agent(agent));
            assign(work, conversation, agent, Some(pool), &mut changed)?;
            false
        }
        Outcome::AiAgent(ai) => {
            let name = rt.config.ai_agent(ai).name.clone();
            conversation.ai_agent = Some(name);
            changed.push(("assignee_type", Value::Null, json!("AgentBot")));
            work.set_status(conversation, ConversationStatus::Pending)?;
            true
        }
        Outcome::Queued => {
            let pool = decision.pool.unwrap_or(Pool::Channel(channel_id));
            enqueue(work, conversation, pool)?;
            false
        }
    };
    work.save(conversation, &changed)?;
    Ok(ai)
}

fn tier_name(decision: &Decision) -> &'static str {
    match decision.tier {
        routing::Tier::Rule(_) => "rule",
        routing::Tier::AiAgent => "ai_agent",
        routing::Tier::Human => "human",
    }
}

/// How an outcome is named in a decision record: `agent:<email>`,
/// `ai_agent:<name>` or `queued`.
fn outcome_name(config: &Config, outcome: Outcome) -> String {
    match outcome {
        Outcome::Agent(a) => format!("agent:{}", config.agent(a).email),
        Outcome::AiAgent(a) => format!("ai_agent:{}", config.ai_agent(a).name),
        Outcome::Queued => "queued".to_owned(),
    }
}

/// Stores one decision about `conversation`, under the active revision.
fn insert_decision(
    work: &mut Work<'_>,
    conversation: &ConversationRecord,
    tier: &str,
    outcome: Outcome,
    trace: Value,
) -> Result<()> {
    let outcome = outcome_name(&work.rt.config, outcome);
    work.tx.insert_decision(&DecisionRecord {
        id: 0,
        conversation_id: conversation.id,
        revision: work.rt.config.revision.to_string(),
        tier: tier.to_owned(),
        outcome,
        trace,
        created_at: work.now,
    })?;
    Ok(())
}

/// A human assignment outside routing (queue, hand-off, reassignment),
/// recorded like a decision.
fn record_selection(
    work: &mut Work<'_>,
    conversation: &ConversationRecord,
    tier: &str,
    why: Option<&str>,
    pool: Pool,
    selection: &Selection,
) -> Result<()> {
    work.metrics.decision(tier);
    let config = &work.rt.config;
    let mut trace = json!({
        "revision": config.revision,
        "at": work.now.to_rfc3339(),
        "pool": pool_key(config, pool),
        "assignment": routing::explain::selection_json(config, selection),
    });
    if let Some(why) = why {
        trace["reason"] = json!(why);
    }
    let outcome = selection.picked.map_or(Outcome::Queued, Outcome::Agent);
    insert_decision(work, conversation, tier, outcome, trace)
}

/// Gives `conversation` to `agent`: open, assigned, timers restarted, the
/// round-robin position moved, an activity message for the record.
pub(super) fn assign(
    work: &mut Work<'_>,
    conversation: &mut ConversationRecord,
    agent: AgentId,
    pool: Option<Pool>,
    changed: &mut Vec<(&'static str, Value, Value)>,
) -> Result<()> {
    let config = &work.rt.config;
    let email = config.agent(agent).email.clone();
    let before = conversation.assignee.replace(email.clone());
    conversation.ai_agent = None;
    conversation.assigned_at = Some(work.now);
    work.tx.set_last_assigned(&email, work.now)?;
    if let Some(pool) = pool {
        work.tx.set_last_picked(&pool_key(config, pool), &email)?;
    }
    work.dequeue(conversation)?;
    changed.push(("assignee_id", json!(before), json!(email)));
    let name = config.agent(agent).display_name.clone();
    work.post(conversation, Draft::activity(format!("Assigned to {name}")))?;
    // A human takes over from an AI agent; a resolved conversation stays
    // resolved.
    if conversation.status == ConversationStatus::Pending {
        work.set_status(conversation, ConversationStatus::Open)?;
    }
    Ok(())
}

pub(super) fn enqueue(
    work: &mut Work<'_>,
    conversation: &mut ConversationRecord,
    pool: Pool,
) -> Result<()> {
    let key = pool_key(&work.rt.config, pool);
    let entry = QueueEntry {
        conversation_id: conversation.id,
        pool: key,
        rank: rank(conversation.priority),
        enqueued_at: work.now,
    };
    work.enqueue(conversation, &entry)?;
    work.post(
        conversation,
        Draft::activity("Waiting for an agent: everyone is busy or away"),
    )?;
    Ok(())
}

/// Hands a conversation from its AI agent to the channel's humans.
pub(super) fn hand_off(
    work: &mut Work<'_>,
    conversation: &mut ConversationRecord,
    reason: &str,
) -> Result<()> {
    let ai = conversation.ai_agent.take().unwrap_or_default();
    work.post(
        conversation,
        Draft::activity(format!("{ai} handed the conversation to a human: {reason}")),
    )?;
    work.set_status(conversation, ConversationStatus::Open)?;
    let mut changed = vec![("assignee_type", json!("AgentBot"), Value::Null)];
    to_humans(work, conversation, "handoff", Some(reason), &mut changed)?;
    work.save(conversation, &changed)
}

/// Gives an open conversation nobody has to the channel's humans: the
/// agent auto-assignment picks, or the queue. Recorded as a decision of
/// `tier`, with `why` when the tier does not say it all.
pub(super) fn to_humans(
    work: &mut Work<'_>,
    conversation: &mut ConversationRecord,
    tier: &str,
    why: Option<&str>,
    changed: &mut Vec<(&'static str, Value, Value)>,
) -> Result<()> {
    let channel = work.inbox_of(conversation)?.channel;
    let pool = Pool::Channel(channel);
    let board = board(work)?;
    let selection = routing::pick_human(&work.rt.config, channel, pool, &board);
    record_selection(work, conversation, tier, why, pool, &selection)?;
    match selection.picked {
        Some(agent) => assign(work, conversation, agent, Some(pool), changed),
        None => enqueue(work, conversation, pool),
    }
}

/// Assigns waiting conversations, best first, while agents have room.
/// Run whenever capacity may have freed: a resolve, a reassignment, an
/// agent coming online.
pub(super) fn drain(work: &mut Work<'_>) -> Result<()> {
    let queue = work.tx.queue()?;
    if queue.is_empty() {
        return Ok(());
    }
    let mut board = board(work)?;
    for entry in queue {
        // Nobody anywhere has room: the rest of the queue keeps waiting.
        if !anyone_free(&work.rt.config, &board) {
            break;
        }
        let Some(mut conversation) = work.tx.conversation(entry.conversation_id)? else {
            work.tx.dequeue(entry.conversation_id)?;
            continue;
        };
        let waiting = conversation.assignee.is_none()
            && matches!(
                conversation.status,
                ConversationStatus::Open | ConversationStatus::Pending
            );
        let Ok(inbox) = work.inbox_of(&conversation) else {
            continue;
        };
        if !waiting {
            work.dequeue(&conversation)?;
            continue;
        }
        let pool = pool_from_key(&work.rt.config, inbox.channel, &entry.pool);
        let selection = routing::pick_human(&work.rt.config, inbox.channel, pool, &board);
        let Some(agent) = selection.picked else {
            continue;
        };
        record_selection(work, &conversation, "queue", None, pool, &selection)?;
        let mut changed = Vec::new();
        assign(work, &mut conversation, agent, Some(pool), &mut changed)?;
        work.save(&mut conversation, &changed)?;
        take_seat(&mut board, agent, work.now, pool);
    }
    Ok(())
}

fn anyone_free(config: &Config, board: &AgentBoard) -> bool {
    config.agents.iter().enumerate().any(|(i, agent)| {
        let state = board.state(AgentId(u32::try_from(i).unwrap_or(u32::MAX)));
        state.availability == model::Availability::Online
            && state.open_conversations < agent.capacity
    })
}

fn take_seat(
    board: &mut AgentBoard,
    agent: AgentId,
    at: chrono::DateTime<chrono::Utc>,
    pool: Pool,
) {
    let mut state = board.state(agent);
    state.open_conversations = state.open_conversations.saturating_add(1);
    state.last_assigned_at = Some(at);
    board.states.insert(agent, state);
    board.last_picked.insert(pool, agent);
}

/// Agent states with one agent left out, to reassign away from them.
struct Without<'a> {
    board: &'a AgentBoard,
    agent: AgentId,
}

impl AgentStates for Without<'_> {
    fn state(&self, agent: AgentId) -> AgentState {
        let mut state = self.board.state(agent);
        if agent == self.agent {
            state.availability = model::Availability::Offline;
        }
        state
    }

    fn last_picked(&self, pool: Pool) -> Option<AgentId> {
        self.board.last_picked(pool)
    }
}

/// Reassigns open conversations whose assignee has not replied within the
/// channel's `reassign_after`; the timer restarts with the new assignee.
/// Returns how many were reassigned.
pub(super) fn reassign_overdue(work: &mut Work<'_>) -> Result<usize> {
    let mut moved = 0;
    for inbox in &work.rt.inboxes {
        let channel = work.rt.config.channel(inbox.channel);
        let Some(after) = channel.reassign_after else {
            continue;
        };
        let after = Duration::from_std(after).unwrap_or(Duration::MAX);
        let overdue = work.tx.conversations(&ConversationFilter {
            status: Some(ConversationStatus::Open),
            assignee: Some(AssigneeFilter::Assigned),
            inbox_id: Some(inbox.inbox.id),
            assigned_before: Some(work.now - after),
            // Every instance runs this timer: each takes what no other is
            // working on.
            claim: true,
            ..ConversationFilter::default()
        })?;
        for mut conversation in overdue {
            let Some(assigned_at) = conversation.assigned_at else {
                continue;
            };
            let replied = conversation
                .last_agent_reply_at
                .is_some_and(|reply| reply >= assigned_at);
            if replied {
                continue;
            }
            let Some(current) = conversation
                .assignee
                .as_deref()
                .and_then(|email| work.rt.config.agent_by_email(email))
            else {
                continue;
            };
            let board = board(work)?;
            let pool = Pool::Channel(inbox.channel);
            let others = Without {
                board: &board,
                agent: current,
            };
            let selection = routing::pick_human(&work.rt.config, inbox.channel, pool, &others);
            let Some(agent) = selection.picked else {
                continue;
            };
            record_selection(work, &conversation, "reassign", None, pool, &selection)?;
            let minutes = after.num_minutes();
            work.post(
                &mut conversation,
                Draft::activity(format!(
                    "No agent reply within {minutes} minutes; reassigning"
                )),
            )?;
            let mut changed = Vec::new();
            assign(work, &mut conversation, agent, Some(pool), &mut changed)?;
            work.save(&mut conversation, &changed)?;
            moved += 1;
        }
    }
    if moved > 0 {
        drain(work)?;
    }
    Ok(moved)
}

/// Whether a message counts as an agent's reply for timers and reports.
pub(super) fn is_agent_reply(message_type: MessageType, private: bool) -> bool {
    message_type == MessageType::Outgoing && !private
}

/// Whether `agent` still works `channel`: in its `agents`, or reachable
/// through one of its rules (an agent or a team a rule assigns to).
fn works_channel(config: &Config, channel: ChannelId, agent: AgentId) -> bool {
    let channel = config.channel(channel);
    channel.agents.contains(&agent)
        || channel.rules.iter().any(|rule| match rule.target {
            crate::config::Target::Agent(a) => a == agent,
            crate::config::Target::Team(t) => config.team(t).agents.contains(&agent),
            crate::config::Target::AiAgent(_) | crate::config::Target::Queue => false,
        })
}

/// After a reload: conversations still with an agent who left their
/// channel (removed from the configuration, or from the channel and its
/// rules' targets) go to the channel's humans again, or the queue, with
/// a decision saying why. Returns how many moved.
pub(super) fn reassign_departed(work: &mut Work<'_>) -> Result<usize> {
    let mut moved = 0;
    for inbox in &work.rt.inboxes {
        let assigned = work.tx.conversations(&ConversationFilter {
            assignee: Some(AssigneeFilter::Assigned),
            inbox_id: Some(inbox.inbox.id),
            claim: true,
            ..ConversationFilter::default()
        })?;
        for mut conversation in assigned {
            if conversation.status == ConversationStatus::Resolved {
                continue;
            }
            let Some(email) = conversation.assignee.clone() else {
                continue;
            };
            let stays = work
                .rt
                .config
                .agent_by_email(&email)
                .is_some_and(|agent| works_channel(&work.rt.config, inbox.channel, agent));
            if stays {
                continue;
            }
            let why = format!("{email} no longer works this channel");
            work.post(
                &mut conversation,
                Draft::activity(format!("{why}; routing again")),
            )?;
            conversation.assignee = None;
            conversation.assigned_at = None;
            let mut changed = vec![("assignee_id", json!(email), Value::Null)];
            // A snoozed conversation is routed again when it wakes.
            if conversation.status != ConversationStatus::Snoozed {
                to_humans(
                    work,
                    &mut conversation,
                    "departed",
                    Some(&why),
                    &mut changed,
                )?;
            }
            work.save(&mut conversation, &changed)?;
            moved += 1;
        }
    }
    Ok(moved)
}
