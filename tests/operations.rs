//! Operating the daemon: reloading the configuration under load, health
//! and readiness, and a graceful stop that loses no acknowledged request.

#[path = "support/daemon.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, eventually};

const MORNING: &str = "2026-11-24T10:00:00+01:00";

fn config(target: &str) -> String {
    format!(
        r#"agent "alice@example.test" {{ name "Alice"  capacity 1000  token "alice-token" }}
agent "bob@example.test" {{ name "Bob"  capacity 1000  token "bob-token" }}
channel "Website" {{
  inbox_identifier "web"
  agents "alice@example.test", "bob@example.test"
  rule "Bugs" {{
    when message.content contains "bug"
    assign agent "{target}"
  }}
}}
"#
    )
}

fn write(file: &Path, text: &str) {
    std::fs::write(file, text).unwrap_or_else(|e| panic!("{e}"));
}

const BASE: &str = "/public/api/v1/inboxes/web";

/// A contact with a conversation opened by `text`; (source id, id).
fn open(daemon: &Daemon, text: &str) -> (String, i64) {
    let contact = daemon.post(&format!("{BASE}/contacts"), r#"{"name": "Visitor"}"#);
    let source = contact["source_id"].as_str().unwrap_or_default().to_owned();
    let conversation = daemon.post(&format!("{BASE}/contacts/{source}/conversations"), "{}");
    let id = conversation["id"].as_i64().unwrap_or_default();
    daemon.post(
        &format!("{BASE}/contacts/{source}/conversations/{id}/messages"),
        &json!({ "content": text }).to_string(),
    );
    (source, id)
}

fn assignee(daemon: &Daemon, id: i64) -> Value {
    daemon.agent("alice-token", "GET", &format!("/conversations/{id}"), "")["meta"]["assignee"]["email"].clone()
}

fn revision(daemon: &Daemon) -> String {
    daemon.get("/readyz")["revision"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Posts messages in a loop until `stop`; every status it got.
fn load(daemon: &Daemon, stop: &Arc<AtomicBool>) -> JoinHandle<Vec<Option<u16>>> {
    let (source, id) = open(daemon, "hello");
    let address = daemon.address.clone();
    let stop = Arc::clone(stop);
    let path = format!("{BASE}/contacts/{source}/conversations/{id}/messages");
    std::thread::spawn(move || {
        let probe = support::Probe { address };
        let mut statuses = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            statuses.push(probe.request(
                "POST",
                &path,
                &json!({ "content": format!("m{n}") }).to_string(),
            ));
        }
        statuses
    })
}

#[test]
fn a_reload_under_load_switches_rules_and_a_broken_file_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    daemon.set_availability("alice-token", "online");
    daemon.set_availability("bob-token", "online");
    assert_eq!(daemon.get("/healthz")["status"], "ok");
    let first = revision(&daemon);
    assert!(!first.is_empty());

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = load(&daemon, &stop);

    let (_, before) = open(&daemon, "a bug");
    assert_eq!(assignee(&daemon, before), "bob@example.test");

    // SIGHUP with new rules.
    write(&file, &config("alice@example.test"));
    daemon.signal("HUP");
    let second = eventually(Duration::from_secs(20), || {
        let r = revision(&daemon);
        (r != first).then_some(r)
    });
    let (_, after) = open(&daemon, "another bug");
    assert_eq!(assignee(&daemon, after), "alice@example.test");
    let decisions = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{after}/decisions"),
        "",
    );
    assert_eq!(decisions["payload"][0]["revision"], json!(second));

    // A broken file: refused, logged, the active rules stay.
    write(&file, "channel \"Website\" { assign nobody }\n");
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(revision(&daemon), second);
    let (_, still) = open(&daemon, "bug again");
    assert_eq!(assignee(&daemon, still), "alice@example.test");

    // The same through the admin endpoint, which answers with the outcome.
    let (status, refused) = daemon.request("POST", "/admin/reload", None, "");
    assert_eq!(status, 401, "{refused}");
    let reload = |token: &str| {
        let probe = support::Probe {
            address: daemon.address.clone(),
        };
        probe.request_with(
            "POST",
            "/admin/reload",
            "",
            &[("authorization", &format!("Bearer {token}"))],
        )
    };
    let (status, body) = reload("admin-token");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("not changed"), "{body}");
    write(&file, &config("bob@example.test"));
    let (status, body) = reload("admin-token");
    assert_eq!(status, 200, "{body}");
    assert_eq!(revision(&daemon), first, "the first file's revision again");
    let (status, body) = reload("admin-token");
    assert_eq!(status, 200, "unchanged: {body}");

    stop.store(true, Ordering::Relaxed);
    let statuses = traffic.join().unwrap_or_default();
    assert!(
        statuses.len() > 10,
        "too little traffic: {}",
        statuses.len()
    );
    assert!(
        statuses.iter().all(|s| *s == Some(200)),
        "a request failed during reloads: {statuses:?}"
    );
}

