//! From text to [`ast::File`]: the pest grammar, then a walk that builds
//! typed nodes with spans and turns grammar failures into findings.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest_derive::Parser;

use super::ast::*;
use super::scan;
use crate::diagnostics::{Code, Finding, help_for};
use crate::source::{FileId, Span};

#[derive(Parser)]
#[grammar = "../../grammar/livedesk.pest"]
struct Grammar;

/// Parses one file. Returns the tree, or every problem found in it.
pub fn parse(file: FileId, text: &str) -> Result<File, Vec<Finding>> {
    let scan = scan::scan(file, text);
    if let Some(finding) = scan.too_deep {
        return Err(vec![finding]);
    }
    let mut pairs =
        Grammar::parse(Rule::file, text).map_err(|e| vec![grammar_error(file, text, &e)])?;
    let Some(root) = pairs.next() else {
        return Err(vec![
            Finding::error(Code::Syntax, "empty parse").at(Span::new(file, 0, 0), "here"),
        ]);
    };
    let mut walker = Walker {
        file,
        findings: Vec::new(),
    };
    let items = root
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .filter_map(|p| walker.item(p))
        .collect();
    if walker.findings.is_empty() {
        Ok(File {
            items,
            comments: scan.comments,
        })
    } else {
        Err(walker.findings)
    }
}

fn grammar_error(file: FileId, text: &str, error: &pest::error::Error<Rule>) -> Finding {
    let at = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    // Point at the whole word where parsing stopped, not one character.
    let word_len = text[at..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len() - at);
    let found = &text[at..at + word_len];
    let span = Span::new(file, at, at + word_len.max(usize::from(at < text.len())));
    match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut expected: Vec<&str> = positives.iter().map(|r| describe(*r)).collect();
            expected.sort_unstable();
            expected.dedup();
            let list = join_or(&expected);
            let keywords = positives.iter().filter_map(|r| keyword_text(*r));
            let help = if found.is_empty() {
                None
            } else {
                help_for(found, keywords)
            };
            let label = if found.is_empty() {
                "unexpected end of input".to_string()
            } else {
                format!("unexpected `{found}`")
            };
            Finding::error(Code::Syntax, format!("expected {list}"))
                .at(span, label)
                .help_opt(help)
        }
        ErrorVariant::CustomError { message } => {
            Finding::error(Code::Syntax, message.clone()).at(span, "here")
        }
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The keyword a `kw_*` rule matches, for "did you mean" on grammar errors.
fn keyword_text(kind: Rule) -> Option<&'static str> {
    describe(kind)
        .strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// How a grammar rule is named in an error message.
