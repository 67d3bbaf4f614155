//! Running the `test` blocks of a configuration: route each scenario and
//! compare the decision and greeting with what the block expects.

use crate::config::{AgentId, ConditionId, Config, Expectation, Scenario};
use crate::greeting::{self, Greeting};
use crate::model::AgentState;
use crate::routing::{
    self, AgentBoard, ConditionPlugins, Decision, Input, LeafResult, Outcome, Pool,
};

pub struct ScenarioResult<'c> {
    pub scenario: &'c Scenario,
    /// One line per expectation that did not hold; empty means passed.
    pub failures: Vec<String>,
    /// One line per failed plugin call the test did not expect (with
    /// `expect plugin "…" error`): an error, a trap, a limit hit. Such a
    /// call reads as "no match", so a test can pass because of it.
    pub plugin_errors: Vec<String>,
}

impl ScenarioResult<'_> {
    /// Whether every expectation held and, with `deny_plugin_errors`, no
    /// plugin failed unexpectedly.
    pub fn passed(&self, deny_plugin_errors: bool) -> bool {
        self.failures.is_empty() && (!deny_plugin_errors || self.plugin_errors.is_empty())
    }
}

/// The agents' states a scenario describes: each agent as their block
/// says they start (`availability`, offline unless it says) with nothing
/// open — as the daemon starts them — unless the test says otherwise.
pub fn board(config: &Config, scenario: &Scenario) -> AgentBoard {
    let mut board = AgentBoard::default();
    for (index, agent) in config.agents.iter().enumerate() {
        board.states.insert(
            AgentId(u32::try_from(index).unwrap_or(u32::MAX)),
            AgentState {
                availability: agent.availability,
                open_conversations: 0,
                last_assigned_at: None,
            },
        );
    }
    for fixture in &scenario.agents {
        board.states.insert(
            fixture.agent,
            AgentState {
                availability: fixture.availability,
                open_conversations: fixture.open_conversations,
                last_assigned_at: None,
            },
        );
    }
    board
}

pub fn run<'c>(config: &'c Config, plugins: &dyn ConditionPlugins) -> Vec<ScenarioResult<'c>> {
    config
        .scenarios
        .iter()
        .map(|scenario| {
            let input = Input::new(
                config,
                scenario.channel,
                &scenario.contact,
                &scenario.conversation,
                scenario.message.as_ref(),
                scenario.at,
            );
            let decision = routing::decide(&input, &board(config, scenario), plugins);
            let greeting = greeting::for_new_conversation(input.channel, scenario.at);
            let failures = scenario
                .expectations
                .iter()
                .filter_map(|(expectation, _)| {
                    check(config, &input, &decision, &greeting, expectation)
                })
                .collect();
            let expected_to_fail = |id: ConditionId| {
                scenario.expectations.iter().any(|(e, _)| {
                    *e == Expectation::Plugin {
                        condition: id,
                        ok: false,
                    }
                })
            };
            let plugin_errors = plugin_calls(&decision)
                .filter_map(|(id, error)| Some((id, error?)))
                .filter(|(id, _)| !expected_to_fail(*id))
                .map(|(id, error)| format!("plugin {:?} {error}", config.condition(id).name))
                .collect();
            ScenarioResult {
                scenario,
                failures,
                plugin_errors,
            }
        })
        .collect()
}

/// Each plugin call of a decision, with its error if it failed.
fn plugin_calls(decision: &Decision) -> impl Iterator<Item = (ConditionId, Option<&str>)> {
    decision
        .trace
        .leaves
        .iter()
        .filter_map(|leaf| match &leaf.result {
            LeafResult::Plugin {
                condition, error, ..
            } => Some((*condition, error.as_deref())),
            LeafResult::Value(_) => None,
        })
}

