//! Storage: everything the daemon must not forget across a restart.
//!
//! The rest of the daemon sees two traits. [`Store`] runs a unit of work in
//! one transaction and answers only after the commit is durable; [`Tx`] is
//! what a unit of work may read and write. Lifecycle code is written
//! against them only, so a second backend (PostgreSQL) slots in without
//! touching it. The SQL is kept portable: integer and text columns, JSON
//! kept as text.

mod migrations;
mod records;
mod sqlite;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

pub use records::*;
pub use sqlite::SqliteStore;

use crate::model::Availability;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(String),
    #[error("the storage writer has stopped")]
    Closed,
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error(
        "the database was written by a newer LiveDesk (schema {found}, this one knows {known})"
    )]
    NewerSchema { found: i64, known: i64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs units of work, each in a transaction of its own or alongside
/// others in one commit; either way a unit's result is delivered only
/// after its changes are durable.
pub trait Store: Send + Sync + 'static {
    fn submit(&self, job: Box<dyn Job>);
}

/// A unit of work with its result kept back until the commit.
pub trait Job: Send {
    /// Does the work; `false` asks for this unit's changes to be undone.
    fn run(&mut self, tx: &mut dyn Tx) -> bool;
    /// Hands over the result once the changes are committed, or the
    /// commit's error.
    fn finish(self: Box<Self>, committed: Result<()>);
}

/// Runs `work` in a transaction and returns its result once committed. An
/// `Err` from `work` undoes everything it wrote.
pub async fn transaction<T, E, F>(store: &dyn Store, work: F) -> Result<T, E>
where
    F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    store.submit(Box::new(Unit {
        work: Some(work),
        result: None,
        reply,
    }));
    answer.await.map_err(|_| E::from(Error::Closed))?
}

struct Unit<F, T, E> {
    work: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Unit<F, T, E>
where
    F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send,
    T: Send,
    E: From<Error> + Send,
{
    fn run(&mut self, tx: &mut dyn Tx) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(tx);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<()>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(E::from(Error::Closed)),
            // The unit's own error explains more than the failed commit.
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(E::from(e)),
        };
        // The caller may have gone away (client disconnected); the work is
        // committed either way.
        let _ = self.reply.send(result);
    }
}

/// What one unit of work may read and write. Methods take and return
/// plain records; identifiers are the database's.
pub trait Tx {
    /// Serialises assignment decisions: loads read after this call stay
    /// true until the commit. (SQLite's writer lock already does; a
    /// PostgreSQL backend locks the agents' rows.)
    fn lock_assignment(&mut self) -> Result<()>;

    // Inboxes: one per channel, keyed by the channel's name.
    fn inboxes(&mut self) -> Result<Vec<Inbox>>;
    fn insert_inbox(&mut self, channel: &str, identifier: &str) -> Result<Inbox>;
    fn set_inbox_identifier(&mut self, inbox: i64, identifier: &str) -> Result<()>;

    // Agents, keyed by email; availability and the last assignment.
    fn agents(&mut self) -> Result<Vec<AgentRecord>>;
    /// The agent's record, made with `initial` availability if new.
    fn ensure_agent(&mut self, email: &str, initial: Availability) -> Result<AgentRecord>;
    fn set_availability(&mut self, email: &str, availability: Availability) -> Result<()>;
    fn set_last_assigned(&mut self, email: &str, at: DateTime<Utc>) -> Result<()>;
    /// Open conversations per assignee.
    fn open_counts(&mut self) -> Result<HashMap<String, u32>>;
    fn last_picked(&mut self, pool: &str) -> Result<Option<String>>;
    fn set_last_picked(&mut self, pool: &str, agent: &str) -> Result<()>;

    // `insert_*` ignore the record's `id` and return the record with the
    // one the database gave it.
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

    fn insert_conversation(
        &mut self,
        conversation: &ConversationRecord,
    ) -> Result<ConversationRecord>;
    fn conversation(&mut self, id: i64) -> Result<Option<ConversationRecord>>;
    /// Writes every mutable field of `conversation`.
    fn update_conversation(&mut self, conversation: &ConversationRecord) -> Result<()>;
    fn conversations(&mut self, filter: &ConversationFilter) -> Result<Vec<ConversationRecord>>;
    fn count_conversations(&mut self, filter: &ConversationFilter) -> Result<u64>;

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

    fn enqueue(&mut self, entry: &QueueEntry) -> Result<()>;
    fn dequeue(&mut self, conversation: i64) -> Result<()>;
    /// The queue in draining order: higher priority first, then arrival.
    fn queue(&mut self) -> Result<Vec<QueueEntry>>;
    /// Waiting conversations per inbox.
    fn queue_lengths(&mut self) -> Result<Vec<(i64, u64)>>;

    fn insert_decision(&mut self, decision: &DecisionRecord) -> Result<i64>;
    fn decisions(&mut self, conversation: i64) -> Result<Vec<DecisionRecord>>;

    fn insert_csat(&mut self, survey: &CsatRecord) -> Result<()>;
    fn csat(&mut self, conversation: i64) -> Result<Option<CsatRecord>>;
    fn update_csat(&mut self, survey: &CsatRecord) -> Result<()>;
    /// Surveys sent in `[since, until)`.
    fn csat_sent_between(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CsatRecord>>;

    /// Adds an event to the outbox, in this transaction.
    fn emit(&mut self, event: &EventRecord) -> Result<i64>;
    fn events_after(&mut self, after: i64, limit: u32) -> Result<Vec<EventRecord>>;

    // Webhook delivery of the outbox.
    /// Pending events to send now, oldest first, with their attempts so
    /// far: for up to `conversations` conversations whose earliest pending
    /// event is due at `now`, that event and the pending events after it,
    /// `per_conversation` at most (events of no conversation: one). A
    /// conversation's events are sent in this order, each only after the
    /// one before it was delivered.
    fn due_events(
        &mut self,
        now: DateTime<Utc>,
        conversations: u32,
        per_conversation: u32,
    ) -> Result<Vec<(EventRecord, u32)>>;
    fn finish_event(
        &mut self,
        id: i64,
        state: DeliveryState,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()>;
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
