//! One routing decision over 100 rules, none of which match, so every rule
//! is evaluated and human assignment runs: the worst case for rule count.
//!
//!     cargo bench -p livedesk --bench routing

use std::hint::black_box;
use std::path::Path;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use livedesk::config::{self, AgentId, ChannelId, Config};
use livedesk::dsl;
use livedesk::model::{AgentState, Availability, Contact, Conversation, Message};
use livedesk::routing::{self, AgentBoard, Input, NoPlugins};

fn config_with_rules(n: usize) -> Config {
    let mut text = String::new();
    for i in 0..5 {
        text.push_str(&format!("agent \"a{i}@x.test\" {{ capacity 10 }}\n"));
    }
    text.push_str("channel \"Web\" {\n  agents \"a0@x.test\", \"a1@x.test\", \"a2@x.test\", \"a3@x.test\", \"a4@x.test\"\n");
    text.push_str("  hours \"Europe/Berlin\" { mon..fri 09:00-17:00 }\n");
    // A realistic mix: keyword tests, attribute equality, membership, hours.
    for i in 0..n {
        let when = match i % 4 {
            0 => format!("message.content contains \"keyword{i}\""),
            1 => format!("contact.tier == \"tier{i}\" and within_hours"),
            2 => format!(
                "conversation.labels contains \"label{i}\" or contact.email ends_with \"@corp{i}.test\""
            ),
            _ => format!(
                "contact.score > {} and message.content starts_with \"order{i}\"",
                1000 + i
            ),
        };
        text.push_str(&format!(
            "  rule \"r{i}\" {{ when {when}  assign agent \"a{}@x.test\" }}\n",
            i % 5
        ));
    }
    text.push_str("}\n");
    let program = dsl::load_text(Path::new("bench.livedesk"), text)
        .unwrap_or_else(|r| panic!("{:?}", r.findings));
    config::validate(&program)
        .config
        .unwrap_or_else(|| panic!("invalid bench config"))
}

fn bench(c: &mut Criterion) {
    let config = config_with_rules(100);
    let mut contact = Contact {
        email: Some("someone@example.test".into()),
        ..Contact::default()
    };
    contact
        .custom_attributes
        .insert("tier".into(), "gold".into());
    contact.custom_attributes.insert("score".into(), 10.into());
    let conversation = Conversation {
        labels: vec!["billing".into()],
        ..Conversation::default()
    };
    let message = Message {
        content: "Hello, I have a question about my invoice from last month".into(),
        ..Message::default()
    };
    let mut board = AgentBoard::default();
    for i in 0..5 {
        board.states.insert(
            AgentId(i),
            AgentState {
                availability: Availability::Online,
                open_conversations: i,
                last_assigned_at: None,
            },
        );
    }
    let at = Utc
        .with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
        .single()
        .unwrap_or_default();
    let input = Input::new(
        &config,
        ChannelId(0),
        &contact,
        &conversation,
        Some(&message),
        at,
    );
    let decision = routing::decide(&input, &board, &NoPlugins);
    assert_eq!(decision.trace.rules.len(), 100, "every rule must be tried");

    c.bench_function(
        "decide: 100 rules, no match, least_load over 5 agents",
        |b| b.iter(|| routing::decide(black_box(&input), black_box(&board), &NoPlugins)),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
