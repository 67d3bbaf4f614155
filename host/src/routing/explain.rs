//! A decision's trace in words, for `livedesk explain` and the daemon's
//! decision log.

use std::fmt::Write as _;

use serde_json::json;

use super::attributes::resolve;
use super::{Decision, Input, LeafResult, Outcome, PluginOutput, Pool, Selection, Tier};
use crate::config::{Condition, Config, Test};
use crate::greeting::Greeting;

/// Each leaf of a condition in depth-first order, with its attribute when
/// it reads one.
fn leaves<'c>(condition: &'c Condition, out: &mut Vec<&'c Condition>) {
    match condition {
        Condition::All(parts) | Condition::Any(parts) => parts.iter().for_each(|p| leaves(p, out)),
        Condition::Not(inner) => leaves(inner, out),
        leaf => out.push(leaf),
    }
}

fn describe_leaf(config: &Config, leaf: &Condition) -> String {
    match leaf {
        Condition::Const(b) => b.to_string(),
        Condition::WithinHours => "within_hours".into(),
        Condition::Plugin(id) => format!("plugin {:?}", config.condition(*id).name),
        Condition::Exists(attribute) => format!("{attribute} exists"),
        Condition::Test { attribute, test } => format!("{attribute} {}", describe_test(test)),
        Condition::All(_) | Condition::Any(_) | Condition::Not(_) => String::new(),
    }
}

