//! The agent console in a real headless Chromium against the real daemon:
//! sign in, a conversation appears live, reply and note, resolve, the
//! survey's answer in the reports, availability, the routing "why".
//! Screenshots of each step go to `$LIVEDESK_SCREENSHOTS` (default
//! `target/screenshots`). Without Chromium the tests say so and pass
//! (see `tests/support/browser.rs`).

#[path = "support/browser.rs"]
mod browser;
#[path = "support/daemon.rs"]
mod support;

use std::time::Duration;

use browser::Browser;
use serde_json::{Value, json};
use support::{Daemon, eventually, example};

const TUESDAY_MORNING: &str = "2026-11-24T10:00:00+01:00";

struct Customer<'d> {
    daemon: &'d Daemon,
    base: String,
    source_id: String,
    conversation: i64,
}

impl<'d> Customer<'d> {
    fn start(daemon: &'d Daemon, first: &str) -> Self {
        let base = format!("/public/api/v1/inboxes/{}", daemon.inbox("Website"));
        let contact = daemon.post(&format!("{base}/contacts"), r#"{"name": "Dana Customer"}"#);
        let source_id = contact["source_id"].as_str().unwrap_or_default().to_owned();
        let conversation = daemon.post(&format!("{base}/contacts/{source_id}/conversations"), "{}")
            ["id"]
            .as_i64()
            .unwrap_or_default();
        let customer = Self {
            daemon,
            base,
            source_id,
            conversation,
        };
        customer.say(first);
        customer
    }

    fn path(&self, tail: &str) -> String {
        format!(
            "{}/contacts/{}/conversations/{}{tail}",
            self.base, self.source_id, self.conversation
        )
    }

    fn say(&self, text: &str) {
        self.daemon.post(
            &self.path("/messages"),
            &json!({ "content": text }).to_string(),
        );
    }

    fn messages(&self) -> Vec<Value> {
        self.daemon
            .get(&self.path("/messages"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn contents(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn availability(daemon: &Daemon, email: &str) -> String {
    let agents = daemon.agent("alice-token", "GET", "/agents", "");
    agents
        .as_array()
        .and_then(|list| list.iter().find(|a| a["email"] == email))
        .and_then(|a| a["availability_status"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The example desk, on a Tuesday morning (the Website channel is open).
fn desk(data: &std::path::Path) -> Daemon {
    Daemon::start(
        &example("support-desk.livedesk"),
        data,
        Some(TUESDAY_MORNING),
    )
}

/// Fails on anything the page logged as an error since the log was last read.
fn assert_no_console_errors(browser: &Browser) {
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[test]
fn an_agent_works_a_conversation_from_sign_in_to_the_csat_report() {
    let Some(browser) = Browser::start("console") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = desk(dir.path());
    let origin = format!("http://{}", daemon.address);

    // `/` leads to the console; a wrong token is told so.
    browser.go(&format!("{origin}/"));
    browser.type_into("#token", "not-a-token");
    browser.click("#signin");
    browser.text_until("#signin-error", |t| t.contains("not valid"));
    browser.screenshot("01-wrong-token");
    // The refused sign-in is the one error the browser may log (a 401);
    // reading the log empties it.
    let refused = browser.console_errors();
    assert!(refused.iter().all(|e| e.contains("401")), "{refused:?}");
    browser.run("document.getElementById('token').value = ''; return true");
    browser.type_into("#token", "alice-token");
    browser.click("#signin");
    browser.element("#availability");
    browser.screenshot("02-signed-in");

    // Nobody is online: a new conversation waits in the queue, and the
    // unassigned view shows its place.
    browser.click("#tab-unassigned");
    let early = Customer::start(&daemon, "anyone there?");
    browser.text_until(&format!("#place-{}", early.conversation), |t| {
        t == "queue #1"
    });
    browser.screenshot("02-queued");
    browser.click("#tab-mine");

    // The availability switch is the agent API's availability.
    assert_eq!(availability(&daemon, "alice@example.test"), "offline");
    browser.click("#availability option[value=online]");
    eventually(Duration::from_secs(10), || {
        (availability(&daemon, "alice@example.test") == "online").then_some(())
    });

    // A conversation opened through the client API appears without reload.
    let customer = Customer::start(&daemon, "hello, my order is late");
    let row = format!("#conversation-{}", customer.conversation);
    browser.text_until(&row, |t| t.contains("Dana Customer"));
    browser.screenshot("03-live-in-mine");
    browser.click(&row);
    browser.text_until("#thread", |t| t.contains("my order is late"));

    // Reply: the customer sees it. A private note: the customer does not.
    browser.type_into("#reply", "Sorry about that, looking now.\u{E007}");
    eventually(Duration::from_secs(10), || {
        customer
            .contents()
            .iter()
            .any(|c| c == "Sorry about that, looking now.")
            .then_some(())
    });
    browser.click("#private");
    browser.type_into("#reply", "Check the courier first\u{E007}");
    browser.text_until("#thread", |t| t.contains("Check the courier first"));
    assert!(
        !customer.contents().iter().any(|c| c.contains("courier")),
        "a private note reached the customer"
    );
    // A live message from the customer appears in the open conversation.
    customer.say("thanks!");
    browser.text_until("#thread", |t| t.contains("thanks!"));
    // Why it is here: the routing decision.
    browser.text_until("#why", |t| t.contains("human"));
    browser.screenshot("04-conversation");

    // Resolve: the customer gets the survey, and answers it.
    browser.click("#status-resolved");
    let survey = eventually(Duration::from_secs(10), || {
        customer
            .messages()
            .into_iter()
            .find(|m| m["content_type"] == "input_csat")
    });
    let (status, body) = daemon.request(
        "PATCH",
        &customer.path(&format!("/messages/{}", survey["id"])),
        None,
        &json!({ "submitted_values": { "csat_survey_response": { "rating": 4, "feedback_message": "quick" } } })
            .to_string(),
    );
    assert_eq!(status, 200, "{body}");

    // The report shows the new numbers.
    browser.click("#nav-reports");
    browser.text_until("#csat-responses", |t| t.starts_with('1'));
    assert!(browser.text("#csat-sent").starts_with('1'));
    let bar = browser.run(
        "return document.querySelector('#chart-distribution rect[data-rating=\"4\"]').getAttribute('data-count')",
    );
    assert_eq!(bar, json!("1"));
    browser.screenshot("05-reports");

    browser.click("#nav-operations");
    browser.text_until("#revision", |t| t.contains("revision"));
    browser.screenshot("06-operations");

    assert_no_console_errors(&browser);
}

#[test]
fn the_why_panel_names_the_rule_that_matched() {
    let Some(browser) = Browser::start("why") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = desk(dir.path());
    daemon.set_availability("bob-token", "online");
    let customer = Customer::start(&daemon, "I found a bug in checkout");
    let origin = format!("http://{}", daemon.address);
    browser.go(&format!("{origin}/app"));
    browser.type_into("#token", "bob-token");
    browser.click("#signin");
    browser.go(&format!(
        "{origin}/app#/conversation/{}",
        customer.conversation
    ));
    browser.text_until("#why", |t| t.contains("Bugs go to Bob"));
    browser.screenshot("rule");
    assert_no_console_errors(&browser);
}
