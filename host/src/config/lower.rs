//! Lowering the syntax tree into a [`Config`]: names resolved, values
//! checked, every problem reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use super::condition::Lowering;
use super::scenario::{AgentFixture, Expectation as Expect, Scenario};
use super::*;
use crate::diagnostics::{Code, Finding, help_for};
use crate::dsl::ast::{self, Block, ChannelSetting, DayHours, HoursEntry, Item, Spanned, Value};
use crate::hours::{self, Window};
use crate::model::{Availability, Contact, Conversation, Message};

/// The names defined at the top level, in definition order.
struct Names<'a> {
    agents: Vec<&'a Block<ast::AgentSetting>>,
    teams: Vec<&'a Block<ast::TeamSetting>>,
    ai_agents: Vec<&'a Block<ast::AiAgentSetting>>,
    conditions: Vec<&'a Block<ast::ConditionSetting>>,
    channels: Vec<&'a Block<ChannelSetting>>,
    tests: Vec<&'a Block<ast::TestStatement>>,
}

pub(super) fn lower(program: &Program) -> (Option<Config>, Vec<Finding>) {
    let mut names = Names {
        agents: Vec::new(),
        teams: Vec::new(),
        ai_agents: Vec::new(),
        conditions: Vec::new(),
        channels: Vec::new(),
        tests: Vec::new(),
    };
    for item in program.items() {
        match item {
            Item::Include(_) => {}
            Item::Agent(b) => names.agents.push(b),
            Item::Team(b) => names.teams.push(b),
            Item::AiAgent(b) => names.ai_agents.push(b),
            Item::Condition(b) => names.conditions.push(b),
            Item::Channel(b) => names.channels.push(b),
            Item::Test(b) => names.tests.push(b),
        }
    }
    let mut l = Lowerer {
        program,
        findings: Vec::new(),
        regexes: HashMap::new(),
    };
    l.no_duplicates("agent", &names.agents);
    l.no_duplicates("team", &names.teams);
    l.no_duplicates("AI agent", &names.ai_agents);
    l.no_duplicates("condition", &names.conditions);
    l.no_duplicates("channel", &names.channels);
    l.no_duplicates("test", &names.tests);

    let agents: Vec<Agent> = names.agents.iter().map(|b| l.agent(b)).collect();
    let agent_names: Vec<&str> = agents.iter().map(|a| a.email.as_str()).collect();
    let teams: Vec<Team> = names
        .teams
        .iter()
        .map(|b| l.team(b, &agent_names))
        .collect();
    let ai_agents: Vec<AiAgent> = names.ai_agents.iter().map(|b| l.ai_agent(b)).collect();
    let conditions: Vec<PluginCondition> = names
        .conditions
        .iter()
        .map(|b| l.plugin_condition(b))
        .collect();
    let tables = Tables {
        agents: agent_names,
        teams: teams.iter().map(|t| t.name.as_str()).collect(),
        ai_agents: ai_agents.iter().map(|a| a.name.as_str()).collect(),
        conditions: conditions.iter().map(|c| c.name.as_str()).collect(),
    };
    let channels: Vec<Channel> = names
        .channels
        .iter()
        .map(|b| l.channel(b, &tables))
        .collect();
    let channel_names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    let scenarios: Vec<Scenario> = names
        .tests
        .iter()
        .filter_map(|b| l.scenario(b, &tables, &channel_names, &channels))
        .collect();

    let config = Config {
        revision: Revision::of(&program.sources),
        sources: program.sources.clone(),
        agents,
        teams,
        ai_agents,
        conditions,
        channels,
        scenarios,
    };
    (Some(config), l.findings)
}

/// Names by kind, for resolving references. Ids are positions.
struct Tables<'a> {
    agents: Vec<&'a str>,
    teams: Vec<&'a str>,
    ai_agents: Vec<&'a str>,
    conditions: Vec<&'a str>,
}