fn describe_test(test: &Test) -> String {
    match test {
        Test::Eq(s) => format!("== {s}"),
        Test::Ne(s) => format!("!= {s}"),
        Test::Lt(s) => format!("< {s}"),
        Test::Le(s) => format!("<= {s}"),
        Test::Gt(s) => format!("> {s}"),
        Test::Ge(s) => format!(">= {s}"),
        Test::Contains(s) => format!("contains {:?}", s.as_str()),
        Test::StartsWith(s) => format!("starts_with {s:?}"),
        Test::EndsWith(s) => format!("ends_with {s:?}"),
        Test::Matches(r) => format!("matches {:?}", r.as_str()),
        Test::In(items) => format!(
            "in [{}]",
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What the leaf read from the input, shown next to its result.
fn observed(input: &Input<'_>, leaf: &Condition) -> Option<String> {
    match leaf {
        Condition::Test { attribute, .. } | Condition::Exists(attribute) => {
            Some(format!("{attribute} = {}", resolve(attribute, input)))
        }
        _ => None,
    }
}

fn outcome_text(config: &Config, decision: &Decision) -> String {
    match decision.outcome {
        Outcome::Agent(a) => format!("assign agent {:?}", config.agent(a).email),
        Outcome::AiAgent(a) => format!("hand to AI agent {:?}", config.ai_agent(a).name),
        Outcome::Queued => format!(
            "wait in the queue of {}",
            decision
                .pool
                .map_or("the channel".into(), |p| pool_text(config, p))
        ),
    }
}

fn pool_text(config: &Config, pool: Pool) -> String {
    match pool {
        Pool::Channel(c) => format!("channel {:?}", config.channel(c).name),
        Pool::Team(t) => format!("team {:?}", config.team(t).name),
        Pool::Agent(a) => format!("agent {:?}", config.agent(a).email),
    }
}

fn tier_text(input: &Input<'_>, tier: Tier) -> String {
    match tier {
        Tier::Rule(i) => {
            let name = input
                .channel
                .rules
                .get(usize::from(i))
                .map_or("?", |r| r.name.as_str());
            format!("routing rule {name:?}")
        }
        Tier::AiAgent => "the channel's AI agent (no rule matched)".into(),
        Tier::Human => "human auto-assignment (no rule matched, no AI agent)".into(),
    }
}

fn greeting_text(greeting: &Greeting) -> String {
    match greeting {
        Greeting::Welcome(m) => format!("welcome message {m:?}"),
        Greeting::Unavailable(m) => format!("unavailable message {m:?}"),
        Greeting::None => "none".into(),
    }
}

/// The decision and its full trace, for people.
pub fn render_text(input: &Input<'_>, decision: &Decision, greeting: &Greeting) -> String {
    let config = input.config;
    let trace = &decision.trace;
    let mut out = String::new();
    let local = input.at.with_timezone(&input.channel.timezone());
    let _ = writeln!(
        out,
        "channel   {:?} (config revision {})",
        input.channel.name, trace.revision
    );
    let _ = writeln!(
        out,
        "time      {} ({}, {})",
        input.at.to_rfc3339(),
        local.format("%a %Y-%m-%d %H:%M %Z"),
        if trace.within_hours {
            "within business hours"
        } else {
            "outside business hours"
        }
    );
    let _ = writeln!(out, "decision  {}", outcome_text(config, decision));
    let _ = writeln!(out, "by        {}", tier_text(input, decision.tier));
    if !decision.labels.is_empty() {
        let _ = writeln!(out, "labels    {}", decision.labels.join(", "));
    }
    if let Some(p) = decision.priority {
        let _ = writeln!(out, "priority  {}", p.as_str());
    }
    let _ = writeln!(out, "greeting  {}", greeting_text(greeting));

    if !input.channel.rules.is_empty() {
        let _ = writeln!(out, "\nrules");
    }
    for (index, rule) in input.channel.rules.iter().enumerate() {
        let tried = trace.rules.iter().find(|r| usize::from(r.rule) == index);
        // A failed plugin call counts as "no match"; the rule's line says
        // so, so that a failure never reads as an ordinary miss.
        let plugin_failed = trace.leaves.iter().any(|l| {
            usize::from(l.rule) == index
                && matches!(&l.result, LeafResult::Plugin { error: Some(_), .. })
        });
        let verdict = match tried {
            Some(r) if r.matched => "matched",
            Some(_) if plugin_failed => "no match (a plugin failed: its error counts as no match)",
            Some(_) => "no match",
            None => "not tried",
        };
        let _ = writeln!(out, "  {}. {:?}: {verdict}", index + 1, rule.name);
        if tried.is_none() {
            continue;
        }
        let mut list = Vec::new();
        leaves(&rule.condition, &mut list);
        for (n, leaf) in list.iter().enumerate() {
            let result = trace
                .leaves
                .iter()
                .find(|l| usize::from(l.rule) == index && usize::from(l.leaf) == n);
            let mark = match result.map(|l| &l.result) {
                None => "skip".to_string(),
                Some(LeafResult::Value(b)) => if *b { "yes" } else { "no" }.to_string(),
                Some(LeafResult::Plugin {
                    matched,
                    elapsed_us,
                    error,
                    ..
                }) => match error {
                    Some(e) => format!("no ({e}, {elapsed_us} µs)"),
                    None => format!("{} ({elapsed_us} µs)", if *matched { "yes" } else { "no" }),
                },
            };
            let seen = result
                .and_then(|_| observed(input, leaf))
                .map(|o| format!("   [{o}]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "       {:<5} {}{seen}",
                mark,
                describe_leaf(config, leaf)
            );
            if let Some(LeafResult::Plugin {
                output: Some(output),
                ..
            }) = result.map(|l| &l.result)
            {
                plugin_output(&mut out, output);
            }
        }
    }
    if let Some(selection) = &trace.selection {
        let policy = match selection.policy {
            crate::config::Policy::LeastLoad => "least_load",
            crate::config::Policy::RoundRobin => "round_robin",
        };
        let pool = decision
            .pool
            .map_or(String::new(), |p| format!(" over {}", pool_text(config, p)));
        let _ = writeln!(out, "\nassignment ({policy}{pool})");
        if selection.candidates.is_empty() {
            let _ = writeln!(out, "  nobody in the pool");
        }
        for c in &selection.candidates {
            let picked = if selection.picked == Some(c.agent) {
                "  <- picked"
            } else {
                ""
            };
            let why = if c.eligible {
                "eligible"
            } else if c.availability != crate::model::Availability::Online {
                "not online"
            } else {
                "at capacity"
            };
            let _ = writeln!(
                out,
                "  {:<28} {:<8} {}/{} open  {why}{picked}",
                config.agent(c.agent).email,
                c.availability.as_str(),
                c.open_conversations,
                c.capacity
            );
        }
    }
    for note in &trace.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out
}

/// The decision and its trace as JSON, with names instead of ids.
pub fn render_json(
    input: &Input<'_>,
    decision: &Decision,
    greeting: &Greeting,
) -> serde_json::Value {
    let config = input.config;
    let outcome = match decision.outcome {
        Outcome::Agent(a) => json!({"kind": "agent", "agent": config.agent(a).email}),
        Outcome::AiAgent(a) => json!({"kind": "ai_agent", "ai_agent": config.ai_agent(a).name}),
        Outcome::Queued => {
            json!({"kind": "queued", "pool": decision.pool.map(|p| pool_text(config, p))})
        }
    };
    let rules: Vec<_> = decision
        .trace
        .rules
        .iter()
        .map(|r| {
            let rule = input.channel.rules.get(usize::from(r.rule));
            let mut list = Vec::new();
            if let Some(rule) = rule {
                leaves(&rule.condition, &mut list);
            }
            let leaf_results: Vec<_> = decision
                .trace
                .leaves
                .iter()
                .filter(|l| l.rule == r.rule)
                .map(|l| {
                    let leaf = list.get(usize::from(l.leaf));
                    json!({
                        "condition": leaf.map(|c| describe_leaf(config, c)),
                        "observed": leaf.and_then(|c| observed(input, c)),
                        "result": l.result,
                    })
                })
                .collect();
            json!({"rule": rule.map(|r| r.name.clone()), "matched": r.matched, "conditions": leaf_results})
        })
        .collect();
    let selection = decision
        .trace
        .selection
        .as_ref()
        .map(|s| selection_json(config, s));
    json!({
        "channel": input.channel.name,
        "at": input.at.to_rfc3339(),
        "revision": decision.trace.revision,
        "within_hours": decision.trace.within_hours,
        "outcome": outcome,
        "tier": tier_text(input, decision.tier),
        "labels": decision.labels,
        "priority": decision.priority,
        "greeting": greeting,
        "rules": rules,
        "assignment": selection,
        "notes": decision.trace.notes,
    })
}

/// Who auto-assignment could pick from and whom it picked, with names.
pub fn selection_json(config: &Config, selection: &Selection) -> serde_json::Value {
    json!({
        "policy": selection.policy,
        "picked": selection.picked.map(|a| config.agent(a).email.clone()),
        "candidates": selection.candidates.iter().map(|c| json!({
            "agent": config.agent(c.agent).email,
            "availability": c.availability,
            "open_conversations": c.open_conversations,
            "capacity": c.capacity,
            "eligible": c.eligible,
        })).collect::<Vec<_>>(),
    })
}

/// A plugin call's log lines and standard error, indented under its leaf.
fn plugin_output(out: &mut String, output: &PluginOutput) {
    const INDENT: &str = "             ";
    for log in &output.logs {
        let _ = writeln!(out, "{INDENT}log {}: {}", log.level.as_str(), log.message);
    }
    if output.dropped_logs > 0 {
        let _ = writeln!(
            out,
            "{INDENT}({} more log lines dropped)",
            output.dropped_logs
        );
    }
    if let Some(stderr) = &output.stderr {
        let _ = writeln!(out, "{INDENT}stderr:");
        for line in stderr.lines() {
            let _ = writeln!(out, "{INDENT}  {line}");
        }
    }
}
