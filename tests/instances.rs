//! Several `livedesk serve` instances on one real PostgreSQL: conversations
//! opened through all of them at once are each assigned once, round-robin
//! spreads them evenly, no agent ever holds more than its capacity, the
//! queue drains when capacity returns, webhooks arrive in each
//! conversation's order, and a `kill -9` of one instance loses nothing it
//! acknowledged: the others deliver its webhook events after its lease.
//! Without PostgreSQL these tests say so and pass (see
//! `tests/support/postgres.rs`).

#[path = "support/postgres.rs"]
mod pg;
#[path = "support/receiver.rs"]
mod receiver;
#[path = "support/daemon.rs"]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use receiver::{Receiver, SECRET_BYTES};
use serde_json::{Value, json};
use support::{Daemon, Probe, eventually};

/// A desk of `agents` agents with `capacity` each, round-robin, on a
/// channel whose webhook goes to `receiver`.
fn config(dir: &Path, agents: usize, capacity: u32, receiver: Option<&Receiver>) -> PathBuf {
    let mut text = String::new();
    let mut emails = Vec::new();
    for n in 0..agents {
        text += &format!(
            "agent \"a{n}@example.test\" {{ name \"A{n}\"  capacity {capacity}  availability online  token \"token-{n}\" }}\n"
        );
        emails.push(format!("\"a{n}@example.test\""));
    }
    let webhook = receiver.map_or(String::new(), |r| {
        format!(
            "webhook \"http://127.0.0.1:{}/hooks\" {{ secret \"whsec_{}\"  allow_private_network }}",
            r.port,
            STANDARD.encode(SECRET_BYTES)
        )
    });
    text += &format!(
        "channel \"Website\" {{\n  inbox_identifier \"web\"\n  {webhook}\n  agents {}\n  assignment round_robin\n}}\n",
        emails.join(", ")
    );
    let file = dir.join("desk.livedesk");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

/// `count` instances on `url`, started at once (they race to migrate and
/// to create the inbox and agents).
fn instances(file: &Path, url: &str, count: usize, extra: &[&str]) -> Vec<Daemon> {
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    let starting: Vec<_> = (0..count)
        .map(|_| {
            let (file, url, extra) = (file.to_owned(), url.to_owned(), extra.clone());
            std::thread::spawn(move || {
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                Daemon::start_on(&file, &url, &extra)
            })
        })
        .collect();
    starting
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap_or_else(|_| panic!("an instance did not start"))
        })
        .collect()
}

/// A client of each instance, for threads.
fn probes(daemons: &[Daemon]) -> Vec<Probe> {
    daemons
        .iter()
        .map(|d| Probe {
            address: d.address.clone(),
        })
        .collect()
}

/// Opens a conversation with a first message through `probe`; its id, or
/// `None` when the instance did not acknowledge every step.
fn open(probe: &Probe, n: usize) -> Option<i64> {
    open_with_source(probe, n).map(|(_, id)| id)
}

/// Like [`open`]; the contact's source id too.
fn open_with_source(probe: &Probe, n: usize) -> Option<(String, i64)> {
    let base = "/public/api/v1/inboxes/web";
    let json = |method: &str, path: &str, body: Value| -> Option<Value> {
        let (status, _, text) = probe.exchange(method, path, &body.to_string(), &[])?;
        (status == 200).then(|| serde_json::from_str(&text).ok())?
    };
    let contact = json(
        "POST",
        &format!("{base}/contacts"),
        json!({ "name": format!("C{n}") }),
    )?;
    let source = contact["source_id"].as_str()?.to_owned();
    let conversation = json(
        "POST",
        &format!("{base}/contacts/{source}/conversations"),
        json!({}),
    )?;
    let id = conversation["id"].as_i64()?;
    json(
        "POST",
        &format!("{base}/contacts/{source}/conversations/{id}/messages"),
        json!({ "content": format!("hello from {n}") }),
    )?;
    Some((source, id))
}

/// The `n`-th live instance, counting round the ones not killed.
fn next_live<'p>(probes: &'p [Probe], alive: &[AtomicBool], n: usize) -> &'p Probe {
    let live: Vec<&Probe> = probes
        .iter()
        .zip(alive)
        .filter(|(_, a)| a.load(Ordering::Relaxed))
        .map(|(p, _)| p)
        .collect();
    live[n % live.len()]
}

