//! Conversations: creation with the greeting, status changes, resolving
//! with its survey, assignment by agents, typing and last-seen marks.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::assignment::{self, drain};
use super::contacts::find;
use super::work::{Draft, Work};
use super::{Desk, Error, MESSAGE_PAGE, Result};
use crate::chatwoot::events::Typist;
use crate::config::{AgentId, TeamId};
use crate::csat;
use crate::greeting;
use crate::model::{Availability, ConversationStatus, CustomAttributes, MessageType};
use crate::routing::{self, Pool};
use crate::store::{
    AssigneeFilter, ContactRecord, ConversationFilter, ConversationRecord, CsatRecord,
    DecisionRecord, MessageRecord, Sender,
};

/// A conversation with what its views show.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub conversation: ConversationRecord,
    pub contact: ContactRecord,
    pub messages: Vec<MessageRecord>,
}

/// How a conversation's status changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub status: ConversationStatus,
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// Which conversations the agent API lists.
#[derive(Debug, Clone, Default)]
pub struct AgentConversationQuery {
    pub status: Option<ConversationStatus>,
    pub label: Option<String>,
    pub priority: Option<crate::model::Priority>,
    /// Oldest first (who has waited longest), instead of newest first.
    pub oldest_first: bool,
    pub assignee: Option<AssigneeFilter>,
    pub inbox_id: Option<i64>,
    /// From 1; 25 a page as in Chatwoot.
    pub page: u32,
}

pub const PAGE_SIZE: u32 = 25;

/// Which messages a conversation's view carries.
#[derive(Debug, Clone, Copy)]
pub(super) enum Thread {
    /// What the customer sees: every chat message, as Chatwoot's public
    /// conversation view shows them.
    Customer,
    /// The newest messages of every kind, for agents.
    Latest(u32),
}

pub(super) fn bundle(
    work: &mut Work<'_>,
    conversation: ConversationRecord,
    thread: Thread,
) -> Result<Bundle> {
    let contact = work.contact(conversation.contact_id)?;
    let messages = match thread {
        Thread::Customer => work.tx.chat_messages(conversation.id, None, None)?,
        Thread::Latest(n) => work.tx.messages(conversation.id, None, n)?,
    };
    Ok(Bundle {
        conversation,
        contact,
        messages,
    })
}

/// The contact `source_id` names in `inbox` and its conversation `id`:
/// what every client API call on a conversation starts from.
pub(super) fn contact_and_conversation(
    work: &mut Work<'_>,
    inbox: i64,
    source_id: &str,
    id: i64,
) -> Result<(ContactRecord, ConversationRecord)> {
    let contact = find(work, inbox, source_id)?;
    let conversation = owned(work, &contact, id)?;
    Ok((contact, conversation))
}

/// The conversation `id` if it belongs to the contact.
fn owned(work: &mut Work<'_>, contact: &ContactRecord, id: i64) -> Result<ConversationRecord> {
    let conversation = work.conversation(id)?;
    if conversation.contact_id != contact.id {
        return Err(Error::NotFound("conversation"));
    }
    Ok(conversation)
}

/// Resolves a conversation: frees its agent's seat for the queue and, if
/// the channel runs CSAT, sends the one survey it will ever get.
pub(super) fn resolve(work: &mut Work<'_>, conversation: &mut ConversationRecord) -> Result<()> {
    if conversation.status == ConversationStatus::Resolved {
        return Ok(());
    }
    conversation.resolved_at = Some(work.now);
    conversation.ai_agent = None;
    work.dequeue(conversation)?;
    work.set_status(conversation, ConversationStatus::Resolved)?;
    let channel = work.channel_of(conversation)?;
    if channel.csat && work.tx.csat(conversation.id)?.is_none() {
        let mut draft = Draft::new(MessageType::Template, Sender::System, csat::SURVEY_TEXT);
        draft.content_type = csat::CONTENT_TYPE;
        let survey = work.post(conversation, draft)?;
        work.tx.insert_csat(&CsatRecord {
            conversation_id: conversation.id,
            message_id: survey.id,
            inbox_id: conversation.inbox_id,
            assignee: conversation.assignee.clone(),
            rating: None,
            feedback: None,
            sent_at: work.now,
            answered_at: None,
        })?;
    }
    drain(work)
}