struct Lowerer<'a> {
    program: &'a Program,
    findings: Vec<Finding>,
    regexes: HashMap<String, regex::Regex>,
}

fn id(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

impl Lowerer<'_> {
    fn no_duplicates<S>(&mut self, kind: &str, blocks: &[&Block<S>]) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for b in blocks {
            if let Some(first) = seen.get(b.name.value.as_str()) {
                self.findings.push(
                    Finding::error(
                        Code::DuplicateName,
                        format!("{kind} `{}` is defined twice", b.name.value),
                    )
                    .at(b.name.span, "defined again here")
                    .related(*first, "first defined here")
                    .help(format!("give each {kind} its own name, or merge the two")),
                );
            } else {
                seen.insert(&b.name.value, b.name.span);
            }
        }
    }

    /// Reports a setting written twice in one block.
    fn once<T>(&mut self, slot: &mut Option<(T, Span)>, value: T, span: Span, what: &str) {
        if let Some((_, first)) = slot {
            self.findings.push(
                Finding::error(Code::DuplicateSetting, format!("`{what}` is set twice"))
                    .at(span, "set again here")
                    .related(*first, "first set here")
                    .help("keep one of them"),
            );
        } else {
            *slot = Some((value, span));
        }
    }

    fn resolve(
        &mut self,
        kind: &str,
        code: Code,
        name: &Spanned<String>,
        table: &[&str],
    ) -> Option<u32> {
        match table.iter().position(|n| *n == name.value) {
            Some(i) => Some(id(i)),
            None => {
                let keyword = if kind == "AI agent" { "ai_agent" } else { kind };
                let help = help_for(&name.value, table.iter().copied()).unwrap_or_else(|| {
                    format!("define it with `{keyword} \"{}\" {{ … }}`", name.value)
                });
                self.findings.push(
                    Finding::error(code, format!("unknown {kind} `{}`", name.value))
                        .at(name.span, format!("no {kind} has this name"))
                        .help(help),
                );
                None
            }
        }
    }

    fn secret(&mut self, value: &Spanned<Value>, what: &str, sensitive: bool) -> Secret {
        match &value.value {
            Value::Env(name) => {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.findings.push(
                        Finding::error(
                            Code::BadEnvName,
                            format!("`{name}` is not an environment variable name"),
                        )
                        .at(value.span, "use letters, digits and `_`"),
                    );
                }
                Secret::Env(name.clone())
            }
            Value::Literal(text) => {
                if sensitive {
                    self.findings.push(
                        Finding::warning(
                            Code::SecretInFile,
                            format!("{what} is written in the file"),
                        )
                        .at(
                            value.span,
                            "anyone who can read this file can read the secret",
                        )
                        .help("read it from the environment: `env(\"NAME\")`"),
                    );
                }
                Secret::Literal(text.clone())
            }
        }
    }

    /// A plugin path, relative to the file that names it; the file must exist.
    fn plugin_path(&mut self, path: &Spanned<String>) -> PathBuf {
        let base = self
            .program
            .sources
            .path(path.span.file)
            .parent()
            .unwrap_or(Path::new(""));
        let full = base.join(&path.value);
        if !full.is_file() {
            self.findings.push(
                Finding::error(Code::PluginNotFound, format!("plugin file `{}` not found", full.display()))
                    .at(path.span, "no such file")
                    .help("plugin paths are relative to the file that names them; build plugins with `cargo build`"),
            );
        }
        full
    }

    fn agent(&mut self, b: &Block<ast::AgentSetting>) -> Agent {
        let (mut name, mut capacity, mut token, mut availability) = (None, None, None, None);
        for s in &b.settings {
            match &s.value {
                ast::AgentSetting::Name(n) => self.once(&mut name, n.value.clone(), s.span, "name"),
                ast::AgentSetting::Capacity(c) => {
                    let value = match u32::try_from(c.value) {
                        Ok(0) | Err(_) => {
                            self.findings.push(
                                Finding::error(Code::BadCapacity, "capacity must be between 1 and 4294967295")
                                    .at(c.span, "out of range")
                                    .help("capacity is how many conversations the agent may have open at once"),
                            );
                            1
                        }
                        Ok(n) => n,
                    };
                    self.once(&mut capacity, value, s.span, "capacity");
                }
                ast::AgentSetting::Token(v) => {
                    let secret = self.secret(v, "the agent's API token", true);
                    self.once(&mut token, secret, s.span, "token");
                }
                ast::AgentSetting::Availability(a) => {
                    // The grammar admits only the three words.
                    let value = Availability::parse(&a.value).unwrap_or_default();
                    self.once(&mut availability, value, s.span, "availability");
                }
            }
        }
        Agent {
            email: b.name.value.clone(),
            display_name: name.map_or_else(|| b.name.value.clone(), |(n, _)| n),
            capacity: capacity.map_or(DEFAULT_CAPACITY, |(c, _)| c),
            token: token.map(|(t, _)| t),
            availability: availability.map_or(Availability::Offline, |(a, _)| a),
            span: b.name.span,
        }
    }

    fn team(&mut self, b: &Block<ast::TeamSetting>, agents: &[&str]) -> Team {
        let mut members = Vec::new();
        for s in &b.settings {
            let ast::TeamSetting::Agents(list) = &s.value;
            for name in list {
                if let Some(i) = self.resolve("agent", Code::UnknownAgent, name, agents) {
                    if !members.contains(&AgentId(i)) {
                        members.push(AgentId(i));
                    }
                }
            }
        }
        Team {
            name: b.name.value.clone(),
            agents: members,
            span: b.name.span,
        }
    }

    fn plugin_config(&mut self, entries: &[ast::ConfigEntry], into: &mut Vec<(String, Secret)>) {
        for e in entries {
            if into.iter().any(|(k, _)| *k == e.key.value) {
                self.findings.push(
                    Finding::error(
                        Code::DuplicateSetting,
                        format!("config key `{}` is set twice", e.key.value),
                    )
                    .at(e.key.span, "set again here"),
                );
                continue;
            }
            let secret = self.secret(&e.value, "a plugin setting", false);
            into.push((e.key.value.clone(), secret));
        }
    }

    fn ai_agent(&mut self, b: &Block<ast::AiAgentSetting>) -> AiAgent {
        let (mut plugin, mut enabled) = (None, None);
        let (mut hosts, mut config) = (Vec::new(), Vec::new());
        let mut limits = LimitSlots::default();
        for s in &b.settings {
            match &s.value {
                ast::AiAgentSetting::Plugin(p) => {
                    let path = self.plugin_path(p);
                    self.once(&mut plugin, path, s.span, "plugin");
                }
                ast::AiAgentSetting::AllowHosts(list) => {
                    hosts.extend(list.iter().map(|h| h.value.clone()))
                }
                ast::AiAgentSetting::Config(entries) => self.plugin_config(entries, &mut config),
                ast::AiAgentSetting::Enabled(e) => {
                    self.once(&mut enabled, e.value, s.span, "enabled")
                }
                ast::AiAgentSetting::Limit(limit) => self.limit(&mut limits, limit, s.span),
            }
        }
        let plugin = self.required(plugin, b.span, "AI agent", "plugin \"agent.wasm\"");
        AiAgent {
            name: b.name.value.clone(),
            plugin,
            allow_hosts: hosts,
            config,
            enabled: enabled.is_none_or(|(e, _)| e),
            limits: limits.or(PluginLimits::AGENT),
            span: b.name.span,
        }
    }

    fn plugin_condition(&mut self, b: &Block<ast::ConditionSetting>) -> PluginCondition {
        let mut plugin = None;
        let mut config = Vec::new();
        let mut limits = LimitSlots::default();
        for s in &b.settings {
            match &s.value {
                ast::ConditionSetting::Plugin(p) => {
                    let path = self.plugin_path(p);
                    self.once(&mut plugin, path, s.span, "plugin");
                }
                ast::ConditionSetting::Config(entries) => self.plugin_config(entries, &mut config),
                ast::ConditionSetting::Limit(limit) => self.limit(&mut limits, limit, s.span),
            }
        }
        let plugin = self.required(plugin, b.span, "condition", "plugin \"condition.wasm\"");
        PluginCondition {
            name: b.name.value.clone(),
            plugin,
            config,
            limits: limits.or(PluginLimits::CONDITION),
            span: b.name.span,
        }
    }

    /// One `timeout`, `memory` or `host_io` setting, checked against the
    /// host's ceiling.
    fn limit(&mut self, slots: &mut LimitSlots, limit: &ast::PluginLimit, span: Span) {
        let max = PluginLimits::MAX;
        let (what, fits, range, at) = match limit {
            ast::PluginLimit::Timeout(d) => {
                let value = d.value.to_std();
                self.once(&mut slots.timeout, value, span, "timeout");
                let fits = !value.is_zero() && value <= max.timeout;
                ("timeout", fits, "1ms to 600s", d.span)
            }
            ast::PluginLimit::Memory(bytes) => {
                self.once(&mut slots.memory, bytes.value, span, "memory");
                let fits = (1 << 20..=max.memory).contains(&bytes.value);
                ("memory", fits, "1MiB to 1GiB", bytes.span)
            }
            ast::PluginLimit::HostIo(bytes) => {
                self.once(&mut slots.host_io, bytes.value, span, "host_io");
                let fits = (1 << 10..=max.host_io).contains(&bytes.value);
                ("host_io", fits, "1KiB to 64MiB", bytes.span)
            }
        };
        if !fits {
            self.findings.push(
                Finding::error(Code::LimitOutOfRange, format!("`{what}` is out of range"))
                    .at(at, format!("must be {range}")),
            );
        }
    }

    fn required<T: Default>(
        &mut self,
        slot: Option<(T, Span)>,
        block: Span,
        kind: &str,
        example: &str,
    ) -> T {
        match slot {
            Some((value, _)) => value,
            None => {
                let setting = example.split(' ').next().unwrap_or(example);
                self.findings.push(
                    Finding::error(Code::MissingSetting, format!("{kind} has no `{setting}`"))
                        .at(
                            Span {
                                end: block.start + 1,
                                ..block
                            },
                            format!("this {kind} needs `{setting}`"),
                        )
                        .help(format!("add `{example}` inside the block")),
                );
                T::default()
            }
        }
    }

    fn channel(&mut self, b: &Block<ChannelSetting>, t: &Tables<'_>) -> Channel {
        let mut inbox = None;
        let mut webhook = None;
        let mut identity = None;
        let mut welcome = None;
        let mut csat = None;
        let mut hours = None;
        let mut agents: Vec<AgentId> = Vec::new();
        let mut ai = None;
        let mut policy = None;
        let mut reassign = None;
        let mut rules: Vec<Rule> = Vec::new();
        let mut rule_names: HashMap<String, Span> = HashMap::new();
        for s in &b.settings {
            match &s.value {
                ChannelSetting::InboxIdentifier(v) => {
                    let secret = self.secret(v, "the inbox identifier", false);
                    self.once(&mut inbox, secret, s.span, "inbox_identifier");
                }
                ChannelSetting::Webhook(w) => {
                    let w = self.webhook(w);
                    self.once(&mut webhook, w, s.span, "webhook");
                }
                ChannelSetting::IdentityValidation(iv) => {
                    let secret = match iv.secrets.as_slice() {
                        [one] => self.secret(one, "the identity validation secret", true),
                        [] => {
                            self.findings.push(
                                Finding::error(
                                    Code::MissingSetting,
                                    "identity validation has no `secret`",
                                )
                                .at(s.span, "needs a secret")
                                .help("add `secret env(\"NAME\")` inside the block"),
                            );
                            Secret::Env(String::new())
                        }
                        [first, second, ..] => {
                            self.findings.push(
                                Finding::error(Code::DuplicateSetting, "`secret` is set twice")
                                    .at(second.span, "set again here")
                                    .related(first.span, "first set here"),
                            );
                            Secret::Env(String::new())
                        }
                    };
                    let value = IdentityValidation {
                        required: iv.required.value,
                        secret,
                    };
                    self.once(&mut identity, value, s.span, "identity_validation");
                }
                ChannelSetting::Welcome(w) => {
                    self.once(&mut welcome, w.value.clone(), s.span, "welcome")
                }
                ChannelSetting::Csat(on) => self.once(&mut csat, on.value, s.span, "csat"),
                ChannelSetting::Hours(h) => {
                    let h = self.hours(h);
                    self.once(&mut hours, h, s.span, "hours");
                }
                ChannelSetting::Agents(list) => {
                    for name in list {
                        if let Some(i) = self.resolve("agent", Code::UnknownAgent, name, &t.agents)
                        {
                            if agents.contains(&AgentId(i)) {
                                self.findings.push(
                                    Finding::warning(
                                        Code::DuplicateAgent,
                                        format!("agent `{}` is listed twice", name.value),
                                    )
                                    .at(name.span, "listed again here"),
                                );
                            } else {
                                agents.push(AgentId(i));
                            }
                        }
                    }
                }
                ChannelSetting::AiAgent { name, enabled } => {
                    if let Some(i) =
                        self.resolve("AI agent", Code::UnknownAiAgent, name, &t.ai_agents)
                    {
                        let value = ChannelAiAgent {
                            agent: AiAgentId(i),
                            enabled: enabled.as_ref().is_none_or(|e| e.value),
                        };
                        self.once(&mut ai, value, s.span, "ai_agent");
                    }
                }
                ChannelSetting::Assignment(p) => {
                    self.once(&mut policy, p.value, s.span, "assignment")
                }
                ChannelSetting::ReassignAfter(d) => {
                    let secs = d.value.as_secs();
                    if secs < 60 {
                        self.findings.push(
                            Finding::error(
                                Code::BadDuration,
                                "reassignment needs at least a minute",
                            )
                            .at(d.span, "too short")
                            .help("agents need time to answer; try `10m`"),
                        );
                    }
                    self.once(
                        &mut reassign,
                        std::time::Duration::from_secs(secs),
                        s.span,
                        "reassign_after",
                    );
                }
                ChannelSetting::Rule(r) => {
                    if let Some(first) = rule_names.get(&r.name.value) {
                        self.findings.push(
                            Finding::error(
                                Code::DuplicateName,
                                format!("rule `{}` is defined twice in this channel", r.name.value),
                            )
                            .at(r.name.span, "defined again here")
                            .related(*first, "first defined here"),
                        );
                    }
                    rule_names.insert(r.name.value.clone(), r.name.span);
                    if let Some(rule) = self.rule(r, s.span, t) {
                        rules.push(rule);
                    }
                }
            }
        }
        Channel {
            name: b.name.value.clone(),
            inbox_identifier: inbox.map(|(v, _)| v),
            webhook: webhook.map(|(v, _)| v),
            identity_validation: identity.map(|(v, _)| v),
            welcome: welcome.map(|(v, _)| v),
            csat: csat.is_some_and(|(v, _)| v),
            hours: hours.map(|(v, _)| v),
            agents,
            ai_agent: ai.map(|(v, _)| v),
            policy: policy.map_or(Policy::LeastLoad, |(v, _)| v),
            reassign_after: reassign.map(|(v, _)| v),
            rules,
            span: b.name.span,
        }
    }

    fn webhook(&mut self, w: &ast::Webhook) -> Webhook {
        let url = &w.url;
        let host = url
            .value
            .strip_prefix("https://")
            .or_else(|| url.value.strip_prefix("http://"))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        if host.is_none_or(str::is_empty) || url.value.contains(char::is_whitespace) {
            self.findings.push(
                Finding::error(
                    Code::BadUrl,
                    format!("`{}` is not a web address", url.value),
                )
                .at(url.span, "expected `https://host/path`"),
            );
        }
        let mut secret = None;
        let mut allow_private_network = false;
        for s in &w.settings {
            match &s.value {
                ast::WebhookSetting::Secret(v) => {
                    let value = self.secret(v, "the webhook secret", true);
                    self.once(&mut secret, value, s.span, "secret");
                }
                ast::WebhookSetting::AllowPrivateNetwork => allow_private_network = true,
            }
        }
        Webhook {
            url: url.value.clone(),
            secret: secret.map(|(v, _)| v),
            allow_private_network,
        }
    }

    fn hours(&mut self, h: &ast::Hours) -> BusinessHours {
        let timezone = match h.timezone.value.parse::<chrono_tz::Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
                self.findings.push(
                    Finding::error(
                        Code::BadTimezone,
                        format!("unknown timezone `{}`", h.timezone.value),
                    )
                    .at(h.timezone.span, "not an IANA timezone name")
                    .help(help_for(&h.timezone.value, names).unwrap_or_else(|| {
                        "use a name like \"Asia/Jakarta\" or \"Europe/Berlin\"".into()
                    })),
                );
                chrono_tz::UTC
            }
        };
        let mut schedule = hours::Schedule::new(timezone);
        let mut unavailable = None;
        // (weekly minute where a window starts, where it ends, its span), for overlap checks.
        let mut week: Vec<(u32, u32, Span)> = Vec::new();
        let mut dates: HashMap<NaiveDate, Span> = HashMap::new();
        for e in &h.entries {
            match &e.value {
                HoursEntry::Weekly { days, hours } => {
                    let windows = self.windows(hours, e.span);
                    for range in days {
                        if range.last < range.first {
                            self.findings.push(
                                Finding::error(Code::BadDayRange, "day range runs backwards")
                                    .at(range.span, "the first day must come before the last")
                                    .help("weeks start on monday: write `mon..fri` or list days: `sat, sun`"),
                            );
                            continue;
                        }
                        for day in range.first..=range.last {
                            for (window, span) in &windows {
                                schedule.add_weekly(day, *window);
                                let start = u32::from(day) * 1440 + u32::from(window.open);
                                let len = if window.is_overnight() {
                                    1440 - u32::from(window.open) + u32::from(window.close)
                                } else {
                                    u32::from(window.close - window.open)
                                };
                                week.push((start, start + len, *span));
                            }
                        }
                    }
                }
                HoursEntry::Date { date, hours } => {
                    let Ok(day) = NaiveDate::parse_from_str(&date.value, "%Y-%m-%d") else {
                        self.findings.push(
                            Finding::error(
                                Code::BadDate,
                                format!("`{}` is not a date", date.value),
                            )
                            .at(date.span, "no such day"),
                        );
                        continue;
                    };
                    if let Some(first) = dates.insert(day, date.span) {
                        self.findings.push(
                            Finding::error(
                                Code::DuplicateSetting,
                                format!("hours for {} are set twice", date.value),
                            )
                            .at(date.span, "set again here")
                            .related(first, "first set here"),
                        );
                    }
                    let windows = self.windows(hours, e.span);
                    self.check_overlaps(
                        windows
                            .iter()
                            .map(|(w, s)| {
                                let close = if w.is_overnight() {
                                    u32::from(w.close) + 1440
                                } else {
                                    u32::from(w.close)
                                };
                                (u32::from(w.open), close, *s)
                            })
                            .collect(),
                    );
                    schedule.set_date(day, windows.into_iter().map(|(w, _)| w).collect());
                }
                HoursEntry::Unavailable(msg) => {
                    self.once(&mut unavailable, msg.value.clone(), e.span, "unavailable")
                }
            }
        }
        // The week wraps: Sunday night runs into Monday morning.
        let wrapped: Vec<_> = week
            .iter()
            .filter(|(_, end, _)| *end > WEEK)
            .map(|(_, end, span)| (0, end - WEEK, *span))
            .collect();
        week.extend(wrapped);
        self.check_overlaps(week);
        BusinessHours {
            schedule,
            unavailable_message: unavailable.map(|(m, _)| m),
        }
    }

    fn check_overlaps(&mut self, mut windows: Vec<(u32, u32, Span)>) {
        windows.sort_by_key(|(start, _, _)| *start);
        let mut reported = std::collections::HashSet::new();
        for pair in windows.windows(2) {
            let [(_, end_a, span_a), (start_b, _, span_b)] = pair else {
                continue;
            };
            if start_b < end_a && reported.insert((span_b.file, span_b.start)) {
                self.findings.push(
                    Finding::warning(Code::OverlappingHours, "opening hours overlap")
                        .at(*span_b, "overlaps an earlier window")
                        .related(*span_a, "this window")
                        .help("merge the two windows into one"),
                );
            }
        }
    }

    fn windows(&mut self, hours: &DayHours, entry: Span) -> Vec<(Window, Span)> {
        match hours {
            DayHours::Closed => Vec::new(),
            DayHours::AllDay => vec![(Window::ALL_DAY, entry)],
            DayHours::Intervals(list) => list
                .iter()
                .filter_map(|i| {
                    let (open, close) = (i.value.open, i.value.close);
                    if open == close || open == hours::DAY_MINUTES {
                        self.findings.push(
                            Finding::error(Code::BadInterval, "opening window is empty")
                                .at(i.span, "opens and closes at the same time")
                                .help("write `all_day` for a day that is open around the clock"),
                        );
                        return None;
                    }
                    Some((Window { open, close }, i.span))
                })
                .collect(),
        }
    }

    fn rule(&mut self, r: &ast::RoutingRule, span: Span, t: &Tables<'_>) -> Option<Rule> {
        let conditions = &t.conditions;
        let mut findings = Vec::new();
        let lookup = |name: &Spanned<String>| {
            conditions
                .iter()
                .position(|n| *n == name.value)
                .map(|i| ConditionId(id(i)))
        };
        let plugin = |name: &Spanned<String>| lookup(name);
        let condition = Lowering {
            findings: &mut findings,
            regexes: &mut self.regexes,
            plugin: &plugin,
        }
        .condition(&r.when);
        self.findings.append(&mut findings);
        // Unknown plugin names are reported here, with suggestions.
        visit_plugins(&r.when, &mut |name| {
            if lookup(name).is_none() {
                self.resolve("condition", Code::UnknownCondition, name, conditions);
            }
        });
        let mut target = None;
        let mut labels = Vec::new();
        let mut priority = None;
        let mut otherwise = None;
        for a in &r.actions {
            let resolved = match &a.value {
                ast::Action::AssignAgent(n) => self
                    .resolve("agent", Code::UnknownAgent, n, &t.agents)
                    .map(|i| Target::Agent(AgentId(i))),
                ast::Action::AssignTeam(n) => self
                    .resolve("team", Code::UnknownTeam, n, &t.teams)
                    .map(|i| Target::Team(TeamId(i))),
                ast::Action::AssignAiAgent(n) => self
                    .resolve("AI agent", Code::UnknownAiAgent, n, &t.ai_agents)
                    .map(|i| Target::AiAgent(AiAgentId(i))),
                ast::Action::AssignQueue => Some(Target::Queue),
                ast::Action::Labels(list) => {
                    labels.extend(list.iter().map(|l| l.value.clone()));
                    continue;
                }
                ast::Action::Priority(p) => {
                    self.once(&mut priority, p.value, a.span, "priority");
                    continue;
                }
                ast::Action::Otherwise(f) => {
                    self.once(&mut otherwise, f.value, a.span, "otherwise");
                    continue;
                }
            };
            match resolved {
                Some(resolved) => self.once(&mut target, resolved, a.span, "assign"),
                // Remember that an assign was written, so "no assign" is not reported too.
                None => target = target.or(Some((Target::Queue, a.span))),
            }
        }
        if target.is_none() {
            self.findings.push(
                Finding::error(Code::MissingSetting, format!("rule `{}` assigns nobody", r.name.value))
                    .at(r.name.span, "this rule needs an `assign`")
                    .help("add `assign agent \"…\"`, `assign team \"…\"`, `assign ai_agent \"…\"` or `assign queue`"),
            );
        }
        let target = target?.0;
        if let Some((_, at)) = otherwise {
            if !matches!(target, Target::Agent(_) | Target::Team(_)) {
                self.findings.push(
                    Finding::warning(
                        Code::OtherwiseUnused,
                        format!("rule `{}` does not assign to an agent or a team", r.name.value),
                    )
                    .at(at, "`otherwise` has nothing to fall back from")
                    .help("`otherwise` says what happens when the rule's agent or team has nobody free"),
                );
            }
        }
        Some(Rule {
            name: r.name.value.clone(),
            condition: condition?,
            target,
            labels,
            priority: priority.map(|(p, _)| p),
            otherwise: otherwise.map(|(f, _)| f).unwrap_or_default(),
            span,
        })
    }

    fn scenario(
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

fn default_test_instant() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEFAULT_TEST_INSTANT)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Minutes in a week, for overlap checks across Sunday night.
const WEEK: u32 = 7 * 1440;

