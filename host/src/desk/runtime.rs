//! What the daemon derives from one configuration before it serves it:
//! inboxes with their identifiers, resolved secrets, agent tokens and the
//! ids agents have on the wire.

use std::collections::HashMap;

use super::{Error, Result};
use crate::chatwoot::People;
use crate::config::{AgentId, ChannelId, Config};
use crate::plugins::PluginHost;
use crate::store::{self, Inbox, Store};

/// One channel's inbox and the secrets its requests are checked against.
#[derive(Debug, Clone)]
pub struct InboxRuntime {
    pub channel: ChannelId,
    pub inbox: Inbox,
    /// The identity validation secret and whether a hash is required.
    pub identity: Option<(Vec<u8>, bool)>,
}

pub struct Runtime {
    pub config: Config,
    pub plugins: Option<PluginHost>,
    /// Indexed by channel.
    pub inboxes: Vec<InboxRuntime>,
    pub people: People,
    /// `api_access_token` → agent.
    tokens: HashMap<String, AgentId>,
    /// Each agent's realtime socket token, by agent index.
    pubsub_tokens: Vec<Option<String>>,
}

impl Runtime {
    /// Resolves `config`'s secrets and makes sure every channel has an
    /// inbox and every agent a row. An inbox identifier not given in the
    /// configuration is generated once and kept.
    pub async fn prepare(
        config: Config,
        plugins: Option<PluginHost>,
        store: &dyn Store,
    ) -> Result<Self> {
        let mut wanted = Vec::with_capacity(config.channels.len());
        for channel in &config.channels {
            let identifier = channel
                .inbox_identifier
                .as_ref()
                .map(|s| s.resolve())
                .transpose()
                .map_err(|e| {
                    Error::Invalid(format!("channel `{}` inbox_identifier: {e}", channel.name))
                })?;
            wanted.push((channel.name.clone(), identifier));
        }
        let emails: Vec<(String, crate::model::Availability)> = config
            .agents
            .iter()
            .map(|a| (a.email.clone(), a.availability))
            .collect();
        let (inboxes, agents) = store::transaction(store, move |tx| {
            let mut existing: HashMap<String, Inbox> = tx
                .inboxes()?
                .into_iter()
                .map(|i| (i.channel.clone(), i))
                .collect();
            let mut inboxes = Vec::with_capacity(wanted.len());
            for (channel, identifier) in wanted.iter().cloned() {
                let inbox = match (existing.remove(&channel), identifier) {
                    (Some(mut inbox), Some(identifier)) if inbox.identifier != identifier => {
                        tx.set_inbox_identifier(inbox.id, &identifier)?;
                        inbox.identifier = identifier;
                        inbox
                    }
                    (Some(inbox), _) => inbox,
                    (None, identifier) => {
                        let identifier = identifier.unwrap_or_else(generate_token);
                        tx.insert_inbox(&channel, &identifier)?
                    }
                };
                inboxes.push(inbox);
            }
            let agents = emails
                .iter()
                .map(|(email, initial)| tx.ensure_agent(email, *initial))
                .collect::<Result<Vec<_>, store::Error>>()?;
            Ok::<_, store::Error>((inboxes, agents))
        })
        .await?;

        let mut runtime_inboxes = Vec::with_capacity(inboxes.len());
        for (index, (channel, inbox)) in config.channels.iter().zip(inboxes).enumerate() {
            let identity = channel
                .identity_validation
                .as_ref()
                .map(|v| {
                    v.secret
                        .resolve()
                        .map(|secret| (secret.into_bytes(), v.required))
                        .map_err(|e| {
                            Error::Invalid(format!(
                                "channel `{}` identity validation secret: {e}",
                                channel.name
                            ))
                        })
                })
                .transpose()?;
            runtime_inboxes.push(InboxRuntime {
                channel: ChannelId(u32::try_from(index).unwrap_or(u32::MAX)),
                inbox,
                identity,
            });
        }

        let mut people = People::default();
        let mut tokens = HashMap::new();
        let mut pubsub_tokens = vec![None; config.agents.len()];
        for (index, (agent, record)) in config.agents.iter().zip(agents).enumerate() {
            people
                .agents
                .insert(agent.email.clone(), (record.id, agent.display_name.clone()));
            match agent.token.as_ref().map(|t| t.resolve()) {
                Some(Ok(token)) => {
                    pubsub_tokens[index] = Some(crate::identity::agent_pubsub_token(&token));
                    tokens.insert(token, AgentId(u32::try_from(index).unwrap_or(u32::MAX)));
                }
                Some(Err(e)) => tracing::warn!(
                    agent = %agent.email,
                    "agent API token unavailable ({e}); this agent cannot use the agent API"
                ),
                None => {}
            }
        }
        for (index, ai) in config.ai_agents.iter().enumerate() {
            people.ai_agents.insert(
                ai.name.clone(),
                i64::try_from(index + 1).unwrap_or(i64::MAX),
            );
        }

        Ok(Self {
            config,
            plugins,
            inboxes: runtime_inboxes,
            people,
            tokens,
            pubsub_tokens,
        })
    }