/// Reopens a resolved or snoozed conversation; one left without anyone
/// goes to the channel's humans.
pub(super) fn reopen(work: &mut Work<'_>, conversation: &mut ConversationRecord) -> Result<()> {
    // Opened by an agent or the customer: an AI agent no longer has it.
    conversation.ai_agent = None;
    work.set_status(conversation, ConversationStatus::Open)?;
    if conversation.assignee.is_none() && conversation.routed {
        let mut changed = Vec::new();
        assignment::to_humans(work, conversation, "reopen", None, &mut changed)?;
        work.save(conversation, &changed)?;
    }
    Ok(())
}

fn change_status(
    work: &mut Work<'_>,
    conversation: &mut ConversationRecord,
    change: StatusChange,
) -> Result<()> {
    match change.status {
        ConversationStatus::Resolved => resolve(work, conversation),
        ConversationStatus::Open => reopen(work, conversation),
        ConversationStatus::Pending => {
            work.set_status(conversation, ConversationStatus::Pending)?;
            drain(work)
        }
        ConversationStatus::Snoozed => {
            conversation.snoozed_until = change.snoozed_until;
            work.set_status(conversation, ConversationStatus::Snoozed)?;
            drain(work)
        }
    }
}

impl Desk {
    /// Starts a conversation for a contact, with the welcome message inside
    /// business hours or the unavailable message outside them.
    pub async fn create_conversation(
        &self,
        inbox_id: i64,
        source_id: String,
        custom_attributes: CustomAttributes,
    ) -> Result<Bundle> {
        self.work(move |work| {
            let contact = find(work, inbox_id, &source_id)?;
            let mut conversation = work.tx.insert_conversation(&ConversationRecord::new(
                uuid::Uuid::new_v4().to_string(),
                inbox_id,
                contact.id,
                custom_attributes.clone(),
                work.now,
            ))?;
            work.conversation_created(&conversation)?;
            let channel = work.channel_of(&conversation)?;
            let greeting = greeting::for_new_conversation(channel, work.now);
            if work.greet(&mut conversation, greeting)? {
                work.save(&mut conversation, &[])?;
            }
            bundle(work, conversation, Thread::Customer)
        })
        .await
    }

    /// A contact's conversations, newest first.
    pub async fn contact_conversations(
        &self,
        inbox_id: i64,
        source_id: String,
    ) -> Result<Vec<Bundle>> {
        self.work(move |work| {
            let contact = find(work, inbox_id, &source_id)?;
            let conversations = work.tx.conversations(&ConversationFilter {
                contact_id: Some(contact.id),
                newest_first: true,
                ..ConversationFilter::default()
            })?;
            conversations
                .into_iter()
                .map(|c| bundle(work, c, Thread::Customer))
                .collect()
        })
        .await
    }

    pub async fn contact_conversation(
        &self,
        inbox_id: i64,
        source_id: String,
        id: i64,
    ) -> Result<Bundle> {
        self.work(move |work| {
            let (_, conversation) = contact_and_conversation(work, inbox_id, &source_id, id)?;
            bundle(work, conversation, Thread::Customer)
        })
        .await
    }

    /// The client API's `toggle_status`: the customer resolves.
    pub async fn resolve_for_contact(
        &self,
        inbox_id: i64,
        source_id: String,
        id: i64,
    ) -> Result<Bundle> {
        self.work(move |work| {
            let (_, mut conversation) = contact_and_conversation(work, inbox_id, &source_id, id)?;
            resolve(work, &mut conversation)?;
            bundle(work, conversation, Thread::Customer)
        })
        .await
    }

    pub async fn typing(&self, inbox_id: i64, source_id: String, id: i64, on: bool) -> Result<()> {
        self.work(move |work| {
            let (_, conversation) = contact_and_conversation(work, inbox_id, &source_id, id)?;
            work.typing(&conversation, on, Typist::Contact)
        })
        .await
    }

