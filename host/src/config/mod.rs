//! The validated configuration: what a set of `.livedesk` files means.
//!
//! [`validate`] lowers the syntax tree into typed values — names resolved to
//! ids, hours to a [`Schedule`], conditions to [`Condition`]s with compiled
//! regexes — and reports every problem it finds, errors and warnings
//! together. After this point nothing is looked up by string.

mod condition;
mod lints;
mod lower;
mod scenario;
mod secret;

pub use condition::{
    Attribute, ChannelField, Condition, ContactField, ConversationField, MessageField, Scalar,
    Test, TimeField,
};
pub use scenario::{AgentFixture, Expectation, Scenario};
pub use secret::{Secret, SecretError};

use std::path::PathBuf;

use crate::diagnostics::Finding;
use crate::dsl::Program;
use crate::hours::Schedule;
use crate::model::Priority;
use crate::source::{Sources, Span};

pub use crate::model::Policy;

/// A file read, parsed and validated: every finding of every stage, and
/// the configuration when there was no error. Printing is the caller's.
pub struct Loaded {
    pub sources: Sources,
    pub config: Option<Config>,
    pub findings: Vec<Finding>,
}

impl Loaded {
    /// How many of the findings are errors.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }
}

/// The one way from text to configuration, for every command and for the
/// daemon's start and reload: the file and its includes are read and
/// parsed, then validated. `Err` only when the file itself cannot be read.
pub fn load(path: &std::path::Path) -> Result<Loaded, crate::dsl::Error> {
    Ok(match crate::dsl::load(path)? {
        Err(rejected) => Loaded {
            sources: rejected.sources,
            config: None,
            findings: rejected.findings,
        },
        Ok(program) => {
            let validated = validate(&program);
            Loaded {
                sources: program.sources,
                config: validated.config,
                findings: validated.findings,
            }
        }
    })
}

/// Lowers a parsed program. The config is `None` when any error was found.
pub fn validate(program: &Program) -> Validated {
    let (config, mut findings) = lower::lower(program);
    let config = config.filter(|_| !findings.iter().any(Finding::is_error));
    if let Some(config) = &config {
        findings.extend(lints::lint(config));
    }
    findings.sort_by_key(|f| f.span.map(|s| (s.file, s.start)));
    Validated { config, findings }
}

pub struct Validated {
    pub config: Option<Config>,
    pub findings: Vec<Finding>,
}

/// Identifies one version of the configuration: a hash of the text of
/// every source file in reading order, so the same files give the same
/// revision wherever they are read from. Shared, because every decision's trace carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Revision(pub std::sync::Arc<str>);

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Revision {
    pub fn of(sources: &Sources) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (_, file) in sources.iter() {
            hasher.update((file.text.len() as u64).to_le_bytes());
            hasher.update(file.text.as_bytes());
        }
        Revision(hex::encode(&hasher.finalize()[..6]).into())
    }
}

macro_rules! ids {
    ($($name:ident),*) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub struct $name(pub u32);

        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    )*};
}

ids!(AgentId, TeamId, AiAgentId, ConditionId, ChannelId);

#[derive(Debug, Clone)]
pub struct Config {
    pub revision: Revision,
    pub sources: Sources,
    pub agents: Vec<Agent>,
    pub teams: Vec<Team>,
    pub ai_agents: Vec<AiAgent>,
    pub conditions: Vec<PluginCondition>,
    pub channels: Vec<Channel>,
    pub scenarios: Vec<Scenario>,
}

impl Config {
    pub fn agent(&self, id: AgentId) -> &Agent {
        &self.agents[id.index()]
    }

    pub fn team(&self, id: TeamId) -> &Team {
        &self.teams[id.index()]
    }

    pub fn ai_agent(&self, id: AiAgentId) -> &AiAgent {
        &self.ai_agents[id.index()]
    }

    pub fn condition(&self, id: ConditionId) -> &PluginCondition {
        &self.conditions[id.index()]
    }

    pub fn channel(&self, id: ChannelId) -> &Channel {
        &self.channels[id.index()]
    }

    pub fn channel_named(&self, name: &str) -> Option<ChannelId> {
        self.channels
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(ChannelId)
    }

    pub fn agent_by_email(&self, email: &str) -> Option<AgentId> {
        self.agents
            .iter()
            .position(|a| a.email == email)
            .and_then(|i| u32::try_from(i).ok())
            .map(AgentId)
    }
}

