//! The SQLite store's promises: units committed together stay independent
//! (a failing unit undoes only its own writes), an answered unit is on
//! disk, and the schema comes back as it was after a reopen.

use std::sync::Arc;

use chrono::Utc;
use livedesk::store::{self, EventRecord, Inbox, SqliteStore, Store};

#[derive(Debug)]
enum Failure {
    Store(#[allow(dead_code)] store::Error),
    Refused,
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Self {
        Failure::Store(e)
    }
}

fn event(n: i64) -> EventRecord {
    EventRecord {
        id: 0,
        kind: "message_created".into(),
        inbox_id: 1,
        conversation_id: Some(n),
        payload: serde_json::value::to_raw_value(&serde_json::json!({ "n": n }))
            .unwrap_or_else(|e| panic!("{e}")),
        created_at: Utc::now(),
    }
}

fn inbox(store: &dyn Store) -> Inbox {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime
        .block_on(store::transaction(store, |tx| {
            tx.insert_inbox("Website", "web")
        }))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_failing_unit_undoes_only_its_own_writes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    inbox(store.as_ref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // Many units at once, so the writer commits them in batches; every
    // third one writes and then fails.
    let results = runtime.block_on(async {
        let units = (0..300i64).map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store::transaction(store.as_ref(), move |tx| {
                    tx.emit(&event(n))?;
                    if n % 3 == 0 {
                        return Err(Failure::Refused);
                    }
                    Ok(n)
                })
                .await
            })
        });
        let mut results = Vec::new();
        for unit in units.collect::<Vec<_>>() {
            results.push(unit.await.unwrap_or_else(|e| panic!("{e}")));
        }
        results
    });
    for (n, result) in results.iter().enumerate() {
        match (n % 3, result) {
            (0, Err(Failure::Refused)) => {}
            (0, other) => panic!("unit {n} should have failed: {other:?}"),
            (_, Ok(value)) => assert_eq!(*value, n as i64),
            (_, Err(e)) => panic!("unit {n} failed: {e:?}"),
        }
    }
    drop(store);

    // Reopened: exactly the units that succeeded are there.
    let store = SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let stored = runtime
        .block_on(store::transaction(&store, |tx| tx.events_after(0, 1000)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut kept: Vec<i64> = stored.iter().filter_map(|e| e.conversation_id).collect();
    kept.sort_unstable();
    let expected: Vec<i64> = (0..300).filter(|n| n % 3 != 0).collect();
    assert_eq!(kept, expected);
    let inboxes = runtime
        .block_on(store::transaction(&store, |tx| tx.inboxes()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inboxes.len(), 1, "the schema or its data changed on reopen");
}

#[test]
fn a_panicking_unit_is_undone_and_the_writer_keeps_going() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    inbox(&store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let panicked = runtime.block_on(store::transaction(&store, |tx| {
        tx.emit(&event(1))?;
        if tx.events_after(0, 10)?.len() == 1 {
            panic!("a bug in a unit of work");
        }
        Ok::<_, store::Error>(())
    }));
    assert!(panicked.is_err());
    let after = runtime
        .block_on(store::transaction(&store, |tx| {
            tx.emit(&event(2))?;
            tx.events_after(0, 10)
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<_> = after.iter().filter_map(|e| e.conversation_id).collect();
    assert_eq!(ids, [2]);
}