#[test]
fn sigterm_finishes_what_it_acknowledged_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let data = dir.path().join("data");
    let mut daemon = Daemon::start(&file, &data, Some(MORNING));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4).map(|_| load(&daemon, &stop)).collect();
    std::thread::sleep(Duration::from_millis(800));
    daemon.signal("TERM");
    assert!(daemon.wait(), "the daemon did not exit with success");
    stop.store(true, Ordering::Relaxed);
    let acknowledged: usize = workers
        .into_iter()
        .map(|w| {
            w.join()
                .unwrap_or_default()
                .iter()
                .filter(|s| **s == Some(200))
                .count()
        })
        .sum();
    assert!(acknowledged > 0);

    // Every acknowledged message is there after a restart.
    let daemon = Daemon::start(&file, &data, Some(MORNING));
    let summary = daemon.agent(
        "alice-token",
        "GET",
        "/reports/summary?since=0&until=99999999999",
        "",
    );
    let stored = summary["incoming_messages_count"]
        .as_u64()
        .unwrap_or_default() as usize;
    // Four opening messages ("hello") plus the acknowledged ones; a request
    // cut off mid-way may have been stored without its answer arriving.
    assert!(
        stored >= acknowledged + 4,
        "stored {stored}, acknowledged {acknowledged}"
    );
    println!("graceful stop: {acknowledged} acknowledged, {stored} stored");
}

#[test]
fn metrics_count_requests_decisions_and_the_queue() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    // Nobody is online: the rule's pick waits in the queue.
    open(&daemon, "a bug");
    open(&daemon, "hello");
    let (status, _) = daemon.request("GET", "/no/such/route", None, "");
    assert_eq!(status, 404);
    let (status, text) = daemon.raw("GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has(
            r#"livedesk_http_requests_total{route="POST /public/api/v1/inboxes/{}/contacts",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        has(r#"livedesk_http_requests_total{route="GET (unmatched)",status="404"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"livedesk_routing_decisions_total{tier="rule"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"livedesk_routing_decisions_total{tier="human"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"livedesk_queue_length{channel="Website"} 2"#),
        "{text}"
    );
    assert!(text.contains("livedesk_webhook_backlog"), "{text}");
    assert!(
        text.contains("livedesk_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// Whether `path` is an instance of `template`: the same words, anything
/// where the template has a parameter.
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || t.starts_with('{'))
}