/// A human agent; the email is their name in the configuration.
#[derive(Debug, Clone)]
pub struct Agent {
    pub email: String,
    pub display_name: String,
    /// Most conversations open at once before auto-assignment skips them.
    pub capacity: u32,
    pub token: Option<Secret>,
    /// How the agent starts: in the daemon when it first meets them, and
    /// in `test` blocks that do not say. `offline` unless the file says.
    pub availability: crate::model::Availability,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub name: String,
    pub agents: Vec<AgentId>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct AiAgent {
    pub name: String,
    pub plugin: PathBuf,
    pub allow_hosts: Vec<String>,
    pub config: Vec<(String, Secret)>,
    pub config_spans: ConfigSpans,
    pub enabled: bool,
    pub limits: PluginLimits,
    pub span: Span,
}

/// Where a plugin's `config { … }` block and its keys are, for the
/// plugin's own config check to point at.
#[derive(Debug, Clone, Default)]
pub struct ConfigSpans {
    /// The `config` block; `None` when the plugin block has none.
    pub block: Option<Span>,
    /// Each key, in the order of the plugin's `config`.
    pub keys: Vec<Span>,
}

#[derive(Debug, Clone)]
pub struct PluginCondition {
    pub name: String,
    pub plugin: PathBuf,
    pub config: Vec<(String, Secret)>,
    pub config_spans: ConfigSpans,
    pub limits: PluginLimits,
    pub span: Span,
}

/// What one call of a plugin may use. Every call gets the whole budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall-clock time the guest may run.
    pub timeout: std::time::Duration,
    /// Linear memory the instance may grow to, in bytes.
    pub memory: u64,
    /// Bytes that may cross host calls: the context handed in, log lines,
    /// config values, HTTP request and response bodies.
    pub host_io: u64,
}

impl PluginLimits {
    /// Conditions run on the routing path, once per rule that names them.
    pub const CONDITION: PluginLimits = PluginLimits {
        timeout: std::time::Duration::from_millis(5),
        memory: 64 << 20,
        host_io: 1 << 20,
    };
    /// Agents wait on a language model over HTTP.
    pub const AGENT: PluginLimits = PluginLimits {
        timeout: std::time::Duration::from_secs(30),
        memory: 128 << 20,
        host_io: 4 << 20,
    };
    /// The most any plugin may ask for; the plugin host reserves memory
    /// slots of this size.
    pub const MAX: PluginLimits = PluginLimits {
        timeout: std::time::Duration::from_secs(600),
        memory: 1 << 30,
        host_io: 64 << 20,
    };
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    /// Absent: the daemon generates one on first start and keeps it.
    pub inbox_identifier: Option<Secret>,
    pub webhook: Option<Webhook>,
    pub identity_validation: Option<IdentityValidation>,
    pub welcome: Option<String>,
    pub csat: bool,
    pub hours: Option<BusinessHours>,
    pub agents: Vec<AgentId>,
    pub ai_agent: Option<ChannelAiAgent>,
    pub policy: Policy,
    pub reassign_after: Option<std::time::Duration>,
    pub rules: Vec<Rule>,
    pub span: Span,
}

impl Channel {
    /// Whether the channel is within business hours at `at`. A channel
    /// without business hours is always open.
    pub fn is_open(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        self.hours.as_ref().is_none_or(|h| h.schedule.is_open(at))
    }

    /// The timezone that time conditions and hours use; UTC without hours.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.hours
            .as_ref()
            .map_or(chrono_tz::UTC, |h| h.schedule.timezone())
    }
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: Option<Secret>,
    /// Allow delivery to loopback and private-network addresses.
    pub allow_private_network: bool,
    /// Deliveries to this webhook at once, at most (`parallel N`); the
    /// worker's own bound when unset.
    pub parallel: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct IdentityValidation {
    /// Required: every contact call must carry a valid `identifier_hash`.
    pub required: bool,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct BusinessHours {
    pub schedule: Schedule,
    pub unavailable_message: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct ChannelAiAgent {
    pub agent: AiAgentId,
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    pub target: Target,
    pub labels: Vec<String>,
    pub priority: Option<Priority>,
    /// What happens when an agent or team target has nobody free.
    pub otherwise: crate::model::Fallback,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Agent(AgentId),
    Team(TeamId),
    AiAgent(AiAgentId),
    Queue,
}
