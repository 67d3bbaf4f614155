//! What the realtime socket reads: the broadcasts committed since a
//! cursor, who a pubsub token belongs to, and the agents' presence.

use chrono::{DateTime, Utc};

use super::{Desk, Result};
use crate::chatwoot::broadcasts as live;
use crate::store::{BroadcastBounds, BroadcastRecord, ContactRecord};

impl Desk {
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
