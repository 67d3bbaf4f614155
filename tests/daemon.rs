//! End to end: the real `livedesk serve` on a free port, a temporary data
//! directory, real HTTP — the client API as a front end uses it, the agent
//! API as agents use it, and restarts.

#[path = "support/chat_server.rs"]
mod chat_server;
#[path = "support/daemon.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use chat_server::ChatServer;
use serde_json::{Value, json};
use support::{Daemon, eventually, example};

/// Tuesday, inside the Website channel's hours (Europe/Berlin 09–17).
const TUESDAY_MORNING: &str = "2026-11-24T10:00:00+01:00";
const TUESDAY_NIGHT: &str = "2026-11-24T22:00:00+01:00";

fn start(data: &Path, now: Option<&str>) -> Daemon {
    Daemon::start(&example("support-desk.livedesk"), data, now)
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

/// A front end of one inbox.
struct FrontEnd<'d> {
    daemon: &'d Daemon,
    base: String,
}

impl<'d> FrontEnd<'d> {
    fn new(daemon: &'d Daemon, channel: &str) -> Self {
        let base = format!("/public/api/v1/inboxes/{}", daemon.inbox(channel));
        FrontEnd { daemon, base }
    }

    fn contact(&self, body: Value) -> String {
        let contact = self
            .daemon
            .post(&format!("{}/contacts", self.base), &body.to_string());
        contact["source_id"].as_str().unwrap_or_default().to_owned()
    }

    fn conversation(&self, contact: &str) -> i64 {
        let conversation = self.daemon.post(
            &format!("{}/contacts/{contact}/conversations", self.base),
            "{}",
        );
        conversation["id"].as_i64().unwrap_or_default()
    }

    fn path(&self, contact: &str, conversation: i64, tail: &str) -> String {
        format!(
            "{}/contacts/{contact}/conversations/{conversation}{tail}",
            self.base
        )
    }

    fn say(&self, contact: &str, conversation: i64, text: &str) -> Value {
        self.daemon.post(
            &self.path(contact, conversation, "/messages"),
            &json!({ "content": text }).to_string(),
        )
    }

    fn messages(&self, contact: &str, conversation: i64) -> Vec<Value> {
        let list = self
            .daemon
            .get(&self.path(contact, conversation, "/messages"));
        list.as_array().cloned().unwrap_or_default()
    }

    fn contents(&self, contact: &str, conversation: i64) -> Vec<String> {
        self.messages(contact, conversation)
            .iter()
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A new contact with a conversation and a first message.
    fn start_conversation(&self, text: &str) -> (String, i64) {
        let contact = self.contact(json!({ "name": "Visitor" }));
        let conversation = self.conversation(&contact);
        self.say(&contact, conversation, text);
        (contact, conversation)
    }
}

fn assignee(daemon: &Daemon, conversation: i64) -> Option<String> {
    let c = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{conversation}"),
        "",
    );
    c["meta"]["assignee"]["email"].as_str().map(str::to_owned)
}

/// The conversation's messages as agents see them: activity messages and
/// private notes too.
fn agent_contents(daemon: &Daemon, conversation: i64) -> Vec<String> {
    let list = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{conversation}/messages"),
        "",
    );
    list["payload"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn status(daemon: &Daemon, conversation: i64) -> String {
    let c = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{conversation}"),
        "",
    );
    c["status"].as_str().unwrap_or_default().to_owned()
}

fn identity_hash(secret: &str, identifier: &str) -> String {
    livedesk::identity::identifier_hash(secret.as_bytes(), identifier)
}