    /// The agent's realtime socket token; none without an API token.
    pub fn agent_pubsub_token(&self, agent: AgentId) -> Option<&str> {
        self.pubsub_tokens.get(agent.index())?.as_deref()
    }

    /// The agent a realtime socket token belongs to.
    pub fn agent_by_pubsub_token(&self, token: &str) -> Option<AgentId> {
        self.pubsub_tokens
            .iter()
            .position(|known| {
                known
                    .as_deref()
                    .is_some_and(|known| constant_time_eq(known.as_bytes(), token.as_bytes()))
            })
            .map(|index| AgentId(u32::try_from(index).unwrap_or(u32::MAX)))
    }

    /// The inboxes whose conversations the agent works in: those of the
    /// channels whose pool, teams or rules name them.
    pub fn inboxes_of(&self, agent: AgentId) -> Vec<i64> {
        let config = &self.config;
        let in_team = |team: crate::config::TeamId| config.team(team).agents.contains(&agent);
        self.inboxes
            .iter()
            .filter(|inbox| {
                let channel = config.channel(inbox.channel);
                channel.agents.contains(&agent)
                    || channel.rules.iter().any(|rule| match rule.target {
                        crate::config::Target::Agent(a) => a == agent,
                        crate::config::Target::Team(t) => in_team(t),
                        _ => false,
                    })
            })
            .map(|inbox| inbox.inbox.id)
            .collect()
    }

    /// The inbox a client API identifier names.
    pub fn inbox_by_identifier(&self, identifier: &str) -> Option<&InboxRuntime> {
        self.inboxes
            .iter()
            .find(|i| constant_time_eq(i.inbox.identifier.as_bytes(), identifier.as_bytes()))
    }

    pub fn inbox_by_id(&self, id: i64) -> Option<&InboxRuntime> {
        self.inboxes.iter().find(|i| i.inbox.id == id)
    }

    /// The agent an `api_access_token` belongs to.
    pub fn agent_by_token(&self, token: &str) -> Option<AgentId> {
        self.tokens
            .iter()
            .find(|(known, _)| constant_time_eq(known.as_bytes(), token.as_bytes()))
            .map(|(_, agent)| *agent)
    }

    /// The agent with this id on the wire.
    pub fn agent_by_wire_id(&self, id: i64) -> Option<AgentId> {
        let email = self
            .people
            .agents
            .iter()
            .find(|(_, (wire, _))| *wire == id)
            .map(|(email, _)| email)?;
        self.config.agent_by_email(email)
    }
}

/// A random token for identifiers, source ids and pubsub tokens.
pub fn generate_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Compares secrets without revealing where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