fn describe(kind: Rule) -> &'static str {
    match kind {
        Rule::EOI => "end of file",
        Rule::string | Rule::string_list => "a string",
        Rule::integer => "a whole number",
        Rule::number => "a number",
        Rule::duration => "a duration like `15m`",
        Rule::size => "a size like `64MiB`",
        Rule::boolean => "`true` or `false`",
        Rule::on_off => "`on` or `off`",
        Rule::value | Rule::env_ref => "a string or `env(\"NAME\")`",
        Rule::ident | Rule::config_entry | Rule::attribute => "a name",
        Rule::policy => "`least_load` or `round_robin`",
        Rule::validation_mode => "`required` or `optional`",
        Rule::priority_level => "`low`, `medium`, `high` or `urgent`",
        Rule::availability => "`online`, `busy` or `offline`",
        Rule::day | Rule::day_set | Rule::day_range | Rule::weekly_hours => "a day (`mon` … `sun`)",
        Rule::date | Rule::date_hours => "a date like `2026-12-25`",
        Rule::clock | Rule::interval | Rule::day_hours => "hours like `09:00-17:00`",
        Rule::path | Rule::predicate => "an attribute like `contact.email`",
        Rule::cmp_op => "an operator (`==`, `!=`, `<`, `contains`, `matches`, …)",
        Rule::list => "a list like `[\"a\", \"b\"]`",
        Rule::expr | Rule::and_expr | Rule::not_expr | Rule::group => "a condition",
        Rule::kw_agent
        | Rule::agent
        | Rule::assign_agent
        | Rule::test_agent
        | Rule::expect_agent => "`agent`",
        Rule::kw_agents | Rule::channel_agents | Rule::team_agents => "`agents`",
        Rule::kw_ai_agent
        | Rule::ai_agent
        | Rule::channel_ai_agent
        | Rule::assign_ai_agent
        | Rule::expect_ai_agent => "`ai_agent`",
        Rule::kw_all_day => "`all_day`",
        Rule::kw_allow_hosts | Rule::allow_hosts => "`allow_hosts`",
        Rule::kw_allow_private | Rule::allow_private_network => "`allow_private_network`",
        Rule::kw_and => "`and`",
        Rule::kw_assign | Rule::assign => "`assign`",
        Rule::kw_assignment | Rule::assignment => "`assignment`",
        Rule::kw_at | Rule::test_at => "`at`",
        Rule::kw_availability | Rule::agent_availability => "`availability`",
        Rule::kw_capacity | Rule::agent_capacity => "`capacity`",
        Rule::kw_channel | Rule::channel | Rule::test_channel => "`channel`",
        Rule::kw_closed => "`closed`",
        Rule::kw_condition | Rule::condition => "`condition`",
        Rule::kw_config | Rule::plugin_config => "`config`",
        Rule::kw_contact | Rule::test_contact => "`contact`",
        Rule::kw_conversation | Rule::test_conversation => "`conversation`",
        Rule::kw_csat | Rule::csat => "`csat`",
        Rule::kw_enabled | Rule::ai_enabled => "`enabled`",
        Rule::kw_env => "`env`",
        Rule::kw_exists => "`exists`",
        Rule::kw_expect | Rule::expect => "`expect`",
        Rule::kw_host_io | Rule::plugin_host_io => "`host_io`",
        Rule::kw_hours | Rule::hours => "`hours`",
        Rule::kw_identity_validation | Rule::identity_validation => "`identity_validation`",
        Rule::kw_in => "`in`",
        Rule::kw_inbox_identifier | Rule::inbox_identifier => "`inbox_identifier`",
        Rule::kw_include | Rule::include => "`include`",
        Rule::kw_label | Rule::set_label | Rule::expect_label => "`label`",
        Rule::kw_memory | Rule::plugin_memory => "`memory`",
        Rule::kw_message | Rule::test_message => "`message`",
        Rule::kw_name | Rule::agent_name => "`name`",
        Rule::kw_no_greeting | Rule::expect_no_greeting => "`no_greeting`",
        Rule::kw_no_rule | Rule::expect_no_rule => "`no_rule`",
        Rule::kw_not => "`not`",
        Rule::kw_open => "`open`",
        Rule::kw_or => "`or`",
        Rule::kw_otherwise | Rule::otherwise => "`otherwise`",
        Rule::fallback => "`queue` or `continue`",
        Rule::kw_plugin | Rule::plugin_path | Rule::plugin_ref => "`plugin`",
        Rule::kw_priority | Rule::set_priority | Rule::expect_priority => "`priority`",
        Rule::kw_queue | Rule::assign_queue => "`queue`",
        Rule::kw_queued | Rule::expect_queued => "`queued`",
        Rule::kw_reassign_after | Rule::reassign_after => "`reassign_after`",
        Rule::kw_rule | Rule::rule | Rule::expect_rule => "`rule`",
        Rule::kw_secret | Rule::secret => "`secret`",
        Rule::kw_team | Rule::team | Rule::assign_team | Rule::expect_team => "`team`",
        Rule::kw_test | Rule::test => "`test`",
        Rule::kw_timeout | Rule::plugin_timeout => "`timeout`",
        Rule::kw_token | Rule::agent_token => "`token`",
        Rule::kw_unavailable | Rule::unavailable | Rule::expect_unavailable => "`unavailable`",
        Rule::kw_webhook | Rule::webhook => "`webhook`",
        Rule::kw_welcome | Rule::welcome | Rule::expect_welcome => "`welcome`",
        Rule::kw_when | Rule::rule_when => "`when`",
        Rule::kw_within_hours | Rule::within_hours => "`within_hours`",
        _ => "something else",
    }
}