#[test]
fn contacts_need_a_valid_identity_hash_when_the_inbox_requires_it() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let app = FrontEnd::new(&daemon, "App");
    let contacts = format!("{}/contacts", app.base);

    let (status, body) = daemon.request("POST", &contacts, None, r#"{"identifier": "user-1"}"#);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "unauthorized");
    let wrong =
        json!({ "identifier": "user-1", "identifier_hash": identity_hash("other", "user-1") });
    let (status, _) = daemon.request("POST", &contacts, None, &wrong.to_string());
    assert_eq!(status, 401);
    let (status, _) = daemon.request(
        "POST",
        &contacts,
        None,
        r#"{"identifier": "user-1", "identifier_hash": "zz"}"#,
    );
    assert_eq!(status, 401);
    let none = daemon.agent("alice-token", "GET", "/contacts", "");
    assert_eq!(none["meta"]["count"], 0, "a refused contact was stored");

    // The right hash, in upper case too.
    let hash = identity_hash("app-identity-secret", "user-1");
    let good =
        json!({ "identifier": "user-1", "identifier_hash": hash.to_uppercase(), "name": "Ana" });
    let contact = daemon.post(&contacts, &good.to_string());
    assert_eq!(contact["name"], "Ana");
    assert!(
        contact["pubsub_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let source = contact["source_id"].as_str().unwrap_or_default();

    // Changing the contact needs the hash as well.
    let path = format!("{contacts}/{source}");
    let (status, _) = daemon.request("PATCH", &path, None, r#"{"name": "Eve"}"#);
    assert_eq!(status, 401);
    let renamed = daemon.ok(
        "PATCH",
        &path,
        None,
        &json!({ "name": "Ana B", "identifier_hash": hash }).to_string(),
    );
    assert_eq!(renamed["name"], "Ana B");
    assert_eq!(daemon.get(&path)["name"], "Ana B");

    // The website does not validate identity: no hash needed.
    let web = FrontEnd::new(&daemon, "Website");
    let visitor = web.contact(json!({ "identifier": "user-1", "email": "v@example.test" }));
    assert!(!visitor.is_empty());
    let all = daemon.agent("alice-token", "GET", "/contacts", "");
    assert_eq!(all["meta"]["count"], 2);
}

#[test]
fn the_inbox_describes_itself_like_chatwoot() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    let inbox = daemon.get(&web.base);
    assert_eq!(inbox["name"], "Website");
    assert_eq!(inbox["timezone"], "Europe/Berlin");
    assert_eq!(inbox["working_hours_enabled"], true);
    assert_eq!(inbox["csat_survey_enabled"], true);
    assert_eq!(inbox["greeting_enabled"], true);
    assert_eq!(inbox["identity_validation_enabled"], false);
    let hours = inbox["working_hours"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(hours.len(), 7);
    assert_eq!(hours[0]["day_of_week"], 0);
    assert_eq!(hours[0]["closed_all_day"], true);
    assert_eq!(hours[2]["open_hour"], 9);
    assert_eq!(hours[2]["close_hour"], 17);
    let (status, body) = daemon.request("GET", "/public/api/v1/inboxes/no-such-inbox", None, "");
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    // Path segments are percent-decoded: the identifier fully escaped
    // names the same inbox; an escape that is not UTF-8 is refused.
    let escaped: String = daemon
        .inbox("Website")
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    let same = daemon.get(&format!("/public/api/v1/inboxes/{escaped}"));
    assert_eq!(same["name"], "Website");
    let (status, body) = daemon.request("GET", "/public/api/v1/inboxes/%FF", None, "");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn welcome_inside_hours_unavailable_outside_and_once_per_closed_period() {
    let data = temp();
    let day = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&day, "Website");
    let contact = web.contact(json!({ "name": "Day" }));
    let conversation = web.conversation(&contact);
    web.say(&contact, conversation, "hello");
    let contents = web.contents(&contact, conversation);
    assert_eq!(contents[0], "Hi! An agent will be with you shortly.");
    assert!(!contents.iter().any(|c| c.starts_with("We're closed")));
    drop(day);

    let night_data = temp();
    let night = start(night_data.path(), Some(TUESDAY_NIGHT));
    let web = FrontEnd::new(&night, "Website");
    let contact = web.contact(json!({ "name": "Night" }));
    let conversation = web.conversation(&contact);
    web.say(&contact, conversation, "hello?");
    web.say(&contact, conversation, "anyone?");
    let contents = web.contents(&contact, conversation);
    let closed = contents
        .iter()
        .filter(|c| c.starts_with("We're closed"))
        .count();
    assert_eq!(closed, 1, "{contents:?}");
    assert!(!contents.iter().any(|c| c.starts_with("Hi!")));
}

#[test]
fn rules_then_round_robin_then_least_load() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    daemon.set_availability("bob-token", "online");
    let web = FrontEnd::new(&daemon, "Website");

    let (_, bug) = web.start_conversation("there is a bug in checkout");
    assert_eq!(assignee(&daemon, bug).as_deref(), Some("bob@example.test"));
    let c = daemon.agent("alice-token", "GET", &format!("/conversations/{bug}"), "");
    assert_eq!(c["labels"], json!(["bug"]));
    let decisions = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{bug}/decisions"),
        "",
    );
    assert_eq!(decisions["payload"][0]["tier"], "rule");
    assert!(
        decisions["payload"][0]["revision"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(
        decisions["payload"][0]["trace"]["rules"][0]["matched"],
        true
    );

    // Round robin goes on after Bob, who the rule picked: Alice, Bob.
    let (_, first) = web.start_conversation("hello");
    let (_, second) = web.start_conversation("hello");
    assert_eq!(
        assignee(&daemon, first).as_deref(),
        Some("alice@example.test")
    );
    assert_eq!(
        assignee(&daemon, second).as_deref(),
        Some("bob@example.test")
    );

    // The app's least load: Carol and Dave, one seat each.
    daemon.set_availability("carol-token", "online");
    daemon.set_availability("dave-token", "online");
    let hash = identity_hash("app-identity-secret", "u1");
    let app = FrontEnd::new(&daemon, "App");
    let contact = app.contact(json!({ "identifier": "u1", "identifier_hash": hash }));
    let a = app.conversation(&contact);
    app.say(&contact, a, "hi");
    let b = app.conversation(&contact);
    app.say(&contact, b, "hi again");
    let mut both = [assignee(&daemon, a), assignee(&daemon, b)];
    both.sort();
    assert_eq!(
        both,
        [
            Some("carol@example.test".to_owned()),
            Some("dave@example.test".to_owned())
        ]
    );
}

#[test]
fn a_full_pool_queues_and_drains_when_an_agent_resolves_or_comes_online() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    daemon.set_availability("carol-token", "online");
    let app = FrontEnd::new(&daemon, "App");
    let hash = identity_hash("app-identity-secret", "u2");
    let contact = app.contact(json!({ "identifier": "u2", "identifier_hash": hash }));
    let open = |text: &str| {
        let c = app.conversation(&contact);
        app.say(&contact, c, text);
        c
    };

    let first = open("one");
    let second = open("two");
    let third = open("three");
    assert_eq!(
        assignee(&daemon, first).as_deref(),
        Some("carol@example.test")
    );
    assert_eq!(assignee(&daemon, second), None, "Carol has one seat");
    assert_eq!(assignee(&daemon, third), None);
    assert!(
        agent_contents(&daemon, second)
            .iter()
            .any(|c| c.starts_with("Waiting for an agent"))
    );

    // Dave comes online: the first in the queue is his.
    daemon.set_availability("dave-token", "online");
    assert_eq!(
        assignee(&daemon, second).as_deref(),
        Some("dave@example.test")
    );
    assert_eq!(assignee(&daemon, third), None);

    // Carol resolves: her seat goes to the next one waiting.
    daemon.agent(
        "carol-token",
        "POST",
        &format!("/conversations/{first}/toggle_status"),
        r#"{"status": "resolved"}"#,
    );
    assert_eq!(
        assignee(&daemon, third).as_deref(),
        Some("carol@example.test")
    );
    let decisions = daemon.agent(
        "carol-token",
        "GET",
        &format!("/conversations/{third}/decisions"),
        "",
    );
    let tiers: Vec<_> = decisions["payload"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["tier"].clone())
        .collect();
    assert_eq!(tiers, [json!("human"), json!("queue")]);

    let agents = daemon.agent("carol-token", "GET", "/agents", "");
    let carol = agents
        .as_array()
        .and_then(|a| a.iter().find(|x| x["email"] == "carol@example.test"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(carol["open_conversations"], 1);
    assert_eq!(carol["availability_status"], "online");

    // A waiting conversation the customer resolves leaves the queue; when
    // they write again it reopens and, with nobody free, waits again until
    // Dave resolves his.
    let fourth = open("four");
    daemon.post(&app.path(&contact, fourth, "/toggle_status"), "");
    app.say(&contact, fourth, "it happened again");
    assert_eq!(status(&daemon, fourth), "open");
    assert_eq!(assignee(&daemon, fourth), None);
    daemon.agent(
        "dave-token",
        "POST",
        &format!("/conversations/{second}/toggle_status"),
        r#"{"status": "resolved"}"#,
    );
    assert_eq!(
        assignee(&daemon, fourth).as_deref(),
        Some("dave@example.test")
    );
}

#[test]
fn a_resolved_conversation_gets_one_survey_and_the_report_counts_exactly() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    daemon.set_availability("bob-token", "online");
    let web = FrontEnd::new(&daemon, "Website");

    let mut surveys = Vec::new();
    let mut conversations = Vec::new();
    for _ in 0..3 {
        let (contact, conversation) = web.start_conversation("hello");
        daemon.agent(
            "alice-token",
            "POST",
            &format!("/conversations/{conversation}/messages"),
            r#"{"content": "Hi, how can I help?"}"#,
        );
        daemon.post(&web.path(&contact, conversation, "/toggle_status"), "");
        let survey: Vec<_> = web
            .messages(&contact, conversation)
            .into_iter()
            .filter(|m| m["content_type"] == "input_csat")
            .collect();
        assert_eq!(survey.len(), 1);
        surveys.push(survey[0]["id"].as_i64().unwrap_or_default());
        conversations.push((contact, conversation));
    }

    // Reopen by writing again, resolve again: still one survey.
    let (contact, conversation) = &conversations[0];
    web.say(contact, *conversation, "one more thing");
    assert_eq!(status(&daemon, *conversation), "open");
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/toggle_status"),
        r#"{"status": "resolved"}"#,
    );
    let count = web
        .messages(contact, *conversation)
        .iter()
        .filter(|m| m["content_type"] == "input_csat")
        .count();
    assert_eq!(count, 1, "a reopened conversation was surveyed twice");

    let answer = |index: usize, rating: i64, feedback: &str| {
        let (contact, conversation) = &conversations[index];
        daemon.request(
            "PATCH",
            &web.path(contact, *conversation, &format!("/messages/{}", surveys[index])),
            None,
            &json!({ "submitted_values": { "csat_survey_response": { "rating": rating, "feedback_message": feedback } } }).to_string(),
        )
    };
    for bad in [0, 6] {
        let (status, body) = answer(0, bad, "");
        assert_eq!(status, 422, "{body}");
    }
    let (contact0, conversation0) = &conversations[0];
    let unanswered = web
        .messages(contact0, *conversation0)
        .into_iter()
        .find(|m| m["id"] == surveys[0])
        .unwrap_or_default();
    assert_eq!(
        unanswered["content_attributes"],
        json!({}),
        "a refused rating was stored"
    );
    assert_eq!(answer(0, 3, "meh").0, 200);
    let (status, message) = answer(0, 5, "great");
    assert_eq!(status, 200);
    assert_eq!(
        message["content_attributes"]["submitted_values"]["csat_survey_response"]["rating"],
        5
    );
    assert_eq!(answer(1, 2, "slow").0, 200);

    let metrics = daemon.agent("alice-token", "GET", "/csat_survey_responses/metrics", "");
    assert_eq!(metrics["sent"], 3);
    assert_eq!(metrics["responses"], 2);
    assert_eq!(metrics["total_sent_messages_count"], 3);
    assert_eq!(metrics["average_rating"], 3.5);
    assert_eq!(metrics["satisfaction_score"], 0.5);
    assert_eq!(
        metrics["distribution"],
        json!({"1": 0, "2": 1, "3": 0, "4": 0, "5": 1})
    );
    assert!((metrics["response_rate"].as_f64().unwrap_or_default() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(metrics["by_channel"]["Website"]["sent"], 3);
    let responses = daemon.agent("alice-token", "GET", "/csat_survey_responses", "");
    let mut ratings: Vec<_> = responses
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["rating"].as_i64().unwrap_or_default())
        .collect();
    ratings.sort();
    assert_eq!(ratings, [2, 5]);

    // The same figures from the command line.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_livedesk"))
        .args(["report", "csat", "--format", "json", "--data"])
        .arg(data.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(report["sent"], 3);
    assert_eq!(report["responses"], 2);
    assert_eq!(report["average_rating"], 3.5);

    let summary = daemon.agent("alice-token", "GET", "/reports/summary", "");
    assert_eq!(summary["conversations_count"], 3);
    assert_eq!(summary["resolutions_count"], 3);
    assert_eq!(summary["by_channel"]["Website"], 3);
    assert!(summary["avg_first_response_time"].as_f64().is_some());
}

#[test]
fn everything_survives_a_restart_and_nothing_is_sent_twice() {
    let data = temp();
    let mut daemon = start(data.path(), Some(TUESDAY_MORNING));
    daemon.set_availability("carol-token", "online");
    daemon.set_availability("alice-token", "online");
    let identifier = daemon.inbox("Website");
    let (contact, conversation, waiting, app_contact) = {
        let web = FrontEnd::new(&daemon, "Website");
        let (contact, conversation) = web.start_conversation("hello");
        let app = FrontEnd::new(&daemon, "App");
        let hash = identity_hash("app-identity-secret", "u3");
        let app_contact = app.contact(json!({ "identifier": "u3", "identifier_hash": hash }));
        let first = app.conversation(&app_contact);
        app.say(&app_contact, first, "one");
        let waiting = app.conversation(&app_contact);
        app.say(&app_contact, waiting, "two");
        (contact, conversation, waiting, app_contact)
    };
    assert_eq!(assignee(&daemon, waiting), None);
    let before = FrontEnd::new(&daemon, "Website").messages(&contact, conversation);

    daemon.restart(Some(TUESDAY_MORNING));
    assert_eq!(
        daemon.inbox("Website"),
        identifier,
        "the generated identifier changed"
    );
    let web = FrontEnd::new(&daemon, "Website");
    assert_eq!(web.messages(&contact, conversation), before);
    assert_eq!(
        assignee(&daemon, conversation).as_deref(),
        Some("alice@example.test")
    );
    let agents = daemon.agent("alice-token", "GET", "/agents", "");
    let online: Vec<_> = agents
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["availability_status"] == "online")
        .map(|a| a["email"].clone())
        .collect();
    assert_eq!(
        online,
        [json!("alice@example.test"), json!("carol@example.test")]
    );

    // The queue survived: Dave coming online takes the waiting one.
    daemon.set_availability("dave-token", "online");
    assert_eq!(
        assignee(&daemon, waiting).as_deref(),
        Some("dave@example.test")
    );
    let app = FrontEnd::new(&daemon, "App");
    assert_eq!(app.contents(&app_contact, waiting)[0], "two");

    // Resolve, restart, resolve again: one survey; no second welcome.
    daemon.post(&web.path(&contact, conversation, "/toggle_status"), "");
    daemon.restart(Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    web.say(&contact, conversation, "back again");
    daemon.post(&web.path(&contact, conversation, "/toggle_status"), "");
    let contents = web.contents(&contact, conversation);
    assert_eq!(
        contents
            .iter()
            .filter(|c| c.starts_with("Hi! An agent"))
            .count(),
        1
    );
    assert_eq!(
        contents
            .iter()
            .filter(|c| *c == "Please rate the conversation")
            .count(),
        1
    );
}

#[test]
fn a_survey_answer_after_fourteen_days_is_refused() {
    let data = temp();
    let mut daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    let (contact, conversation) = web.start_conversation("hello");
    daemon.post(&web.path(&contact, conversation, "/toggle_status"), "");
    let survey = web
        .messages(&contact, conversation)
        .into_iter()
        .find(|m| m["content_type"] == "input_csat")
        .and_then(|m| m["id"].as_i64())
        .unwrap_or_default();
    daemon.restart(Some("2026-12-09T10:00:00+01:00"));
    let web = FrontEnd::new(&daemon, "Website");
    let (status, body) = daemon.request(
        "PATCH",
        &web.path(&contact, conversation, &format!("/messages/{survey}")),
        None,
        r#"{"submitted_values": {"csat_survey_response": {"rating": 5}}}"#,
    );
    assert_eq!(status, 422, "{body}");
    let metrics = daemon.agent(
        "alice-token",
        "GET",
        "/csat_survey_responses/metrics?since=0",
        "",
    );
    assert_eq!(metrics["responses"], 0);
}

#[test]
fn bad_input_gets_the_right_status_and_stores_nothing() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    let (contact, conversation) = web.start_conversation("hello");
    let before = web.messages(&contact, conversation).len();
    let messages = web.path(&contact, conversation, "/messages");

    let cases: &[(&str, &str, u16)] = &[
        ("malformed JSON", r#"{"content": "#, 400),
        ("wrong type", r#"{"content": 5}"#, 400),
        ("missing field", r#"{"echo_id": "x"}"#, 400),
        ("empty content", r#"{"content": "  "}"#, 400),
    ];
    for (what, body, expected) in cases {
        let (status, json) = daemon.request("POST", &messages, None, body);
        assert_eq!(status, *expected, "{what}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {json}"
        );
    }
    let huge = format!(r#"{{"content": "{}"}}"#, "x".repeat(2 << 20));
    let (status, _) = daemon.raw("POST", &messages, None, huge.as_bytes());
    assert_eq!(status, 413);

    let (status, _) = daemon.request("POST", "/public/api/v1/inboxes/nope/contacts", None, "{}");
    assert_eq!(status, 404);
    let (status, _) = daemon.request("GET", &format!("{}/contacts/nobody", web.base), None, "");
    assert_eq!(status, 404);
    let (status, _) = daemon.request("GET", &web.path(&contact, 9999, "/messages"), None, "");
    assert_eq!(status, 404);
    let (status, _) = daemon.request("GET", "/api/v1/accounts/1/conversations", Some("wrong"), "");
    assert_eq!(status, 401);
    let (status, _) = daemon.request("GET", "/api/v1/accounts/1/conversations", None, "");
    assert_eq!(status, 401);
    let (status, _) = daemon.request("DELETE", &messages, None, "");
    assert_eq!(status, 405);
    let (status, _) = daemon.request(
        "POST",
        &format!("{}/contacts", web.base),
        None,
        r#"{"email": "not-an-address"}"#,
    );
    assert_eq!(status, 400);

    assert_eq!(
        web.messages(&contact, conversation).len(),
        before,
        "a refused message was stored"
    );
    let contacts = daemon.agent("alice-token", "GET", "/contacts", "");
    assert_eq!(contacts["meta"]["count"], 1);
}

#[test]
fn an_unanswered_assignment_is_reassigned_after_the_channels_minutes() {
    let data = temp();
    let mut daemon = start(data.path(), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    daemon.set_availability("bob-token", "online");
    let web = FrontEnd::new(&daemon, "Website");
    let (contact, conversation) = web.start_conversation("hello");
    let (replied_contact, replied) = web.start_conversation("hello");
    assert_eq!(
        assignee(&daemon, conversation).as_deref(),
        Some("alice@example.test")
    );
    assert_eq!(
        assignee(&daemon, replied).as_deref(),
        Some("bob@example.test")
    );
    daemon.agent(
        "bob-token",
        "POST",
        &format!("/conversations/{replied}/messages"),
        r#"{"content": "On it"}"#,
    );

    // Eleven minutes later nobody answered the first one.
    daemon.restart(Some("2026-11-24T10:11:00+01:00"));
    eventually(Duration::from_secs(20), || {
        (assignee(&daemon, conversation).as_deref() == Some("bob@example.test")).then_some(())
    });
    assert_eq!(
        assignee(&daemon, replied).as_deref(),
        Some("bob@example.test")
    );
    let web = FrontEnd::new(&daemon, "Website");
    assert!(
        agent_contents(&daemon, conversation)
            .iter()
            .any(|c| c.contains("reassigning"))
    );
    assert!(
        !agent_contents(&daemon, replied)
            .iter()
            .any(|c| c.contains("reassigning"))
    );
    // Agents read why; the customer sees only the chat.
    assert!(
        !web.contents(&contact, conversation)
            .iter()
            .any(|c| c.contains("reassigning") || c.contains("Assigned to"))
    );
    assert!(!web.contents(&replied_contact, replied).is_empty());
}

/// A config whose channel is answered by the GPT agent plugin, talking to
/// `server`.
fn ai_config(dir: &Path, server: &ChatServer) -> std::path::PathBuf {
    let plugin = Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("gpt_agent.wasm");
    let text = format!(
        r#"agent "alice@example.test" {{ name "Alice"  capacity 5  token "alice-token" }}
ai_agent "Assistant" {{
  plugin "{plugin}"
  allow_hosts "127.0.0.1:{port}"
  timeout 10s
  config {{
    api_key "sk-test"
    base_url "http://127.0.0.1:{port}/v1"
    model "gpt-test"
  }}
}}
channel "Website" {{
  inbox_identifier "web"
  agents "alice@example.test"
  ai_agent "Assistant"
}}
"#,
        plugin = plugin.display(),
        port = server.port
    );
    let file = dir.join("ai.livedesk");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

/// Chat Completions answers: an echo, a hand-off tool call when the
/// customer asks for a human, an API failure when they say "crash".
fn assistant(request: &Value) -> (u16, Value) {
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    if last.contains("crash") {
        return (500, json!({ "error": { "message": "overloaded" } }));
    }
    let message = if last.contains("human") {
        json!({ "role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": { "name": "handoff", "arguments": "{\"reason\": \"the customer wants a person\"}" }
        }]})
    } else {
        json!({ "role": "assistant", "content": format!("Echo: {last}") })
    };
    (
        200,
        json!({ "choices": [{ "index": 0, "message": message, "finish_reason": "stop" }] }),
    )
}

#[test]
fn an_ai_agent_replies_and_hands_off_through_a_real_plugin() {
    let server = ChatServer::answering(assistant);
    let dir = temp();
    let file = ai_config(dir.path(), &server);
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    let web = FrontEnd::new(&daemon, "Website");

    let (contact, conversation) = web.start_conversation("where is my order?");
    assert_eq!(status(&daemon, conversation), "pending");
    let reply = eventually(Duration::from_secs(20), || {
        web.messages(&contact, conversation)
            .into_iter()
            .find(|m| m["content"] == "Echo: where is my order?")
    });
    assert_eq!(reply["message_type"], 1);
    assert_eq!(reply["sender"]["type"], "agent_bot");
    assert_eq!(assignee(&daemon, conversation), None);

    web.say(&contact, conversation, "I want a human please");
    eventually(Duration::from_secs(20), || {
        (assignee(&daemon, conversation).as_deref() == Some("alice@example.test")).then_some(())
    });
    assert_eq!(status(&daemon, conversation), "open");
    assert!(
        agent_contents(&daemon, conversation)
            .iter()
            .any(|c| c.contains("the customer wants a person"))
    );
    // The plugin saw the history, oldest first.
    let seen = server.seen();
    let last = seen
        .last()
        .map(|s| s.body["messages"].clone())
        .unwrap_or_default();
    let texts: Vec<_> = last
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        texts.contains(&"where is my order?") && texts.contains(&"Echo: where is my order?"),
        "{texts:?}"
    );

    // A failing model hands off too, with the reason in an activity message.
    let (other, failing) = web.start_conversation("crash please");
    eventually(Duration::from_secs(20), || {
        (assignee(&daemon, failing).as_deref() == Some("alice@example.test")).then_some(())
    });
    assert!(
        agent_contents(&daemon, failing)
            .iter()
            .any(|c| c.contains("handed the conversation to a human"))
    );
    // The failure reason stays with the agents and the decision trace: the
    // customer's list and conversation view carry only chat messages.
    let decisions = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{failing}/decisions"),
        "",
    );
    assert!(
        decisions.to_string().contains("failed (HTTP 500)"),
        "{decisions}"
    );
    assert_customer_sees_no_failure(&daemon, &web, &other, failing);
}

/// The customer's list and conversation view of `conversation` hold only
/// chat messages: no activity, nothing private, no word of a failure.
fn assert_customer_sees_no_failure(
    daemon: &Daemon,
    web: &FrontEnd,
    contact: &str,
    conversation: i64,
) {
    let customer_views = [
        web.messages(contact, conversation),
        daemon.get(&web.path(contact, conversation, ""))["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    ];
    for view in customer_views {
        assert!(!view.is_empty());
        for message in view {
            assert_ne!(message["message_type"], 2, "an activity message: {message}");
            assert_eq!(message["private"], false, "{message}");
            let text = message["content"].as_str().unwrap_or_default();
            assert!(
                !text.contains("failed") && !text.contains("handed"),
                "{text}"
            );
        }
    }
}

/// An AI agent that traps, loops or returns an action the host cannot
/// carry out hands the conversation to a human; the reason reaches the
/// agents (an activity message) and never the customer.
#[test]
fn a_misbehaving_ai_agent_hands_off_with_the_reason_kept_for_agents() {
    let plugin = Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("agent_misbehave.wasm");
    let dir = temp();
    let file = dir.path().join("misbehave.livedesk");
    let text = format!(
        r#"agent "alice@example.test" {{ name "Alice"  capacity 10  token "alice-token" }}
ai_agent "Shaky" {{
  plugin "{plugin}"
  timeout 1s
}}
channel "Website" {{
  inbox_identifier "web"
  agents "alice@example.test"
  ai_agent "Shaky"
}}
"#,
        plugin = plugin.display()
    );
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    let web = FrontEnd::new(&daemon, "Website");

    // The same agent answers normally, so a failure is the case's own.
    let (contact, fine) = web.start_conversation("hello");
    eventually(Duration::from_secs(20), || {
        web.messages(&contact, fine)
            .into_iter()
            .find(|m| m["content"] == "all fine: hello")
    });
    assert_eq!(assignee(&daemon, fine), None);

    let cases = [
        ("trap", "this agent always fails on `trap`"),
        ("loop", "time limit of 1000 ms"),
        ("empty", "malformed action: an empty reply"),
        (
            "flood",
            "malformed action: a reply longer than 10,000 characters",
        ),
        ("shrug", "malformed action: a hand-off without a reason"),
    ];
    for (say, reason) in cases {
        let (contact, conversation) = web.start_conversation(say);
        eventually(Duration::from_secs(20), || {
            (assignee(&daemon, conversation).as_deref() == Some("alice@example.test")).then_some(())
        });
        let seen_by_agents = agent_contents(&daemon, conversation);
        assert!(
            seen_by_agents
                .iter()
                .any(|c| c.contains("handed the conversation to a human") && c.contains(reason)),
            "{say}: {seen_by_agents:?}"
        );
        assert_customer_sees_no_failure(&daemon, &web, &contact, conversation);
    }
}

/// The outbox as webhooks will read it.
fn events(data: &Path) -> Vec<livedesk::store::EventRecord> {
    let store = livedesk::store::open(&livedesk::store::Location::Sqlite(data.to_path_buf()))
        .unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime
        .block_on(livedesk::store::transaction(store.as_ref(), |tx| {
            tx.events_after(0, 10_000)
        }))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An event's payload as the webhook receiver parses it.
fn payload(event: &livedesk::store::EventRecord) -> Value {
    serde_json::from_str(event.payload.get()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_change_writes_its_webhook_event_in_the_same_commit() {
    let data = temp();
    // The example with a webhook on the Website channel. Nothing listens
    // there and the clock stands still, so every event stays in the outbox.
    let example =
        std::fs::read_to_string(example("support-desk.livedesk")).unwrap_or_else(|e| panic!("{e}"));
    let with_webhook = example.replacen(
        "channel \"Website\" {",
        "channel \"Website\" {\n  webhook \"http://127.0.0.1:9/hooks\" { allow_private_network }",
        1,
    );
    assert_ne!(with_webhook, example);
    let file = data.path().join("with-webhook.livedesk");
    std::fs::write(&file, with_webhook).unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start(&file, &data.path().join("db"), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    let web = FrontEnd::new(&daemon, "Website");
    let (contact, conversation) = web.start_conversation("hello");
    let typing = |on: &str| {
        daemon.post(
            &web.path(&contact, conversation, "/toggle_typing"),
            &json!({ "typing_status": on }).to_string(),
        )
    };
    typing("on");
    typing("off");
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/messages"),
        r#"{"content": "Hi!"}"#,
    );
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/messages"),
        r#"{"content": "note to self", "private": true}"#,
    );
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/toggle_status"),
        r#"{"status": "resolved"}"#,
    );
    let survey = web
        .messages(&contact, conversation)
        .into_iter()
        .find(|m| m["content_type"] == "input_csat")
        .and_then(|m| m["id"].as_i64())
        .unwrap_or_default();
    daemon.ok(
        "PATCH",
        &web.path(&contact, conversation, &format!("/messages/{survey}")),
        None,
        r#"{"submitted_values": {"csat_survey_response": {"rating": 4, "feedback_message": "thanks"}}}"#,
    );
    // A refused request leaves no event behind.
    let (status, _) = daemon.request(
        "POST",
        &web.path(&contact, conversation, "/messages"),
        None,
        r#"{"content": 1}"#,
    );
    assert_eq!(status, 400);

    // A channel without a webhook writes no events at all.
    let app = FrontEnd::new(&daemon, "App");
    let hash = identity_hash("app-identity-secret", "u1");
    let app_contact = app.contact(json!({ "identifier": "u1", "identifier_hash": hash }));
    let app_conversation = app.conversation(&app_contact);
    app.say(&app_contact, app_conversation, "hello from the app");

    let events = events(&data.path().join("db"));
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "conversation_created",
            "message_created", // welcome
            "message_created", // hello
            // "Assigned to Alice" is an activity message: no webhook event.
            "conversation_updated",
            "conversation_typing_on",
            "conversation_typing_off",
            "message_created", // Alice's reply
            // Her private note: agents only, no webhook event.
            "conversation_status_changed",
            "message_created", // the survey
            "message_updated",
            "csat_submitted",
        ]
    );
    let hello = &payload(&events[2]);
    assert_eq!(hello["event"], "message_created");
    assert_eq!(hello["message_type"], "incoming");
    assert_eq!(hello["content"], "hello");
    assert_eq!(hello["inbox"]["name"], "Website");
    assert_eq!(hello["conversation"]["meta"]["sender"]["name"], "Visitor");
    assert_eq!(hello["sender"]["type"], "contact");
    assert_eq!(hello["attachments"], json!([]));
    assert!(hello["source_id"].is_null());
    assert!(
        hello["created_at"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{hello}"
    );
    // Chatwoot's conversation payload: the contact inbox bridges find the
    // end user by, the channel class, the unread count and the last chat
    // message.
    let conversation_json = &hello["conversation"];
    assert_eq!(
        conversation_json["contact_inbox"]["source_id"],
        contact.as_str()
    );
    assert_eq!(conversation_json["channel"], "Channel::Api");
    assert_eq!(conversation_json["unread_count"], 1);
    assert_eq!(conversation_json["messages"][0]["content"], "hello");
    assert_eq!(conversation_json["messages"][0]["message_type"], 0);
    assert_eq!(conversation_json["additional_attributes"], json!({}));
    assert!(conversation_json["first_reply_created_at"].is_null());
    let assigned = &payload(&events[3]);
    assert_eq!(assigned["meta"]["assignee"]["email"], "alice@example.test");
    assert_eq!(assigned["meta"]["assignee_type"], "User");
    let reply = &payload(&events[6]);
    assert_eq!(reply["content"], "Hi!");
    assert!(
        reply["conversation"]["first_reply_created_at"].is_i64(),
        "{reply}"
    );
    assert_eq!(reply["conversation"]["messages"][0]["content"], "Hi!");
    for event in &events {
        let body = payload(event);
        assert_ne!(body["private"], true, "{body}");
        assert_ne!(body["message_type"], "activity", "{body}");
    }
    let resolved = &payload(&events[7]);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        resolved["changed_attributes"][0]["status"]["previous_value"],
        "open"
    );
    let csat = &payload(&events[10]);
    assert_eq!(csat["rating"], 4);
    assert_eq!(csat["feedback_message"], "thanks");
    assert!(
        events
            .iter()
            .all(|e| e.conversation_id == Some(conversation))
    );
}

#[test]
fn agents_assign_to_agents_or_teams_write_private_notes_and_snooze() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    daemon.set_availability("carol-token", "online");
    let web = FrontEnd::new(&daemon, "Website");
    let (contact, conversation) = web.start_conversation("hello");
    assert_eq!(
        assignee(&daemon, conversation).as_deref(),
        Some("alice@example.test")
    );

    let teams = daemon.agent("alice-token", "GET", "/teams", "");
    let billing = teams
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "billing"))
        .map(|t| t["id"].clone())
        .unwrap_or_default();
    let picked = daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/assignments"),
        &json!({ "team_id": billing }).to_string(),
    );
    assert_eq!(
        picked["email"], "carol@example.test",
        "Carol is the billing agent online"
    );
    let c = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{conversation}"),
        "",
    );
    assert_eq!(c["meta"]["team"]["name"], "billing");

    // With nobody in the team free, the conversation leaves its agent and
    // waits for the team; Dave coming online takes it.
    let (_, waiting) = web.start_conversation("hello again");
    assert_eq!(
        assignee(&daemon, waiting).as_deref(),
        Some("alice@example.test")
    );
    daemon.set_availability("carol-token", "busy");
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{waiting}/assignments"),
        &json!({ "team_id": billing }).to_string(),
    );
    assert_eq!(assignee(&daemon, waiting), None);
    daemon.set_availability("dave-token", "online");
    assert_eq!(
        assignee(&daemon, waiting).as_deref(),
        Some("dave@example.test")
    );

    let agents = daemon.agent("alice-token", "GET", "/agents", "");
    let bob = agents
        .as_array()
        .and_then(|a| a.iter().find(|x| x["email"] == "bob@example.test"))
        .map(|b| b["id"].clone())
        .unwrap_or_default();
    let picked = daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/assignments"),
        &json!({ "assignee_id": bob }).to_string(),
    );
    assert_eq!(
        picked["email"], "bob@example.test",
        "an explicit assignment ignores availability"
    );
    let none = daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/assignments"),
        r#"{"assignee_id": null}"#,
    );
    assert_eq!(none, Value::Null);
    assert_eq!(assignee(&daemon, conversation), None);

    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/messages"),
        r#"{"content": "customer seems upset", "private": true}"#,
    );
    let for_agents = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{conversation}/messages"),
        "",
    );
    assert!(
        for_agents["payload"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["private"] == true)
    );
    assert!(
        !web.contents(&contact, conversation)
            .iter()
            .any(|c| c.contains("upset")),
        "a private note reached the customer"
    );

    let mine = daemon.agent(
        "alice-token",
        "GET",
        "/conversations?assignee_type=unassigned&status=open",
        "",
    );
    assert_eq!(mine["data"]["meta"]["unassigned_count"], 1);
    let filtered = daemon.agent("alice-token", "POST", "/conversations/filter", r#"{"payload": [{"attribute_key": "status", "filter_operator": "equal_to", "values": ["open"], "query_operator": null}]}"#);
    // The unassigned one and the one Dave took; Chatwoot's filter answers
    // `meta` and `payload` at the top level.
    assert_eq!(filtered["payload"].as_array().map(Vec::len), Some(2));

    // Snoozed for a moment: the timers wake it up again.
    let c = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{conversation}"),
        "",
    );
    let soon = c["updated_at"].as_i64().unwrap_or_default() + 2;
    let snoozed = daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/toggle_status"),
        &json!({ "status": "snoozed", "snoozed_until": soon }).to_string(),
    );
    assert_eq!(snoozed["payload"]["current_status"], "snoozed");
    eventually(Duration::from_secs(20), || {
        (status(&daemon, conversation) == "open").then_some(())
    });
}

