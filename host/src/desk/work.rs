//! One unit of work: a transaction, the configuration it runs under and
//! its instant, with the writes that always come with their events.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::runtime::{InboxRuntime, Runtime};
use super::{Error, Result};
use crate::chatwoot::broadcasts::{self as live, Audience};
use crate::chatwoot::events::{EventKind, Scene, Typist};
use crate::config::Channel;
use crate::model::{ConversationStatus, MessageType};
use crate::store::{
    BroadcastRecord, ContactRecord, ConversationRecord, EventRecord, MessageRecord, Sender, Tx,
};

pub(crate) struct Work<'a> {
    pub tx: &'a mut dyn Tx,
    pub rt: &'a Runtime,
    pub now: DateTime<Utc>,
    pub metrics: &'a crate::metrics::Metrics,
    /// The contact read last: every event of a conversation needs it.
    contact: Option<ContactRecord>,
    /// The events the unit wrote, with the ids the store gave them, for
    /// the webhook worker.
    emitted: Vec<EventRecord>,
    /// Whether the unit made dead events pending again.
    replayed: bool,
    /// Whether the unit wrote a broadcast, for the realtime socket to look.
    broadcast: bool,
    /// The broadcasts written whose cursors the store gave on insert.
    broadcasts: Vec<BroadcastRecord>,
    /// The newest chat message of the conversation an event was last
    /// built for, by conversation id: every payload carries it, and the
    /// unit's own posts keep it true.
    last_chat: Option<(i64, Option<MessageRecord>)>,
}

/// A message about to be written.
pub(crate) struct Draft {
    pub message_type: MessageType,
    pub content: String,
    pub content_type: &'static str,
    pub content_attributes: Value,
    pub private: bool,
    pub sender: Sender,
    pub echo_id: Option<String>,
}

impl Draft {
    pub fn new(message_type: MessageType, sender: Sender, content: impl Into<String>) -> Self {
        Self {
            message_type,
            content: content.into(),
            content_type: "text",
            content_attributes: json!({}),
            private: false,
            sender,
            echo_id: None,
        }
    }

    /// A note LiveDesk adds about what happened (assignment, hand-off).
    pub fn activity(content: impl Into<String>) -> Self {
        Self::new(MessageType::Activity, Sender::System, content)
    }
}

impl<'a> Work<'a> {
    pub fn new(
        tx: &'a mut dyn Tx,
        rt: &'a Runtime,
        now: DateTime<Utc>,
        metrics: &'a crate::metrics::Metrics,
    ) -> Self {
        Self {
            tx,
            rt,
            now,
            metrics,
            contact: None,
            emitted: Vec::new(),
            replayed: false,
            broadcast: false,
            broadcasts: Vec::new(),
            last_chat: None,
        }
    }

    /// What the unit wrote that others wait for.
    pub fn into_written(self) -> Written {
        Written {
            wakes_worker: !self.emitted.is_empty() || self.replayed,
            events: self.emitted,
            replayed: self.replayed,
            broadcast: self.broadcast,
            broadcasts: self.broadcasts,
        }
    }

    pub fn conversation(&mut self, id: i64) -> Result<ConversationRecord> {
        self.tx
            .conversation(id)?
            .ok_or(Error::NotFound("conversation"))
    }

    /// A contact by id. Units read contacts through [`Work::contact`] or
    /// [`Work::contact_by_source`] and change them only through
    /// [`Work::update_contact`], so the one remembered stays true for the
    /// unit.
    pub fn contact(&mut self, id: i64) -> Result<ContactRecord> {
        if let Some(contact) = self.contact.as_ref().filter(|c| c.id == id) {
            return Ok(contact.clone());
        }
        let contact = self.tx.contact(id)?.ok_or(Error::NotFound("contact"))?;
        self.contact = Some(contact.clone());
        Ok(contact)
    }

    /// A contact by its client API id, remembered for the unit's events.
    pub fn contact_by_source(&mut self, inbox: i64, source_id: &str) -> Result<ContactRecord> {
        let contact = self
            .tx
            .contact_by_source(inbox, source_id)?
            .ok_or(Error::NotFound("contact"))?;
        self.contact = Some(contact.clone());
        Ok(contact)
    }