    /// An agent starts or stops typing a reply (`private`: a note).
    pub async fn agent_typing(
        &self,
        agent: AgentId,
        id: i64,
        on: bool,
        private: bool,
    ) -> Result<()> {
        self.work(move |work| {
            let email = work.rt.config.agent(agent).email.clone();
            let conversation = work.conversation(id)?;
            work.typing(
                &conversation,
                on,
                Typist::Agent {
                    email: &email,
                    private,
                },
            )
        })
        .await
    }

    pub async fn contact_seen(&self, inbox_id: i64, source_id: String, id: i64) -> Result<()> {
        self.work(move |work| {
            let (_, mut conversation) = contact_and_conversation(work, inbox_id, &source_id, id)?;
            conversation.contact_last_seen_at = Some(work.now);
            work.save(&mut conversation, &[])
        })
        .await
    }

    /// The agent API's listing: a page of conversations and the counts
    /// Chatwoot's `meta` shows.
    pub async fn agent_conversations(
        &self,
        query: AgentConversationQuery,
        me: AgentId,
    ) -> Result<(Vec<Bundle>, Value)> {
        self.work(move |work| {
            let email = work.rt.config.agent(me).email.clone();
            let base = ConversationFilter {
                status: query.status,
                inbox_id: query.inbox_id,
                label: query.label.clone(),
                priority: query.priority,
                ..ConversationFilter::default()
            };
            let count = |work: &mut Work<'_>, assignee| {
                work.tx.count_conversations(&ConversationFilter {
                    assignee,
                    ..base.clone()
                })
            };
            let meta = json!({
                "mine_count": count(work, Some(AssigneeFilter::Agent(email)))?,
                "unassigned_count": count(work, Some(AssigneeFilter::Unassigned))?,
                "assigned_count": count(work, Some(AssigneeFilter::Assigned))?,
                "all_count": count(work, None)?,
            });
            let page = query.page.max(1);
            let conversations = work.tx.conversations(&ConversationFilter {
                assignee: query.assignee.clone(),
                newest_first: !query.oldest_first,
                limit: Some(PAGE_SIZE),
                offset: (page - 1).saturating_mul(PAGE_SIZE),
                ..base
            })?;
            let bundles = conversations
                .into_iter()
                .map(|c| bundle(work, c, Thread::Latest(1)))
                .collect::<Result<Vec<_>>>()?;
            Ok((bundles, meta))
        })
        .await
    }

    pub async fn agent_conversation(&self, id: i64) -> Result<Bundle> {
        self.work(move |work| {
            let conversation = work.conversation(id)?;
            bundle(work, conversation, Thread::Latest(MESSAGE_PAGE))
        })
        .await
    }

    /// The agent API's `toggle_status`; without a status it toggles
    /// between open and resolved, as Chatwoot does.
    pub async fn change_status(&self, id: i64, change: Option<StatusChange>) -> Result<Bundle> {
        self.work(move |work| {
            let mut conversation = work.conversation(id)?;
            let change = change.unwrap_or(StatusChange {
                status: if conversation.status == ConversationStatus::Resolved {
                    ConversationStatus::Open
                } else {
                    ConversationStatus::Resolved
                },
                snoozed_until: None,
            });
            change_status(work, &mut conversation, change)?;
            bundle(work, conversation, Thread::Latest(MESSAGE_PAGE))
        })
        .await
    }

    /// Assigns to an agent (`Some(None)`: unassigns) or to a team, whose
    /// members are then chosen from like a pool (`Some(None)`: the
    /// conversation leaves its team).
    pub async fn assign(
        &self,
        id: i64,
        agent: Option<Option<AgentId>>,
        team: Option<Option<TeamId>>,
    ) -> Result<Bundle> {
        self.work(move |work| {
            let mut conversation = work.conversation(id)?;
            let mut changed = Vec::new();
            if team == Some(None) {
                if let Some(before) = conversation.team.take() {
                    changed.push(("team_id", json!(before), Value::Null));
                }
            }
            if let Some(Some(team)) = team {
                let name = work.rt.config.team(team).name.clone();
                let before = conversation.team.replace(name.clone());
                changed.push(("team_id", json!(before), json!(name)));
                if agent.is_none() {
                    let channel = work.inbox_of(&conversation)?.channel;
                    let board = assignment::board(work)?;
                    let pool = Pool::Team(team);
                    let selection = routing::pick_human(&work.rt.config, channel, pool, &board);
                    match selection.picked {
                        Some(picked) => assignment::assign(
                            work,
                            &mut conversation,
                            picked,
                            Some(pool),
                            &mut changed,
                        )?,
                        // Nobody in the team has room: the conversation
                        // leaves its agent and waits for one of them.
                        None => {
                            if let Some(before) = conversation.assignee.take() {
                                conversation.assigned_at = None;
                                changed.push(("assignee_id", json!(before), Value::Null));
                            }
                            assignment::enqueue(work, &mut conversation, pool)?;
                        }
                    }
                }
            }
            match agent {
                Some(Some(agent)) => {
                    assignment::assign(work, &mut conversation, agent, None, &mut changed)?;
                }
                Some(None) => {
                    let before = conversation.assignee.take();
                    conversation.assigned_at = None;
                    changed.push(("assignee_id", json!(before), Value::Null));
                }
                None => {}
            }
            work.save(&mut conversation, &changed)?;
            drain(work)?;
            bundle(work, conversation, Thread::Latest(MESSAGE_PAGE))
        })
        .await
    }

    pub async fn decisions(&self, id: i64) -> Result<Vec<DecisionRecord>> {
        self.work(move |work| {
            work.conversation(id)?;
            Ok(work.tx.decisions(id)?)
        })
        .await
    }

    /// Sets an agent's availability; coming online drains the queue.
    pub async fn set_availability(&self, agent: AgentId, availability: Availability) -> Result<()> {
        self.work(move |work| {
            let email = work.rt.config.agent(agent).email.clone();
            work.tx.set_availability(&email, availability)?;
            work.availability_changed()?;
            if availability == Availability::Online {
                drain(work)?;
            }
            Ok(())
        })
        .await
    }

    /// Agents with their availability and open conversations.
    pub async fn agent_states(&self) -> Result<Vec<(AgentId, Availability, u32)>> {
        self.work(move |work| {
            let counts = work.tx.open_counts()?;
            let records = work.tx.agents()?;
            Ok(work
                .rt
                .config
                .agents
                .iter()
                .enumerate()
                .map(|(i, agent)| {
                    let availability = records
                        .iter()
                        .find(|r| r.email == agent.email)
                        .map_or(Availability::Offline, |r| r.availability);
                    (
                        AgentId(u32::try_from(i).unwrap_or(u32::MAX)),
                        availability,
                        counts.get(&agent.email).copied().unwrap_or(0),
                    )
                })
                .collect())
        })
        .await
    }

    /// Timers: reassigns conversations whose assignee did not reply in
    /// time and wakes snoozed conversations whose time has come.
    pub async fn run_timers(&self) -> Result<usize> {
        self.work(move |work| {
            let awake = work.tx.conversations(&ConversationFilter {
                status: Some(ConversationStatus::Snoozed),
                snoozed_until_before: Some(work.now),
                claim: true,
                ..ConversationFilter::default()
            })?;
            for mut conversation in awake {
                reopen(work, &mut conversation)?;
            }
            let moved = assignment::reassign_overdue(work)?;
            // A drain skips conversations busy elsewhere at the time (on
            // PostgreSQL); this one takes what they left waiting.
            drain(work)?;
            Ok(moved)
        })
        .await
    }

    /// After the configuration changed (a reload, or a start with another
    /// file): conversations of agents who left their channel are routed
    /// again; then the queue drains into whatever capacity the new
    /// configuration has. Returns how many moved.
    pub async fn reassign_departed(&self) -> Result<usize> {
        self.work(move |work| {
            let moved = assignment::reassign_departed(work)?;
            drain(work)?;
            Ok(moved)
        })
        .await
    }
}
