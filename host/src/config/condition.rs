//! Routing conditions after validation: attributes resolved to fields,
//! literals typed, regexes compiled, plugin names resolved.

use std::collections::HashMap;

use regex::Regex;

use super::ConditionId;
use crate::diagnostics::{Code, Finding, did_you_mean};
use crate::dsl::ast::{CmpOp, Expr, Literal, Spanned};

#[derive(Debug, Clone)]
pub enum Condition {
    Const(bool),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Test { attribute: Attribute, test: Test },
    Exists(Attribute),
    Plugin(ConditionId),
    WithinHours,
}

impl Condition {
    /// Whether evaluating the condition may call a plugin.
    pub fn calls_plugins(&self) -> bool {
        match self {
            Condition::Plugin(_) => true,
            Condition::All(parts) | Condition::Any(parts) => parts.iter().any(Self::calls_plugins),
            Condition::Not(inner) => inner.calls_plugins(),
            Condition::Const(_)
            | Condition::Test { .. }
            | Condition::Exists(_)
            | Condition::WithinHours => false,
        }
    }

    /// Whether the condition holds whatever the input: a rule with such a
    /// condition shadows every rule after it.
    pub fn always_true(&self) -> bool {
        match self {
            Condition::Const(b) => *b,
            Condition::All(parts) => parts.iter().all(Condition::always_true),
            Condition::Any(parts) => parts.iter().any(Condition::always_true),
            Condition::Not(inner) => inner.always_false(),
            _ => false,
        }
    }

    fn always_false(&self) -> bool {
        match self {
            Condition::Const(b) => !*b,
            Condition::All(parts) => parts.iter().any(Condition::always_false),
            Condition::Any(parts) => parts.iter().all(Condition::always_false),
            Condition::Not(inner) => inner.always_true(),
            _ => false,
        }
    }

    /// Number of leaves (tests, plugin calls, constants), which the trace
    /// numbers in evaluation order.
    pub fn leaf_count(&self) -> usize {
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                parts.iter().map(Condition::leaf_count).sum()
            }
            Condition::Not(inner) => inner.leaf_count(),
            _ => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Test {
    Eq(Scalar),
    Ne(Scalar),
    Lt(Scalar),
    Le(Scalar),
    Gt(Scalar),
    Ge(Scalar),
    /// Case-insensitive.
    Contains(Box<Needle>),
    StartsWith(String),
    EndsWith(String),
    Matches(Regex),
    In(Vec<Scalar>),
}

/// Text to search for: lowercased, with its searcher built once, since a
/// rule's `contains` runs on every new conversation.
#[derive(Debug, Clone)]
pub struct Needle {
    lowercase: String,
    finder: memchr::memmem::Finder<'static>,
}

impl Needle {
    pub fn new(text: &str) -> Self {
        let lowercase = text.to_lowercase();
        let finder = memchr::memmem::Finder::new(lowercase.as_bytes()).into_owned();
        Self { lowercase, finder }
    }

    /// The lowercased text searched for.
    pub fn as_str(&self) -> &str {
        &self.lowercase
    }

