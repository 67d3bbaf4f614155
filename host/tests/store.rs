//! The store's promises, kept by every backend: this suite runs each
//! behaviour against SQLite and against a real PostgreSQL server
//! (`tests/support/postgres.rs` starts one; without it the PostgreSQL half
//! says so and passes, unless `LIVEDESK_REQUIRE_POSTGRES=1`).
//!
//! Units committed together stay independent (a failing unit undoes only
//! its own writes), what a unit reads back is what it wrote, an undone
//! unit leaves no trace, concurrent units neither lose updates nor assign
//! twice, and a reopened store has what was committed. Behaviours only
//! several instances have (leases, notices, skipping rows another unit
//! holds) are tested on PostgreSQL alone.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use livedesk::model::{Availability, ConversationStatus};
use livedesk::store::{
    self, BroadcastRecord, ContactRecord, ConversationFilter, ConversationRecord, EventRecord,
    Inbox, Location, QueueEntry, Store, Tx,
};

#[path = "../../tests/support/postgres.rs"]
mod pg;

/// Where a test's desk is kept; dropped with the test.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    fn sqlite() -> Self {
        Backend::Sqlite(tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
    }

    fn postgres() -> Option<Self> {
        pg::database().map(Backend::Postgres)
    }

    fn location(&self) -> Location {
        match self {
            Backend::Sqlite(dir) => Location::Sqlite(dir.path().to_path_buf()),
            Backend::Postgres(url) => Location::Postgres(url.clone()),
        }
    }

    /// Opens the desk (again): on PostgreSQL, another instance.
    fn open(&self) -> Arc<dyn Store> {
        store::open(&self.location()).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Every conformance test, once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Backend::sqlite()) } )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(backend) = super::Backend::postgres() {
                        super::$name(&backend)
                    }
                }
            )*
        }
    };
}