/// Opens `total` conversations from `threads` clients, each request going
/// to the next live instance; the acknowledged ids.
fn open_many(probes: &[Probe], alive: &Arc<Vec<AtomicBool>>, total: usize) -> Vec<i64> {
    let next = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (probes, alive) = (probes.to_vec(), Arc::clone(alive));
            let (next, opened) = (Arc::clone(&next), Arc::clone(&opened));
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return;
                    }
                    if let Some(id) = open(next_live(&probes, &alive, n), n)
                        && let Ok(mut opened) = opened.lock()
                    {
                        opened.push(id);
                    }
                }
            })
        })
        .collect();
    for client in clients {
        let _ = client.join();
    }
    opened.lock().map(|o| o.clone()).unwrap_or_default()
}

fn database(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| panic!("{e}"))
}

/// Agent decisions per conversation, from the database.
fn assignments(db: &mut postgres::Client) -> BTreeMap<i64, Vec<String>> {
    let mut by_conversation: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let rows = db
        .query(
            "SELECT conversation_id, outcome FROM decisions WHERE outcome LIKE 'agent:%' ORDER BY id",
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    for row in rows {
        by_conversation
            .entry(row.get(0))
            .or_default()
            .push(row.get(1));
    }
    by_conversation
}

#[test]
fn round_robin_spreads_conversations_opened_through_three_instances_evenly() {
    let Some(url) = pg::database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = config(dir.path(), 6, 1000, None);
    let daemons = instances(&file, &url, 3, &[]);
    let probes = probes(&daemons);
    let alive = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect::<Vec<_>>());
    let opened = open_many(&probes, &alive, 1000);
    assert_eq!(opened.len(), 1000, "every conversation acknowledged");
    let mut db = database(&url);
    let assigned = eventually(Duration::from_secs(60), || {
        let assigned = assignments(&mut db);
        (assigned.len() == 1000).then_some(assigned)
    });
    let mut per_agent: BTreeMap<String, usize> = BTreeMap::new();
    for (conversation, agents) in &assigned {
        assert_eq!(
            agents.len(),
            1,
            "conversation {conversation} assigned {agents:?}"
        );
        *per_agent.entry(agents[0].clone()).or_default() += 1;
    }
    let (least, most) = (
        per_agent.values().min().copied().unwrap_or(0),
        per_agent.values().max().copied().unwrap_or(0),
    );
    assert_eq!(per_agent.len(), 6, "{per_agent:?}");
    assert!(most - least <= 1, "round-robin spread: {per_agent:?}");
}

