//! Why a decision came out as it did: every rule tried, every condition's
//! result, the tier that decided, and how the agent was picked.
//!
//! The trace stores small values only (indexes and booleans) so that
//! recording it costs next to nothing; [`super::explain`] turns it into text.

use serde::Serialize;

use crate::config::{AgentId, ConditionId, Policy, Revision};
use crate::model::Availability;

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub revision: Revision,
    pub within_hours: bool,
    pub rules: Vec<RuleTrace>,
    /// Leaf results of all rules, in evaluation order.
    pub leaves: Vec<LeafTrace>,
    pub selection: Option<Selection>,
    /// Things worth knowing that changed the path (a disabled AI agent).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RuleTrace {
    /// Index of the rule in its channel.
    pub rule: u16,
    pub matched: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeafTrace {
    pub rule: u16,
    /// Depth-first number of the leaf within the rule's condition.
    pub leaf: u16,
    pub result: LeafResult,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeafResult {
    Value(bool),
    /// A plugin's answer; an error counts as not matched.
    Plugin {
        condition: ConditionId,
        matched: bool,
        elapsed_us: u32,
        error: Option<Box<str>>,
        /// What the plugin logged and wrote to standard error, if anything.
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Box<PluginOutput>>,
    },
}

/// What one plugin call logged through the host and wrote to standard
/// error (a panic message, a Python traceback), bounded so that a chatty
/// plugin cannot make a trace large.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PluginOutput {
    pub logs: Vec<PluginLog>,
    /// Lines past the bound, counted but not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_logs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Box<str>>,
}

impl PluginOutput {
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty() && self.dropped_logs == 0 && self.stderr.is_none()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginLog {
    pub level: LogLevel,
    pub message: Box<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl LeafResult {
    pub fn matched(&self) -> bool {
        match self {
            LeafResult::Value(b) => *b,
            LeafResult::Plugin { matched, .. } => *matched,
        }
    }
}

/// How human auto-assignment chose among a pool's agents.
#[derive(Debug, Clone, Serialize)]
pub struct Selection {
    pub policy: Policy,
    pub candidates: Vec<Candidate>,
    pub picked: Option<AgentId>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Candidate {
    pub agent: AgentId,
    pub availability: Availability,
    pub open_conversations: u32,
    pub capacity: u32,
    pub last_assigned_at: Option<chrono::DateTime<chrono::Utc>>,
    pub eligible: bool,
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Policy::LeastLoad => "least_load",
            Policy::RoundRobin => "round_robin",
        })
    }
}
