//! Laws of the routing engine, checked on generated input.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use livedesk::config::{self, AgentId, ChannelId, Config};
use livedesk::dsl;
use livedesk::model::{AgentState, Availability, Contact, Conversation, Message, MessageType};
use livedesk::routing::{self, AgentBoard, Input, NoPlugins, Outcome};
use proptest::prelude::*;
use serde_json::Value;

fn config(text: &str) -> Config {
    let program = dsl::load_text(Path::new("generated.livedesk"), text.to_string())
        .unwrap_or_else(|r| panic!("does not parse: {:?}", r.findings));
    let validated = config::validate(&program);
    validated
        .config
        .unwrap_or_else(|| panic!("invalid: {:?}", validated.findings))
}

/// A channel of `n` agents with the given capacities and policy, and no rules.
fn pool(capacities: &[u32], policy: &str) -> Config {
    let mut text = String::new();
    let mut names = Vec::new();
    for (i, capacity) in capacities.iter().enumerate() {
        text.push_str(&format!(
            "agent \"a{i}@x.test\" {{ capacity {capacity} }}\n"
        ));
        names.push(format!("\"a{i}@x.test\""));
    }
    text.push_str(&format!(
        "channel \"Web\" {{ agents {}  assignment {policy} }}\n",
        names.join(", ")
    ));
    config(&text)
}

