//! What the realtime socket reads: the broadcasts committed since a
//! cursor, who a pubsub token belongs to, and the agents' presence.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::{Desk, Result};
use crate::chatwoot::broadcasts as live;
use crate::store::{BroadcastBounds, BroadcastRecord, ContactRecord};

/// Most committed broadcasts held for the feed (about 700 bytes each);
/// past it they are dropped here and the feed reads them from the store
/// instead.
const HANDOFF_CAP: usize = 16_384;

/// Broadcasts handed over by committed units, in commit order, until the
/// feed takes them.
#[derive(Default)]
pub(super) struct Handoff {
    queue: Mutex<Handed>,
    pub notify: tokio::sync::Notify,
}

#[derive(Default)]
struct Handed {
    broadcasts: Vec<BroadcastRecord>,
    /// Some were dropped at the cap since the feed last took.
    dropped: bool,
}

impl Handoff {
    /// Called as a unit finishes, one unit after the other.
    pub(super) fn push(&self, broadcasts: Vec<BroadcastRecord>) {
        if broadcasts.is_empty() {
            return;
        }
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.broadcasts.len() + broadcasts.len() > HANDOFF_CAP {
                queue.dropped = true;
            } else {
                queue.broadcasts.extend(broadcasts);
            }
        }
        self.notify.notify_one();
    }
}

/// What the feed takes: the broadcasts handed over since it last took, in
/// cursor order, and whether that is all of them.
pub struct Committed {
    pub broadcasts: Vec<BroadcastRecord>,
    /// Some were not kept (the feed fell behind, or the store gives
    /// cursors only later): read from the store what comes after the last
    /// cursor handed on.
    pub incomplete: bool,
}

impl Desk {
    /// The broadcasts units handed over as they committed, where the store
    /// finishes units in commit order; elsewhere none, and incomplete.
    pub fn take_committed(&self) -> Committed {
        if !self.store.finishes_in_commit_order() {
            return Committed {
                broadcasts: Vec::new(),
                incomplete: true,
            };
        }
        let mut queue = self
            .handoff
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let taken = std::mem::take(&mut *queue);
        Committed {
            broadcasts: taken.broadcasts,
            incomplete: taken.dropped,
        }
    }

    /// Numbers the broadcasts committed since the last call (on a shared
    /// database) and returns up to `limit` after `after`, in cursor order.
    pub async fn committed_broadcasts(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<BroadcastRecord>> {
        self.read(move |tx| {
            tx.sequence_broadcasts()?;
            Ok(tx.broadcasts_after(after, None, limit)?)
        })
        .await
    }

    /// Up to `limit` broadcasts after `after`: all, or the contact's.
    pub async fn broadcasts_after(
        &self,
        after: i64,
        contact: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BroadcastRecord>> {
        self.read(move |tx| Ok(tx.broadcasts_after(after, contact, limit)?))
            .await
    }

    pub async fn broadcast_bounds(&self) -> Result<BroadcastBounds> {
        self.read(|tx| Ok(tx.broadcast_bounds()?)).await
    }

    /// Deletes broadcasts made before `before`, a batch at a time; how
    /// many.
    pub async fn prune_broadcasts(&self, before: DateTime<Utc>, limit: u32) -> Result<u32> {
        self.read(move |tx| Ok(tx.prune_broadcasts(before, limit)?))
            .await
    }

    pub async fn contact_by_pubsub_token(&self, token: &str) -> Result<Option<ContactRecord>> {
        let token = token.to_owned();
        self.read(move |tx| Ok(tx.contact_by_pubsub_token(&token)?))
            .await
    }

    /// `presence.update`'s data: every configured agent's availability.
    pub async fn presence(&self) -> Result<Box<serde_json::value::RawValue>> {
        let runtime = self.runtime();
        let agents = self.read(|tx| Ok(tx.agents()?)).await?;
        let presence = live::presence(
            &runtime.people,
            agents
                .iter()
                .map(|a| (a.email.as_str(), a.availability.as_str())),
        );
        serde_json::value::to_raw_value(&presence).map_err(|e| {
            crate::store::Error::Corrupt(format!("cannot encode presence: {e}")).into()
        })
    }

    /// The agent's availability as stored.
    pub async fn availability_of(
        &self,
        agent: crate::config::AgentId,
    ) -> Result<crate::model::Availability> {
        let email = self.runtime().config.agent(agent).email.clone();
        let agents = self.read(|tx| Ok(tx.agents()?)).await?;
        agents
            .into_iter()
            .find(|a| a.email == email)
            .map(|a| a.availability)
            .ok_or(super::Error::NotFound("agent"))
    }

    /// Each waiting conversation's place in its pool's queue (from 1), in
    /// draining order: `(conversation, pool, place)`.
    pub async fn queue_places(&self) -> Result<Vec<(i64, String, usize)>> {
        let waiting = self.read(|tx| Ok(tx.waiting()?)).await?;
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        Ok(waiting
            .into_iter()
            .map(|entry| {
                let place = seen.entry(entry.pool.clone()).or_default();
                *place += 1;
                (entry.conversation_id, entry.pool, *place)
            })
            .collect())
    }

    /// Runs `f` in a transaction of its own, without the runtime.
    async fn read<T, F>(&self, mut f: F) -> Result<T>
    where
        F: FnMut(&mut dyn crate::store::Tx) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        crate::store::transaction(self.store.as_ref(), move |tx| f(tx)).await
    }
}
