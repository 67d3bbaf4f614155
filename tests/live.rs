//! The realtime socket end to end: the real `livedesk serve`, real
//! WebSocket clients on `/cable` speaking Action Cable, replies through the
//! real agent API. Contacts receive their own conversations' chat events
//! with Chatwoot's payloads and nothing private; agents receive their
//! inboxes' events; a client that reconnects with its last cursor receives
//! exactly what it missed, across a restart too; a client that does not
//! read is dropped while the others keep receiving; and on PostgreSQL a
//! client on one instance receives what another committed, once, in order.

#[path = "support/cable.rs"]
mod cable;
#[path = "support/postgres.rs"]
mod pg;
#[path = "support/daemon.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use cable::{Cable, room};
use serde_json::{Value, json};
use support::{Daemon, example};

/// Tuesday, inside the Website channel's hours.
const TUESDAY_MORNING: &str = "2026-11-24T10:00:00+01:00";
const QUIET: Duration = Duration::from_millis(700);
const WAIT: Duration = Duration::from_secs(10);

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn start(data: &Path, extra: &[&str]) -> Daemon {
    Daemon::start_with(
        &example("support-desk.livedesk"),
        data,
        Some(TUESDAY_MORNING),
        extra,
    )
}

/// A contact of the Website channel with a conversation: its source id,
/// pubsub token and conversation id.
struct Visitor {
    source_id: String,
    token: String,
    conversation: i64,
}

