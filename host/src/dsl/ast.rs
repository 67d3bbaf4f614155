//! The syntax tree of a `.livedesk` file, exactly as written.
//!
//! Every node keeps the [`Span`] of its text so later stages can point at it.
//! Nothing here is checked beyond the grammar: names may be unknown, numbers
//! out of range, settings repeated. `config` decides what all of it means.

pub use crate::model::{Fallback, Policy, Priority};
use crate::source::Span;

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// One parsed `.livedesk` file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
    /// Comments in source order, kept apart from the tree so that `fmt` can
    /// put them back where they stood.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The comment text including its leading `#`, without the line break.
    pub text: String,
    pub span: Span,
    /// Whether code precedes the comment on its line.
    pub trailing: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Include(Spanned<String>),
    Agent(Block<AgentSetting>),
    Team(Block<TeamSetting>),
    AiAgent(Block<AiAgentSetting>),
    Condition(Block<ConditionSetting>),
    Channel(Block<ChannelSetting>),
    Test(Block<TestStatement>),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Include(path) => path.span,
            Item::Agent(b) => b.span,
            Item::Team(b) => b.span,
            Item::AiAgent(b) => b.span,
            Item::Condition(b) => b.span,
            Item::Channel(b) => b.span,
            Item::Test(b) => b.span,
        }
    }
}

/// A named block: `keyword "name" { settings… }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block<S> {
    pub name: Spanned<String>,
    pub settings: Vec<Spanned<S>>,
    pub span: Span,
}

/// A secret or identifier: written inline, or read from the environment.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Literal(String),
    Env(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AgentSetting {
    Name(Spanned<String>),
    Capacity(Spanned<u64>),
    Token(Spanned<Value>),
    /// `online`, `busy` or `offline`, checked when lowered.
    Availability(Spanned<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TeamSetting {
    Agents(Vec<Spanned<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AiAgentSetting {
    Plugin(Spanned<String>),
    AllowHosts(Vec<Spanned<String>>),
    Config(Vec<ConfigEntry>),
    Enabled(Spanned<bool>),
    Limit(PluginLimit),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConditionSetting {
    Plugin(Spanned<String>),
    Config(Vec<ConfigEntry>),
    Limit(PluginLimit),
}

/// A per-call limit of a plugin; sizes are in bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginLimit {
    Timeout(Spanned<Duration>),
    Memory(Spanned<u64>),
    HostIo(Spanned<u64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub key: Spanned<String>,
    pub value: Spanned<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChannelSetting {
    InboxIdentifier(Spanned<Value>),
    Webhook(Webhook),
    IdentityValidation(IdentityValidation),
    Welcome(Spanned<String>),
    Csat(Spanned<bool>),
    Hours(Hours),
    Agents(Vec<Spanned<String>>),
    AiAgent {
        name: Spanned<String>,
        enabled: Option<Spanned<bool>>,
    },
    Assignment(Spanned<Policy>),
    ReassignAfter(Spanned<Duration>),
    Rule(RoutingRule),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: Spanned<String>,
    pub settings: Vec<Spanned<WebhookSetting>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookSetting {
    Secret(Spanned<Value>),
    AllowPrivateNetwork,
    /// Deliveries to this webhook at once, at most.
    Parallel(Spanned<u64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct IdentityValidation {
    pub required: Spanned<bool>,
    pub secrets: Vec<Spanned<Value>>,
}

/// A duration as written: `250ms`, `90s`, `15m`, `2h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    pub amount: u64,
    pub unit: DurationUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl Duration {
    /// The length in seconds (rounded down), saturating on absurd values.
    pub fn as_secs(self) -> u64 {
        let per = match self.unit {
            DurationUnit::Milliseconds => return self.amount / 1_000,
            DurationUnit::Seconds => 1,
            DurationUnit::Minutes => 60,
            DurationUnit::Hours => 3_600,
            DurationUnit::Days => 86_400,
        };
        self.amount.saturating_mul(per)
    }

    pub fn to_std(self) -> std::time::Duration {
        match self.unit {
            DurationUnit::Milliseconds => std::time::Duration::from_millis(self.amount),
            _ => std::time::Duration::from_secs(self.as_secs()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    pub timezone: Spanned<String>,
    pub entries: Vec<Spanned<HoursEntry>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoursEntry {
    Weekly {
        days: Vec<DayRange>,
        hours: DayHours,
    },
    Date {
        date: Spanned<String>,
        hours: DayHours,
    },
    Unavailable(Spanned<String>),
}

/// `mon` or `mon..fri`; days are numbered from Monday = 0.
#[derive(Debug, Clone, PartialEq)]
pub struct DayRange {
    pub first: u8,
    pub last: u8,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DayHours {
    Closed,
    AllDay,
    Intervals(Vec<Spanned<Interval>>),
}

/// `HH:MM-HH:MM` as written, minutes since midnight; `24:00` is 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub open: u16,
    pub close: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoutingRule {
    pub name: Spanned<String>,
    pub when: Spanned<Expr>,
    pub actions: Vec<Spanned<Action>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    AssignAgent(Spanned<String>),
    AssignTeam(Spanned<String>),
    AssignAiAgent(Spanned<String>),
    AssignQueue,
    Labels(Vec<Spanned<String>>),
    Priority(Spanned<Priority>),
    Otherwise(Spanned<Fallback>),
}

/// A routing condition, with the parentheses the author wrote kept as
/// [`Expr::Group`] so that formatting reproduces them.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Vec<Spanned<Expr>>),
    And(Vec<Spanned<Expr>>),
    Not(Box<Spanned<Expr>>),
    Group(Box<Spanned<Expr>>),
    Plugin(Spanned<String>),
    WithinHours,
    Bool(bool),
    Exists(Spanned<String>),
    In {
        path: Spanned<String>,
        values: Vec<Spanned<Literal>>,
    },
    Compare {
        path: Spanned<String>,
        op: CmpOp,
        value: Spanned<Literal>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Contains => "contains",
            CmpOp::StartsWith => "starts_with",
            CmpOp::EndsWith => "ends_with",
            CmpOp::Matches => "matches",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    /// Kept as written so formatting never changes `1.50` into `1.5`.
    Number(String),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestStatement {
    Channel(Spanned<String>),
    At(Spanned<String>),
    Contact(Vec<Attribute>),
    Conversation(Vec<Attribute>),
    Message(Spanned<String>),
    Agent {
        email: Spanned<String>,
        availability: Spanned<String>,
        open: Option<Spanned<u64>>,
    },
    Expect(Expectation),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: Spanned<String>,
    pub value: AttributeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    One(Spanned<Literal>),
    List(Vec<Spanned<Literal>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Agent(Spanned<String>),
    Team(Spanned<String>),
    AiAgent(Spanned<String>),
    Queued,
    Rule(Spanned<String>),
    NoRule,
    Welcome,
    Unavailable,
    NoGreeting,
    Label(Spanned<String>),
    Priority(Spanned<Priority>),
    /// `plugin "name" ok` (`ok` true) or `plugin "name" error`.
    Plugin {
        name: Spanned<String>,
        ok: bool,
    },
}
