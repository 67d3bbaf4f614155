//! The daemon as a library: `daemon::run` on a listener the test binds, a
//! conversation driven over real HTTP, and a shutdown that leaves no task
//! of the daemon running.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use livedesk::daemon::{self, Drained, Options};
use serde_json::Value;

const CONFIG: &str = r#"agent "alice@example.test" { name "Alice"  token "alice-token"  availability online }
channel "Website" {
  inbox_identifier "web"
  welcome "Hi!"
  agents "alice@example.test"
}
"#;

/// One HTTP/1.1 request on a fresh connection: the status and the JSON.
fn request(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(address).unwrap_or_else(|e| panic!("{e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\napi_access_token: alice-token\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_in_process_and_stops_with_every_task_finished() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("desk.livedesk");
    std::fs::write(&file, CONFIG).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        file,
        listen: address,
        database: livedesk::store::Location::Sqlite(dir.path().join("data")),
        now: None,
        webhooks: livedesk::webhooks::Settings::default(),
        inbox_rate_limit: 0,
        socket: livedesk::live::Settings::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(daemon::run(listener, options, async {
        let _ = stopped.await;
    }));

    // One conversation, end to end, from another thread as a client would.
    let assignee = tokio::task::spawn_blocking(move || {
        let base = "/public/api/v1/inboxes/web";
        let mut contact = (0, Value::Null);
        for _ in 0..100 {
            contact = request(
                address,
                "POST",
                &format!("{base}/contacts"),
                r#"{"name": "Dana"}"#,
            );
            if contact.0 == 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(contact.0, 200, "{contact:?}");
        let source = contact.1["source_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (status, conversation) = request(
            address,
            "POST",
            &format!("{base}/contacts/{source}/conversations"),
            "{}",
        );
        assert_eq!(status, 200, "{conversation}");
        let id = conversation["id"].as_i64().unwrap_or_default();
        assert_eq!(conversation["messages"][0]["content"], "Hi!");
        let (status, message) = request(
            address,
            "POST",
            &format!("{base}/contacts/{source}/conversations/{id}/messages"),
            r#"{"content": "hello"}"#,
        );
        assert_eq!(status, 200, "{message}");
        let (_, seen) = request(
            address,
            "GET",
            &format!("/api/v1/accounts/1/conversations/{id}"),
            "",
        );
        seen["meta"]["assignee"]["email"].clone()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(assignee, "alice@example.test");

    let _ = stop.send(());
    let drained = tokio::time::timeout(Duration::from_secs(60), daemon)
        .await
        .unwrap_or_else(|_| panic!("the daemon did not stop"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(drained, Drained::default(), "something was cut short");
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(address).is_err());
}
