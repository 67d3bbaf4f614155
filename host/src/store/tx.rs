//! What a unit of work may read and write, one trait per aggregate.
//!
//! A backend implements each trait in a file of its own; [`Tx`] is all
//! of them together, and is what units of work are given. Methods take
//! and return plain records; identifiers are the database's. `insert_*`
//! ignore the record's `id` and return the record (or the id) the
//! database gave it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::Result;
use super::records::*;
use crate::model::Availability;

/// Everything a unit of work may read and write.
pub trait Tx:
    Inboxes
    + Agents
    + Contacts
    + Conversations
    + Messages
    + Queue
    + Decisions
    + Surveys
    + Outbox
    + Broadcasts
{
}

impl<T> Tx for T where
    T: Inboxes
        + Agents
        + Contacts
        + Conversations
        + Messages
        + Queue
        + Decisions
        + Surveys
        + Outbox
        + Broadcasts
        + ?Sized
{
}

/// Inboxes: one per channel, keyed by the channel's name.
pub trait Inboxes {
    fn inboxes(&mut self) -> Result<Vec<Inbox>>;
    fn insert_inbox(&mut self, channel: &str, identifier: &str) -> Result<Inbox>;
    fn set_inbox_identifier(&mut self, inbox: i64, identifier: &str) -> Result<()>;
}

/// Agents, keyed by email: availability, the last assignment, open
/// conversations, and the round-robin pointers of their pools.
pub trait Agents {
    /// Serialises assignment decisions: the agents' loads, availability
    /// and round-robin pointers read after this call stay true until the
    /// commit. (SQLite's one writer already does; PostgreSQL locks the
    /// agents' rows.)
    fn lock_assignment(&mut self) -> Result<()>;
    fn agents(&mut self) -> Result<Vec<AgentRecord>>;
    /// The agent's record, made with `initial` availability if new.
    fn ensure_agent(&mut self, email: &str, initial: Availability) -> Result<AgentRecord>;
    fn set_availability(&mut self, email: &str, availability: Availability) -> Result<()>;
    fn set_last_assigned(&mut self, email: &str, at: DateTime<Utc>) -> Result<()>;
    /// Open conversations per assignee.
    fn open_counts(&mut self) -> Result<HashMap<String, u32>>;
    fn last_picked(&mut self, pool: &str) -> Result<Option<String>>;
    fn set_last_picked(&mut self, pool: &str, agent: &str) -> Result<()>;
}

pub trait Contacts {
    fn insert_contact(&mut self, contact: &ContactRecord) -> Result<ContactRecord>;
    fn contact(&mut self, id: i64) -> Result<Option<ContactRecord>>;
    fn contact_by_source(&mut self, inbox: i64, source_id: &str) -> Result<Option<ContactRecord>>;
    fn contact_by_identifier(
        &mut self,
        inbox: i64,
        identifier: &str,
    ) -> Result<Option<ContactRecord>>;
    fn update_contact(&mut self, contact: &ContactRecord) -> Result<()>;
    /// A page of contacts, oldest first, and how many there are.
    fn contacts(&mut self, limit: u32, offset: u32) -> Result<(Vec<ContactRecord>, u64)>;
    /// The contact whose realtime socket token this is.
    fn contact_by_pubsub_token(&mut self, token: &str) -> Result<Option<ContactRecord>>;
}

pub trait Conversations {
    fn insert_conversation(
        &mut self,
        conversation: &ConversationRecord,
    ) -> Result<ConversationRecord>;
    /// The conversation, held for this unit until its commit: another
    /// unit reading it waits, so a conversation's changes (and its
    /// messages) are made one unit after the other.
    fn conversation(&mut self, id: i64) -> Result<Option<ConversationRecord>>;
    /// Writes every mutable field of `conversation`.
    fn update_conversation(&mut self, conversation: &ConversationRecord) -> Result<()>;
    /// The conversations `filter` selects; with `filter.claim`, only those
    /// no other unit holds, each then held for this one.
    fn conversations(&mut self, filter: &ConversationFilter) -> Result<Vec<ConversationRecord>>;
    fn count_conversations(&mut self, filter: &ConversationFilter) -> Result<u64>;
}