/// The default capacity: what Chatwoot's auto-assignment uses when no
/// limit is set is "unlimited"; a bound keeps one agent from drowning.
pub const DEFAULT_CAPACITY: u32 = 10;

/// The limits a plugin block sets; unset ones take the kind's default.
#[derive(Default)]
struct LimitSlots {
    timeout: Option<(std::time::Duration, Span)>,
    memory: Option<(u64, Span)>,
    host_io: Option<(u64, Span)>,
}

impl LimitSlots {
    fn or(self, default: PluginLimits) -> PluginLimits {
        PluginLimits {
            timeout: self.timeout.map_or(default.timeout, |(v, _)| v),
            memory: self.memory.map_or(default.memory, |(v, _)| v),
            host_io: self.host_io.map_or(default.host_io, |(v, _)| v),
        }
    }
}

fn visit_plugins(expr: &Spanned<ast::Expr>, f: &mut dyn FnMut(&Spanned<String>)) {
    match &expr.value {
        ast::Expr::Or(parts) | ast::Expr::And(parts) => {
            parts.iter().for_each(|p| visit_plugins(p, f))
        }
        ast::Expr::Not(inner) | ast::Expr::Group(inner) => visit_plugins(inner, f),
        ast::Expr::Plugin(name) => f(name),
        _ => {}
    }
}

fn literal_json(l: &ast::Literal) -> serde_json::Value {
    match l {
        ast::Literal::String(s) => serde_json::Value::String(s.clone()),
        ast::Literal::Bool(b) => serde_json::Value::Bool(*b),
        ast::Literal::Number(n) => n
            .parse::<serde_json::Number>()
            .map(serde_json::Value::Number)
            .unwrap_or_else(|_| serde_json::Value::String(n.clone())),
    }
}

fn attribute_json(v: &ast::AttributeValue) -> serde_json::Value {
    match v {
        ast::AttributeValue::One(l) => literal_json(&l.value),
        ast::AttributeValue::List(items) => {
            serde_json::Value::Array(items.iter().map(|l| literal_json(&l.value)).collect())
        }
    }
}