#[test]
fn openapi_json_is_valid_openapi_3_and_every_route_in_it_is_served() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    let (status, text) = daemon.raw("GET", "/openapi.json", None, b"");
    assert_eq!(status, 200);
    let document: openapiv3::OpenAPI =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not an OpenAPI 3 document: {e}"));
    assert!(document.openapi.starts_with("3."));
    let (source, conversation) = open(&daemon, "hello");

    let mut checked = 0;
    for (path, item) in &document.paths.paths {
        let Some(item) = item.as_item() else {
            panic!("{path} is a reference");
        };
        let operations = [
            ("GET", item.get.as_ref()),
            ("POST", item.post.as_ref()),
            ("PATCH", item.patch.as_ref()),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            // `/cable` answers 101, switching to the WebSocket protocol.
            let success = match path.as_str() {
                "/cable" => 101,
                "/" => 302,
                _ => 200,
            };
            assert!(
                operation
                    .responses
                    .responses
                    .contains_key(&openapiv3::StatusCode::Code(success)),
                "{method} {path} documents no {success}"
            );
            let concrete = path
                .replace("{inbox_identifier}", "web")
                .replace("{account_id}", "1")
                .replace("{source_id}", &source)
                .replace("{conversation_id}", &conversation.to_string())
                .replace("{message_id}", "1")
                .replace("{event_id}", "1");
            assert!(
                !concrete.contains('{'),
                "an undocumented parameter in {path}"
            );
            let probe = support::Probe {
                address: daemon.address.clone(),
            };
            let (status, body) = probe.request_with(
                method,
                &concrete,
                "{}",
                &[
                    ("api_access_token", "alice-token"),
                    ("authorization", "Bearer admin-token"),
                ],
            );
            let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            assert!(
                status != 405 && !(status == 404 && json["message"] == "route not found"),
                "{method} {path} is documented but not served: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 35, "only {checked} operations documented");

    // And nothing is served that is not documented: next to every
    // documented path, every route word and every method is either
    // documented or refused as no route (404) or a wrong method (405).
    let documented: Vec<(String, String)> = document
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_item().cloned().unwrap_or_default();
            [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PATCH", item.patch.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(method, _)| (method.to_owned(), path.clone()))
            .collect::<Vec<_>>()
        })
        .collect();
    // Every documented path and every prefix of one, each also followed by
    // every route word and by an id.
    let mut bases = std::collections::BTreeSet::new();
    for path in document.paths.paths.keys() {
        let mut prefix = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            prefix = format!("{prefix}/{segment}");
            bases.insert(prefix.clone());
        }
    }
    let mut candidates = bases.clone();
    for base in &bases {
        candidates.insert(format!("{base}/{{conversation_id}}"));
        for word in livedesk::api::openapi::route_words() {
            candidates.insert(format!("{base}/{word}"));
        }
    }
    let probe = support::Probe {
        address: daemon.address.clone(),
    };
    for path in candidates.iter().filter(|p| !p.is_empty()) {
        for method in ["GET", "POST", "PATCH"] {
            // A word where a template has a parameter is that route, asked
            // for something that does not exist.
            if documented
                .iter()
                .any(|(m, template)| m == method && fits(template, path))
            {
                continue;
            }
            let concrete = path
                .replace("{inbox_identifier}", "web")
                .replace("{account_id}", "1")
                .replace("{source_id}", &source)
                .replace("{conversation_id}", &conversation.to_string())
                .replace("{message_id}", "1")
                .replace("{event_id}", "1");
            let (status, body) = probe.request_with(
                method,
                &concrete,
                "{}",
                &[("api_access_token", "alice-token")],
            );
            let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            // A path with a word where a documented path (or prefix) has a
            // parameter names a thing that does not exist: 404 for it.
            let other_method = bases.iter().any(|t| fits(t, path));
            assert!(
                status == 405
                    || (status == 404 && (other_method || json["message"] == "route not found")),
                "{method} {path} is served but not documented: {status} {body}"
            );
        }
    }
}