fn visitor(daemon: &Daemon, first_message: &str) -> Visitor {
    let base = format!("/public/api/v1/inboxes/{}", daemon.inbox("Website"));
    let contact = daemon.post(&format!("{base}/contacts"), r#"{"name": "Visitor"}"#);
    let source_id = contact["source_id"].as_str().unwrap_or_default().to_owned();
    let token = contact["pubsub_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let conversation =
        daemon.post(&format!("{base}/contacts/{source_id}/conversations"), "{}")["id"]
            .as_i64()
            .unwrap_or_default();
    daemon.post(
        &format!("{base}/contacts/{source_id}/conversations/{conversation}/messages"),
        &json!({ "content": first_message }).to_string(),
    );
    Visitor {
        source_id,
        token,
        conversation,
    }
}

fn reply(daemon: &Daemon, conversation: i64, body: Value) -> Value {
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{conversation}/messages"),
        &body.to_string(),
    )
}

fn contents(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["data"]["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn cursors(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["cursor"].as_i64().unwrap_or_default())
        .collect()
}

#[test]
fn a_contact_receives_its_chat_events_with_chatwoots_payload_and_nothing_private() {
    let dir = temp();
    let daemon = start(dir.path(), &[]);
    let visitor = visitor(&daemon, "hello");
    let other = self::visitor(&daemon, "another question");

    let mut cable = Cable::connect(&daemon.address);
    cable.subscribed(&room(&visitor.token, None));
    // Chatwoot answers a contact's subscription with the agents' presence.
    let presence = cable
        .frame(WAIT)
        .unwrap_or_else(|| panic!("no presence.update"));
    assert_eq!(
        presence["message"]["event"], "presence.update",
        "{presence}"
    );
    assert_eq!(presence["message"]["data"]["account_id"], 1);

    let mut bystander = Cable::connect(&daemon.address);
    bystander.subscribed(&room(&other.token, None));
    bystander.events(QUIET);

    // An unknown token is refused, not ignored.
    let refused = Cable::connect(&daemon.address).subscribe(&room("not-a-token", None));
    assert_eq!(refused["type"], "reject_subscription", "{refused}");
    let wrong_channel = Cable::connect(&daemon.address)
        .subscribe(&json!({"channel": "ChatChannel", "pubsub_token": visitor.token}).to_string());
    assert_eq!(wrong_channel["type"], "reject_subscription");

    let sent = reply(
        &daemon,
        visitor.conversation,
        json!({ "content": "How can I help?" }),
    );
    reply(
        &daemon,
        visitor.conversation,
        json!({ "content": "internal: VIP", "private": true }),
    );
    // An activity message: unassigning writes one.
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{}/assignments", visitor.conversation),
        r#"{"assignee_id": null}"#,
    );

    let events = cable.events(QUIET);
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "message.created")
        .collect();
    assert_eq!(
        created.len(),
        1,
        "only the chat reply reaches the contact: {events:?}"
    );
    let data = &created[0]["data"];
    for field in [
        "id",
        "content",
        "account_id",
        "inbox_id",
        "conversation_id",
        "message_type",
        "content_type",
        "content_attributes",
        "status",
        "private",
        "source_id",
        "sender_type",
        "sender_id",
        "created_at",
        "conversation",
        "sender",
    ] {
        assert!(data.get(field).is_some(), "no `{field}` in {data}");
    }
    assert_eq!(data["id"], sent["id"]);
    assert_eq!(data["content"], "How can I help?");
    assert_eq!(data["message_type"], 1);
    assert_eq!(data["private"], false);
    assert_eq!(data["sender_type"], "User");
    assert_eq!(data["sender"]["type"], "user");
    assert_eq!(data["conversation_id"], visitor.conversation);
    assert!(data["created_at"].is_i64(), "epoch seconds: {data}");
    assert_eq!(
        data["conversation"]["contact_inbox"]["source_id"],
        visitor.source_id.as_str()
    );
    for field in ["assignee_id", "unread_count", "last_activity_at"] {
        assert!(
            data["conversation"].get(field).is_some(),
            "no conversation.{field}"
        );
    }
    assert!(created[0]["cursor"].as_i64().is_some_and(|c| c > 0));
    for event in &events {
        let text = event.to_string();
        assert!(
            !text.contains("internal: VIP"),
            "a private note leaked: {text}"
        );
        assert!(
            !matches!(
                event["event"].as_str(),
                Some("assignee.changed" | "queue.updated" | "presence.update")
            ),
            "agents' business reached the contact: {text}"
        );
    }
    // The unassignment is a conversation change the contact may see.
    assert!(
        events.iter().any(|e| e["event"] == "conversation.updated"),
        "{events:?}"
    );
    // Another contact's token receives nothing of it.
    let overheard = bystander.events(QUIET);
    assert!(overheard.is_empty(), "{overheard:?}");

    // An agent typing a reply is shown to the contact; typing a note is not.
    let typing = |on: &str, private: bool| {
        daemon.agent(
            "alice-token",
            "POST",
            &format!(
                "/conversations/{}/toggle_typing_status",
                visitor.conversation
            ),
            &json!({ "typing_status": on, "is_private": private }).to_string(),
        )
    };
    typing("on", true);
    typing("off", true);
    typing("on", false);
    let typed = cable.events(QUIET);
    assert_eq!(typed.len(), 1, "only the reply's typing: {typed:?}");
    assert_eq!(typed[0]["event"], "conversation.typing_on");
    assert_eq!(typed[0]["data"]["user"]["type"], "user");
    assert_eq!(typed[0]["data"]["is_private"], false);

    // Resolving reaches the contact as a status change.
    daemon.agent(
        "alice-token",
        "POST",
        &format!("/conversations/{}/toggle_status", visitor.conversation),
        r#"{"status": "resolved"}"#,
    );
    let changed = cable.named("conversation.status_changed", QUIET);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["status"], "resolved");
    assert_eq!(changed[0]["data"]["id"], visitor.conversation);
}