#[test]
fn the_customer_sees_every_chat_message_and_nothing_internal() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    let web = FrontEnd::new(&daemon, "Website");
    let (contact, conversation) = web.start_conversation("hello");
    // The agent sees the activity message.
    let agent_side = agent_contents(&daemon, conversation);
    assert!(
        agent_side.iter().any(|c| c.starts_with("Assigned to")),
        "{agent_side:?}"
    );
    for i in 0..24 {
        web.say(&contact, conversation, &format!("message {i}"));
    }
    let reply = |body: &str| {
        daemon.agent(
            "alice-token",
            "POST",
            &format!("/conversations/{conversation}/messages"),
            body,
        )
    };
    reply(r#"{"content": "Happy to help"}"#);
    reply(r#"{"content": "internal: check the logs", "private": true}"#);

    // And the note.
    let agent_side = agent_contents(&daemon, conversation);
    assert!(agent_side.iter().any(|c| c.starts_with("internal:")));

    // The conversation view has every chat message — the welcome, 25 of
    // the customer's, the reply — like Chatwoot's, and nothing else.
    let view = daemon.get(&web.path(&contact, conversation, ""));
    let messages = view["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 27, "{view}");
    let texts: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        texts.first(),
        Some(&"Hi! An agent will be with you shortly.")
    );
    assert_eq!(texts.last(), Some(&"Happy to help"));
    assert!(
        messages
            .iter()
            .all(|m| m["message_type"] != 2 && m["private"] == false),
        "{view}"
    );

    // Pages of twenty chat messages, newest first, back to the start.
    let first = web.messages(&contact, conversation);
    assert_eq!(first.len(), 20);
    assert_eq!(
        first.last().map(|m| m["content"].clone()),
        Some(json!("Happy to help"))
    );
    let oldest = first[0]["id"].as_i64().unwrap_or_default();
    let rest = daemon.get(&web.path(
        &contact,
        conversation,
        &format!("/messages?before={oldest}"),
    ));
    let rest = rest.as_array().cloned().unwrap_or_default();
    assert_eq!(rest.len(), 7);
    assert!(
        rest.iter()
            .all(|m| m["message_type"] != 2 && m["private"] == false)
    );

    // The list of the contact's conversations shows the same thread.
    let list = daemon.get(&format!("{}/contacts/{contact}/conversations", web.base));
    assert_eq!(list[0]["messages"].as_array().map(Vec::len), Some(27));

    // Chatwoot's message fields, as a client SDK reads them.
    let answer = &messages[26];
    assert_eq!(answer["sender_type"], "User");
    assert_eq!(answer["account_id"], 1);
    assert_eq!(answer["status"], "sent");
    assert!(answer["sender_id"].is_i64());
}

#[test]
fn the_filter_answers_meta_and_payload_at_the_top_like_chatwoot() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    web.start_conversation("hello");
    let filtered = daemon.agent(
        "alice-token",
        "POST",
        "/conversations/filter",
        r#"{"payload": [{"attribute_key": "status", "filter_operator": "equal_to", "values": ["open"], "query_operator": null}]}"#,
    );
    assert!(filtered.get("data").is_none(), "{filtered}");
    assert_eq!(
        filtered["payload"].as_array().map(Vec::len),
        Some(1),
        "{filtered}"
    );
    assert!(filtered["meta"]["all_count"].is_u64(), "{filtered}");
    // The list keeps Chatwoot's `data` wrapper.
    let listed = daemon.agent("alice-token", "GET", "/conversations?assignee_type=all", "");
    assert_eq!(listed["data"]["payload"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_source_id_names_a_contact_within_its_inbox() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    let app = FrontEnd::new(&daemon, "App");
    let hash = identity_hash("app-identity-secret", "u7");
    let on_app =
        app.contact(json!({ "identifier": "u7", "identifier_hash": hash, "source_id": "user-7" }));
    let on_web = web.contact(json!({ "name": "Seven", "source_id": "user-7" }));
    assert_eq!((on_app.as_str(), on_web.as_str()), ("user-7", "user-7"));
    let web_contact = daemon.get(&format!("{}/contacts/user-7", web.base));
    assert_eq!(web_contact["name"], "Seven");
    // Each inbox keeps its own contact.
    let conversation = web.conversation("user-7");
    assert!(conversation > 0);
    let app_conversations = daemon.get(&format!("{}/contacts/user-7/conversations", app.base));
    assert_eq!(app_conversations, json!([]));
}

#[test]
fn out_of_range_numbers_are_a_400_not_a_dropped_connection() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    let (_, conversation) = web.start_conversation("hello");
    for path in [
        "/reports/summary?until=-8334601228800",
        "/reports/summary?since=-1",
        "/reports/summary?until=9223372036854775807",
        "/reports/summary?since=100&until=50",
        "/csat_survey_responses?until=-8334601228800",
        "/csat_survey_responses/metrics?until=-8334601228800",
    ] {
        let (status, body) = daemon.request(
            "GET",
            &format!("/api/v1/accounts/1{path}"),
            Some("alice-token"),
            "",
        );
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["message"].is_string(), "{body}");
    }
    for body in [
        r#"{"team_id": -9223372036854775808}"#,
        r#"{"team_id": 0}"#,
        r#"{"assignee_id": -9223372036854775808}"#,
    ] {
        let (status, answer) = daemon.request(
            "POST",
            &format!("/api/v1/accounts/1/conversations/{conversation}/assignments"),
            Some("alice-token"),
            body,
        );
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, answer) = daemon.request(
        "POST",
        &format!("/api/v1/accounts/1/conversations/{conversation}/toggle_status"),
        Some("alice-token"),
        r#"{"status": "snoozed", "snoozed_until": -9223372036854775808}"#,
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(self::status(&daemon, conversation), "open");
}

#[test]
fn a_json_array_is_not_an_object_body() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    let (contact, conversation) = web.start_conversation("hello");
    let (status, body) = daemon.request(
        "POST",
        &format!("/api/v1/accounts/1/conversations/{conversation}/toggle_status"),
        Some("alice-token"),
        "[null,null]",
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(self::status(&daemon, conversation), "open");
    let (status, _) = daemon.request(
        "POST",
        &web.path(&contact, conversation, "/messages"),
        None,
        r#"["hi", null]"#,
    );
    assert_eq!(status, 400);
}

/// A routing condition that spins to its time limit holds up only its own
/// conversation: the rules are evaluated outside the storage transaction,
/// so another channel's messages are stored meanwhile.
#[test]
fn a_slow_condition_plugin_holds_up_no_other_channel() {
    let plugin = Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("spin_forever.wasm");
    let dir = temp();
    let file = dir.path().join("spin.livedesk");
    std::fs::write(
        &file,
        format!(
            r#"condition "spin" {{
  plugin "{}"
  timeout 3s
}}
channel "Slow" {{
  inbox_identifier "slow"
  rule "Spins" {{
    when plugin "spin"
    assign queue
  }}
}}
channel "Fast" {{
  inbox_identifier "fast"
}}
"#,
            plugin.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(TUESDAY_MORNING));
    let open = |inbox: &str| {
        let base = format!("/public/api/v1/inboxes/{inbox}");
        let contact = daemon.post(&format!("{base}/contacts"), r#"{"name": "V"}"#);
        let source = contact["source_id"].as_str().unwrap_or_default().to_owned();
        let conversation = daemon.post(&format!("{base}/contacts/{source}/conversations"), "{}");
        let id = conversation["id"].as_i64().unwrap_or_default();
        format!("{base}/contacts/{source}/conversations/{id}/messages")
    };
    let slow = open("slow");
    let fast = open("fast");
    let finished = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        let order = std::sync::Arc::clone(&finished);
        let daemon = &daemon;
        let slow = &slow;
        scope.spawn(move || {
            daemon.post(slow, r#"{"content": "route me"}"#);
            order.lock().unwrap_or_else(|p| p.into_inner()).push("slow");
        });
        // The slow conversation's plugin is spinning by now (it spins for
        // three seconds).
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..3 {
            daemon.post(&fast, r#"{"content": "hello"}"#);
        }
        finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push("fast");
    });
    let order = finished.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(
        order,
        ["fast", "slow"],
        "the fast channel waited for the plugin"
    );
}

#[test]
fn a_null_team_id_takes_the_conversation_out_of_its_team() {
    let data = temp();
    let daemon = start(data.path(), Some(TUESDAY_MORNING));
    let web = FrontEnd::new(&daemon, "Website");
    let (_, conversation) = web.start_conversation("hello");
    let path = format!("/conversations/{conversation}/assignments");
    daemon.agent("alice-token", "POST", &path, r#"{"team_id": 1}"#);
    let team = |d: &Daemon| {
        d.agent(
            "alice-token",
            "GET",
            &format!("/conversations/{conversation}"),
            "",
        )["meta"]["team"]
            .clone()
    };
    assert_eq!(team(&daemon)["name"], "billing");
    daemon.agent("alice-token", "POST", &path, r#"{"team_id": null}"#);
    assert_eq!(team(&daemon), Value::Null);
}

/// A conversation whose first message was stored but never routed (the
/// process stopped between the two units) is routed by the timers at the
/// next start, not left waiting for the contact's next message.
#[test]
fn a_conversation_left_unrouted_by_a_stop_is_routed_at_the_next_start() {
    use livedesk::model::MessageType;
    use livedesk::store::{Location, MessageRecord, Sender};

    let dir = temp();
    let data = dir.path().join("data");
    let (conversation, contact_id) = {
        let daemon = start(&data, Some(TUESDAY_MORNING));
        let web = FrontEnd::new(&daemon, "Website");
        let contact = web.contact(json!({ "name": "Stranded" }));
        let conversation = web.conversation(&contact);
        let shown = daemon.get(&format!("{}/contacts/{contact}", web.base));
        (conversation, shown["id"].as_i64().unwrap_or_default())
    };
    // What the first unit had stored when the process died.
    let store =
        livedesk::store::open(&Location::Sqlite(data.clone())).unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime
        .block_on(livedesk::store::transaction(store.as_ref(), move |tx| {
            let stored = tx
                .conversation(conversation)?
                .unwrap_or_else(|| panic!("no conversation {conversation}"));
            assert!(!stored.routed);
            let at = stored.created_at;
            tx.insert_message(&MessageRecord {
                id: 0,
                conversation_id: conversation,
                inbox_id: stored.inbox_id,
                content: "anyone there?".into(),
                message_type: MessageType::Incoming,
                content_type: "text".into(),
                content_attributes: json!({}),
                private: false,
                sender: Sender::Contact(contact_id),
                echo_id: None,
                created_at: at,
                updated_at: at,
            })
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(store);

    let daemon = start(&data, Some("2026-11-24T10:30:00+01:00"));
    daemon.set_availability("alice-token", "online");
    let decisions = eventually(Duration::from_secs(20), || {
        let decisions = daemon.agent(
            "alice-token",
            "GET",
            &format!("/conversations/{conversation}/decisions"),
            "",
        );
        (decisions["payload"]
            .as_array()
            .is_some_and(|d| !d.is_empty()))
        .then_some(decisions)
    });
    assert_eq!(decisions["payload"][0]["tier"], "human", "{decisions}");
    let assigned = eventually(Duration::from_secs(10), || assignee(&daemon, conversation));
    assert!(assigned.ends_with("@example.test"), "{assigned}");
}

/// Where the JavaScript plugins were built, or `None` (and a note) on a
/// machine without Node.js; CI sets `LIVEDESK_REQUIRE_NODE=1`.
fn js_plugins() -> Option<&'static Path> {
    match option_env!("LIVEDESK_JS_PLUGIN_DIR") {
        Some(dir) => Some(Path::new(dir)),
        None => {
            assert!(
                std::env::var("LIVEDESK_REQUIRE_NODE").as_deref() != Ok("1"),
                "Node.js is required (LIVEDESK_REQUIRE_NODE=1) but the JavaScript plugins were not built"
            );
            eprintln!(
                "skipped: no Node.js here, so no JavaScript plugins (Debian: apt-get install nodejs npm)"
            );
            None
        }
    }
}

/// The JavaScript plugins inside the daemon: a routing condition sends a
/// key account's people to their agent, and an AI agent answers everyone
/// else from a knowledge base over HTTP (`fetch` on `wasi:http`).
#[test]
fn javascript_plugins_route_and_answer_inside_the_daemon() {
    let Some(js) = js_plugins() else {
        return;
    };
    let server = ChatServer::answering(|request| {
        let query = request["query"].as_str().unwrap_or_default();
        let score = if query.contains("password") { 0.9 } else { 0.1 };
        (
            200,
            json!({ "results": [{ "answer": "Reset it under Settings > Security.", "score": score }] }),
        )
    });
    let dir = temp();
    let file = dir.path().join("js.livedesk");
    let text = format!(
        r#"agent "alice@example.test" {{ name "Alice"  capacity 5  token "alice-token" }}
condition "key_account" {{
  plugin "{condition}"
  timeout 200ms
  config {{
    domains "bigcorp.test"
  }}
}}
ai_agent "Helper" {{
  plugin "{agent}"
  allow_hosts "127.0.0.1:{port}"
  timeout 10s
  config {{
    base_url "http://127.0.0.1:{port}"
  }}
}}
channel "Website" {{
  inbox_identifier "web"
  agents "alice@example.test"
  ai_agent "Helper"
  rule "key accounts go to Alice" {{
    when plugin "key_account"
    assign agent "alice@example.test"
  }}
}}
"#,
        condition = js.join("email_domain.wasm").display(),
        agent = js.join("kb_agent.wasm").display(),
        port = server.port
    );
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(TUESDAY_MORNING));
    daemon.set_availability("alice-token", "online");
    let web = FrontEnd::new(&daemon, "Website");

    // The JavaScript condition matches a key account's address.
    let key_account = web.contact(json!({ "name": "Dana", "email": "dana@mail.bigcorp.test" }));
    let routed = web.conversation(&key_account);
    web.say(&key_account, routed, "hello");
    eventually(Duration::from_secs(20), || {
        (assignee(&daemon, routed).as_deref() == Some("alice@example.test")).then_some(())
    });

    // Everyone else gets the JavaScript agent, which asks the knowledge base.
    let (visitor, answered) = web.start_conversation("I forgot my password");
    let reply = eventually(Duration::from_secs(20), || {
        web.messages(&visitor, answered)
            .into_iter()
            .find(|m| m["content"] == "Reset it under Settings > Security.")
    });
    assert_eq!(reply["sender"]["type"], "agent_bot");
    assert_eq!(assignee(&daemon, answered), None);
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.body["query"] == "I forgot my password"),
        "the agent did not ask the knowledge base"
    );

    // No good answer: the agent hands off, and says why to the agents only.
    web.say(&visitor, answered, "my parcel is late");
    eventually(Duration::from_secs(20), || {
        (assignee(&daemon, answered).as_deref() == Some("alice@example.test")).then_some(())
    });
    assert!(
        agent_contents(&daemon, answered)
            .iter()
            .any(|c| c.contains("the knowledge base has no good answer")),
        "{:?}",
        agent_contents(&daemon, answered)
    );
    assert_customer_sees_no_failure(&daemon, &web, &visitor, answered);
}