pub trait Messages {
    fn insert_message(&mut self, message: &MessageRecord) -> Result<MessageRecord>;
    fn message(&mut self, id: i64) -> Result<Option<MessageRecord>>;
    fn update_message(&mut self, message: &MessageRecord) -> Result<()>;
    /// Up to `limit` messages of a conversation (all, or those before the
    /// message `before`), oldest first.
    fn messages(
        &mut self,
        conversation: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>>;
    /// A conversation's chat messages — what its customer sees: no activity
    /// messages, no private notes — before the message `before`, oldest
    /// first; the newest `limit` of them, or all.
    fn chat_messages(
        &mut self,
        conversation: i64,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<MessageRecord>>;
    /// Incoming messages stored after `since` (all when `None`), counted
    /// among the conversation's newest hundred messages.
    fn unread_incoming(&mut self, conversation: i64, since: Option<DateTime<Utc>>) -> Result<u32>;
    fn message_counts(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<MessageCounts>;
}

/// Conversations waiting for an agent.
pub trait Queue {
    fn enqueue(&mut self, entry: &QueueEntry) -> Result<()>;
    /// Takes the conversation out of the queue; whether it was in it.
    fn dequeue(&mut self, conversation: i64) -> Result<bool>;
    /// The queue in draining order: higher priority first, then arrival.
    /// Only conversations no other unit holds, each then held for this
    /// one: a conversation busy elsewhere is drained by the next drain.
    fn queue(&mut self) -> Result<Vec<QueueEntry>>;
    /// The queue in draining order, read without holding anything: for
    /// showing places in it, never for draining it.
    fn waiting(&mut self) -> Result<Vec<QueueEntry>>;
    /// Waiting conversations per inbox.
    fn queue_lengths(&mut self) -> Result<Vec<(i64, u64)>>;
}

/// Routing decisions, each with the revision it was made on.
pub trait Decisions {
    fn insert_decision(&mut self, decision: &DecisionRecord) -> Result<i64>;
    fn decisions(&mut self, conversation: i64) -> Result<Vec<DecisionRecord>>;
}

/// CSAT surveys, one per conversation at most.
pub trait Surveys {
    fn insert_csat(&mut self, survey: &CsatRecord) -> Result<()>;
    fn csat(&mut self, conversation: i64) -> Result<Option<CsatRecord>>;
    fn update_csat(&mut self, survey: &CsatRecord) -> Result<()>;
    /// Surveys sent in `[since, until)`.
    fn csat_sent_between(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CsatRecord>>;
}

/// The outbox of events, and their webhook delivery.
pub trait Outbox {
    /// Adds an event to the outbox, in this transaction.
    fn emit(&mut self, event: &EventRecord) -> Result<i64>;
    fn events_after(&mut self, after: i64, limit: u32) -> Result<Vec<EventRecord>>;
    /// Pending events to send now, oldest first, with their attempts so
    /// far: for up to `conversations` conversations whose earliest pending
    /// event is due at `now`, that event and the pending events after it,
    /// `per_conversation` at most (events of no conversation: one). A
    /// conversation's events are sent in this order, each only after the
    /// one before it was delivered.
    ///
    /// What `busy` names is skipped, neither read nor counted: the
    /// conversations whose lanes are sending now, and the inboxes whose
    /// webhooks have as many deliveries under way as they allow.
    ///
    /// The events are leased to this instance until `lease_until`: other
    /// instances on the same database skip them until then, and take them
    /// over after, should this one stop before it records their outcome.
    fn due_events(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        conversations: u32,
        per_conversation: u32,
        busy: &Busy,
    ) -> Result<Vec<(EventRecord, u32)>>;
    /// The lanes whose earliest pending event is not due at `now`: what
    /// [`Outbox::due_events`] leaves for later.
    fn waiting_lanes(&mut self, now: DateTime<Utc>) -> Result<Vec<WaitingLane>>;
    fn finish_event(
        &mut self,
        id: i64,
        state: DeliveryState,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()>;
    /// Schedules another attempt at `next`, and ends this instance's lease.
    fn retry_event(
        &mut self,
        id: i64,
        attempts: u32,
        next: DateTime<Utc>,
        error: &str,
    ) -> Result<()>;
    /// Events given up on, newest first.
    fn dead_events(&mut self, limit: u32) -> Result<Vec<DeadEvent>>;
    /// Deletes up to `limit` events delivered (or skipped) before
    /// `before`, oldest first; how many it deleted.
    fn prune_events(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u32>;
    /// Makes a dead event pending again; `false` when it is not dead.
    fn replay_event(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool>;
    /// Pending events and the oldest one's creation time.
    fn delivery_backlog(&mut self) -> Result<(u64, Option<DateTime<Utc>>)>;
}

/// What the realtime socket broadcasts, kept for a while so that a client
/// that reconnects receives what it missed.
pub trait Broadcasts {
    /// Adds a broadcast, in this transaction; its cursor is given in
    /// commit order (see [`sequence_broadcasts`](Self::sequence_broadcasts)),
    /// and returned when the backend knows it already (SQLite).
    fn broadcast(&mut self, broadcast: &BroadcastRecord) -> Result<Option<i64>>;
    /// Gives the broadcasts committed without a cursor theirs, in the order
    /// their units committed; how many. Units running this one after the
    /// other give increasing cursors. (SQLite, with one writer, gives a
    /// cursor as it inserts: nothing to do.)
    fn sequence_broadcasts(&mut self) -> Result<u32>;
    /// Up to `limit` broadcasts after cursor `after`, in cursor order: all,
    /// or only those the contact `contact` receives.
    fn broadcasts_after(
        &mut self,
        after: i64,
        contact: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BroadcastRecord>>;
    fn broadcast_bounds(&mut self) -> Result<BroadcastBounds>;
    /// Deletes up to `limit` broadcasts made before `before`, lowest cursor
    /// first, and moves the pruned mark past them; how many it deleted.
    fn prune_broadcasts(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u32>;
}
