//! Channels: their settings, webhook and routing rules.

use super::plugins::visit_plugins;
use super::*;

/// The most deliveries one webhook may have under way at once: the
/// delivery worker's own bound (`webhooks::Settings::parallel`).
const MAX_WEBHOOK_PARALLEL: u32 = 64;

impl Lowerer<'_> {
    pub(super) fn channel(&mut self, b: &Block<ChannelSetting>, t: &Tables<'_>) -> Channel {
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

    pub(super) fn webhook(&mut self, w: &ast::Webhook) -> Webhook {
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
        let mut parallel = None;
        let mut allow_private_network = false;
        for s in &w.settings {
            match &s.value {
                ast::WebhookSetting::Secret(v) => {
                    let value = self.secret(v, "the webhook secret", true);
                    self.once(&mut secret, value, s.span, "secret");
                }
                ast::WebhookSetting::AllowPrivateNetwork => allow_private_network = true,
                ast::WebhookSetting::Parallel(n) => {
                    let value = match u32::try_from(n.value) {
                        Ok(n @ 1..=MAX_WEBHOOK_PARALLEL) => n,
                        _ => {
                            self.findings.push(
                                Finding::error(
                                    Code::LimitOutOfRange,
                                    format!(
                                        "parallel must be between 1 and {MAX_WEBHOOK_PARALLEL}"
                                    ),
                                )
                                .at(n.span, "out of range")
                                .help("parallel is how many deliveries to this webhook may be under way at once"),
                            );
                            1
                        }
                    };
                    self.once(&mut parallel, value, s.span, "parallel");
                }
            }
        }
        Webhook {
            url: url.value.clone(),
            secret: secret.map(|(v, _)| v),
            allow_private_network,
            parallel: parallel.map(|(n, _)| n),
        }
    }

    pub(super) fn rule(
        &mut self,
        r: &ast::RoutingRule,
        span: Span,
        t: &Tables<'_>,
    ) -> Option<Rule> {
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
}
