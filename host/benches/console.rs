//! The console in a real headless Chromium with 10,000 stored
//! conversations: time from clicking "Sign in" to the inbox's first page on
//! screen, and from a customer's message being sent (and its answer,
//! which comes after the commit) to the message showing in the open
//! conversation. Needs Debian's `chromium` and `chromium-driver`.
//!
//!     cargo bench --profile dev -p livedesk --bench console

#[path = "../../tests/support/browser.rs"]
mod browser;
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{Sender, Server, connect, open_conversation, post};

const CONVERSATIONS: usize = 10_000;
const SENDERS: usize = 4;

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or_default()
}

/// Opens `count` conversations of one contact each with a first message;
/// the last one's (source id, conversation id).
async fn fill(sender: &mut Sender, count: usize) -> (String, i64) {
    let mut last = (String::new(), 0);
    for n in 0..count {
        let opened = open_conversation(sender, "desk", &format!("Customer {n}")).await;
        post(
            sender,
            &opened.messages,
            json!({ "content": format!("question {n}") }),
        )
        .await;
        last = (opened.source_id, opened.conversation);
    }
    last
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let Some(browser) = browser::Browser::start("bench") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("bench.livedesk");
    std::fs::write(
        &config,
        "agent \"bench@example.test\" { name \"Bench\"  token \"bench-token\"  availability online  capacity 1000 }\n\
         channel \"Desk\" {\n  inbox_identifier \"desk\"\n  agents \"bench@example.test\"\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let daemon = Server::livedesk(&config, &dir.path().join("data"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let filled = Instant::now();
    let (source, conversation) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..SENDERS {
            let address = daemon.address.clone();
            tasks.push(tokio::spawn(async move {
                let mut sender = connect(&address).await;
                fill(&mut sender, CONVERSATIONS / SENDERS).await
            }));
        }
        let mut last = (String::new(), 0);
        for task in tasks {
            last = task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        last
    });
    println!(
        "{CONVERSATIONS} conversations stored in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let origin = format!("http://{}", daemon.address);

    // Sign-in to the first page, five times from a fresh page.
    let mut first_page = Vec::new();
    for round in 0..5 {
        // A page of its own each time, signed out.
        if round > 0 {
            browser.click("#signout");
            browser.element("#token");
        }
        browser.go("about:blank");
        browser.go(&format!("{origin}/app#/inbox"));
        browser.element("#token");
        browser.run(
            "window.__bench = {}; const t0 = performance.now();
             new MutationObserver((_, o) => {
               if (document.querySelector('#conversations li[id^=conversation-]')) {
                 window.__bench.list = performance.now() - t0; o.disconnect();
               }
             }).observe(document.body, { subtree: true, childList: true });
             document.getElementById('token').value = 'bench-token';
             document.getElementById('signin').click();
             return true",
        );
        let started = Instant::now();
        let ms = loop {
            let value = browser.run("return window.__bench.list ?? null");
            if let Some(ms) = value.as_f64() {
                break ms;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the inbox never rendered"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        first_page.push(ms);
    }
    println!(
        "sign-in → first page of the inbox ({CONVERSATIONS} conversations): median {:.0} ms, each {:?}",
        median(first_page.clone()),
        first_page.iter().map(|m| m.round()).collect::<Vec<_>>()
    );

    // A customer's message into the open conversation.
    browser.go(&format!("{origin}/app#/conversation/{conversation}"));
    browser.element("#thread");
    std::thread::sleep(Duration::from_millis(500));
    let path = format!(
        "/public/api/v1/inboxes/desk/contacts/{source}/conversations/{conversation}/messages"
    );
    let (mut from_send, mut from_answer) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        let mut sender = connect(&daemon.address).await;
        for n in 0..20 {
            let marker = format!("live-{n}");
            browser.run(&format!(
                "window.__seen = null;
                 new MutationObserver((_, o) => {{
                   if (document.getElementById('thread').textContent.includes({marker})) {{
                     window.__seen = Date.now(); o.disconnect();
                   }}
                 }}).observe(document.getElementById('thread'), {{ subtree: true, childList: true }});
                 return true",
                marker = json!(marker)
            ));
            let sent = epoch_ms();
            let _: Value = post(&mut sender, &path, json!({ "content": marker })).await;
            let answered = epoch_ms();
            let started = Instant::now();
            let seen = loop {
                if let Some(at) = browser.run("return window.__seen").as_f64() {
                    break at;
                }
                assert!(started.elapsed() < Duration::from_secs(10), "the message never showed");
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            from_send.push(seen - sent);
            from_answer.push(seen - answered);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "customer message → shown in the open conversation: from sending p50 {:.0} ms, max {:.0} ms; from its answer (after the commit) p50 {:.0} ms, max {:.0} ms",
        median(from_send.clone()),
        max(&from_send),
        median(from_answer.clone()),
        max(&from_answer)
    );
    browser.screenshot("inbox");
}