#[test]
fn an_agent_receives_its_inboxes_events_private_notes_and_typing_included() {
    let dir = temp();
    let daemon = start(dir.path(), &[]);
    let profile = daemon.ok("GET", "/api/v1/profile", Some("alice-token"), "");
    let token = profile["pubsub_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no pubsub_token in {profile}"))
        .to_owned();
    assert_eq!(profile["email"], "alice@example.test");
    let carol = daemon.ok("GET", "/api/v1/profile", Some("carol-token"), "");

    let mut alice = Cable::connect(&daemon.address);
    // Chatwoot's agents send their user id along; a wrong one is refused.
    let wrong = json!({"channel": "RoomChannel", "pubsub_token": token, "user_id": 999_999});
    assert_eq!(
        alice.subscribe(&wrong.to_string())["type"],
        "reject_subscription"
    );
    let right = json!({"channel": "RoomChannel", "pubsub_token": token, "user_id": profile["id"], "account_id": 1}).to_string();
    alice.subscribed(&right);
    // Carol works in the App channel only.
    let mut other_inbox = Cable::connect(&daemon.address);
    other_inbox.subscribed(&room(
        carol["pubsub_token"].as_str().unwrap_or_default(),
        None,
    ));

    // Nobody online: the conversation waits in the queue, then Alice
    // comes online and it is assigned.
    let visitor = visitor(&daemon, "hello");
    daemon.set_availability("alice-token", "online");
    let base = format!("/public/api/v1/inboxes/{}", daemon.inbox("Website"));
    daemon.post(
        &format!(
            "{base}/contacts/{}/conversations/{}/toggle_typing",
            visitor.source_id, visitor.conversation
        ),
        r#"{"typing_status": "on"}"#,
    );
    reply(
        &daemon,
        visitor.conversation,
        json!({ "content": "note to self", "private": true }),
    );

    let events = alice.events(QUIET);
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for name in [
        "conversation.created",
        "message.created",
        "queue.updated",
        "assignee.changed",
        "conversation.typing_on",
    ] {
        assert!(names.contains(&name), "no {name} in {names:?}");
    }
    let private: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "message.created" && e["data"]["private"] == true)
        .collect();
    assert_eq!(private.len(), 1, "{events:?}");
    assert_eq!(private[0]["data"]["content"], "note to self");
    let typing = events
        .iter()
        .find(|e| e["event"] == "conversation.typing_on")
        .unwrap_or_else(|| panic!("no typing"));
    assert_eq!(typing["data"]["user"]["type"], "contact");
    assert_eq!(typing["data"]["is_private"], false);
    let cursors = cursors(&events);
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");

    // Availability reaches every agent as presence.
    daemon.set_availability("bob-token", "busy");
    let presence = alice.named("presence.update", QUIET);
    assert_eq!(presence.len(), 1, "{presence:?}");
    let bob = daemon.ok("GET", "/api/v1/profile", Some("bob-token"), "");
    assert_eq!(
        presence[0]["data"]["users"][bob["id"].to_string()],
        "busy",
        "{presence:?}"
    );
    // Website's conversation never reached an App agent; presence did.
    let elsewhere = other_inbox.events(QUIET);
    assert!(
        elsewhere.iter().all(|e| e["event"] == "presence.update"),
        "{elsewhere:?}"
    );
}

#[test]
fn a_client_resuming_from_its_cursor_receives_exactly_what_it_missed_across_a_restart() {
    let dir = temp();
    let mut daemon = start(dir.path(), &[]);
    let visitor = visitor(&daemon, "hello");
    let mut cable = Cable::connect(&daemon.address);
    let mut last = cable.subscribed(&room(&visitor.token, None));
    reply(&daemon, visitor.conversation, json!({ "content": "first" }));
    let seen = cable.named("message.created", QUIET);
    assert_eq!(contents(&seen), ["first"]);
    last = last.max(*cursors(&seen).last().unwrap_or(&last));
    cable.close();

    for n in 1..=5 {
        reply(
            &daemon,
            visitor.conversation,
            json!({ "content": format!("missed {n}") }),
        );
    }
    let mut cable = Cable::connect(&daemon.address);
    cable.subscribed(&room(&visitor.token, Some(last)));
    let missed = cable.named("message.created", QUIET);
    assert_eq!(
        contents(&missed),
        ["missed 1", "missed 2", "missed 3", "missed 4", "missed 5"]
    );
    let missed_cursors = cursors(&missed);
    assert!(missed_cursors.windows(2).all(|w| w[0] < w[1]));
    // Then live, nothing twice.
    reply(&daemon, visitor.conversation, json!({ "content": "live" }));
    let live = cable.named("message.created", QUIET);
    assert_eq!(contents(&live), ["live"]);
    let last = cursors(&live)[0];
    cable.close();

    // Across a restart: the store keeps what a client missed.
    for n in 1..=5 {
        reply(
            &daemon,
            visitor.conversation,
            json!({ "content": format!("while down {n}") }),
        );
    }
    daemon.restart(Some(TUESDAY_MORNING));
    let mut cable = Cable::connect(&daemon.address);
    cable.subscribed(&room(&visitor.token, Some(last)));
    let missed = cable.named("message.created", QUIET);
    assert_eq!(
        contents(&missed),
        [
            "while down 1",
            "while down 2",
            "while down 3",
            "while down 4",
            "while down 5"
        ]
    );

    // `resume` on a live subscription replays too.
    let identifier = room(&visitor.token, None);
    let mut again = Cable::connect(&daemon.address);
    again.subscribed(&identifier);
    again.events(QUIET);
    again.perform(&identifier, &json!({ "action": "resume", "since": last }));
    let replayed = again.named("message.created", QUIET);
    assert_eq!(replayed.len(), 5);

    // A cursor this desk never gave cannot be resumed from.
    let mut lost = Cable::connect(&daemon.address);
    lost.subscribed(&room(&visitor.token, Some(1_000_000)));
    let events = lost.events(QUIET);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "resync_required");
}