    /// Whether the needle occurs in already lowercased text.
    pub fn is_in(&self, lowercase: &str) -> bool {
        self.finder.find(lowercase.as_bytes()).is_some()
    }
}

impl From<&str> for Needle {
    fn from(text: &str) -> Self {
        Needle::new(text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Num(n) => write!(f, "{n}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    Contact(ContactField),
    Conversation(ConversationField),
    Message(MessageField),
    Channel(ChannelField),
    Time(TimeField),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactField {
    Name,
    Email,
    PhoneNumber,
    Identifier,
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationField {
    Status,
    Priority,
    Labels,
    Custom(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageField {
    Content,
    MessageType,
    ContentType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelField {
    Name,
}

/// Local time in the channel's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    /// `mon` … `sun`.
    Weekday,
    Hour,
    Minute,
    /// `HH:MM`, comparable as text.
    Time,
    /// `YYYY-MM-DD`, comparable as text.
    Date,
}

/// What kind of value an attribute holds, for checking comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    List,
    /// Custom attributes hold whatever the front end sent.
    Any,
}

impl std::fmt::Display for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attribute::Contact(field) => match field {
                ContactField::Name => f.write_str("contact.name"),
                ContactField::Email => f.write_str("contact.email"),
                ContactField::PhoneNumber => f.write_str("contact.phone_number"),
                ContactField::Identifier => f.write_str("contact.identifier"),
                ContactField::Custom(key) => write!(f, "contact.{key}"),
            },
            Attribute::Conversation(field) => match field {
                ConversationField::Status => f.write_str("conversation.status"),
                ConversationField::Priority => f.write_str("conversation.priority"),
                ConversationField::Labels => f.write_str("conversation.labels"),
                ConversationField::Custom(key) => write!(f, "conversation.{key}"),
            },
            Attribute::Message(field) => f.write_str(match field {
                MessageField::Content => "message.content",
                MessageField::MessageType => "message.message_type",
                MessageField::ContentType => "message.content_type",
            }),
            Attribute::Channel(ChannelField::Name) => f.write_str("channel.name"),
            Attribute::Time(field) => f.write_str(match field {
                TimeField::Weekday => "time.weekday",
                TimeField::Hour => "time.hour",
                TimeField::Minute => "time.minute",
                TimeField::Time => "time.time",
                TimeField::Date => "time.date",
            }),
        }
    }
}

const CONTACT_FIELDS: [&str; 4] = ["name", "email", "phone_number", "identifier"];
const CONVERSATION_FIELDS: [&str; 3] = ["status", "priority", "labels"];
const MESSAGE_FIELDS: [&str; 3] = ["content", "message_type", "content_type"];
const CHANNEL_FIELDS: [&str; 1] = ["name"];
const TIME_FIELDS: [&str; 5] = ["weekday", "hour", "minute", "time", "date"];
const ROOTS: [&str; 5] = ["contact", "conversation", "message", "channel", "time"];

/// Lowers conditions, collecting findings; plugin names are resolved by the
/// caller-supplied lookup.
pub(super) struct Lowering<'a> {
    pub findings: &'a mut Vec<Finding>,
    /// Compiled patterns by source text: configurations repeat patterns
    /// across channels, and compiling is the dearest part of validation.
    pub regexes: &'a mut HashMap<String, Regex>,
    pub plugin: &'a dyn Fn(&Spanned<String>) -> Option<ConditionId>,
}

impl Lowering<'_> {
    pub fn condition(&mut self, expr: &Spanned<Expr>) -> Option<Condition> {
        Some(match &expr.value {
            Expr::Or(parts) => Condition::Any(self.all(parts)?),
            Expr::And(parts) => Condition::All(self.all(parts)?),
            Expr::Not(inner) => Condition::Not(Box::new(self.condition(inner)?)),
            Expr::Group(inner) => self.condition(inner)?,
            Expr::Plugin(name) => Condition::Plugin((self.plugin)(name)?),
            Expr::WithinHours => Condition::WithinHours,
            Expr::Bool(b) => Condition::Const(*b),
            Expr::Exists(path) => Condition::Exists(self.attribute(path)?.0),
            Expr::In { path, values } => {
                let (attribute, kind) = self.attribute(path)?;
                let values = values
                    .iter()
                    .map(|v| self.scalar(v, kind, &attribute))
                    .collect::<Option<Vec<_>>>()?;
                Condition::Test {
                    attribute,
                    test: Test::In(values),
                }
            }
            Expr::Compare { path, op, value } => {
                let (attribute, kind) = self.attribute(path)?;
                let test = self.test(*op, value, kind, &attribute)?;
                Condition::Test { attribute, test }
            }
        })
    }

    /// Lowers every part, reporting all of their problems.
    fn all(&mut self, parts: &[Spanned<Expr>]) -> Option<Vec<Condition>> {
        let lowered: Vec<_> = parts.iter().map(|p| self.condition(p)).collect();
        lowered.into_iter().collect()
    }

    fn test(
        &mut self,
        op: CmpOp,
        value: &Spanned<Literal>,
        kind: Kind,
        attribute: &Attribute,
    ) -> Option<Test> {
        let text_needed = |this: &mut Self, what: &str| -> Option<String> {
            match &value.value {
                Literal::String(s) => Some(s.clone()),
                _ => {
                    this.findings.push(
                        Finding::error(Code::TypeMismatch, format!("`{}` needs text", op.as_str()))
                            .at(value.span, format!("write {what} in quotes")),
                    );
                    None
                }
            }
        };
        if matches!(
            op,
            CmpOp::Contains | CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Matches
        ) && kind == Kind::Number
        {
            self.findings.push(
                Finding::error(Code::TypeMismatch, format!("`{attribute}` is a number"))
                    .at(value.span, format!("`{}` works on text", op.as_str()))
                    .help("compare numbers with `==`, `<`, `>=`, …"),
            );
            return None;
        }
        Some(match op {
            CmpOp::Contains => {
                Test::Contains(Box::new(Needle::new(&text_needed(self, "the text")?)))
            }
            CmpOp::StartsWith => Test::StartsWith(text_needed(self, "the prefix")?.to_lowercase()),
            CmpOp::EndsWith => Test::EndsWith(text_needed(self, "the suffix")?.to_lowercase()),
            CmpOp::Matches => {
                let pattern = text_needed(self, "the regular expression")?;
                if let Some(regex) = self.regexes.get(&pattern) {
                    return Some(Test::Matches(regex.clone()));
                }
                // A 1 MiB cap on the compiled program stops a pathological
                // pattern from eating the daemon's memory.
                match regex::RegexBuilder::new(&pattern)
                    .size_limit(1 << 20)
                    .build()
                {
                    Ok(regex) => {
                        self.regexes.insert(pattern, regex.clone());
                        Test::Matches(regex)
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        let last = reason
                            .lines()
                            .last()
                            .unwrap_or("invalid")
                            .trim()
                            .to_string();
                        self.findings.push(
                            Finding::error(Code::BadRegex, "regular expression does not compile")
                                .at(value.span, last.trim_start_matches("error: ").to_string())
                                .help("the syntax is that of the Rust `regex` crate; `(?i)` ignores case"),
                        );
                        return None;
                    }
                }
            }
            CmpOp::Eq => Test::Eq(self.scalar(value, kind, attribute)?),
            CmpOp::Ne => Test::Ne(self.scalar(value, kind, attribute)?),
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                let scalar = self.scalar(value, kind, attribute)?;
                if matches!(scalar, Scalar::Bool(_)) || kind == Kind::List {
                    self.findings.push(
                        Finding::error(
                            Code::TypeMismatch,
                            format!("`{}` orders numbers or text", op.as_str()),
                        )
                        .at(value.span, "cannot be ordered"),
                    );
                    return None;
                }
                match op {
                    CmpOp::Lt => Test::Lt(scalar),
                    CmpOp::Le => Test::Le(scalar),
                    CmpOp::Gt => Test::Gt(scalar),
                    _ => Test::Ge(scalar),
                }
            }
        })
    }