fn is_keyword(kind: Rule) -> bool {
    matches!(
        kind,
        Rule::kw_agent
            | Rule::kw_agents
            | Rule::kw_ai_agent
            | Rule::kw_all_day
            | Rule::kw_allow_hosts
            | Rule::kw_allow_private
            | Rule::kw_and
            | Rule::kw_assign
            | Rule::kw_assignment
            | Rule::kw_at
            | Rule::kw_availability
            | Rule::kw_capacity
            | Rule::kw_channel
            | Rule::kw_closed
            | Rule::kw_condition
            | Rule::kw_config
            | Rule::kw_contact
            | Rule::kw_conversation
            | Rule::kw_csat
            | Rule::kw_enabled
            | Rule::kw_env
            | Rule::kw_exists
            | Rule::kw_expect
            | Rule::kw_host_io
            | Rule::kw_hours
            | Rule::kw_identity_validation
            | Rule::kw_in
            | Rule::kw_inbox_identifier
            | Rule::kw_include
            | Rule::kw_label
            | Rule::kw_memory
            | Rule::kw_message
            | Rule::kw_name
            | Rule::kw_no_greeting
            | Rule::kw_no_rule
            | Rule::kw_not
            | Rule::kw_open
            | Rule::kw_or
            | Rule::kw_otherwise
            | Rule::kw_plugin
            | Rule::kw_priority
            | Rule::kw_queue
            | Rule::kw_queued
            | Rule::kw_reassign_after
            | Rule::kw_rule
            | Rule::kw_secret
            | Rule::kw_team
            | Rule::kw_test
            | Rule::kw_timeout
            | Rule::kw_token
            | Rule::kw_unavailable
            | Rule::kw_webhook
            | Rule::kw_welcome
            | Rule::kw_when
            | Rule::kw_within_hours
    )
}