#[test]
fn capacity_holds_the_queue_drains_and_a_killed_instance_loses_nothing() {
    let Some(url) = pg::database() else {
        return;
    };
    const CAPACITY: i64 = 2;
    const AGENTS: usize = 4;
    const TOTAL: usize = 1000;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let receiver = Receiver::start(|_| 200);
    let file = config(dir.path(), AGENTS, CAPACITY as u32, Some(&receiver));
    let mut daemons = instances(&file, &url, 3, &["--webhook-lease", "2s"]);
    let probes = probes(&daemons);
    let alive = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect::<Vec<_>>());
    let done = Arc::new(AtomicBool::new(false));

    // Watches every agent's load in the database while everything runs.
    let watcher = {
        let (url, done) = (url.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut db = database(&url);
            let mut looks = 0u64;
            while !done.load(Ordering::Relaxed) {
                for row in db
                    .query(
                        "SELECT assignee, COUNT(*) FROM conversations
                          WHERE status = 'open' AND assignee IS NOT NULL GROUP BY assignee",
                        &[],
                    )
                    .unwrap_or_else(|e| panic!("{e}"))
                {
                    let (agent, load): (String, i64) = (row.get(0), row.get(1));
                    assert!(load <= CAPACITY, "{agent} holds {load} open conversations");
                }
                looks += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            looks
        })
    };
    // Agents go offline and come back; agents resolve what they hold.
    let churn = {
        let (probes, alive, done) = (probes.clone(), Arc::clone(&alive), Arc::clone(&done));
        let url = url.clone();
        std::thread::spawn(move || {
            let mut db = database(&url);
            let mut step = 0usize;
            while !done.load(Ordering::Relaxed) {
                step += 1;
                let probe = next_live(&probes, &alive, step);
                let agent = step % AGENTS;
                let token = format!("token-{agent}");
                let availability = if step % 7 < 2 { "offline" } else { "online" };
                let body = json!({ "profile": { "availability": availability } }).to_string();
                let _ = probe.exchange(
                    "POST",
                    "/api/v1/profile/availability",
                    &body,
                    &[("api_access_token", &token)],
                );
                let open = db
                    .query(
                        "SELECT id FROM conversations WHERE status = 'open'
                            AND assignee IS NOT NULL ORDER BY id LIMIT 4",
                        &[],
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                for row in open {
                    let id: i64 = row.get(0);
                    let _ = probe.exchange(
                        "POST",
                        &format!("/api/v1/accounts/1/conversations/{id}/toggle_status"),
                        r#"{"status": "resolved"}"#,
                        &[("api_access_token", &token)],
                    );
                }
            }
            // Capacity returns: everyone online.
            for agent in 0..AGENTS {
                let body = json!({ "profile": { "availability": "online" } }).to_string();
                let token = format!("token-{agent}");
                let _ = probes[0].exchange(
                    "POST",
                    "/api/v1/profile/availability",
                    &body,
                    &[("api_access_token", &token)],
                );
            }
        })
    };
    // The third instance dies mid-run, without a word.
    let killer = {
        let alive = Arc::clone(&alive);
        let pid = daemons[2].pid();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(4));
            alive[2].store(false, Ordering::Relaxed);
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        })
    };
    let opened = open_many(&probes, &alive, TOTAL);
    let _ = killer.join();
    daemons[2].kill();
    assert!(
        opened.len() >= TOTAL * 9 / 10,
        "only {} of {TOTAL} acknowledged",
        opened.len()
    );

    // Every conversation with a message is assigned once, and resolved:
    // the acknowledged ones, and those whose message the dead instance
    // stored but never answered (the timers route what it left unrouted).
    let mut db = database(&url);
    eventually(Duration::from_secs(180), || {
        let waiting: i64 = db
            .query_one(
                "SELECT COUNT(*) FROM conversations c WHERE status <> 'resolved'
                    AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                                   AND m.message_type = 'incoming')",
                &[],
            )
            .map(|row| row.get(0))
            .unwrap_or(-1);
        (waiting == 0).then_some(())
    });
    done.store(true, Ordering::Relaxed);
    let looks = watcher
        .join()
        .unwrap_or_else(|_| panic!("an agent was over capacity"));
    let _ = churn.join();
    assert!(looks > 100, "the load was looked at {looks} times only");
    let assigned = assignments(&mut db);
    let with_messages: Vec<i64> = db
        .query(
            "SELECT DISTINCT conversation_id FROM messages WHERE message_type = 'incoming'",
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(with_messages.len() >= opened.len());
    for id in &with_messages {
        let agents = assigned.get(id).cloned().unwrap_or_default();
        assert_eq!(agents.len(), 1, "conversation {id} assigned {agents:?}");
    }
    let queued: i64 = db
        .query_one("SELECT COUNT(*) FROM queue", &[])
        .map(|row| row.get(0))
        .unwrap_or(-1);
    assert_eq!(queued, 0, "the queue drained");

    // Every event, the dead instance's too, delivered in order.
    let events = eventually(Duration::from_secs(60), || {
        let rows = db
            .query(
                "SELECT id, conversation_id, kind, state FROM events ORDER BY id",
                &[],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let pending = rows.iter().any(|r| r.get::<_, String>(3) == "pending");
        let delivered: HashSet<String> = receiver.delivered().into_iter().map(|d| d.id).collect();
        let events: Vec<(i64, Option<i64>, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        (!pending
            && events
                .iter()
                .all(|(id, _, _)| delivered.contains(&format!("msg_{id}"))))
        .then_some(events)
    });
    receiver::check(&events, &receiver, false);
    let acknowledged: HashSet<i64> = opened.iter().copied().collect();
    let with_events: HashSet<i64> = events.iter().filter_map(|e| e.1).collect();
    assert!(acknowledged.is_subset(&with_events));
}

/// Everything a client and an agent read of a desk, for comparing two.
fn snapshot(daemon: &Daemon, sources: &[String]) -> Vec<Value> {
    let mut seen = Vec::new();
    let base = "/public/api/v1/inboxes/web";
    for source in sources {
        seen.push(daemon.get(&format!("{base}/contacts/{source}")));
        let conversations = daemon.get(&format!("{base}/contacts/{source}/conversations"));
        for conversation in conversations.as_array().cloned().unwrap_or_default() {
            let id = conversation["id"].as_i64().unwrap_or_default();
            seen.push(conversation);
            seen.push(daemon.get(&format!(
                "{base}/contacts/{source}/conversations/{id}/messages"
            )));
            seen.push(daemon.agent("token-0", "GET", &format!("/conversations/{id}"), ""));
        }
    }
    seen.push(daemon.agent("token-0", "GET", "/conversations?status=all", ""));
    seen.push(daemon.agent("token-0", "GET", "/contacts", ""));
    seen.push(daemon.agent("token-0", "GET", "/csat_survey_responses", ""));
    seen.push(daemon.agent("token-0", "GET", "/csat_survey_responses/metrics", ""));
    seen.push(daemon.agent("token-0", "GET", "/webhooks/dead", ""));
    seen
}

#[test]
fn a_sqlite_desk_migrated_to_postgresql_reads_back_the_same() {
    let Some(url) = pg::database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = config(dir.path(), 1, 1, None);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::write(
        &file,
        text.replace(
            "assignment round_robin",
            "assignment round_robin\n  csat on",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let daemon = Daemon::start_with(&file, &data, None, &[]);
    let probe = Probe {
        address: daemon.address.clone(),
    };
    // Assigned and resolved with a CSAT answer, queued, open: every kind
    // of record there is.
    let opened: Vec<(String, i64)> = (0..3).filter_map(|n| open_with_source(&probe, n)).collect();
    assert_eq!(opened.len(), 3);
    let ids: Vec<i64> = opened.iter().map(|(_, id)| *id).collect();
    let db_sources: Vec<String> = opened.iter().map(|(s, _)| s.clone()).collect();
    daemon.agent(
        "token-0",
        "POST",
        &format!("/conversations/{}/messages", ids[0]),
        r#"{"content": "on it", "private": true}"#,
    );
    daemon.agent(
        "token-0",
        "POST",
        &format!("/conversations/{}/toggle_status", ids[0]),
        r#"{"status": "resolved"}"#,
    );
    let before = snapshot(&daemon, &db_sources);
    drop(daemon);

    let migrate = |to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_livedesk"))
            .args(["migrate", "--from"])
            .arg(format!("sqlite:{}", data.display()))
            .args(["--to", to])
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let moved = migrate(&url);
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert!(String::from_utf8_lossy(&moved.stdout).contains("counts match"));
    let again = migrate(&url);
    assert!(!again.status.success(), "a non-empty target is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let served = Daemon::start_on(&file, &url, &[]);
    let after = snapshot(&served, &db_sources);
    assert_eq!(after, before);
    // New rows continue after the copied ids.
    let next = open(
        &Probe {
            address: served.address.clone(),
        },
        9,
    );
    assert!(next.is_some_and(|id| id > ids[2]), "{next:?}");
}

/// A reload on one instance (SIGHUP) reloads the others sharing its
/// database: they hear its new revision and read their file again.
#[test]
fn a_reload_on_one_instance_reloads_the_others() {
    let Some(url) = pg::database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = config(dir.path(), 2, 3, None);
    let daemons = instances(&file, &url, 2, &[]);
    let revision = |daemon: &Daemon| daemon.get("/readyz")["revision"].clone();
    let before = revision(&daemons[0]);
    assert_eq!(revision(&daemons[1]), before);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::write(&file, text.replace("capacity 3", "capacity 4"))
        .unwrap_or_else(|e| panic!("{e}"));
    daemons[0].signal("HUP");
    let after = eventually(Duration::from_secs(10), || {
        let now = revision(&daemons[0]);
        (now != before).then_some(now)
    });
    eventually(Duration::from_secs(10), || {
        (revision(&daemons[1]) == after).then_some(())
    });
}