/// `None` when the expectation holds, else what went differently.
fn check(
    config: &Config,
    input: &Input<'_>,
    decision: &Decision,
    greeting: &Greeting,
    expectation: &Expectation,
) -> Option<String> {
    let got = || actual(config, decision);
    let ok = match expectation {
        Expectation::Agent(a) => decision.outcome == Outcome::Agent(*a),
        Expectation::AiAgent(a) => decision.outcome == Outcome::AiAgent(*a),
        Expectation::Team(t) => decision.pool == Some(Pool::Team(*t)),
        Expectation::Queued => decision.outcome == Outcome::Queued,
        Expectation::Rule(i) => decision.rule() == Some(*i),
        Expectation::NoRule => decision.rule().is_none(),
        Expectation::Welcome => matches!(greeting, Greeting::Welcome(_)),
        Expectation::Unavailable => matches!(greeting, Greeting::Unavailable(_)),
        Expectation::NoGreeting => *greeting == Greeting::None,
        Expectation::Label(l) => decision.labels.contains(l),
        Expectation::Priority(p) => decision.priority == Some(*p),
        Expectation::Plugin { condition, ok } => {
            let calls: Vec<_> = plugin_calls(decision)
                .filter(|(id, _)| id == condition)
                .collect();
            let failed = calls.iter().any(|(_, error)| error.is_some());
            !calls.is_empty() && failed != *ok
        }
    };
    if ok {
        return None;
    }
    let rule_name = |i: usize| {
        input
            .channel
            .rules
            .get(i)
            .map_or("?".to_string(), |r| format!("{:?}", r.name))
    };
    Some(match expectation {
        Expectation::Agent(a) => {
            format!("expected agent {:?}, got {}", config.agent(*a).email, got())
        }
        Expectation::AiAgent(a) => format!(
            "expected AI agent {:?}, got {}",
            config.ai_agent(*a).name,
            got()
        ),
        Expectation::Team(t) => format!("expected team {:?}, got {}", config.team(*t).name, got()),
        Expectation::Queued => format!("expected the queue, got {}", got()),
        Expectation::Rule(i) => format!(
            "expected rule {}, got {}",
            rule_name(*i),
            decision
                .rule()
                .map_or("no rule".to_string(), |r| format!("rule {}", rule_name(r)))
        ),
        Expectation::NoRule => {
            format!(
                "expected no rule to match, got rule {}",
                decision.rule().map_or("?".into(), rule_name)
            )
        }
        Expectation::Welcome | Expectation::Unavailable | Expectation::NoGreeting => {
            let want = match expectation {
                Expectation::Welcome => "the welcome message",
                Expectation::Unavailable => "the unavailable message",
                _ => "no greeting",
            };
            let got = match greeting {
                Greeting::Welcome(_) => "the welcome message",
                Greeting::Unavailable(_) => "the unavailable message",
                Greeting::None => "no greeting",
            };
            format!("expected {want}, got {got}")
        }
        Expectation::Label(l) => format!("expected label {l:?}, got labels {:?}", decision.labels),
        Expectation::Priority(p) => format!(
            "expected priority {}, got {}",
            p.as_str(),
            decision.priority.map_or("none", |p| p.as_str())
        ),
        Expectation::Plugin { condition, ok } => {
            let name = &config.condition(*condition).name;
            let want = if *ok { "to answer" } else { "to fail" };
            let errors: Vec<&str> = plugin_calls(decision)
                .filter(|(id, _)| id == condition)
                .filter_map(|(_, error)| error)
                .collect();
            let got = match errors.first() {
                _ if plugin_calls(decision).all(|(id, _)| id != *condition) => {
                    "it was not called (no rule reached it)".to_owned()
                }
                Some(error) => format!("it {error}"),
                None => "it answered every call".to_owned(),
            };
            format!("expected plugin {name:?} {want}, but {got}")
        }
    })
}

fn actual(config: &Config, decision: &Decision) -> String {
    let via = match decision.pool {
        Some(Pool::Team(t)) => format!(" (team {:?})", config.team(t).name),
        _ => String::new(),
    };
    match decision.outcome {
        Outcome::Agent(a) => format!("agent {:?}{via}", config.agent(a).email),
        Outcome::AiAgent(a) => format!("AI agent {:?}", config.ai_agent(a).name),
        Outcome::Queued => format!("the queue{via}"),
    }
}