    pub fn update_contact(&mut self, contact: &ContactRecord) -> Result<()> {
        self.tx.update_contact(contact)?;
        self.contact = Some(contact.clone());
        Ok(())
    }

    /// The inbox of a conversation; gone when its channel left the
    /// configuration.
    pub fn inbox_of(&self, conversation: &ConversationRecord) -> Result<&'a InboxRuntime> {
        self.rt
            .inbox_by_id(conversation.inbox_id)
            .ok_or(Error::NotFound("inbox"))
    }

    pub fn channel_of(&self, conversation: &ConversationRecord) -> Result<&'a Channel> {
        let inbox = self.inbox_of(conversation)?;
        Ok(self.rt.config.channel(inbox.channel))
    }

    /// Writes what `build` makes of the conversation as it is now: the
    /// webhook events (kept only when the channel has a webhook: nobody
    /// else would receive them) and the realtime broadcasts, both in this
    /// transaction, so each is sent after the change is durable and never
    /// for a change that was undone. `posted` is the chat message the unit
    /// just wrote, which is the conversation's newest.
    fn emit(
        &mut self,
        conversation: &ConversationRecord,
        posted: Option<&MessageRecord>,
        build: impl FnOnce(&Scene<'_>, &mut Outgoing) -> Result<(), serde_json::Error>,
    ) -> Result<()> {
        let inbox = self.inbox_of(conversation)?;
        let webhook = self.rt.config.channel(inbox.channel).webhook.is_some();
        let inbox = &inbox.inbox;
        let contact = self.contact(conversation.contact_id)?;
        let last_chat = match (posted, self.last_chat.take()) {
            (Some(message), _) => Some(message.clone()),
            (None, Some((id, message))) if id == conversation.id => message,
            _ => self.tx.chat_messages(conversation.id, None, Some(1))?.pop(),
        };
        let unread_count = self
            .tx
            .unread_incoming(conversation.id, conversation.agent_last_seen_at)?;
        let scene = Scene {
            inbox,
            contact: &contact,
            conversation,
            last_chat: last_chat.as_ref(),
            unread_count,
            people: &self.rt.people,
            at: self.now,
        };
        let mut outgoing = Outgoing {
            webhook,
            events: Vec::new(),
            broadcasts: Vec::new(),
        };
        build(&scene, &mut outgoing).map_err(cannot_encode)?;
        self.last_chat = Some((conversation.id, last_chat));
        self.write(outgoing)
    }

    fn write(&mut self, outgoing: Outgoing) -> Result<()> {
        for mut event in outgoing.events {
            event.id = self.tx.emit(&event)?;
            self.emitted.push(event);
        }
        for mut broadcast in outgoing.broadcasts {
            self.broadcast = true;
            if let Some(cursor) = self.tx.broadcast(&broadcast)? {
                broadcast.cursor = cursor;
                self.broadcasts.push(broadcast);
            }
        }
        Ok(())
    }

    /// Makes a dead event pending again; `false` when it is not dead. The
    /// webhook worker then reads the outbox: the event may come before
    /// others of its conversation that it holds.
    pub fn replay_event(&mut self, id: i64) -> Result<bool> {
        let replayed = self.tx.replay_event(id, self.now)?;
        self.replayed |= replayed;
        Ok(replayed)
    }

    /// Broadcasts every agent's availability after `email`'s changed.
    pub fn availability_changed(&mut self) -> Result<()> {
        let agents = self.tx.agents()?;
        let presence = live::presence(
            &self.rt.people,
            agents
                .iter()
                .map(|a| (a.email.as_str(), a.availability.as_str())),
        );
        let broadcast = live::presence_broadcast(&presence, self.now).map_err(cannot_encode)?;
        self.write(Outgoing {
            webhook: false,
            events: Vec::new(),
            broadcasts: vec![broadcast],
        })
    }

    /// Writes a message and, for a chat message, its `message_created`
    /// event: like Chatwoot's, a channel's webhook carries what the customer
    /// may see, never activity messages or private notes.
    pub fn post(
        &mut self,
        conversation: &mut ConversationRecord,
        draft: Draft,
    ) -> Result<MessageRecord> {
        let message = self.tx.insert_message(&MessageRecord {
            id: 0,
            conversation_id: conversation.id,
            inbox_id: conversation.inbox_id,
            content: draft.content,
            message_type: draft.message_type,
            content_type: draft.content_type.to_owned(),
            content_attributes: draft.content_attributes,
            private: draft.private,
            sender: draft.sender,
            echo_id: draft.echo_id,
            created_at: self.now,
            updated_at: self.now,
        })?;
        let posted = message.is_chat().then_some(&message);
        self.emit(conversation, posted, |scene, out| {
            if out.webhook && message.is_chat() {
                out.events
                    .push(scene.message(EventKind::MessageCreated, &message)?);
            }
            out.broadcasts
                .push(scene.message_broadcast(live::MESSAGE_CREATED, &message)?);
            Ok(())
        })?;
        Ok(message)
    }

    /// Posts `greeting` as LiveDesk's template message; an unavailable
    /// message is remembered for its closed period. Returns whether the
    /// conversation changed and needs saving.
    pub fn greet(
        &mut self,
        conversation: &mut ConversationRecord,
        greeting: crate::greeting::Greeting,
    ) -> Result<bool> {
        use crate::greeting::Greeting;
        let (text, unavailable) = match greeting {
            Greeting::Welcome(text) => (text, false),
            Greeting::Unavailable(text) => (text, true),
            Greeting::None => return Ok(false),
        };
        if unavailable {
            conversation.unavailable_sent_at = Some(self.now);
        }
        self.post(
            conversation,
            Draft::new(MessageType::Template, Sender::System, text),
        )?;
        Ok(unavailable)
    }

    pub fn message_updated(
        &mut self,
        conversation: &ConversationRecord,
        message: &MessageRecord,
    ) -> Result<()> {
        self.tx.update_message(message)?;
        self.emit(conversation, None, |scene, out| {
            if out.webhook && message.is_chat() {
                out.events
                    .push(scene.message(EventKind::MessageUpdated, message)?);
            }
            out.broadcasts
                .push(scene.message_broadcast(live::MESSAGE_UPDATED, message)?);
            Ok(())
        })
    }

    pub fn conversation_created(&mut self, conversation: &ConversationRecord) -> Result<()> {
        self.emit(conversation, None, |scene, out| {
            if out.webhook {
                out.events
                    .push(scene.conversation(EventKind::ConversationCreated, &[])?);
            }
            out.broadcasts.push(
                scene.conversation_broadcast(
                    live::CONVERSATION_CREATED,
                    Audience::ContactAndAgents,
                )?,
            );
            Ok(())
        })
    }

    /// Saves `conversation`; `changed` lists `(attribute, before, after)`
    /// for the `conversation_updated` event (none: no event).
    pub fn save(
        &mut self,
        conversation: &mut ConversationRecord,
        changed: &[(&str, Value, Value)],
    ) -> Result<()> {
        conversation.updated_at = self.now;
        self.tx.update_conversation(conversation)?;
        if changed.is_empty() {
            return Ok(());
        }
        let changed_any = |names: &[&str]| changed.iter().any(|(name, ..)| names.contains(name));
        let assignee = changed_any(&["assignee_id", "assignee_type"]);
        let team = changed_any(&["team_id"]);
        self.emit(conversation, None, |scene, out| {
            if out.webhook {
                out.events
                    .push(scene.conversation(EventKind::ConversationUpdated, changed)?);
            }
            out.broadcasts.push(
                scene.conversation_broadcast(
                    live::CONVERSATION_UPDATED,
                    Audience::ContactAndAgents,
                )?,
            );
            if assignee {
                out.broadcasts
                    .push(scene.conversation_broadcast(live::ASSIGNEE_CHANGED, Audience::Agents)?);
            }
            if team {
                out.broadcasts
                    .push(scene.conversation_broadcast(live::TEAM_CHANGED, Audience::Agents)?);
            }
            Ok(())
        })
    }

    /// Changes the status, saves, and emits `conversation_status_changed`.
    pub fn set_status(
        &mut self,
        conversation: &mut ConversationRecord,
        status: ConversationStatus,
    ) -> Result<()> {
        let before = conversation.status;
        conversation.status = status;
        if status != ConversationStatus::Snoozed {
            conversation.snoozed_until = None;
        }
        conversation.updated_at = self.now;
        self.tx.update_conversation(conversation)?;
        if before == status {
            return Ok(());
        }
        let changed = [("status", json!(before.as_str()), json!(status.as_str()))];
        self.emit(conversation, None, |scene, out| {
            if out.webhook {
                out.events
                    .push(scene.conversation(EventKind::ConversationStatusChanged, &changed)?);
            }
            out.broadcasts.push(scene.conversation_broadcast(
                live::CONVERSATION_STATUS_CHANGED,
                Audience::ContactAndAgents,
            )?);
            Ok(())
        })
    }

    pub fn typing(
        &mut self,
        conversation: &ConversationRecord,
        on: bool,
        typist: Typist<'_>,
    ) -> Result<()> {
        self.emit(conversation, None, |scene, out| {
            if out.webhook {
                out.events.push(scene.typing(on, typist)?);
            }
            out.broadcasts.push(scene.typing_broadcast(on, typist)?);
            Ok(())
        })
    }

    pub fn csat_submitted(
        &mut self,
        conversation: &ConversationRecord,
        message: &MessageRecord,
        rating: u8,
        feedback: Option<&str>,
    ) -> Result<()> {
        // Chatwoot's socket has no survey event: the answered survey
        // message is updated, which the socket carries.
        self.emit(conversation, None, |scene, out| {
            if out.webhook {
                out.events
                    .push(scene.csat_submitted(message, rating, feedback)?);
            }
            Ok(())
        })
    }

    /// Puts the conversation in the queue, telling the agents.
    pub fn enqueue(
        &mut self,
        conversation: &ConversationRecord,
        entry: &crate::store::QueueEntry,
    ) -> Result<()> {
        self.tx.enqueue(entry)?;
        self.queue_changed(conversation, true)
    }

    /// Takes the conversation out of the queue, telling the agents if it
    /// was in it.
    pub fn dequeue(&mut self, conversation: &ConversationRecord) -> Result<()> {
        if self.tx.dequeue(conversation.id)? {
            self.queue_changed(conversation, false)?;
        }
        Ok(())
    }

    fn queue_changed(&mut self, conversation: &ConversationRecord, queued: bool) -> Result<()> {
        self.emit(conversation, None, |scene, out| {
            out.broadcasts.push(scene.queue_broadcast(queued)?);
            Ok(())
        })
    }
}

/// What a unit wrote that others wait for.
pub(crate) struct Written {
    /// Webhook events, with their ids: the worker sends them.
    pub events: Vec<EventRecord>,
    /// Dead events made pending again: the worker reads the outbox.
    pub replayed: bool,
    /// Either of those: the worker has work.
    pub wakes_worker: bool,
    /// Realtime broadcasts: the feed looks.
    pub broadcast: bool,
    /// Those broadcasts, with their cursors, where the store gave them.
    pub broadcasts: Vec<BroadcastRecord>,
}

/// What one change sends: webhook events and realtime broadcasts.
struct Outgoing {
    /// Whether the channel has a webhook to send events to.
    webhook: bool,
    events: Vec<EventRecord>,
    broadcasts: Vec<crate::store::BroadcastRecord>,
}

/// A payload could not be written as JSON: a bug, as every payload is
/// made of strings, numbers and string-keyed maps.
fn cannot_encode(e: serde_json::Error) -> Error {
    crate::store::Error::Corrupt(format!("cannot encode an event: {e}")).into()
}
