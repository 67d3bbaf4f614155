//! The SQLite store's promises: units committed together stay independent
//! (a failing unit undoes only its own writes), an answered unit is on
//! disk, the schema comes back as it was after a reopen, and rows kept in
//! memory between units never outlive a unit that was undone.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use livedesk::store::{
    self, ContactRecord, ConversationRecord, EventRecord, Inbox, SqliteStore, Store, Tx,
};

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

/// A new store with one inbox, shared by the tasks of a two-thread runtime.
fn busy_store() -> (tempfile::TempDir, Arc<dyn Store>, tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    inbox(store.as_ref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    (dir, store, runtime)
}

/// A new store with one inbox, and a runtime to wait for its answers.
struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        inbox(&store);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            _dir: dir,
            store,
            runtime,
        }
    }

    /// Runs `work` as one unit and waits for its answer.
    fn unit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut dyn Tx) -> store::Result<T> + Send + 'static,
    ) -> T {
        self.runtime
            .block_on(store::transaction(&self.store, work))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A contact of `inbox` named Ana, with one conversation.
fn contact_and_conversation(
    tx: &mut dyn Tx,
    inbox: i64,
    now: DateTime<Utc>,
) -> store::Result<(ContactRecord, ConversationRecord)> {
    let contact = tx.insert_contact(&ContactRecord {
        id: 0,
        inbox_id: inbox,
        source_id: "source".into(),
        pubsub_token: "token".into(),
        identifier: None,
        name: Some("Ana".into()),
        email: None,
        phone_number: None,
        avatar_url: None,
        custom_attributes: Default::default(),
        created_at: now,
        updated_at: now,
    })?;
    let conversation = tx.insert_conversation(&ConversationRecord::new(
        "uuid".into(),
        inbox,
        contact.id,
        Default::default(),
        now,
    ))?;
    Ok((contact, conversation))
}

#[test]
fn a_message_reads_back_as_it_was_written() {
    use livedesk::model::MessageType;
    use livedesk::store::{MessageRecord, Sender};

    let fixture = Fixture::new();
    let inbox = fixture.unit(|tx| Ok(tx.inboxes()?[0].id));
    // Every field different from every other of its type, times to the
    // millisecond, so that no two columns can be swapped unnoticed.
    let created = DateTime::from_timestamp_millis(1_764_000_000_123).unwrap_or_default();
    let updated = DateTime::from_timestamp_millis(1_764_000_000_456).unwrap_or_default();
    let (written, one, page) = fixture.unit(move |tx| {
        let (_, conversation) = contact_and_conversation(tx, inbox, created)?;
        let written = tx.insert_message(&MessageRecord {
            id: 0,
            conversation_id: conversation.id,
            inbox_id: inbox,
            content: "the content".into(),
            message_type: MessageType::Outgoing,
            content_type: "input_csat".into(),
            content_attributes: serde_json::json!({ "submitted_values": [1] }),
            private: true,
            sender: Sender::Agent("ana@example.com".into()),
            echo_id: Some("echo".into()),
            created_at: created,
            updated_at: updated,
        })?;
        let one = tx.message(written.id)?;
        let page = tx.messages(conversation.id, None, 20)?;
        Ok((written, one, page))
    });
    assert_ne!(written.id, 0);
    assert_eq!(one.as_ref(), Some(&written));
    assert_eq!(page, [written]);
}

#[test]
fn a_failing_unit_undoes_only_its_own_writes() {
    let (dir, store, runtime) = busy_store();
    // Many units at once, so the writer commits them in batches. Of every
    // three, one reads, writes and then fails, one only reads and fails,
    // one writes and succeeds.
    let results = runtime.block_on(async {
        let units = (0..300i64).map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store::transaction(store.as_ref(), move |tx| {
                    tx.events_after(0, 1)?;
                    if n % 3 == 1 {
                        return Err(Failure::Refused);
                    }
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
            (0 | 1, Err(Failure::Refused)) => {}
            (0 | 1, other) => panic!("unit {n} should have failed: {other:?}"),
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
    let expected: Vec<i64> = (0..300).filter(|n| n % 3 == 2).collect();
    assert_eq!(kept, expected);
    let inboxes = runtime
        .block_on(store::transaction(&store, |tx| tx.inboxes()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inboxes.len(), 1, "the schema or its data changed on reopen");
}

#[test]
fn a_panicking_unit_is_undone_and_the_writer_keeps_going() {
    let fixture = Fixture::new();
    let panicked = fixture
        .runtime
        .block_on(store::transaction(&fixture.store, |tx| {
            tx.emit(&event(1))?;
            if tx.events_after(0, 10)?.len() == 1 {
                panic!("a bug in a unit of work");
            }
            Ok::<_, store::Error>(())
        }));
    assert!(panicked.is_err());
    let after = fixture.unit(|tx| {
        tx.emit(&event(2))?;
        tx.events_after(0, 10)
    });
    let ids: Vec<_> = after.iter().filter_map(|e| e.conversation_id).collect();
    assert_eq!(ids, [2]);
}

#[test]
fn an_undone_unit_leaves_no_trace_in_what_later_units_read() {
    use livedesk::model::ConversationStatus;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let inbox = inbox(&store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let now = Utc::now();
    let (contact, conversation) = runtime
        .block_on(store::transaction(&store, move |tx| {
            let (contact, conversation) = contact_and_conversation(tx, inbox.id, now)?;
            // Read once, so that both rows are known to the store.
            tx.conversation(conversation.id)?;
            tx.contact_by_source(inbox.id, "source")?;
            Ok::<_, store::Error>((contact, conversation))
        }))
        .unwrap_or_else(|e| panic!("{e}"));

    // A unit changes both rows, reads them back changed, then fails.
    let failed = runtime.block_on(store::transaction(&store, move |tx| {
        let mut changed = tx.conversation(conversation.id)?.ok_or(Failure::Refused)?;
        changed.status = ConversationStatus::Resolved;
        tx.update_conversation(&changed)?;
        let mut renamed = tx.contact(contact.id)?.ok_or(Failure::Refused)?;
        renamed.name = Some("Bea".into());
        tx.update_contact(&renamed)?;
        let seen = tx.conversation(conversation.id)?.map(|c| c.status);
        let named = tx
            .contact_by_source(inbox.id, "source")?
            .and_then(|c| c.name);
        assert_eq!(seen, Some(ConversationStatus::Resolved));
        assert_eq!(named.as_deref(), Some("Bea"));
        Err::<(), _>(Failure::Refused)
    }));
    assert!(matches!(failed, Err(Failure::Refused)));

    let (status, name) = runtime
        .block_on(store::transaction(&store, move |tx| {
            let status = tx.conversation(conversation.id)?.map(|c| c.status);
            let name = tx
                .contact_by_source(inbox.id, "source")?
                .and_then(|c| c.name);
            Ok::<_, store::Error>((status, name))
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, Some(ConversationStatus::Open));
    assert_eq!(name.as_deref(), Some("Ana"));
}

#[test]
fn the_write_ahead_log_stays_bounded_under_sustained_writes() {
    let (dir, store, runtime) = busy_store();
    // Units always waiting, so the writer never pauses between commits:
    // about 100 MB of log written in all, many times the bound.
    let padding = "x".repeat(4096);
    runtime.block_on(async {
        let mut waiting = tokio::task::JoinSet::new();
        for n in 0..20_000i64 {
            if waiting.len() >= 512 {
                let _ = waiting.join_next().await;
            }
            let store = Arc::clone(&store);
            let padding = padding.clone();
            waiting.spawn(async move {
                store::transaction(store.as_ref(), move |tx| {
                    let mut record = event(n);
                    record.payload = serde_json::value::to_raw_value(
                        &serde_json::json!({ "n": n, "padding": padding }),
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                    tx.emit(&record).map_err(Failure::from)
                })
                .await
                .unwrap_or_else(|e| panic!("{e:?}"))
            });
        }
        while waiting.join_next().await.is_some() {}
    });
    let log = std::fs::metadata(dir.path().join("livedesk.db-wal"))
        .unwrap_or_else(|e| panic!("{e}"))
        .len();
    assert!(
        log < 16 << 20,
        "the write-ahead log grew to {} MiB",
        log >> 20
    );
}

#[test]
fn due_events_come_a_few_per_conversation_behind_a_due_head() {
    let fixture = Fixture::new();
    let now = Utc::now();
    let ids = fixture.unit(move |tx| {
        let of = |conversation: Option<i64>| EventRecord {
            conversation_id: conversation,
            ..event(0)
        };
        let mut ids = Vec::new();
        for conversation in [
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            None,
            None,
            Some(3),
        ] {
            ids.push(tx.emit(&of(conversation))?);
        }
        // Conversation 2's first event waits for a retry; conversation
        // 3's only event was given up.
        tx.retry_event(ids[3], 1, now + chrono::Duration::hours(1), "503")?;
        tx.finish_event(ids[7], store::DeliveryState::Dead, now, Some("410"))?;
        Ok(ids)
    });
    let due = |conversations, per_conversation| {
        fixture
            .unit(move |tx| tx.due_events(now, conversations, per_conversation))
            .into_iter()
            .map(|(e, _)| e.id)
            .collect::<Vec<_>>()
    };
    // Conversation 1: its first two; 2: nothing, its head is not due (a
    // later event must not overtake it); no conversation: one at a time.
    assert_eq!(due(10, 2), vec![ids[0], ids[1], ids[5]]);
    // One conversation: the one whose head is oldest, all of it.
    assert_eq!(due(1, 5), vec![ids[0], ids[1], ids[2]]);
}

#[test]
fn pruning_deletes_only_events_delivered_before_the_cutoff() {
    let fixture = Fixture::new();
    let now = Utc::now();
    let long_ago = now - chrono::Duration::hours(2);
    let cutoff = now - chrono::Duration::hours(1);
    let ids = fixture.unit(move |tx| {
        let ids = (0..6)
            .map(|n| tx.emit(&event(n)))
            .collect::<Result<Vec<_>, _>>()?;
        use store::DeliveryState::{Dead, Delivered, Skipped};
        tx.finish_event(ids[0], Delivered, long_ago, None)?;
        tx.finish_event(ids[1], Skipped, long_ago, None)?;
        tx.finish_event(ids[2], Delivered, long_ago, None)?;
        tx.finish_event(ids[3], Delivered, now, None)?;
        tx.finish_event(ids[4], Dead, long_ago, Some("410"))?;
        // ids[5] is still pending.
        Ok(ids)
    });
    let prune = |limit| fixture.unit(move |tx| tx.prune_events(cutoff, limit));
    assert_eq!(prune(2), 2, "a chunk at most");
    assert_eq!(prune(100), 1);
    assert_eq!(prune(100), 0);
    let left: Vec<i64> = fixture
        .unit(|tx| tx.events_after(0, 100))
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, ids[3..].to_vec(), "recent, dead and pending stay");
}
