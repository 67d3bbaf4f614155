//! `test` blocks: the made-up conversation and what it expects.

use super::*;

impl Lowerer<'_> {
    pub(super) fn scenario(
        &mut self,
        b: &Block<ast::TestStatement>,
        t: &Tables<'_>,
        channel_names: &[&str],
        channels: &[Channel],
    ) -> Option<Scenario> {
        let mut channel = None;
        let mut at = None;
        let mut contact = Contact::default();
        let mut conversation = Conversation::default();
        let mut message = None;
        let mut agents = Vec::new();
        let mut expectations = Vec::new();
        let mut broken = false;
        for s in &b.settings {
            match &s.value {
                ast::TestStatement::Channel(n) => {
                    match self.resolve("channel", Code::UnknownChannel, n, channel_names) {
                        Some(i) => self.once(&mut channel, ChannelId(i), s.span, "channel"),
                        None => broken = true,
                    }
                }
                ast::TestStatement::At(text) => match DateTime::parse_from_rfc3339(&text.value) {
                    Ok(t) => self.once(&mut at, t.with_timezone(&Utc), s.span, "at"),
                    Err(_) => {
                        broken = true;
                        self.findings.push(
                            Finding::error(
                                Code::BadTime,
                                format!("`{}` is not a time", text.value),
                            )
                            .at(text.span, "expected an RFC 3339 time")
                            .help("for example \"2026-11-24T10:00:00+07:00\""),
                        );
                    }
                },
                ast::TestStatement::Contact(attrs) => {
                    for a in attrs {
                        let value = attribute_json(&a.value);
                        let text = value.as_str().map(str::to_string);
                        match a.key.value.as_str() {
                            "name" => contact.name = text,
                            "email" => contact.email = text,
                            "phone_number" => contact.phone_number = text,
                            "identifier" => contact.identifier = text,
                            key => {
                                contact.custom_attributes.insert(key.to_string(), value);
                            }
                        }
                    }
                }
                ast::TestStatement::Conversation(attrs) => {
                    for a in attrs {
                        let value = attribute_json(&a.value);
                        match a.key.value.as_str() {
                            "labels" => {
                                conversation.labels = match value {
                                    serde_json::Value::Array(items) => items
                                        .iter()
                                        .filter_map(|v| v.as_str().map(str::to_string))
                                        .collect(),
                                    serde_json::Value::String(s) => vec![s],
                                    _ => Vec::new(),
                                }
                            }
                            "priority" => match value.as_str().and_then(ast::Priority::parse) {
                                Some(p) => conversation.priority = Some(p),
                                None => {
                                    broken = true;
                                    self.findings.push(
                                        Finding::error(Code::BadPriority, "unknown priority")
                                            .at(a.key.span, "here")
                                            .help("priorities are \"low\", \"medium\", \"high\" and \"urgent\""),
                                    );
                                }
                            },
                            key => {
                                conversation
                                    .custom_attributes
                                    .insert(key.to_string(), value);
                            }
                        }
                    }
                }
                ast::TestStatement::Message(text) => {
                    message = Some(Message {
                        content: text.value.clone(),
                        ..Message::default()
                    });
                }
                ast::TestStatement::Agent {
                    email,
                    availability,
                    open,
                } => {
                    let Some(i) = self.resolve("agent", Code::UnknownAgent, email, &t.agents)
                    else {
                        broken = true;
                        continue;
                    };
                    let open = open
                        .as_ref()
                        .map_or(0, |o| u32::try_from(o.value).unwrap_or(u32::MAX));
                    agents.push(AgentFixture {
                        agent: AgentId(i),
                        availability: Availability::parse(&availability.value).unwrap_or_default(),
                        open_conversations: open,
                    });
                }
                ast::TestStatement::Expect(e) => {
                    let resolved = match e {
                        ast::Expectation::Agent(n) => self
                            .resolve("agent", Code::UnknownAgent, n, &t.agents)
                            .map(|i| Expect::Agent(AgentId(i))),
                        ast::Expectation::Team(n) => self
                            .resolve("team", Code::UnknownTeam, n, &t.teams)
                            .map(|i| Expect::Team(TeamId(i))),
                        ast::Expectation::AiAgent(n) => self
                            .resolve("AI agent", Code::UnknownAiAgent, n, &t.ai_agents)
                            .map(|i| Expect::AiAgent(AiAgentId(i))),
                        ast::Expectation::Rule(n) => {
                            // Resolved against the test's channel once it is known.
                            expectations.push((Expect::Rule(usize::MAX), s.span, Some(n.clone())));
                            continue;
                        }
                        ast::Expectation::Queued => Some(Expect::Queued),
                        ast::Expectation::NoRule => Some(Expect::NoRule),
                        ast::Expectation::Welcome => Some(Expect::Welcome),
                        ast::Expectation::Unavailable => Some(Expect::Unavailable),
                        ast::Expectation::NoGreeting => Some(Expect::NoGreeting),
                        ast::Expectation::Label(l) => Some(Expect::Label(l.value.clone())),
                        ast::Expectation::Priority(p) => Some(Expect::Priority(p.value)),
                        ast::Expectation::Plugin { name, ok } => self
                            .resolve("condition", Code::UnknownCondition, name, &t.conditions)
                            .map(|i| Expect::Plugin {
                                condition: ConditionId(i),
                                ok: *ok,
                            }),
                    };
                    match resolved {
                        Some(e) => expectations.push((e, s.span, None)),
                        None => broken = true,
                    }
                }
            }
        }
        let head = Span {
            end: b.span.start + 4,
            ..b.span
        };
        if channel.is_none() && !broken {
            self.findings.push(
                Finding::error(
                    Code::MissingSetting,
                    format!("test `{}` names no channel", b.name.value),
                )
                .at(head, "this test needs `channel`")
                .help("add `channel \"…\"` inside the test"),
            );
        }
        // Without business hours a channel is always open, so a test of it
        // needs a time only if its rules read one; it gets a fixed instant
        // so that it still means the same every day.
        let timeless = channel
            .and_then(|(c, _)| channels.get(c.index()))
            .is_some_and(|c| c.hours.is_none());
        if at.is_none() && timeless {
            at = Some((default_test_instant(), head));
        }
        if at.is_none() && !broken {
            self.findings.push(
                Finding::error(
                    Code::MissingSetting,
                    format!("test `{}` gives no time", b.name.value),
                )
                .at(
                    head,
                    "this test's channel has business hours: it needs `at`",
                )
                .help(
                    "add `at \"2026-11-24T10:00:00+07:00\"` so the test means the same every day",
                ),
            );
        }
        if expectations.is_empty() {
            self.findings.push(
                Finding::warning(
                    Code::EmptyTest,
                    format!("test `{}` expects nothing", b.name.value),
                )
                .at(head, "this test cannot fail")
                .help("add `expect agent \"…\"`, `expect queued`, `expect welcome`, …"),
            );
        }
        let (channel, _) = channel?;
        let rule_names: Vec<&str> = channels
            .get(channel.index())
            .map(|c| c.rules.iter().map(|r| r.name.as_str()).collect())
            .unwrap_or_default();
        let mut resolved = Vec::new();
        for (e, span, rule) in expectations {
            match rule {
                Some(name) => {
                    if let Some(i) = self.resolve("rule", Code::UnknownRule, &name, &rule_names) {
                        resolved.push((Expect::Rule(i as usize), span));
                    }
                }
                None => resolved.push((e, span)),
            }
        }
        let (at, _) = at?;
        (!broken).then_some(Scenario {
            name: b.name.value.clone(),
            channel,
            at,
            contact,
            conversation,
            message,
            agents,
            expectations: resolved,
            span: b.name.span,
        })
    }
}

/// The time of a `test` block without `at` on a channel without hours:
/// Monday 5 January 2026, 12:00 UTC.
pub const DEFAULT_TEST_INSTANT: &str = "2026-01-05T12:00:00Z";

pub(super) fn default_test_instant() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEFAULT_TEST_INSTANT)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

pub(super) fn literal_json(l: &ast::Literal) -> serde_json::Value {
    match l {
        ast::Literal::String(s) => serde_json::Value::String(s.clone()),
        ast::Literal::Bool(b) => serde_json::Value::Bool(*b),
        ast::Literal::Number(n) => n
            .parse::<serde_json::Number>()
            .map(serde_json::Value::Number)
            .unwrap_or_else(|_| serde_json::Value::String(n.clone())),
    }
}

pub(super) fn attribute_json(v: &ast::AttributeValue) -> serde_json::Value {
    match v {
        ast::AttributeValue::One(l) => literal_json(&l.value),
        ast::AttributeValue::List(items) => {
            serde_json::Value::Array(items.iter().map(|l| literal_json(&l.value)).collect())
        }
    }
}