    fn scalar(
        &mut self,
        literal: &Spanned<Literal>,
        kind: Kind,
        attribute: &Attribute,
    ) -> Option<Scalar> {
        let scalar = match &literal.value {
            Literal::String(s) => Scalar::Str(s.clone()),
            Literal::Bool(b) => Scalar::Bool(*b),
            Literal::Number(n) => match n.parse::<f64>() {
                Ok(n) if n.is_finite() => Scalar::Num(n),
                _ => {
                    self.findings.push(
                        Finding::error(Code::BadNumber, "number out of range")
                            .at(literal.span, "here"),
                    );
                    return None;
                }
            },
        };
        let mismatch = match (&scalar, kind) {
            (Scalar::Str(_), Kind::Number) => Some("a number"),
            (Scalar::Num(_) | Scalar::Bool(_), Kind::Text) => Some("text in quotes"),
            _ => None,
        };
        if let Some(expected) = mismatch {
            self.findings.push(
                Finding::error(
                    Code::TypeMismatch,
                    format!("`{attribute}` is compared with the wrong kind of value"),
                )
                .at(literal.span, format!("expected {expected}")),
            );
            return None;
        }
        Some(scalar)
    }

    fn attribute(&mut self, path: &Spanned<String>) -> Option<(Attribute, Kind)> {
        let parts: Vec<&str> = path.value.split('.').collect();
        let (root, field) = match parts.as_slice() {
            [root, field] => (*root, *field),
            _ => {
                let root = parts.first().copied().unwrap_or("");
                let help = if ROOTS.contains(&root) {
                    format!(
                        "attributes have two parts, like `{root}.{}`",
                        parts.get(1).copied().unwrap_or("name")
                    )
                } else {
                    "attributes start with `contact.`, `conversation.`, `message.`, `channel.` or `time.`".to_string()
                };
                self.unknown_attribute(path, "not an attribute", help);
                return None;
            }
        };
        let found = match root {
            "contact" => Some(match field {
                "name" => (Attribute::Contact(ContactField::Name), Kind::Text),
                "email" => (Attribute::Contact(ContactField::Email), Kind::Text),
                "phone_number" => (Attribute::Contact(ContactField::PhoneNumber), Kind::Text),
                "identifier" => (Attribute::Contact(ContactField::Identifier), Kind::Text),
                custom => {
                    self.warn_if_typo(path, root, custom, &CONTACT_FIELDS);
                    (
                        Attribute::Contact(ContactField::Custom(custom.to_string())),
                        Kind::Any,
                    )
                }
            }),
            "conversation" => Some(match field {
                "status" => (
                    Attribute::Conversation(ConversationField::Status),
                    Kind::Text,
                ),
                "priority" => (
                    Attribute::Conversation(ConversationField::Priority),
                    Kind::Text,
                ),
                "labels" => (
                    Attribute::Conversation(ConversationField::Labels),
                    Kind::List,
                ),
                custom => {
                    self.warn_if_typo(path, root, custom, &CONVERSATION_FIELDS);
                    (
                        Attribute::Conversation(ConversationField::Custom(custom.to_string())),
                        Kind::Any,
                    )
                }
            }),
            "message" => match field {
                "content" => Some((Attribute::Message(MessageField::Content), Kind::Text)),
                "message_type" => Some((Attribute::Message(MessageField::MessageType), Kind::Text)),
                "content_type" => Some((Attribute::Message(MessageField::ContentType), Kind::Text)),
                _ => None,
            },
            "channel" => {
                (field == "name").then_some((Attribute::Channel(ChannelField::Name), Kind::Text))
            }
            "time" => match field {
                "weekday" => Some((Attribute::Time(TimeField::Weekday), Kind::Text)),
                "hour" => Some((Attribute::Time(TimeField::Hour), Kind::Number)),
                "minute" => Some((Attribute::Time(TimeField::Minute), Kind::Number)),
                "time" => Some((Attribute::Time(TimeField::Time), Kind::Text)),
                "date" => Some((Attribute::Time(TimeField::Date), Kind::Text)),
                _ => None,
            },
            _ => {
                let help = did_you_mean(root, ROOTS).map_or_else(
                    || "attributes start with `contact.`, `conversation.`, `message.`, `channel.` or `time.`".to_string(),
                    |r| format!("did you mean \"{r}.{field}\"?"),
                );
                self.unknown_attribute(path, "not an attribute", help);
                return None;
            }
        };
        if found.is_none() {
            let fields: &[&str] = match root {
                "message" => &MESSAGE_FIELDS,
                "channel" => &CHANNEL_FIELDS,
                _ => &TIME_FIELDS,
            };
            let help = did_you_mean(field, fields.iter().copied()).map_or_else(
                || {
                    format!(
                        "`{root}` has {}",
                        fields
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                |f| format!("did you mean \"{root}.{f}\"?"),
            );
            self.unknown_attribute(path, &format!("`{root}` has no field `{field}`"), help);
        }
        found
    }

    fn unknown_attribute(&mut self, path: &Spanned<String>, label: &str, help: String) {
        self.findings.push(
            Finding::error(
                Code::UnknownAttribute,
                format!("unknown attribute `{}`", path.value),
            )
            .at(path.span, label)
            .help(help),
        );
    }

    /// `contact.emial` is legal (a custom attribute) but probably a typo.
    fn warn_if_typo(&mut self, path: &Spanned<String>, root: &str, field: &str, builtins: &[&str]) {
        if let Some(close) = did_you_mean(field, builtins.iter().copied()) {
            self.findings.push(
                Finding::warning(
                    Code::CustomAttributeTypo,
                    format!("`{}` reads the custom attribute `{field}`", path.value),
                )
                .at(path.span, "custom attribute")
                .help(format!("did you mean \"{root}.{close}\"?")),
            );
        }
    }
}