#[test]
fn a_client_that_does_not_read_is_dropped_while_a_hundred_others_receive_everything() {
    let dir = temp();
    // Idle timeouts off the table (the stalled client sends no pongs): on a
    // loaded machine the replies below may take longer than the default
    // 30 s, and the client must be dropped for its backlog, not silence.
    let daemon = start(
        dir.path(),
        &["--socket-backlog", "32", "--socket-idle", "300s"],
    );
    let visitors: Vec<Visitor> = (0..100)
        .map(|n| visitor(&daemon, &format!("question {n}")))
        .collect();
    let mut clients: Vec<Cable> = visitors
        .iter()
        .map(|v| {
            let mut cable = Cable::connect(&daemon.address);
            cable.subscribed(&room(&v.token, None));
            cable.events(Duration::from_millis(20));
            cable
        })
        .collect();
    // An agent that subscribes and then never reads: it receives every
    // conversation's events.
    let profile = daemon.ok("GET", "/api/v1/profile", Some("alice-token"), "");
    let mut stalled = Cable::connect_small(&daemon.address);
    stalled.subscribed(&room(
        profile["pubsub_token"].as_str().unwrap_or_default(),
        None,
    ));

    // Large replies fill the stalled client's socket buffers, then its
    // backlog.
    let bulk = "x".repeat(60_000);
    let rounds = 4;
    for round in 0..rounds {
        for v in &visitors {
            reply(
                &daemon,
                v.conversation,
                json!({ "content": format!("{round} {bulk}") }),
            );
        }
    }
    for (n, client) in clients.iter_mut().enumerate() {
        let received = client.named("message.created", QUIET);
        assert_eq!(received.len(), rounds, "subscriber {n} missed replies");
    }
    let metrics = daemon.raw("GET", "/metrics", None, b"").1;
    let drops = metrics
        .lines()
        .find(|l| l.starts_with("livedesk_socket_drops_total{reason=\"slow_consumer\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        drops >= 1.0,
        "the stalled client was not dropped:\n{metrics}"
    );
    // The drop cost the others nothing: a reply after it still arrives.
    reply(
        &daemon,
        visitors[0].conversation,
        json!({ "content": "after the drop" }),
    );
    let after = clients[0].named("message.created", QUIET);
    assert_eq!(contents(&after), ["after the drop"]);
}

#[test]
fn on_postgresql_a_client_on_one_instance_receives_what_another_committed_once_in_order() {
    let Some(url) = pg::database() else {
        return;
    };
    let file = example("support-desk.livedesk");
    let a = Daemon::start_on(&file, &url, &["--now", TUESDAY_MORNING]);
    let b = Daemon::start_on(&file, &url, &["--now", TUESDAY_MORNING]);
    let visitor = visitor(&a, "hello");
    let mut cable = Cable::connect(&a.address);
    cable.subscribed(&room(&visitor.token, None));
    cable.events(QUIET);
    for n in 0..20 {
        reply(
            &b,
            visitor.conversation,
            json!({ "content": format!("from b {n}") }),
        );
    }
    let received = cable.named("message.created", Duration::from_secs(2));
    let expected: Vec<String> = (0..20).map(|n| format!("from b {n}")).collect();
    assert_eq!(contents(&received), expected);
    let cursors = cursors(&received);
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    // And resuming on B from A's cursors gives the same broadcasts.
    let mut on_b = Cable::connect(&b.address);
    on_b.subscribed(&room(&visitor.token, Some(cursors[9])));
    let resumed = on_b.named("message.created", Duration::from_secs(2));
    assert_eq!(contents(&resumed), expected[10..].to_vec());
}

fn socket_drops(daemon: &Daemon, reason: &str) -> f64 {
    let metrics = daemon.raw("GET", "/metrics", None, b"").1;
    let prefix = format!("livedesk_socket_drops_total{{reason=\"{reason}\"}}");
    metrics
        .lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn the_socket_caps_connections_times_out_silent_clients_and_says_goodbye_on_shutdown() {
    let dir = temp();
    let mut daemon = start(
        dir.path(),
        &["--socket-connections", "2", "--socket-idle", "6s"],
    );
    // A plain GET is told to upgrade, in JSON.
    let (status, body) = daemon.request("GET", "/cable", None, "");
    assert_eq!(status, 426, "{body}");
    assert_eq!(body["error"], "upgrade_required");

    let mut first = Cable::connect(&daemon.address);
    // This one never reads, so never answers a ping.
    let silent = Cable::open(&daemon.address);
    assert_eq!(Cable::try_open(&daemon.address).err(), Some(503));

    // The silent client is closed after the idle timeout, which frees its
    // place; the one that reads (and so answers pings) stays.
    support::eventually(Duration::from_secs(20), || {
        first.frame(Duration::from_millis(200));
        (socket_drops(&daemon, "idle_timeout") >= 1.0).then_some(())
    });
    drop(silent);
    let mut third = support::eventually(Duration::from_secs(5), || {
        Cable::try_open(&daemon.address).ok()
    });
    let alive = first.frame(WAIT);
    assert!(
        alive.as_ref().is_some_and(|f| f["type"] == "ping"),
        "the reading client was closed: {alive:?}, {}",
        daemon.raw("GET", "/metrics", None, b"").1
    );
    let pings = (0..3)
        .filter_map(|_| third.frame(WAIT))
        .filter(|f| f["type"] == "ping" && f["message"].is_i64())
        .count();
    assert!(pings >= 2, "pings every 3 s");

    // A stopping daemon says so.
    daemon.signal("TERM");
    let mut goodbye = None;
    while let Some(frame) = first.frame(WAIT) {
        if frame["type"] == "disconnect" {
            goodbye = Some(frame);
            break;
        }
    }
    assert_eq!(
        goodbye,
        Some(json!({ "type": "disconnect", "reason": "server_restart", "reconnect": true }))
    );
    assert!(daemon.wait());
}

#[test]
fn a_client_resuming_from_before_the_retention_window_is_told_to_resync() {
    let dir = temp();
    // The real clock: `--now` would start it at the same instant again on
    // the restart, and nothing would be old.
    let mut daemon = Daemon::start_with(
        &example("support-desk.livedesk"),
        dir.path(),
        None,
        &["--socket-retention", "1s"],
    );
    let visitor = visitor(&daemon, "hello");
    let mut cable = Cable::connect(&daemon.address);
    let since = cable.subscribed(&room(&visitor.token, None));
    reply(
        &daemon,
        visitor.conversation,
        json!({ "content": "old news" }),
    );
    assert_eq!(cable.named("message.created", QUIET).len(), 1);
    cable.close();
    std::thread::sleep(Duration::from_millis(1500));
    // Broadcasts past the window are pruned at start, and every minute.
    daemon.restart(None);
    let told = support::eventually(Duration::from_secs(10), || {
        let mut cable = Cable::connect(&daemon.address);
        cable.subscribed(&room(&visitor.token, Some(since)));
        let events = cable.events(QUIET);
        (events.first().map(|e| e["event"].clone()) == Some(json!("resync_required")))
            .then_some(events)
    });
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["data"]["since"], since);
    assert!(
        told[0]["data"]["oldest"]
            .as_i64()
            .is_some_and(|o| o > since)
    );
}
