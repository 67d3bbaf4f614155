//! Routing a new conversation in two steps, so that no plugin runs inside
//! a storage transaction (SPEC §6).
//!
//! The unit that stores a conversation's first incoming message takes a
//! [`Snapshot`] of what the rules read. The rules are then evaluated from
//! it outside any transaction — plugin conditions on the plugin threads
//! ([`plugin_workers`]: half the cores, at a lower priority; see
//! `plugin_pool.rs`), side by side for different
//! conversations — and a second unit re-checks what may have changed
//! (the conversation still unrouted, the configuration revision the rules
//! were evaluated on) and does only the stateful part: picking a human
//! under the assignment lock, or queueing. A revision that changed in
//! between means the rules are evaluated again.
//!
//! What this keeps: a conversation's messages are stored in the order they
//! arrive; a message is answered only after its conversation is routed; a
//! decision names the revision it was made on; the snapshot is the
//! conversation as its first message found it, so a contact changed in
//! the milliseconds between is routed on what it was.

use std::sync::Arc;

use super::assignment::{self, Snapshot};
use super::{Desk, Error, Result};
use crate::model::{ConversationStatus, MessageType};
use crate::routing::{self, NoPlugins, Verdict};
use crate::store::ConversationFilter;

/// How long a conversation whose first message is stored may stay
/// unrouted before the timers route it: far longer than routing takes,
/// so they do not race a routing in progress (which would be harmless,
/// only wasted: the second unit to commit finds it routed).
const STRANDED_AFTER: chrono::Duration = chrono::Duration::seconds(10);

/// Stranded conversations routed per timer tick at most.
const STRANDED_PER_TICK: u32 = 100;

/// Rule evaluations with plugins running at once; more wait. Plugins are
/// CPU-bound: they get half the cores (at least one), so that a plugin
/// spinning to its limit leaves the other half to everyone else
/// (BENCHMARKS.md, "Head-of-line").
pub fn plugin_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Tries before a configuration that keeps changing under a conversation
/// is given up on.
const ATTEMPTS: usize = 3;

impl Desk {
    /// Routes the conversation `snapshot` was taken of, unless something
    /// routed it meanwhile. Returns whether an AI agent now handles it.
    pub(super) async fn route(self: &Arc<Self>, snapshot: Snapshot) -> Result<bool> {
        let snapshot = Arc::new(snapshot);
        for _ in 0..ATTEMPTS {
            let verdict = self.evaluate(Arc::clone(&snapshot)).await?;
            let revision = verdict.trace.revision.clone();
            let snapshot = Arc::clone(&snapshot);
            let routed = self
                .work(move |work| {
                    let mut conversation = work.conversation(snapshot.conversation_id)?;
                    if conversation.routed {
                        // Another message of the conversation routed it.
                        return Ok(Some(
                            conversation.status == ConversationStatus::Pending
                                && conversation.ai_agent.is_some(),
                        ));
                    }
                    if work.rt.config.revision != revision {
                        return Ok(None);
                    }
                    assignment::apply(work, &mut conversation, &snapshot, verdict.clone()).map(Some)
                })
                .await?;
            if let Some(ai) = routed {
                return Ok(ai);
            }
        }
        Err(Error::Invalid(
            "the configuration changed on every try while routing".into(),
        ))
    }

    /// Routes conversations whose first message was stored but whose
    /// routing never happened: the process stopped in between (a crash, a
    /// `kill -9`, on any instance sharing the database), or routing failed.
    /// The message was never acknowledged, yet it is stored, and without
    /// this its conversation would wait for the contact's next message.
    /// Returns how many were routed.
    pub async fn route_stranded(self: &Arc<Self>) -> Result<usize> {
        let snapshots = self
            .work(|work| {
                let unrouted = work.tx.conversations(&ConversationFilter {
                    stranded_before: Some(work.now - STRANDED_AFTER),
                    claim: true,
                    limit: Some(STRANDED_PER_TICK),
                    ..ConversationFilter::default()
                })?;
                let mut snapshots = Vec::new();
                for conversation in unrouted {
                    let recent = work.tx.messages(conversation.id, None, 20)?;
                    let Some(latest) = recent
                        .iter()
                        .rev()
                        .find(|m| m.message_type == MessageType::Incoming)
                    else {
                        continue;
                    };
                    let Some(contact) = work.tx.contact(conversation.contact_id)? else {
                        continue;
                    };
                    snapshots.push(Snapshot::of(&conversation, &contact, latest));
                }
                Ok(snapshots)
            })
            .await?;
        let mut routed = 0;
        for snapshot in snapshots {
            let id = snapshot.conversation_id;
            match self.route(snapshot).await {
                Ok(ai) => {
                    routed += 1;
                    if ai {
                        self.spawn_ai_turn(id);
                    }
                }
                Err(e) => tracing::warn!(
                    conversation = id,
                    "routing a stranded conversation failed: {e}"
                ),
            }
        }
        Ok(routed)
    }

    /// The rules' verdict on `snapshot` under the active configuration:
    /// inline when none of the channel's rules calls a plugin, else on a
    /// plugin thread.
    async fn evaluate(&self, snapshot: Arc<Snapshot>) -> Result<Verdict> {
        let runtime = self.runtime();
        let channel = runtime
            .inbox_by_id(snapshot.inbox_id)
            .ok_or(Error::NotFound("inbox"))?
            .channel;
        let calls_plugins = runtime
            .config
            .channel(channel)
            .rules
            .iter()
            .any(|rule| rule.condition.calls_plugins());
        if runtime.plugins.is_none() || !calls_plugins {
            return Ok(routing::evaluate(
                &snapshot.input(&runtime.config, channel),
                &NoPlugins,
            ));
        }
        self.plugin_pool
            .run(move || {
                let input = snapshot.input(&runtime.config, channel);
                match &runtime.plugins {
                    Some(plugins) => routing::evaluate(&input, plugins),
                    None => routing::evaluate(&input, &NoPlugins),
                }
            })
            .await
            .ok_or_else(|| Error::Invalid("rule evaluation stopped".into()))
    }
}