conformance!(
    a_message_reads_back_as_it_was_written,
    a_failing_unit_undoes_only_its_own_writes,
    a_panicking_unit_is_undone_and_the_writer_keeps_going,
    an_undone_unit_leaves_no_trace_in_what_later_units_read,
    due_events_come_a_few_per_conversation_behind_a_due_head,
    pruning_deletes_only_events_delivered_before_the_cutoff,
    a_taken_unique_key_is_a_conflict,
    units_racing_to_create_one_contact_all_see_it,
    decisions_under_the_assignment_lock_lose_no_update,
    changes_to_one_conversation_are_made_one_after_the_other,
    the_queue_drains_by_priority_then_arrival,
    agents_loads_and_pointers_read_back,
    contacts_page_and_count,
    conversation_filters_select_and_count,
    chat_messages_hide_notes_and_activity_and_unread_counts_incoming,
    the_unread_count_follows_new_messages_among_the_newest_hundred,
    surveys_and_decisions_read_back,
    dead_events_are_listed_and_replayed,
    stranded_conversations_are_the_unrouted_ones_with_a_message,
    broadcasts_get_cursors_in_commit_order_and_read_back_by_contact,
    broadcasts_units_write_concurrently_get_distinct_increasing_cursors,
    pruning_broadcasts_moves_the_pruned_mark,
);

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
        payload: store::Payload::of(&serde_json::json!({ "n": n }))
            .unwrap_or_else(|e| panic!("{e}")),
        created_at: Utc::now(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A new store with one inbox, and a runtime to wait for its answers.
struct Fixture {
    store: Arc<dyn Store>,
    runtime: tokio::runtime::Runtime,
    inbox: Inbox,
}

impl Fixture {
    fn new(backend: &Backend) -> Self {
        let store = backend.open();
        let runtime = runtime();
        let inbox = runtime
            .block_on(store::transaction(store.as_ref(), |tx| {
                tx.insert_inbox("Website", "web")
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            store,
            runtime,
            inbox,
        }
    }

    /// Runs `work` as one unit and waits for its answer.
    fn unit<T: Send + 'static>(
        &self,
        work: impl FnMut(&mut dyn Tx) -> store::Result<T> + Send + 'static,
    ) -> T {
        self.runtime
            .block_on(store::transaction(self.store.as_ref(), work))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `units` units made by `work(n)` at once; their answers in order.
    fn at_once<T, W>(&self, units: i64, work: impl Fn(i64) -> W) -> Vec<Result<T, Failure>>
    where
        T: Send + 'static,
        W: FnMut(&mut dyn Tx) -> Result<T, Failure> + Send + 'static,
    {
        self.runtime.block_on(async {
            let running: Vec<_> = (0..units)
                .map(|n| {
                    let store = Arc::clone(&self.store);
                    let unit = work(n);
                    tokio::spawn(async move { store::transaction(store.as_ref(), unit).await })
                })
                .collect();
            let mut answers = Vec::new();
            for unit in running {
                answers.push(unit.await.unwrap_or_else(|e| panic!("{e}")));
            }
            answers
        })
    }
}

fn contact(inbox: i64, source: &str, now: DateTime<Utc>) -> ContactRecord {
    ContactRecord {
        id: 0,
        inbox_id: inbox,
        source_id: source.into(),
        pubsub_token: format!("token-{source}"),
        identifier: None,
        name: Some("Ana".into()),
        email: None,
        phone_number: None,
        avatar_url: None,
        custom_attributes: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

/// A contact of `inbox` named Ana, with one conversation.
fn contact_and_conversation(
    tx: &mut dyn Tx,
    inbox: i64,
    now: DateTime<Utc>,
) -> store::Result<(ContactRecord, ConversationRecord)> {
    let contact = tx.insert_contact(&contact(inbox, "source", now))?;
    let conversation = tx.insert_conversation(&ConversationRecord::new(
        "uuid".into(),
        inbox,
        contact.id,
        Default::default(),
        now,
    ))?;
    Ok((contact, conversation))
}

fn a_message_reads_back_as_it_was_written(backend: &Backend) {
    use livedesk::model::MessageType;
    use livedesk::store::{MessageRecord, Sender};

    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
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

fn a_failing_unit_undoes_only_its_own_writes(backend: &Backend) {
    let fixture = Fixture::new(backend);
    // Many units at once, so the writer commits them in batches. Of every
    // three, one reads, writes and then fails, one only reads and fails,
    // one writes and succeeds.
    let results = fixture.at_once(300, |n| {
        move |tx: &mut dyn Tx| {
            tx.events_after(0, 1)?;
            if n % 3 == 1 {
                return Err(Failure::Refused);
            }
            tx.emit(&event(n))?;
            if n % 3 == 0 {
                return Err(Failure::Refused);
            }
            Ok(n)
        }
    });
    for (n, result) in results.iter().enumerate() {
        match (n % 3, result) {
            (0 | 1, Err(Failure::Refused)) => {}
            (0 | 1, other) => panic!("unit {n} should have failed: {other:?}"),
            (_, Ok(value)) => assert_eq!(*value, n as i64),
            (_, Err(e)) => panic!("unit {n} failed: {e:?}"),
        }
    }
    let Fixture { store, runtime, .. } = fixture;
    drop(store);

    // Reopened: exactly the units that succeeded are there.
    let store = backend.open();
    let stored = runtime
        .block_on(store::transaction(store.as_ref(), |tx| {
            tx.events_after(0, 1000)
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut kept: Vec<i64> = stored.iter().filter_map(|e| e.conversation_id).collect();
    kept.sort_unstable();
    let expected: Vec<i64> = (0..300).filter(|n| n % 3 == 2).collect();
    assert_eq!(kept, expected);
    let inboxes = runtime
        .block_on(store::transaction(store.as_ref(), |tx| tx.inboxes()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inboxes.len(), 1, "the schema or its data changed on reopen");
}

fn a_panicking_unit_is_undone_and_the_writer_keeps_going(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let panicked = fixture
        .runtime
        .block_on(store::transaction(fixture.store.as_ref(), |tx| {
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

fn an_undone_unit_leaves_no_trace_in_what_later_units_read(backend: &Backend) {
    let Fixture {
        store,
        runtime,
        inbox,
    } = Fixture::new(backend);
    let now = Utc::now();
    let (contact, conversation) = runtime
        .block_on(store::transaction(store.as_ref(), move |tx| {
            let (contact, conversation) = contact_and_conversation(tx, inbox.id, now)?;
            // Read once, so that both rows are known to the store.
            tx.conversation(conversation.id)?;
            tx.contact_by_source(inbox.id, "source")?;
            Ok::<_, store::Error>((contact, conversation))
        }))
        .unwrap_or_else(|e| panic!("{e}"));

    // A unit changes both rows, reads them back changed, then fails.
    let failed = runtime.block_on(store::transaction(store.as_ref(), move |tx| {
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
        .block_on(store::transaction(store.as_ref(), move |tx| {
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

fn due_events_come_a_few_per_conversation_behind_a_due_head(backend: &Backend) {
    let fixture = Fixture::new(backend);
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
            .unit(move |tx| {
                tx.due_events(
                    now,
                    now,
                    conversations,
                    per_conversation,
                    &store::Busy::default(),
                )
            })
            .into_iter()
            .map(|(e, _)| e.id)
            .collect::<Vec<_>>()
    };
    // Conversation 1: its first two; 2: nothing, its head is not due (a
    // later event must not overtake it); no conversation: one at a time.
    assert_eq!(due(10, 2), vec![ids[0], ids[1], ids[5]]);
    // One conversation: the one whose head is oldest, all of it.
    assert_eq!(due(1, 5), vec![ids[0], ids[1], ids[2]]);
    // A conversation whose lane is sending is skipped, and does not count:
    // the next lane takes its place.
    let skipping = fixture
        .unit(move |tx| {
            let busy = store::Busy {
                conversations: vec![1],
                ..Default::default()
            };
            tx.due_events(now, now, 1, 5, &busy)
        })
        .into_iter()
        .map(|(e, _)| e.id)
        .collect::<Vec<_>>();
    assert_eq!(skipping, vec![ids[5]]);
    // An inbox at its limit of deliveries at once: none of its events.
    let full = fixture.unit(move |tx| {
        let busy = store::Busy {
            inboxes: vec![1],
            ..Default::default()
        };
        tx.due_events(now, now, 10, 5, &busy)
    });
    assert!(full.is_empty(), "{full:?}");
}

fn pruning_deletes_only_events_delivered_before_the_cutoff(backend: &Backend) {
    let fixture = Fixture::new(backend);
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

fn a_taken_unique_key_is_a_conflict(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let again = fixture
        .runtime
        .block_on(store::transaction(fixture.store.as_ref(), |tx| {
            tx.insert_inbox("Website", "other")
        }));
    assert!(
        matches!(&again, Err(store::Error::Conflict(_))),
        "{again:?}"
    );
    assert!(again.is_err_and(|e| e.is_retryable()));
}

/// Many units each create the contact unless it exists: whichever commits
/// first creates it, and every other (run again on PostgreSQL when its
/// insert collides) finds it.
fn units_racing_to_create_one_contact_all_see_it(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let now = Utc::now();
    let found = fixture.at_once(24, |_| {
        move |tx: &mut dyn Tx| {
            let existing = tx.contact_by_source(inbox, "same")?;
            let contact = match existing {
                Some(contact) => contact,
                None => tx.insert_contact(&contact(inbox, "same", now))?,
            };
            Ok::<_, Failure>(contact.id)
        }
    });
    let ids: Vec<i64> = found
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e:?}")))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let (all, count) = fixture.unit(|tx| tx.contacts(100, 0));
    assert_eq!((all.len(), count), (1, 1));
}

/// Read-modify-write of a round-robin pointer under the assignment lock,
/// from many units at once: not one increment is lost.
fn decisions_under_the_assignment_lock_lose_no_update(backend: &Backend) {
    let fixture = Fixture::new(backend);
    fixture.unit(|tx| {
        tx.ensure_agent("a@example.com", Availability::Online)?;
        tx.ensure_agent("b@example.com", Availability::Online)?;
        tx.set_last_picked("pool", "0")
    });
    let answers = fixture.at_once(40, |_| {
        |tx: &mut dyn Tx| {
            tx.lock_assignment()?;
            let n: u32 = tx
                .last_picked("pool")?
                .and_then(|n| n.parse().ok())
                .ok_or(Failure::Refused)?;
            tx.set_last_picked("pool", &(n + 1).to_string())?;
            Ok::<_, Failure>(())
        }
    });
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(
        fixture.unit(|tx| tx.last_picked("pool")).as_deref(),
        Some("40")
    );
}

/// Each unit reads the conversation, adds a label and writes every field
/// back: none overwrites another's label.
fn changes_to_one_conversation_are_made_one_after_the_other(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let now = Utc::now();
    let (_, conversation) = fixture.unit(move |tx| contact_and_conversation(tx, inbox, now));
    let id = conversation.id;
    let answers = fixture.at_once(30, |n| {
        move |tx: &mut dyn Tx| {
            let mut c = tx.conversation(id)?.ok_or(Failure::Refused)?;
            c.labels.push(format!("l{n}"));
            tx.update_conversation(&c)?;
            Ok::<_, Failure>(())
        }
    });
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let labels = fixture.unit(move |tx| Ok(tx.conversation(id)?.map(|c| c.labels)));
    assert_eq!(labels.map(|l| l.len()), Some(30));
}

fn the_queue_drains_by_priority_then_arrival(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let now = Utc::now();
    let order = fixture.unit(move |tx| {
        let owner = tx.insert_contact(&contact(inbox, "q", now))?;
        let mut ids = Vec::new();
        for (n, rank) in [0, 2, 0, 1].into_iter().enumerate() {
            let c = tx.insert_conversation(&ConversationRecord::new(
                format!("q{n}"),
                inbox,
                owner.id,
                Default::default(),
                now,
            ))?;
            tx.enqueue(&QueueEntry {
                conversation_id: c.id,
                pool: "channel:0".into(),
                rank,
                enqueued_at: now,
            })?;
            ids.push(c.id);
        }
        // Enqueued again (a new priority): the new rank, its arrival kept.
        tx.enqueue(&QueueEntry {
            conversation_id: ids[2],
            pool: "channel:0".into(),
            rank: 0,
            enqueued_at: now,
        })?;
        tx.dequeue(ids[3])?;
        Ok(ids)
    });
    let (queue, lengths) = fixture.unit(|tx| Ok((tx.queue()?, tx.queue_lengths()?)));
    let drained: Vec<i64> = queue.iter().map(|e| e.conversation_id).collect();
    assert_eq!(drained, vec![order[1], order[0], order[2]]);
    assert_eq!(lengths, vec![(inbox, 3)]);
}

fn agents_loads_and_pointers_read_back(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let now = DateTime::from_timestamp_millis(1_764_000_000_123).unwrap_or_default();
    let (agents, counts, pointer) = fixture.unit(move |tx| {
        tx.ensure_agent("a@example.com", Availability::Online)?;
        // A known agent keeps its state: `initial` is for new ones.
        tx.ensure_agent("a@example.com", Availability::Offline)?;
        tx.ensure_agent("b@example.com", Availability::Busy)?;
        tx.set_availability("b@example.com", Availability::Online)?;
        tx.set_last_assigned("a@example.com", now)?;
        let (_, mut c) = contact_and_conversation(tx, inbox, now)?;
        c.assignee = Some("a@example.com".into());
        tx.update_conversation(&c)?;
        tx.set_last_picked("channel:0", "b@example.com")?;
        tx.set_last_picked("channel:0", "a@example.com")?;
        Ok((
            tx.agents()?,
            tx.open_counts()?,
            tx.last_picked("channel:0")?,
        ))
    });
    let states: Vec<_> = agents
        .iter()
        .map(|a| (a.email.as_str(), a.availability, a.last_assigned_at))
        .collect();
    assert_eq!(
        states,
        vec![
            ("a@example.com", Availability::Online, Some(now)),
            ("b@example.com", Availability::Online, None),
        ]
    );
    assert_eq!(counts.get("a@example.com"), Some(&1));
    assert_eq!(counts.get("b@example.com"), Some(&0));
    assert_eq!(pointer.as_deref(), Some("a@example.com"));
}

fn contacts_page_and_count(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let now = Utc::now();
    let (page, count, by_identifier, missing) = fixture.unit(move |tx| {
        for n in 0..5 {
            let mut c = contact(inbox, &format!("s{n}"), now);
            c.identifier = Some(format!("user-{}", n % 2));
            tx.insert_contact(&c)?;
        }
        let mut first = tx
            .contact_by_source(inbox, "s0")?
            .ok_or(store::Error::Closed)?;
        first.email = Some("ana@example.com".into());
        tx.update_contact(&first)?;
        let (page, count) = tx.contacts(2, 1)?;
        Ok((
            page,
            count,
            tx.contact_by_identifier(inbox, "user-1")?,
            tx.contact_by_source(inbox + 1, "s0")?,
        ))
    });
    let sources: Vec<_> = page.iter().map(|c| c.source_id.as_str()).collect();
    assert_eq!(sources, ["s1", "s2"]);
    assert_eq!(count, 5);
    assert_eq!(by_identifier.map(|c| c.source_id), Some("s1".into()));
    assert!(missing.is_none(), "source ids are scoped by inbox");
    let email =
        fixture.unit(move |tx| Ok(tx.contact_by_source(inbox, "s0")?.and_then(|c| c.email)));
    assert_eq!(email.as_deref(), Some("ana@example.com"));
}

fn conversation_filters_select_and_count(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let now = Utc::now();
    let ids = fixture.unit(move |tx| {
        let owner = tx.insert_contact(&contact(inbox, "f", now))?;
        let mut ids = Vec::new();
        for n in 0..6 {
            let mut c = tx.insert_conversation(&ConversationRecord::new(
                format!("f{n}"),
                inbox,
                owner.id,
                Default::default(),
                now,
            ))?;
            if n % 2 == 0 {
                c.assignee = Some("a@example.com".into());
                c.assigned_at = Some(now - chrono::Duration::hours(n));
            }
            if n == 1 {
                c.labels = vec!["bug".into(), "vip_1".into()];
                c.priority = Some(livedesk::model::Priority::High);
            }
            if n == 3 {
                c.labels = vec!["bugfix".into(), "vipx1".into()];
            }
            if n == 5 {
                c.status = ConversationStatus::Snoozed;
                c.snoozed_until = Some(now - chrono::Duration::minutes(1));
            }
            tx.update_conversation(&c)?;
            ids.push(c.id);
        }
        Ok(ids)
    });
    let select = |filter: ConversationFilter| {
        let counted = filter.clone();
        let (found, n) = fixture.unit(move |tx| {
            Ok((
                tx.conversations(&filter)?,
                tx.count_conversations(&counted)?,
            ))
        });
        (found.into_iter().map(|c| c.id).collect::<Vec<_>>(), n)
    };
    let assigned = ConversationFilter {
        status: Some(ConversationStatus::Open),
        assignee: Some(store::AssigneeFilter::Agent("a@example.com".into())),
        ..ConversationFilter::default()
    };
    assert_eq!(select(assigned.clone()), (vec![ids[0], ids[2], ids[4]], 3));
    let page = ConversationFilter {
        newest_first: true,
        limit: Some(2),
        offset: 1,
        ..assigned
    };
    assert_eq!(select(page).0, vec![ids[2], ids[0]]);
    let overdue = ConversationFilter {
        assigned_before: Some(now - chrono::Duration::minutes(90)),
        claim: true,
        ..ConversationFilter::default()
    };
    assert_eq!(select(overdue).0, vec![ids[2], ids[4]]);
    let awake = ConversationFilter {
        snoozed_until_before: Some(now),
        assignee: Some(store::AssigneeFilter::Unassigned),
        ..ConversationFilter::default()
    };
    assert_eq!(select(awake), (vec![ids[5]], 1));
    // A label is matched whole, and `_` or `%` in it are no wildcards.
    let labelled = |label: &str| ConversationFilter {
        label: Some(label.into()),
        ..ConversationFilter::default()
    };
    assert_eq!(select(labelled("bug")), (vec![ids[1]], 1));
    assert_eq!(select(labelled("vip_1")), (vec![ids[1]], 1));
    assert_eq!(select(labelled("vip%")), (vec![], 0));
    assert_eq!(select(labelled("bugfix")), (vec![ids[3]], 1));
    let high = ConversationFilter {
        priority: Some(livedesk::model::Priority::High),
        ..ConversationFilter::default()
    };
    assert_eq!(select(high), (vec![ids[1]], 1));
}

fn chat_messages_hide_notes_and_activity_and_unread_counts_incoming(backend: &Backend) {
    use livedesk::model::MessageType;
    use livedesk::store::{MessageRecord, Sender};

    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let start = Utc::now();
    let (chat, before, unread, counts) = fixture.unit(move |tx| {
        let (contact, conversation) = contact_and_conversation(tx, inbox, start)?;
        let kinds = [
            (MessageType::Incoming, false),
            (MessageType::Outgoing, true),
            (MessageType::Activity, false),
            (MessageType::Outgoing, false),
            (MessageType::Incoming, false),
        ];
        let mut ids = Vec::new();
        for (n, (message_type, private)) in kinds.into_iter().enumerate() {
            let at = start + chrono::Duration::seconds(n as i64);
            let sender = match message_type {
                MessageType::Incoming => Sender::Contact(contact.id),
                _ => Sender::System,
            };
            ids.push(
                tx.insert_message(&MessageRecord {
                    id: 0,
                    conversation_id: conversation.id,
                    inbox_id: inbox,
                    content: format!("m{n}"),
                    message_type,
                    content_type: "text".into(),
                    content_attributes: serde_json::json!({}),
                    private,
                    sender,
                    echo_id: None,
                    created_at: at,
                    updated_at: at,
                })?
                .id,
            );
        }
        let chat: Vec<i64> = tx
            .chat_messages(conversation.id, None, None)?
            .iter()
            .map(|m| m.id)
            .collect();
        let before: Vec<i64> = tx
            .chat_messages(conversation.id, Some(ids[4]), Some(1))?
            .iter()
            .map(|m| m.id)
            .collect();
        let unread = (
            tx.unread_incoming(conversation.id, None)?,
            tx.unread_incoming(conversation.id, Some(start + chrono::Duration::seconds(2)))?,
        );
        let counts = tx.message_counts(start, start + chrono::Duration::hours(1))?;
        Ok((chat, before, unread, counts))
    });
    assert_eq!(chat.len(), 3, "{chat:?}");
    assert_eq!(before, vec![chat[1]]);
    assert_eq!(unread, (2, 1));
    assert_eq!((counts.incoming, counts.outgoing), (2, 1));
}

/// Adds a message of `message_type` to `conversation` at `at`.
fn add_message(
    tx: &mut dyn Tx,
    inbox: i64,
    conversation: i64,
    message_type: livedesk::model::MessageType,
    at: DateTime<Utc>,
) -> store::Result<()> {
    tx.insert_message(&livedesk::store::MessageRecord {
        id: 0,
        conversation_id: conversation,
        inbox_id: inbox,
        content: "m".into(),
        message_type,
        content_type: "text".into(),
        content_attributes: serde_json::json!({}),
        private: false,
        sender: livedesk::store::Sender::System,
        echo_id: None,
        created_at: at,
        updated_at: at,
    })
    .map(drop)
}

fn the_unread_count_follows_new_messages_among_the_newest_hundred(backend: &Backend) {
    use livedesk::model::MessageType::{Incoming, Outgoing};

    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let start = Utc::now();
    let (conversation, counts) = fixture.unit(move |tx| {
        let (_, conversation) = contact_and_conversation(tx, inbox, start)?;
        let none = tx.unread_incoming(conversation.id, None)?;
        for _ in 0..3 {
            add_message(tx, inbox, conversation.id, Incoming, start)?;
        }
        Ok((
            conversation.id,
            (none, tx.unread_incoming(conversation.id, None)?),
        ))
    });
    assert_eq!(counts, (0, 3));
    // A unit undone takes its message with it.
    let undone = fixture
        .runtime
        .block_on(store::transaction(fixture.store.as_ref(), move |tx| {
            add_message(tx, inbox, conversation, Incoming, start)?;
            Err::<(), _>(Failure::Refused)
        }));
    assert!(undone.is_err());
    let later = start + chrono::Duration::seconds(1);
    let counts = fixture.unit(move |tx| {
        let after_undone = tx.unread_incoming(conversation, None)?;
        for _ in 0..101 {
            add_message(tx, inbox, conversation, Incoming, later)?;
        }
        let all_new = tx.unread_incoming(conversation, None)?;
        add_message(tx, inbox, conversation, Outgoing, later)?;
        let one_answered = tx.unread_incoming(conversation, None)?;
        let since_start = tx.unread_incoming(conversation, Some(start))?;
        Ok((after_undone, all_new, one_answered, since_start))
    });
    // Counted among the newest hundred messages: 104 incoming are 100;
    // with an answer among them, 99; those after `start`, 99 still.
    assert_eq!(counts, (3, 100, 99, 99));
}

fn surveys_and_decisions_read_back(backend: &Backend) {
    use livedesk::store::{CsatRecord, DecisionRecord};

    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let now = DateTime::from_timestamp_millis(1_764_000_000_123).unwrap_or_default();
    let (survey, between, decisions) = fixture.unit(move |tx| {
        let (_, conversation) = contact_and_conversation(tx, inbox, now)?;
        let message = tx.insert_message(&livedesk::store::MessageRecord {
            id: 0,
            conversation_id: conversation.id,
            inbox_id: inbox,
            content: "How did we do?".into(),
            message_type: livedesk::model::MessageType::Template,
            content_type: "input_csat".into(),
            content_attributes: serde_json::json!({}),
            private: false,
            sender: livedesk::store::Sender::System,
            echo_id: None,
            created_at: now,
            updated_at: now,
        })?;
        let mut survey = CsatRecord {
            conversation_id: conversation.id,
            message_id: message.id,
            inbox_id: inbox,
            assignee: Some("a@example.com".into()),
            rating: None,
            feedback: None,
            sent_at: now,
            answered_at: None,
        };
        tx.insert_csat(&survey)?;
        survey.rating = Some(5);
        survey.feedback = Some("great".into());
        survey.answered_at = Some(now);
        tx.update_csat(&survey)?;
        let decision = DecisionRecord {
            id: 0,
            conversation_id: conversation.id,
            revision: "r1".into(),
            tier: "rules".into(),
            outcome: "assigned".into(),
            trace: serde_json::json!({ "rule": "vip" }),
            created_at: now,
        };
        let id = tx.insert_decision(&decision)?;
        Ok((
            (survey.clone(), tx.csat(conversation.id)?),
            tx.csat_sent_between(now, now + chrono::Duration::seconds(1))?,
            (
                DecisionRecord { id, ..decision },
                tx.decisions(conversation.id)?,
            ),
        ))
    });
    assert_eq!(survey.1.as_ref(), Some(&survey.0));
    assert_eq!(between, vec![survey.0]);
    assert_eq!(decisions.1, vec![decisions.0]);
}

fn dead_events_are_listed_and_replayed(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let now = Utc::now();
    let ids = fixture.unit(move |tx| {
        let ids = (0..3)
            .map(|n| tx.emit(&event(n)))
            .collect::<Result<Vec<_>, _>>()?;
        tx.finish_event(ids[0], store::DeliveryState::Dead, now, Some("410"))?;
        tx.finish_event(ids[1], store::DeliveryState::Dead, now, Some("timeout"))?;
        Ok(ids)
    });
    let dead = fixture.unit(|tx| tx.dead_events(10));
    let listed: Vec<_> = dead
        .iter()
        .map(|d| (d.event.id, d.attempts, d.last_error.clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (ids[1], 1, Some("timeout".into())),
            (ids[0], 1, Some("410".into()))
        ]
    );
    let (replayed, again, backlog) = fixture.unit(move |tx| {
        Ok((
            tx.replay_event(ids[0], now)?,
            tx.replay_event(ids[2], now)?,
            tx.delivery_backlog()?,
        ))
    });
    assert!(replayed);
    assert!(!again, "a pending event is not dead");
    assert_eq!(backlog.0, 2);
}

/// What the timers route because routing never ran: unrouted, not
/// resolved, with an incoming message, unchanged for a while.
fn stranded_conversations_are_the_unrouted_ones_with_a_message(backend: &Backend) {
    use livedesk::model::MessageType;
    use livedesk::store::{MessageRecord, Sender};

    let fixture = Fixture::new(backend);
    let inbox = fixture.inbox.id;
    let then = Utc::now() - chrono::Duration::minutes(5);
    let ids = fixture.unit(move |tx| {
        let owner = tx.insert_contact(&contact(inbox, "s", then))?;
        let mut ids = Vec::new();
        // 0: stranded; 1: no message yet; 2: routed; 3: resolved; 4: recent.
        for n in 0..5 {
            let at = if n == 4 { Utc::now() } else { then };
            let mut c = tx.insert_conversation(&ConversationRecord::new(
                format!("s{n}"),
                inbox,
                owner.id,
                Default::default(),
                at,
            ))?;
            c.routed = n == 2;
            if n == 3 {
                c.status = ConversationStatus::Resolved;
            }
            tx.update_conversation(&c)?;
            if n != 1 {
                tx.insert_message(&MessageRecord {
                    id: 0,
                    conversation_id: c.id,
                    inbox_id: inbox,
                    content: "hello".into(),
                    message_type: MessageType::Incoming,
                    content_type: "text".into(),
                    content_attributes: serde_json::json!({}),
                    private: false,
                    sender: Sender::Contact(owner.id),
                    echo_id: None,
                    created_at: at,
                    updated_at: at,
                })?;
            }
            ids.push(c.id);
        }
        Ok(ids)
    });
    let stranded = fixture.unit(|tx| {
        tx.conversations(&ConversationFilter {
            stranded_before: Some(Utc::now() - chrono::Duration::minutes(1)),
            claim: true,
            ..ConversationFilter::default()
        })
    });
    let found: Vec<i64> = stranded.iter().map(|c| c.id).collect();
    assert_eq!(found, vec![ids[0]]);
}

#[test]
fn the_write_ahead_log_stays_bounded_under_sustained_writes() {
    let backend = Backend::sqlite();
    let Backend::Sqlite(dir) = &backend else {
        return;
    };
    let fixture = Fixture::new(&backend);
    let store = Arc::clone(&fixture.store);
    // Units always waiting, so the writer never pauses between commits:
    // about 100 MB of log written in all, many times the bound.
    let padding = "x".repeat(4096);
    fixture.runtime.block_on(async {
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
                    record.payload =
                        store::Payload::of(&serde_json::json!({ "n": n, "padding": padding }))
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

/// Two instances on one database: the events one took are leased to it;
/// the other takes them only once the lease has run out.
#[test]
fn a_lease_keeps_events_with_their_instance_until_it_runs_out() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let first = Fixture::new(&backend);
    let second = backend.open();
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(60);
    let ids = first.unit(|tx| {
        (1..=3)
            .map(|n| tx.emit(&event(n)))
            .collect::<Result<Vec<_>, _>>()
    });
    let taken = first.unit(move |tx| tx.due_events(now, lease, 10, 5, &store::Busy::default()));
    assert_eq!(taken.len(), 3);
    let take = |store: &Arc<dyn Store>, at: DateTime<Utc>| {
        first
            .runtime
            .block_on(store::transaction(store.as_ref(), move |tx| {
                tx.due_events(
                    at,
                    at + chrono::Duration::seconds(60),
                    10,
                    5,
                    &store::Busy::default(),
                )
            }))
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|(e, _)| e.id)
            .collect::<Vec<_>>()
    };
    assert!(take(&second, now).is_empty(), "leased to the first");
    // The holder itself takes them again in its next round.
    assert_eq!(take(&first.store, now).len(), 3);
    // The first stops; after its lease the second delivers them.
    let after = lease + chrono::Duration::seconds(1);
    assert_eq!(take(&second, after), ids);
    assert!(take(&first.store, after).is_empty());
}

/// What one instance commits, the others hear: events added, a revision.
#[test]
fn instances_hear_each_others_events_and_revisions() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let first = Fixture::new(&backend);
    let second = backend.open();
    let mut heard = second.notices();
    let runtime = &first.runtime;
    let next = |heard: &mut tokio::sync::broadcast::Receiver<store::Notice>| {
        runtime
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(10), heard.recv()).await
            })
            .unwrap_or_else(|e| panic!("nothing heard: {e}"))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // The listener's first word: look for what was missed.
    assert_eq!(next(&mut heard), store::Notice::Events);
    first.unit(|tx| tx.emit(&event(1)));
    assert_eq!(next(&mut heard), store::Notice::Events);
    first.store.announce(store::Notice::Revision("r2".into()));
    assert_eq!(next(&mut heard), store::Notice::Revision("r2".into()));
}

/// A claim skips what another unit holds, without waiting for it.
#[test]
fn claims_skip_conversations_another_unit_holds() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let fixture = Fixture::new(&backend);
    let inbox = fixture.inbox.id;
    let now = Utc::now();
    let (_, held) = fixture.unit(move |tx| contact_and_conversation(tx, inbox, now));
    let free = fixture.unit(move |tx| {
        tx.insert_conversation(&ConversationRecord::new(
            "free".into(),
            inbox,
            held.contact_id,
            Default::default(),
            now,
        ))
    });
    let (locked, release) = std::sync::mpsc::channel::<()>();
    let (holding, held_now) = std::sync::mpsc::channel::<()>();
    let store = Arc::clone(&fixture.store);
    let holder = fixture.runtime.spawn(async move {
        let release = std::sync::Mutex::new(release);
        store::transaction(store.as_ref(), move |tx| {
            tx.conversation(held.id)?;
            let _ = holding.send(());
            // Holds the row until the test lets go.
            if let Ok(release) = release.lock() {
                let _ = release.recv();
            }
            Ok::<_, store::Error>(())
        })
        .await
    });
    held_now
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let claimed = fixture.unit(|tx| {
        tx.conversations(&ConversationFilter {
            claim: true,
            ..ConversationFilter::default()
        })
    });
    let _ = locked.send(());
    let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![free.id]);
    fixture
        .runtime
        .block_on(holder)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn broadcast(name: &str, contact: Option<i64>, at: DateTime<Utc>) -> BroadcastRecord {
    BroadcastRecord {
        cursor: 0,
        name: name.into(),
        inbox_id: Some(1),
        conversation_id: Some(1),
        contact_id: contact,
        data: serde_json::value::to_raw_value(&serde_json::json!({ "name": name }))
            .unwrap_or_else(|e| panic!("{e}")),
        created_at: at,
    }
}

/// What the feed does: number what is committed, then read after `after`.
fn committed(fixture: &Fixture, after: i64, contact: Option<i64>) -> Vec<BroadcastRecord> {
    fixture.unit(move |tx| {
        tx.sequence_broadcasts()?;
        tx.broadcasts_after(after, contact, 100)
    })
}

fn broadcasts_get_cursors_in_commit_order_and_read_back_by_contact(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let now = Utc::now();
    let start = fixture.unit(|tx| tx.broadcast_bounds());
    assert_eq!(start.latest, 0);
    fixture.unit(move |tx| {
        tx.broadcast(&broadcast("a", Some(7), now))?;
        tx.broadcast(&broadcast("b", None, now))
    });
    // An undone unit's broadcast never gets a cursor.
    let undone = fixture.runtime.block_on(store::transaction(
        fixture.store.as_ref(),
        move |tx| -> Result<(), Failure> {
            tx.broadcast(&broadcast("undone", Some(7), now))?;
            Err(Failure::Refused)
        },
    ));
    assert!(undone.is_err());
    fixture.unit(move |tx| tx.broadcast(&broadcast("c", Some(8), now)));
    let all = committed(&fixture, 0, None);
    let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let cursors: Vec<i64> = all.iter().map(|b| b.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert_eq!(all[0].data.get(), r#"{"name":"a"}"#);
    assert_eq!(all[0].contact_id, Some(7));
    assert_eq!(all[1].inbox_id, Some(1));
    let bounds = fixture.unit(|tx| tx.broadcast_bounds());
    assert!(bounds.latest >= cursors[2], "{bounds:?}");
    assert_eq!(bounds.pruned_through, 0);
    // A contact's own, after a cursor.
    let mine: Vec<String> = committed(&fixture, 0, Some(7))
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(mine, ["a"]);
    let after_a: Vec<String> = committed(&fixture, cursors[0], None)
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(after_a, ["b", "c"]);
    // Reopened (another instance, on PostgreSQL), the cursors stay.
    drop(fixture.store);
    let again = backend.open();
    let reread = fixture
        .runtime
        .block_on(store::transaction(again.as_ref(), |tx| {
            tx.sequence_broadcasts()?;
            tx.broadcasts_after(0, None, 100)
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reread.iter().map(|b| b.cursor).collect::<Vec<_>>(), cursors);
}

fn broadcasts_units_write_concurrently_get_distinct_increasing_cursors(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let now = Utc::now();
    let answers = fixture.at_once(40, |n| {
        move |tx: &mut dyn Tx| -> Result<(), Failure> {
            tx.broadcast(&broadcast(&format!("{n}"), Some(n % 4), now))?;
            // Numbering may run alongside writers on a shared database.
            if n % 5 == 0 {
                tx.sequence_broadcasts()?;
            }
            Ok(())
        }
    });
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let all = committed(&fixture, 0, None);
    assert_eq!(all.len(), 40);
    let cursors: Vec<i64> = all.iter().map(|b| b.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    let mut names: Vec<i64> = all.iter().filter_map(|b| b.name.parse().ok()).collect();
    names.sort_unstable();
    assert_eq!(names, (0..40).collect::<Vec<_>>(), "each once");
}

fn pruning_broadcasts_moves_the_pruned_mark(backend: &Backend) {
    let fixture = Fixture::new(backend);
    let now = Utc::now();
    let old = now - chrono::Duration::hours(30);
    fixture.unit(move |tx| {
        for n in 0..3 {
            tx.broadcast(&broadcast(&format!("old {n}"), Some(1), old))?;
        }
        tx.broadcast(&broadcast("new", Some(1), now))
    });
    let all = committed(&fixture, 0, None);
    let cutoff = now - chrono::Duration::hours(24);
    assert_eq!(fixture.unit(move |tx| tx.prune_broadcasts(cutoff, 2)), 2);
    assert_eq!(fixture.unit(move |tx| tx.prune_broadcasts(cutoff, 100)), 1);
    assert_eq!(fixture.unit(move |tx| tx.prune_broadcasts(cutoff, 100)), 0);
    let bounds = fixture.unit(|tx| tx.broadcast_bounds());
    assert_eq!(bounds.pruned_through, all[2].cursor);
    assert_eq!(bounds.latest, all[3].cursor);
    let left: Vec<String> = committed(&fixture, 0, None)
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(left, ["new"]);
    // Everything pruned: a cursor is still never given twice.
    let later = now + chrono::Duration::hours(48);
    fixture.unit(move |tx| tx.prune_broadcasts(later, 100));
    fixture.unit(move |tx| tx.broadcast(&broadcast("next", None, now)));
    let next = committed(&fixture, 0, None);
    assert!(next[0].cursor > all[3].cursor, "{next:?}");
}

/// A unit that took its row id first but commits last still gets the
/// later cursor, so a reader that already went past the early committer's
/// cursor does not skip it.
#[test]
fn a_broadcast_committed_late_is_not_skipped_by_a_reader_that_moved_on() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let fixture = Fixture::new(&backend);
    let now = Utc::now();
    let slow = {
        let store = Arc::clone(&fixture.store);
        fixture.runtime.spawn(async move {
            store::transaction(store.as_ref(), move |tx| {
                tx.broadcast(&broadcast("slow", None, now))?;
                std::thread::sleep(std::time::Duration::from_millis(600));
                Ok::<_, store::Error>(())
            })
            .await
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    fixture.unit(move |tx| tx.broadcast(&broadcast("fast", None, now)));
    let first = committed(&fixture, 0, None);
    assert_eq!(
        first.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["fast"]
    );
    fixture
        .runtime
        .block_on(slow)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let next = committed(&fixture, first[0].cursor, None);
    assert_eq!(
        next.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["slow"]
    );
}
