//! The tree walker: grammar pairs into the syntax tree, block by block.

use super::values::{clock_minutes, day_number};
use super::*;

pub(super) struct Walker {
    pub(super) file: FileId,
    pub(super) findings: Vec<Finding>,
}

impl Walker {
    pub(super) fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    pub(super) fn spanned<T>(&self, pair: &Pair<'_, Rule>, value: T) -> Spanned<T> {
        Spanned::new(value, self.span(pair))
    }

    pub(super) fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        Some(match pair.as_rule() {
            Rule::include => {
                let path = children(pair).next().map(|p| self.string(p))?;
                Item::Include(path)
            }
            Rule::agent => Item::Agent(self.block(pair, Self::agent_setting)),
            Rule::team => Item::Team(self.block(pair, Self::team_setting)),
            Rule::ai_agent => Item::AiAgent(self.block(pair, Self::ai_agent_setting)),
            Rule::condition => Item::Condition(self.block(pair, Self::condition_setting)),
            Rule::channel => Item::Channel(self.block(pair, Self::channel_setting)),
            Rule::test => Item::Test(self.block(pair, Self::test_statement)),
            _ => return None,
        })
    }

    pub(super) fn block<S>(
        &mut self,
        pair: Pair<'_, Rule>,
        setting: fn(&mut Self, Pair<'_, Rule>) -> Option<S>,
    ) -> Block<S> {
        let span = self.span(&pair);
        let mut inner = children(pair);
        let name = inner
            .next()
            .map(|p| self.string(p))
            .unwrap_or_else(|| Spanned::new(String::new(), span));
        let settings = inner
            .filter_map(|p| {
                let at = self.span(&p);
                setting(self, p).map(|s| Spanned::new(s, at))
            })
            .collect();
        Block {
            name,
            settings,
            span,
        }
    }

    pub(super) fn agent_setting(&mut self, pair: Pair<'_, Rule>) -> Option<AgentSetting> {
        let kind = pair.as_rule();
        let arg = children(pair).next()?;
        Some(match kind {
            Rule::agent_name => AgentSetting::Name(self.string(arg)),
            Rule::agent_capacity => AgentSetting::Capacity(self.integer(arg)),
            Rule::agent_token => AgentSetting::Token(self.value(arg)),
            Rule::agent_availability => {
                AgentSetting::Availability(self.spanned(&arg, arg.as_str().to_owned()))
            }
            _ => return None,
        })
    }

    pub(super) fn team_setting(&mut self, pair: Pair<'_, Rule>) -> Option<TeamSetting> {
        let list = children(pair).next()?;
        Some(TeamSetting::Agents(self.string_list(list)))
    }

    pub(super) fn ai_agent_setting(&mut self, pair: Pair<'_, Rule>) -> Option<AiAgentSetting> {
        Some(match pair.as_rule() {
            Rule::plugin_path => AiAgentSetting::Plugin(self.string(children(pair).next()?)),
            Rule::allow_hosts => {
                AiAgentSetting::AllowHosts(self.string_list(children(pair).next()?))
            }
            Rule::plugin_config => AiAgentSetting::Config(self.config_entries(pair)),
            Rule::ai_enabled => {
                let b = children(pair).next()?;
                AiAgentSetting::Enabled(self.spanned(&b, b.as_str() == "true"))
            }
            _ => AiAgentSetting::Limit(self.plugin_limit(pair)?),
        })
    }

    pub(super) fn condition_setting(&mut self, pair: Pair<'_, Rule>) -> Option<ConditionSetting> {
        Some(match pair.as_rule() {
            Rule::plugin_path => ConditionSetting::Plugin(self.string(children(pair).next()?)),
            Rule::plugin_config => ConditionSetting::Config(self.config_entries(pair)),
            _ => ConditionSetting::Limit(self.plugin_limit(pair)?),
        })
    }

    pub(super) fn plugin_limit(&mut self, pair: Pair<'_, Rule>) -> Option<PluginLimit> {
        let kind = pair.as_rule();
        let value = children(pair).next()?;
        Some(match kind {
            Rule::plugin_timeout => PluginLimit::Timeout(self.duration(value)),
            Rule::plugin_memory => PluginLimit::Memory(self.size(value)),
            Rule::plugin_host_io => PluginLimit::HostIo(self.size(value)),
            _ => return None,
        })
    }

    pub(super) fn config_entries(&mut self, pair: Pair<'_, Rule>) -> Vec<ConfigEntry> {
        children(pair)
            .filter_map(|entry| {
                let mut inner = children(entry);
                let key = inner.next()?;
                let key = self.spanned(&key, key.as_str().to_string());
                let value = self.value(inner.next()?);
                Some(ConfigEntry { key, value })
            })
            .collect()
    }

    pub(super) fn channel_setting(&mut self, pair: Pair<'_, Rule>) -> Option<ChannelSetting> {
        let kind = pair.as_rule();
        Some(match kind {
            Rule::inbox_identifier => {
                ChannelSetting::InboxIdentifier(self.value(children(pair).next()?))
            }
            Rule::webhook => {
                let mut inner = children(pair);
                let url = self.string(inner.next()?);
                let settings = inner
                    .filter_map(|s| {
                        let at = self.span(&s);
                        let setting = match s.as_rule() {
                            Rule::secret => WebhookSetting::Secret(self.value(children(s).next()?)),
                            Rule::allow_private_network => WebhookSetting::AllowPrivateNetwork,
                            Rule::webhook_parallel => {
                                WebhookSetting::Parallel(self.integer(children(s).next()?))
                            }
                            _ => return None,
                        };
                        Some(Spanned::new(setting, at))
                    })
                    .collect();
                ChannelSetting::Webhook(Webhook { url, settings })
            }
            Rule::identity_validation => {
                let mut inner = children(pair);
                let mode = inner.next()?;
                let required = self.spanned(&mode, mode.as_str() == "required");
                let secrets = inner
                    .filter_map(|s| children(s).next())
                    .map(|v| self.value(v))
                    .collect();
                ChannelSetting::IdentityValidation(IdentityValidation { required, secrets })
            }
            Rule::welcome => ChannelSetting::Welcome(self.string(children(pair).next()?)),
            Rule::csat => {
                let v = children(pair).next()?;
                ChannelSetting::Csat(self.spanned(&v, v.as_str() == "on"))
            }
            Rule::hours => ChannelSetting::Hours(self.hours(pair)?),
            Rule::channel_agents => {
                ChannelSetting::Agents(self.string_list(children(pair).next()?))
            }
            Rule::channel_ai_agent => {
                let mut inner = children(pair);
                let name = self.string(inner.next()?);
                let enabled = inner.next().map(|v| self.spanned(&v, v.as_str() == "on"));
                ChannelSetting::AiAgent { name, enabled }
            }
            Rule::assignment => {
                let p = children(pair).next()?;
                let policy = if p.as_str() == "round_robin" {
                    Policy::RoundRobin
                } else {
                    Policy::LeastLoad
                };
                ChannelSetting::Assignment(self.spanned(&p, policy))
            }
            Rule::reassign_after => {
                ChannelSetting::ReassignAfter(self.duration(children(pair).next()?))
            }
            Rule::rule => ChannelSetting::Rule(self.rule(pair)?),
            _ => return None,
        })
    }

    pub(super) fn hours(&mut self, pair: Pair<'_, Rule>) -> Option<Hours> {
        let mut inner = children(pair);
        let timezone = self.string(inner.next()?);
        let entries = inner
            .filter_map(|entry| {
                let at = self.span(&entry);
                let value = match entry.as_rule() {
                    Rule::weekly_hours => {
                        let mut parts = children(entry);
                        let days = parts.next()?;
                        let days = children(days).filter_map(|r| self.day_range(r)).collect();
                        HoursEntry::Weekly {
                            days,
                            hours: self.day_hours(parts.next()?),
                        }
                    }
                    Rule::date_hours => {
                        let mut parts = children(entry);
                        let date = parts.next()?;
                        let date = self.spanned(&date, date.as_str().to_string());
                        HoursEntry::Date {
                            date,
                            hours: self.day_hours(parts.next()?),
                        }
                    }
                    Rule::unavailable => {
                        HoursEntry::Unavailable(self.string(children(entry).next()?))
                    }
                    _ => return None,
                };
                Some(Spanned::new(value, at))
            })
            .collect();
        Some(Hours { timezone, entries })
    }

    pub(super) fn day_range(&mut self, pair: Pair<'_, Rule>) -> Option<DayRange> {
        let span = self.span(&pair);
        let days: Vec<u8> = children(pair)
            .filter_map(|d| day_number(d.as_str()))
            .collect();
        let first = *days.first()?;
        Some(DayRange {
            first,
            last: days.get(1).copied().unwrap_or(first),
            span,
        })
    }

    pub(super) fn day_hours(&mut self, pair: Pair<'_, Rule>) -> DayHours {
        let text = pair.as_str();
        if text.starts_with("closed") {
            return DayHours::Closed;
        }
        if text.starts_with("all_day") {
            return DayHours::AllDay;
        }
        DayHours::Intervals(children(pair).filter_map(|i| self.interval(i)).collect())
    }

    pub(super) fn interval(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Interval>> {
        let span = self.span(&pair);
        let mut clocks = children(pair).map(|c| (self.span(&c), clock_minutes(c.as_str())));
        let (open_span, open) = clocks.next()?;
        let (close_span, close) = clocks.next()?;
        let mut check = |span: Span, minutes: Option<u16>| {
            if minutes.is_none() {
                self.findings.push(
                    Finding::error(Code::BadTime, "not a time of day")
                        .at(span, "hours run 00–23 and minutes 00–59")
                        .help("write `24:00` for the end of the day"),
                );
            }
            minutes
        };
        let open = check(open_span, open)?;
        let close = check(close_span, close)?;
        Some(Spanned::new(Interval { open, close }, span))
    }

    pub(super) fn rule(&mut self, pair: Pair<'_, Rule>) -> Option<RoutingRule> {
        let mut inner = children(pair);
        let name = self.string(inner.next()?);
        let when = inner.next()?;
        let when = self.expr(children(when).next()?)?;
        let actions = inner
            .filter_map(|action| {
                let at = self.span(&action);
                let value = match action.as_rule() {
                    Rule::assign => {
                        let target = children(action).next()?;
                        match target.as_rule() {
                            Rule::assign_agent => {
                                Action::AssignAgent(self.string(children(target).next()?))
                            }
                            Rule::assign_team => {
                                Action::AssignTeam(self.string(children(target).next()?))
                            }
                            Rule::assign_ai_agent => {
                                Action::AssignAiAgent(self.string(children(target).next()?))
                            }
                            _ => Action::AssignQueue,
                        }
                    }
                    Rule::set_label => Action::Labels(self.string_list(children(action).next()?)),
                    Rule::set_priority => {
                        Action::Priority(self.priority(children(action).next()?)?)
                    }
                    Rule::otherwise => {
                        let fallback = children(action).next()?;
                        let value = match fallback.as_str() {
                            "continue" => Fallback::Continue,
                            _ => Fallback::Queue,
                        };
                        Action::Otherwise(self.spanned(&fallback, value))
                    }
                    _ => return None,
                };
                Some(Spanned::new(value, at))
            })
            .collect();
        Some(RoutingRule {
            name,
            when,
            actions,
        })
    }

    pub(super) fn test_statement(&mut self, pair: Pair<'_, Rule>) -> Option<TestStatement> {
        let kind = pair.as_rule();
        Some(match kind {
            Rule::test_channel => TestStatement::Channel(self.string(children(pair).next()?)),
            Rule::test_at => TestStatement::At(self.string(children(pair).next()?)),
            Rule::test_message => TestStatement::Message(self.string(children(pair).next()?)),
            Rule::test_contact | Rule::test_conversation => {
                let attributes = children(pair).filter_map(|a| self.attribute(a)).collect();
                if kind == Rule::test_contact {
                    TestStatement::Contact(attributes)
                } else {
                    TestStatement::Conversation(attributes)
                }
            }
            Rule::test_agent => {
                let mut inner = children(pair);
                let email = self.string(inner.next()?);
                let availability = inner.next()?;
                let availability = self.spanned(&availability, availability.as_str().to_string());
                let open = inner.next().map(|n| self.integer(n));
                TestStatement::Agent {
                    email,
                    availability,
                    open,
                }
            }
            Rule::expect => {
                let e = children(pair).next()?;
                let arg = children(e.clone()).next();
                let name = |w: &mut Self| arg.clone().map(|a| w.string(a));
                TestStatement::Expect(match e.as_rule() {
                    Rule::expect_agent => Expectation::Agent(name(self)?),
                    Rule::expect_team => Expectation::Team(name(self)?),
                    Rule::expect_ai_agent => Expectation::AiAgent(name(self)?),
                    Rule::expect_rule => Expectation::Rule(name(self)?),
                    Rule::expect_label => Expectation::Label(name(self)?),
                    Rule::expect_queued => Expectation::Queued,
                    Rule::expect_no_rule => Expectation::NoRule,
                    Rule::expect_welcome => Expectation::Welcome,
                    Rule::expect_unavailable => Expectation::Unavailable,
                    Rule::expect_no_greeting => Expectation::NoGreeting,
                    Rule::expect_priority => Expectation::Priority(self.priority(arg?)?),
                    Rule::expect_plugin => Expectation::Plugin {
                        name: name(self)?,
                        ok: children(e).nth(1)?.as_str() == "ok",
                    },
                    _ => return None,
                })
            }
            _ => return None,
        })
    }

    pub(super) fn attribute(&mut self, pair: Pair<'_, Rule>) -> Option<Attribute> {
        let mut inner = children(pair);
        let key = inner.next()?;
        let key = self.spanned(&key, key.as_str().to_string());
        let value = inner.next()?;
        let value = if value.as_rule() == Rule::list {
            AttributeValue::List(children(value).filter_map(|l| self.literal(l)).collect())
        } else {
            AttributeValue::One(self.literal(value)?)
        };
        Some(Attribute { key, value })
    }
}