/// The children of a node that carry meaning (keywords dropped).
fn children(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

struct Walker {
    file: FileId,
    findings: Vec<Finding>,
}

impl Walker {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn spanned<T>(&self, pair: &Pair<'_, Rule>, value: T) -> Spanned<T> {
        Spanned::new(value, self.span(pair))
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
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

    fn block<S>(
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

    fn agent_setting(&mut self, pair: Pair<'_, Rule>) -> Option<AgentSetting> {
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

    fn team_setting(&mut self, pair: Pair<'_, Rule>) -> Option<TeamSetting> {
        let list = children(pair).next()?;
        Some(TeamSetting::Agents(self.string_list(list)))
    }

    fn ai_agent_setting(&mut self, pair: Pair<'_, Rule>) -> Option<AiAgentSetting> {
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

    fn condition_setting(&mut self, pair: Pair<'_, Rule>) -> Option<ConditionSetting> {
        Some(match pair.as_rule() {
            Rule::plugin_path => ConditionSetting::Plugin(self.string(children(pair).next()?)),
            Rule::plugin_config => ConditionSetting::Config(self.config_entries(pair)),
            _ => ConditionSetting::Limit(self.plugin_limit(pair)?),
        })
    }

    fn plugin_limit(&mut self, pair: Pair<'_, Rule>) -> Option<PluginLimit> {
        let kind = pair.as_rule();
        let value = children(pair).next()?;
        Some(match kind {
            Rule::plugin_timeout => PluginLimit::Timeout(self.duration(value)),
            Rule::plugin_memory => PluginLimit::Memory(self.size(value)),
            Rule::plugin_host_io => PluginLimit::HostIo(self.size(value)),
            _ => return None,
        })
    }

    /// A size in bytes from `512KiB`, `64MiB`, `1GiB`.
    fn size(&mut self, pair: Pair<'_, Rule>) -> Spanned<u64> {
        let text = pair.as_str();
        let (digits, unit) = text.split_at(text.len().saturating_sub(3));
        let per: u64 = match unit {
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            _ => 1 << 30,
        };
        let bytes = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(per));
        let bytes = bytes.unwrap_or_else(|| {
            self.findings.push(
                Finding::error(Code::BadNumber, "size is too large").at(self.span(&pair), "here"),
            );
            0
        });
        self.spanned(&pair, bytes)
    }

    fn config_entries(&mut self, pair: Pair<'_, Rule>) -> Vec<ConfigEntry> {
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

    fn channel_setting(&mut self, pair: Pair<'_, Rule>) -> Option<ChannelSetting> {
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

    fn hours(&mut self, pair: Pair<'_, Rule>) -> Option<Hours> {
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

    fn day_range(&mut self, pair: Pair<'_, Rule>) -> Option<DayRange> {
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

    fn day_hours(&mut self, pair: Pair<'_, Rule>) -> DayHours {
        let text = pair.as_str();
        if text.starts_with("closed") {
            return DayHours::Closed;
        }
        if text.starts_with("all_day") {
            return DayHours::AllDay;
        }
        DayHours::Intervals(children(pair).filter_map(|i| self.interval(i)).collect())
    }

    fn interval(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Interval>> {
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

    fn rule(&mut self, pair: Pair<'_, Rule>) -> Option<RoutingRule> {
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

    fn priority(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Priority>> {
        let p = Priority::parse(pair.as_str())?;
        Some(self.spanned(&pair, p))
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Expr>> {
        let span = self.span(&pair);
        let value = match pair.as_rule() {
            Rule::expr | Rule::and_expr => {
                let is_or = pair.as_rule() == Rule::expr;
                let mut parts: Vec<_> = children(pair).filter_map(|p| self.expr(p)).collect();
                if parts.len() == 1 {
                    return parts.pop();
                }
                if is_or {
                    Expr::Or(parts)
                } else {
                    Expr::And(parts)
                }
            }
            Rule::not_expr => {
                let nots = pair
                    .clone()
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::kw_not)
                    .count();
                if nots > scan::MAX_NESTING {
                    self.findings.push(
                        Finding::error(Code::NestingTooDeep, "too many `not`s in a row")
                            .at(span, format!("more than {}", scan::MAX_NESTING))
                            .help("two `not`s cancel out"),
                    );
                    return None;
                }
                let primary = children(pair).next()?;
                let mut e = self.expr(primary)?;
                for _ in 0..nots {
                    e = Spanned::new(Expr::Not(Box::new(e)), span);
                }
                return Some(e);
            }
            Rule::group => Expr::Group(Box::new(self.expr(children(pair).next()?)?)),
            Rule::plugin_ref => Expr::Plugin(self.string(children(pair).next()?)),
            Rule::within_hours => Expr::WithinHours,
            Rule::boolean => Expr::Bool(pair.as_str() == "true"),
            Rule::predicate => {
                let mut inner = pair.into_inner();
                let path = inner.next()?;
                let path = self.spanned(&path, path.as_str().to_string());
                let what = inner.next()?;
                match what.as_rule() {
                    Rule::kw_exists => Expr::Exists(path),
                    Rule::kw_in => {
                        let values = children(inner.next()?)
                            .filter_map(|l| self.literal(l))
                            .collect();
                        Expr::In { path, values }
                    }
                    _ => {
                        let op = cmp_op(what.as_str())?;
                        let value = self.literal(inner.next()?)?;
                        Expr::Compare { path, op, value }
                    }
                }
            }
            _ => return None,
        };
        Some(Spanned::new(value, span))
    }

    fn literal(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Literal>> {
        let span = self.span(&pair);
        let value = match pair.as_rule() {
            Rule::string => Literal::String(self.string(pair).value),
            Rule::number => Literal::Number(pair.as_str().to_string()),
            Rule::boolean => Literal::Bool(pair.as_str() == "true"),
            _ => return None,
        };
        Some(Spanned::new(value, span))
    }

    fn test_statement(&mut self, pair: Pair<'_, Rule>) -> Option<TestStatement> {
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
                    _ => return None,
                })
            }
            _ => return None,
        })
    }

    fn attribute(&mut self, pair: Pair<'_, Rule>) -> Option<Attribute> {
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

    fn string_list(&mut self, pair: Pair<'_, Rule>) -> Vec<Spanned<String>> {
        children(pair).map(|s| self.string(s)).collect()
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> Spanned<Value> {
        let span = self.span(&pair);
        let Some(inner) = children(pair).next() else {
            return Spanned::new(Value::Literal(String::new()), span);
        };
        let value = if inner.as_rule() == Rule::env_ref {
            match children(inner).next() {
                Some(name) => Value::Env(self.string(name).value),
                None => Value::Env(String::new()),
            }
        } else {
            Value::Literal(self.string(inner).value)
        };
        Spanned::new(value, span)
    }

    fn integer(&mut self, pair: Pair<'_, Rule>) -> Spanned<u64> {
        let n = pair.as_str().parse().unwrap_or_else(|_| {
            self.findings.push(
                Finding::error(Code::BadNumber, "number is too large").at(self.span(&pair), "here"),
            );
            0
        });
        self.spanned(&pair, n)
    }

    fn duration(&mut self, pair: Pair<'_, Rule>) -> Spanned<Duration> {
        let text = pair.as_str();
        let unit_len = if text.ends_with("ms") { 2 } else { 1 };
        let (digits, unit) = text.split_at(text.len().saturating_sub(unit_len));
        let unit = match unit {
            "ms" => DurationUnit::Milliseconds,
            "s" => DurationUnit::Seconds,
            "h" => DurationUnit::Hours,
            "d" => DurationUnit::Days,
            _ => DurationUnit::Minutes,
        };
        let amount = digits.parse().unwrap_or_else(|_| {
            self.findings.push(
                Finding::error(Code::BadNumber, "duration is too large")
                    .at(self.span(&pair), "here"),
            );
            0
        });
        self.spanned(&pair, Duration { amount, unit })
    }

    /// A string literal, unescaped. Supported escapes: `\"`, `\\`, `\n`,
    /// `\t`, `\r` and `\u{…}`; anything else is reported where it stands.
    fn string(&mut self, pair: Pair<'_, Rule>) -> Spanned<String> {
        let span = self.span(&pair);
        let raw = pair.as_str();
        let body = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(raw);
        let body_start = span.start as usize + 1;
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escaped = chars.next();
            let decoded = match escaped {
                Some((_, '"')) => Some('"'),
                Some((_, '\\')) => Some('\\'),
                Some((_, 'n')) => Some('\n'),
                Some((_, 't')) => Some('\t'),
                Some((_, 'r')) => Some('\r'),
                Some((_, 'u')) => {
                    let rest = &body[i + 2..];
                    let code = rest
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        .and_then(|(hex, _)| {
                            u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .map(|c| (c, hex.len()))
                        });
                    code.map(|(c, len)| {
                        for _ in 0..len + 2 {
                            chars.next();
                        }
                        c
                    })
                }
                _ => None,
            };
            match decoded {
                Some(c) => out.push(c),
                None => {
                    let end = escaped.map_or(i + 1, |(j, c)| j + c.len_utf8());
                    self.findings.push(
                        Finding::error(Code::BadEscape, "unknown escape in string")
                            .at(
                                Span::new(self.file, body_start + i, body_start + end),
                                "not a known escape",
                            )
                            .help("escapes are \\\", \\\\, \\n, \\t, \\r and \\u{…}"),
                    );
                }
            }
        }
        Spanned::new(out, span)
    }
}

fn day_number(text: &str) -> Option<u8> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| *d == text)
        .and_then(|i| u8::try_from(i).ok())
}

/// `HH:MM` as minutes since midnight; `24:00` is allowed as the day's end.
fn clock_minutes(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn cmp_op(text: &str) -> Option<CmpOp> {
    Some(match text {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        "contains" => CmpOp::Contains,
        "starts_with" => CmpOp::StartsWith,
        "ends_with" => CmpOp::EndsWith,
        "matches" => CmpOp::Matches,
        _ => return None,
    })
}
