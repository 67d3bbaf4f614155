//! Warnings about configurations that are valid but probably not what the
//! author meant: rules that can never match, channels nobody can answer.

use super::{Config, Target};
use crate::diagnostics::{Code, Finding};

pub(super) fn lint(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    for channel in &config.channels {
        if let Some(catch_all) = channel.rules.iter().position(|r| r.condition.always_true()) {
            for later in &channel.rules[catch_all + 1..] {
                findings.push(
                    Finding::warning(
                        Code::ShadowedRule,
                        format!("rule `{}` can never match", later.name),
                    )
                    .at(later.span, "every conversation is taken by an earlier rule")
                    .related(channel.rules[catch_all].span, "this rule always matches")
                    .help("move the catch-all rule last, or narrow its condition"),
                );
            }
        }
        let has_ai = channel
            .ai_agent
            .is_some_and(|ai| ai.enabled && config.ai_agent(ai.agent).enabled);
        if channel.agents.is_empty() && !has_ai {
            findings.push(
                Finding::warning(Code::EmptyPool, format!("channel `{}` has nobody to assign conversations to", channel.name))
                    .at(channel.span, "no agents and no enabled AI agent")
                    .help("add `agents \"…\"` or `ai_agent \"…\"`; until then every conversation waits in the queue"),
            );
        }
        for rule in &channel.rules {
            match rule.target {
                Target::Team(team) if config.team(team).agents.is_empty() => findings.push(
                    Finding::warning(
                        Code::EmptyPool,
                        format!("team `{}` has no agents", config.team(team).name),
                    )
                    .at(
                        rule.span,
                        "conversations this rule assigns will wait in the queue",
                    ),
                ),
                Target::AiAgent(ai) if !config.ai_agent(ai).enabled => findings.push(
                    Finding::warning(
                        Code::DisabledAiAgent,
                        format!("AI agent `{}` is disabled", config.ai_agent(ai).name),
                    )
                    .at(
                        rule.span,
                        "conversations this rule matches go to the channel's human agents",
                    )
                    .related(config.ai_agent(ai).span, "disabled here"),
                ),
                _ => {}
            }
        }
    }
    findings
}
