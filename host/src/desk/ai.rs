//! AI agent turns: a conversation an AI agent handles (status `pending`)
//! gets its plugin's answer to each incoming message.
//!
//! A turn reads the conversation in one transaction, calls the plugin with
//! no transaction open (it may wait on a language model for seconds), and
//! applies the answer in a second transaction — after checking that the
//! conversation is still the agent's. Whatever goes wrong in the plugin
//! becomes a hand-off with an activity message: the customer is never left
//! without somebody.

use std::sync::Arc;

use super::assignment::{hand_off, to_model_contact, to_model_conversation, to_model_message};
use super::conversations::resolve;
use super::work::{Draft, Work};
use super::{Desk, Result};
use crate::config::AiAgentId;
use crate::model::{ConversationStatus, MessageType};
use crate::plugins::{AgentAction, Subject, context::HISTORY_LIMIT};
use crate::store::{ConversationFilter, ConversationRecord, Sender};

/// Whether an AI agent still handles the conversation.
fn handled_by(conversation: &ConversationRecord) -> Option<&str> {
    (conversation.status == ConversationStatus::Pending)
        .then_some(conversation.ai_agent.as_deref())
        .flatten()
}

impl Desk {
    pub(super) fn spawn_ai_turn(self: &Arc<Self>, conversation: i64) {
        let desk = Arc::clone(self);
        // Owned by the desk's tracker: shutdown waits for turns in flight.
        self.tasks.spawn(async move {
            if let Err(e) = desk.ai_turn(conversation).await {
                tracing::error!(conversation, "AI agent turn failed: {e}");
            }
        });
    }

    /// Starts a turn for every conversation an AI agent handles whose
    /// latest message is unanswered: messages that arrived just before a
    /// restart still get their answer.
    pub async fn resume_ai_turns(self: &Arc<Self>) -> Result<usize> {
        let waiting = self
            .work(|work| {
                Ok(work.tx.conversations(&ConversationFilter {
                    status: Some(ConversationStatus::Pending),
                    with_ai_agent: true,
                    ..ConversationFilter::default()
                })?)
            })
            .await?;
        for conversation in &waiting {
            self.spawn_ai_turn(conversation.id);
        }
        Ok(waiting.len())
    }

    async fn ai_turn(&self, id: i64) -> Result<()> {
        let lock = {
            let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(turns.entry(id).or_default())
        };
        let result = {
            let _turn = lock.lock().await;
            self.take_turn(id).await
        };
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: nobody else waits for this conversation.
        if Arc::strong_count(&lock) <= 2 {
            turns.remove(&id);
        }
        result
    }

    async fn take_turn(&self, id: i64) -> Result<()> {
        let runtime = self.runtime();
        let snapshot = self
            .work(move |work| {
                let conversation = work.conversation(id)?;
                if handled_by(&conversation).is_none() {
                    return Ok(None);
                }
                let contact = work.contact(conversation.contact_id)?;
                let limit = u32::try_from(HISTORY_LIMIT).unwrap_or(20);
                let history = work.tx.messages(id, None, limit)?;
                Ok(Some((conversation, contact, history)))
            })
            .await?;
        let Some((conversation, contact, history)) = snapshot else {
            return Ok(());
        };
        // Only a message from the customer that nobody answered yet needs
        // a turn; greetings and activity notes do not count as answers.
        let last = history.iter().rev().find(|m| {
            matches!(
                m.message_type,
                MessageType::Incoming | MessageType::Outgoing
            )
        });
        let Some(last) = last.filter(|m| m.message_type == MessageType::Incoming) else {
            return Ok(());
        };
        let name = handled_by(&conversation).unwrap_or_default().to_owned();
        let agent = runtime
            .config
            .ai_agents
            .iter()
            .position(|a| a.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(AiAgentId);
        let inbox = runtime.inbox_by_id(conversation.inbox_id);
        let action = match (agent, inbox, &runtime.plugins) {
            (Some(agent), Some(inbox), Some(plugins)) => {
                let model_history: Vec<_> = history.iter().map(to_model_message).collect();
                let message = to_model_message(last);
                let subject = Subject {
                    channel: runtime.config.channel(inbox.channel),
                    contact: &to_model_contact(&contact),
                    conversation: &to_model_conversation(&conversation),
                    history: &model_history,
                    message: Some(&message),
                    at: self.now(),
                };
                let reply = plugins.respond(agent, &subject).await;
                if let Some(error) = &reply.error {
                    tracing::warn!(conversation = id, ai_agent = %name, "AI agent failed: {error}");
                }
                reply.action
            }
            _ => AgentAction::HandOff(format!(
                "the AI agent `{name}` is not in the active configuration"
            )),
        };
        self.work(move |work| apply(work, id, &name, action.clone()))
            .await
    }
}

fn apply(work: &mut Work<'_>, id: i64, name: &str, action: AgentAction) -> Result<()> {
    let mut conversation = work.conversation(id)?;
    if handled_by(&conversation) != Some(name) {
        // An agent took over while the plugin was thinking.
        return Ok(());
    }
    let reply = |work: &mut Work<'_>, conversation: &mut ConversationRecord, text: String| {
        work.post(
            conversation,
            Draft::new(
                MessageType::Outgoing,
                Sender::AiAgent(name.to_owned()),
                text,
            ),
        )
        .map(drop)
    };
    match action {
        AgentAction::Reply(text) => {
            reply(work, &mut conversation, text)?;
            work.save(&mut conversation, &[])
        }
        AgentAction::ReplyAndHandOff {
            reply: text,
            reason,
        } => {
            reply(work, &mut conversation, text)?;
            hand_off(work, &mut conversation, &reason)
        }
        AgentAction::Resolve(text) => {
            if let Some(text) = text {
                reply(work, &mut conversation, text)?;
            }
            resolve(work, &mut conversation)
        }
        AgentAction::HandOff(reason) => hand_off(work, &mut conversation, &reason),
    }
}