#[test]
fn an_inbox_over_its_rate_limit_gets_429_and_others_are_unaffected() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(
        &file,
        &format!(
            "{}channel \"Other\" {{ inbox_identifier \"other\" }}\n",
            config("bob@example.test")
        ),
    );
    let daemon = Daemon::start_with(
        &file,
        &dir.path().join("data"),
        Some(MORNING),
        &["--inbox-rate-limit", "10"],
    );
    let statuses: Vec<u16> = (0..30)
        .map(|_| daemon.request("GET", BASE, None, "").0)
        .collect();
    assert!(statuses.iter().take(10).all(|s| *s == 200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let (status, body) = daemon.request("GET", BASE, None, "");
    if status == 429 {
        assert_eq!(body["error"], "rate_limited");
    }
    assert_eq!(
        daemon
            .request("GET", "/public/api/v1/inboxes/other", None, "")
            .0,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        daemon.request("GET", BASE, None, "").0,
        200,
        "the bucket refills"
    );
}

#[test]
fn metrics_labels_stay_bounded_whatever_methods_and_paths_clients_invent() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    let probe = support::Probe {
        address: daemon.address.clone(),
    };
    for i in 0..300 {
        let _ = probe.request(&format!("INVENTED{i}"), "/healthz", "");
        let deep = "/contacts".repeat(i % 40 + 1);
        let _ = probe.request("GET", &format!("/api/v1/accounts/1{deep}"), "");
        let _ = probe.request("GET", &format!("/public/api/v1/inboxes/web/x{i}"), "");
    }
    let (status, text) = daemon.raw("GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    assert!(!text.contains("INVENTED"), "a raw method became a label");
    let routes: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("livedesk_http_requests_total{"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert!(routes.len() <= 8, "{routes:?}");
    assert!(routes.contains("OTHER /healthz"), "{routes:?}");
    assert!(routes.contains("GET (unmatched)"), "{routes:?}");
    assert!(text.len() < 64 * 1024, "/metrics is {} bytes", text.len());
}

#[test]
fn a_405_names_the_allowed_methods() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    let (source, id) = open(&daemon, "hello");
    let probe = support::Probe {
        address: daemon.address.clone(),
    };
    let allow = |method: &str, path: &str| {
        let (status, head, body) = probe
            .exchange(method, path, "", &[("api_access_token", "alice-token")])
            .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert_eq!(status, 405, "{method} {path}: {body}");
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(value["error"], "method_not_allowed");
        head.lines()
            .find_map(|l| l.strip_prefix("allow: "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{method} {path}: no Allow in {head}"))
    };
    assert_eq!(allow("DELETE", &format!("{BASE}/contacts")), "POST");
    assert_eq!(
        allow("DELETE", &format!("{BASE}/contacts/{source}")),
        "GET, PATCH, PUT"
    );
    assert_eq!(
        allow(
            "PATCH",
            &format!("{BASE}/contacts/{source}/conversations/{id}/messages")
        ),
        "GET, POST"
    );
    assert_eq!(allow("POST", "/healthz"), "GET");
}

#[test]
fn the_openapi_document_says_what_the_daemon_answers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    let document = daemon.get("/openapi.json");
    // OpenAPI 3.0 has no empty `required`.
    let text = document.to_string();
    assert!(!text.contains(r#""required":[]"#), "an empty `required`");
    let schemas = &document["components"]["schemas"];
    for field in ["name", "email", "phone_number"] {
        assert_eq!(
            schemas["PublicContact"]["properties"][field]["nullable"], true,
            "{field} is null for a contact without one"
        );
    }
    assert_eq!(schemas["Assignee"]["nullable"], true);
    let assignments = &document["paths"]["/api/v1/accounts/{account_id}/conversations/{conversation_id}/assignments"]
        ["post"];
    assert_eq!(
        assignments["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Assignee"
    );
    // /metrics is documented with the content type it is served with.
    let metrics = &document["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    let documented = metrics
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default();
    let probe = support::Probe {
        address: daemon.address.clone(),
    };
    let (_, head, _) = probe
        .exchange("GET", "/metrics", "", &[])
        .unwrap_or_else(|| panic!("no answer"));
    let served = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default();
    assert!(served.starts_with(&documented), "{served} vs {documented}");
    // The filter's answer has meta and payload at the top.
    let filter = &document["paths"]["/api/v1/accounts/{account_id}/conversations/filter"]["post"];
    assert_eq!(
        filter["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ConversationFilterPage"
    );
}

#[test]
fn a_flood_of_idle_sockets_cannot_lock_out_new_clients_under_a_low_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    // 64 descriptors: half are kept for storage and webhooks, so the daemon
    // serves 32 connections at once.
    let daemon = Daemon::start_with_nofile(&file, &dir.path().join("data"), 64);
    let idle: Vec<std::net::TcpStream> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(&daemon.address).ok())
        .collect();
    assert!(idle.len() >= 40, "only {} sockets connected", idle.len());
    std::thread::sleep(Duration::from_millis(300));
    let probe = support::Probe {
        address: daemon.address.clone(),
    };
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let status = probe.request("GET", "/healthz", "");
        assert_eq!(status, Some(200));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a new client waited {:?} behind idle sockets",
            started.elapsed()
        );
    }
    // A client in the middle of a request is not cut: it finishes it.
    let (status, _) = daemon.request("GET", "/readyz", None, "");
    assert_eq!(status, 200);
    drop(idle);
}

#[test]
fn an_agent_removed_by_a_reload_hands_their_conversations_back_to_routing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(&file, &config("bob@example.test"));
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    daemon.set_availability("alice-token", "online");
    daemon.set_availability("bob-token", "online");
    let (_, bug) = open(&daemon, "a bug");
    assert_eq!(assignee(&daemon, bug), "bob@example.test");

    // Bob leaves the desk.
    write(
        &file,
        r#"agent "alice@example.test" { name "Alice"  capacity 1000  token "alice-token" }
channel "Website" {
  inbox_identifier "web"
  agents "alice@example.test"
}
"#,
    );
    daemon.signal("HUP");
    eventually(Duration::from_secs(20), || {
        (assignee(&daemon, bug) == "alice@example.test").then_some(())
    });
    let decisions = daemon.agent(
        "alice-token",
        "GET",
        &format!("/conversations/{bug}/decisions"),
        "",
    );
    let last = decisions["payload"]
        .as_array()
        .and_then(|d| d.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["tier"], "departed", "{decisions}");
    assert!(
        last["trace"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("bob@example.test")),
        "{last}"
    );
    let conversation = daemon.agent("alice-token", "GET", &format!("/conversations/{bug}"), "");
    assert_eq!(conversation["meta"]["assignee_type"], "User");
    assert_eq!(
        conversation["meta"]["assignee"]["email"],
        "alice@example.test"
    );
}

#[test]
fn an_agent_starts_as_their_block_says() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    write(
        &file,
        &config("bob@example.test").replacen(
            "capacity 1000  token \"alice-token\"",
            "capacity 1000  token \"alice-token\"  availability online",
            1,
        ),
    );
    let daemon = Daemon::start(&file, &dir.path().join("data"), Some(MORNING));
    let agents = daemon.agent("alice-token", "GET", "/agents", "");
    let state = |email: &str| {
        agents
            .as_array()
            .and_then(|a| a.iter().find(|x| x["email"] == email))
            .map(|x| x["availability_status"].clone())
            .unwrap_or_default()
    };
    assert_eq!(state("alice@example.test"), "online", "{agents}");
    assert_eq!(state("bob@example.test"), "offline", "{agents}");
    // A new conversation finds Alice at once.
    let (_, id) = open(&daemon, "hello");
    assert_eq!(assignee(&daemon, id), "alice@example.test");
    // She goes offline; a restart keeps what she set, not the file's start.
    daemon.set_availability("alice-token", "offline");
    let mut daemon = daemon;
    daemon.restart(Some(MORNING));
    let agents = daemon.agent("alice-token", "GET", "/agents", "");
    let alice = agents
        .as_array()
        .and_then(|a| a.iter().find(|x| x["email"] == "alice@example.test"))
        .map(|x| x["availability_status"].clone())
        .unwrap_or_default();
    assert_eq!(alice, "offline", "{agents}");
}