/// Every operator over every kind of attribute, so that arbitrary input
/// reaches every comparison.
const EVERY_OPERATOR: &str = r#"
agent "a@x.test" { capacity 2 }
agent "b@x.test" { capacity 2 }
team "t" { agents "a@x.test" }
channel "Web" {
  hours "Europe/Berlin" { mon..fri 09:00-17:00  sat 22:00-02:00  2026-12-25 closed }
  agents "a@x.test", "b@x.test"
  rule "r1" { when contact.tier == "vip" or contact.score > 50 or contact.score <= -1.5  assign agent "a@x.test" }
  rule "r2" { when contact.name != "x" and contact.email ends_with ".test" and contact.phone_number starts_with "+62"  assign team "t" }
  rule "r3" { when message.content contains "refund" and not (message.content matches "(?i)^no")  assign queue }
  rule "r4" { when conversation.labels contains "vip" or conversation.priority in ["high", "urgent"]  assign team "t" }
  rule "r5" { when conversation.plan exists and conversation.plan >= "m" and contact.flag == true  assign queue }
  rule "r6" { when time.weekday in ["sat", "sun"] and time.hour < 6 and time.time >= "00:30" and not within_hours  assign queue }
  rule "r7" { when time.date == "2026-12-25" or time.minute == 0 or contact.list in [1, "two", false]  assign queue }
  rule "r8" { when message.message_type == "incoming" and message.content_type != "text"  assign queue }
}
"#;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|n| serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![Just("vip"), Just("60"), Just("two"), Just("")]
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn attributes() -> impl Strategy<Value = std::collections::BTreeMap<String, Value>> {
    let key = prop_oneof![
        Just("tier"),
        Just("score"),
        Just("flag"),
        Just("list"),
        Just("plan"),
        Just("other")
    ];
    prop::collection::btree_map(key.prop_map(String::from), json_value(), 0..6)
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2100-01-01
    (946_684_800i64..4_102_444_800i64)
        .prop_map(|s| Utc.timestamp_opt(s, 0).single().unwrap_or_default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn routing_never_panics_and_is_deterministic(
        contact_attrs in attributes(),
        conversation_attrs in attributes(),
        name in proptest::option::of(".{0,8}"),
        email in proptest::option::of(".{0,16}"),
        phone in proptest::option::of("[+0-9]{0,12}"),
        content in ".{0,40}",
        labels in prop::collection::vec(".{0,6}", 0..4),
        at in instant(),
        states in prop::collection::vec((0u8..3, 0u32..4), 2),
    ) {
        let config = config(EVERY_OPERATOR);
        let contact = Contact { name, email, phone_number: phone, identifier: None, custom_attributes: contact_attrs };
        let conversation = Conversation { labels, custom_attributes: conversation_attrs, ..Conversation::default() };
        let message = Message { content, message_type: MessageType::Incoming, content_type: "text".into(), created_at: None };
        let mut board = AgentBoard::default();
        for (i, (availability, open)) in states.iter().enumerate() {
            let availability = [Availability::Online, Availability::Busy, Availability::Offline][usize::from(*availability)];
            board.states.insert(AgentId(i as u32), AgentState { availability, open_conversations: *open, last_assigned_at: None });
        }
        let input = Input::new(&config, ChannelId(0), &contact, &conversation, Some(&message), at);
        let first = routing::decide(&input, &board, &NoPlugins);
        let second = routing::decide(&input, &board, &NoPlugins);
        prop_assert_eq!(first.outcome, second.outcome);
        prop_assert_eq!(first.tier, second.tier);
        prop_assert_eq!(first.trace.rules.len(), second.trace.rules.len());
    }

    #[test]
    fn round_robin_shares_evenly(n in 1usize..8, k in 0usize..100) {
        let config = pool(&vec![1000; n], "round_robin");
        let mut board = AgentBoard { default: AgentState { availability: Availability::Online, ..AgentState::default() }, ..AgentBoard::default() };
        let mut counts = vec![0usize; n];
        let at = Utc.timestamp_opt(1_800_000_000, 0).single().unwrap_or_default();
        for _ in 0..k {
            let (contact, conversation) = (Contact::default(), Conversation::default());
            let decision = routing::decide(&Input::new(&config, ChannelId(0), &contact, &conversation, None, at), &board, &NoPlugins);
            let Outcome::Agent(agent) = decision.outcome else { return Err(TestCaseError::fail("queued with free agents")) };
            counts[agent.index()] += 1;
            board.record(&decision, at);
        }
        for count in counts {
            prop_assert!(count == k / n || count == k.div_ceil(n), "count {count} of {k} over {n}");
        }
    }

    #[test]
    fn least_load_picks_a_least_loaded_eligible_agent(
        agents in prop::collection::vec((1u32..6, 0u8..3, 0u32..7, proptest::option::of(0i64..1000)), 1..8),
    ) {
        let capacities: Vec<u32> = agents.iter().map(|a| a.0).collect();
        let config = pool(&capacities, "least_load");
        let mut board = AgentBoard::default();
        for (i, (_, availability, open, last)) in agents.iter().enumerate() {
            let availability = [Availability::Online, Availability::Busy, Availability::Offline][usize::from(*availability)];
            let last_assigned_at = last.and_then(|s| Utc.timestamp_opt(1_800_000_000 + s, 0).single());
            board.states.insert(AgentId(i as u32), AgentState { availability, open_conversations: *open, last_assigned_at });
        }
        let eligible = |i: usize| {
            let (capacity, availability, open, _) = agents[i];
            availability == 0 && open < capacity
        };
        let (contact, conversation) = (Contact::default(), Conversation::default());
        let at = Utc.timestamp_opt(1_900_000_000, 0).single().unwrap_or_default();
        let decision = routing::decide(&Input::new(&config, ChannelId(0), &contact, &conversation, None, at), &board, &NoPlugins);
        match decision.outcome {
            Outcome::Agent(agent) => {
                let picked = agent.index();
                prop_assert!(eligible(picked));
                for other in (0..agents.len()).filter(|&i| eligible(i)) {
                    prop_assert!(agents[picked].2 <= agents[other].2, "picked {picked} with more open than {other}");
                }
            }
            Outcome::Queued => prop_assert!((0..agents.len()).all(|i| !eligible(i))),
            Outcome::AiAgent(_) => prop_assert!(false, "no AI agent configured"),
        }
    }

    #[test]
    fn nobody_is_ever_assigned_above_capacity(
        capacities in prop::collection::vec(1u32..4, 1..6),
        round_robin in any::<bool>(),
        k in 0usize..40,
    ) {
        let config = pool(&capacities, if round_robin { "round_robin" } else { "least_load" });
        let mut board = AgentBoard { default: AgentState { availability: Availability::Online, ..AgentState::default() }, ..AgentBoard::default() };
        let total: u32 = capacities.iter().sum();
        let at = Utc.timestamp_opt(1_800_000_000, 0).single().unwrap_or_default();
        for i in 0..k {
            let (contact, conversation) = (Contact::default(), Conversation::default());
            let decision = routing::decide(&Input::new(&config, ChannelId(0), &contact, &conversation, None, at), &board, &NoPlugins);
            board.record(&decision, at);
            for (a, capacity) in capacities.iter().enumerate() {
                let open = board.states.get(&AgentId(a as u32)).map_or(0, |s| s.open_conversations);
                prop_assert!(open <= *capacity, "agent {a} has {open} open, capacity {capacity}");
            }
            // Assignment stops exactly when every seat is taken.
            prop_assert_eq!(decision.outcome == Outcome::Queued, i as u32 >= total);
        }
    }
}
