//! Lowering the syntax tree into a [`Config`]: names resolved, values
//! checked, every problem reported.

mod business_hours;
mod channel;
mod names;
mod people;
mod plugins;
mod scenario;

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
    /// Reports a setting written twice in one block.
    pub(super) fn once<T>(
        &mut self,
        slot: &mut Option<(T, Span)>,
        value: T,
        span: Span,
        what: &str,
    ) {
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

    pub(super) fn required<T: Default>(
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
}
