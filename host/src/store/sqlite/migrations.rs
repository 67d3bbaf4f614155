//! The schema, as numbered migrations applied in order at start.
//!
//! A migration is never edited once released; a change is a new entry.
//! Times are milliseconds since the Unix epoch; JSON is kept as text. The
//! statements stay within what SQLite and PostgreSQL both accept, apart
//! from the key type (`INTEGER PRIMARY KEY` becomes an identity column).

/// `(version, statements)`, in order.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE inboxes (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL UNIQUE,
    identifier TEXT NOT NULL UNIQUE
);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    availability TEXT NOT NULL DEFAULT 'offline',
    last_assigned_at BIGINT
);

CREATE TABLE round_robin (
    pool TEXT PRIMARY KEY,
    agent TEXT NOT NULL
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    inbox_id BIGINT NOT NULL REFERENCES inboxes(id),
    source_id TEXT NOT NULL UNIQUE,
    pubsub_token TEXT NOT NULL,
    identifier TEXT,
    name TEXT,
    email TEXT,
    phone_number TEXT,
    avatar_url TEXT,
    custom_attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contacts_by_identifier ON contacts (inbox_id, identifier);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    inbox_id BIGINT NOT NULL REFERENCES inboxes(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    status TEXT NOT NULL,
    assignee TEXT,
    team TEXT,
    ai_agent TEXT,
    priority TEXT,
    labels TEXT NOT NULL,
    custom_attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    contact_last_seen_at BIGINT,
    agent_last_seen_at BIGINT,
    first_reply_at BIGINT,
    resolved_at BIGINT,
    assigned_at BIGINT,
    last_agent_reply_at BIGINT,
    unavailable_sent_at BIGINT,
    routed BOOLEAN NOT NULL,
    snoozed_until BIGINT
);
CREATE INDEX conversations_by_contact ON conversations (contact_id);
CREATE INDEX conversations_by_status ON conversations (status, assignee);
CREATE INDEX conversations_by_created ON conversations (created_at);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    inbox_id BIGINT NOT NULL,
    content TEXT NOT NULL,
    message_type TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_attributes TEXT NOT NULL,
    private BOOLEAN NOT NULL,
    sender_type TEXT NOT NULL,
    sender_ref TEXT,
    echo_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_by_created ON messages (created_at);

CREATE TABLE queue (
    conversation_id BIGINT PRIMARY KEY REFERENCES conversations(id),
    pool TEXT NOT NULL,
    rank BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    enqueued_at BIGINT NOT NULL
);

CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    revision TEXT NOT NULL,
    tier TEXT NOT NULL,
    outcome TEXT NOT NULL,
    trace TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX decisions_by_conversation ON decisions (conversation_id);

CREATE TABLE csat_surveys (
    conversation_id BIGINT PRIMARY KEY REFERENCES conversations(id),
    message_id BIGINT NOT NULL REFERENCES messages(id),
    inbox_id BIGINT NOT NULL,
    assignee TEXT,
    rating INTEGER,
    feedback TEXT,
    sent_at BIGINT NOT NULL,
    answered_at BIGINT
);
CREATE INDEX csat_by_sent ON csat_surveys (sent_at);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    inbox_id BIGINT NOT NULL,
    conversation_id BIGINT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
"#,
    ),
    (
        2,
        r#"
-- Webhook delivery: an event is pending until delivered or given up
-- (dead); a dead event can be replayed.
ALTER TABLE events ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN finished_at BIGINT;
ALTER TABLE events ADD COLUMN last_error TEXT;
CREATE INDEX events_pending ON events (state, conversation_id, id);
"#,
    ),
    (
        3,
        r#"
-- Only pending events are indexed for delivery: the index stays as small
-- as the backlog however long the history grows.
DROP INDEX events_pending;
CREATE INDEX events_pending ON events (conversation_id, id) WHERE state = 'pending';
"#,
    ),
    (
        4,
        r#"
-- Delivered events are deleted some days after delivery, oldest first.
CREATE INDEX events_done ON events (finished_at) WHERE state IN ('delivered', 'skipped');
"#,
    ),
    (
        5,
        r#"
-- The dead-letter list reads the newest dead events, not the history.
CREATE INDEX events_dead ON events (id) WHERE state = 'dead';
"#,
    ),
    (
        6,
        r#"
-- A source id names a contact within its inbox, as in Chatwoot: two
-- channels may each know the same end user by the business's own id.
-- SQLite cannot drop a column's UNIQUE, so the table is rebuilt.
CREATE TABLE contacts_by_inbox (
    id INTEGER PRIMARY KEY,
    inbox_id BIGINT NOT NULL REFERENCES inboxes(id),
    source_id TEXT NOT NULL,
    pubsub_token TEXT NOT NULL,
    identifier TEXT,
    name TEXT,
    email TEXT,
    phone_number TEXT,
    avatar_url TEXT,
    custom_attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (inbox_id, source_id)
);
INSERT INTO contacts_by_inbox SELECT id, inbox_id, source_id, pubsub_token, identifier,
    name, email, phone_number, avatar_url, custom_attributes, created_at, updated_at
    FROM contacts;
DROP TABLE contacts;
ALTER TABLE contacts_by_inbox RENAME TO contacts;
CREATE INDEX contacts_by_identifier ON contacts (inbox_id, identifier);
"#,
    ),
    (
        7,
        r#"
-- The timers look for conversations whose routing never ran: only the
-- unrouted ones are indexed.
CREATE INDEX conversations_unrouted ON conversations (updated_at) WHERE NOT routed;
"#,
    ),
    (
        8,
        r#"
-- What the realtime socket broadcasts, kept for clients that resume. The
-- cursor is the order units committed in (one writer: the insert order);
-- AUTOINCREMENT never gives a cursor twice, even once all are pruned.
CREATE TABLE broadcasts (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    inbox_id BIGINT,
    conversation_id BIGINT,
    contact_id BIGINT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX broadcasts_by_contact ON broadcasts (contact_id, cursor) WHERE contact_id IS NOT NULL;
CREATE INDEX broadcasts_by_time ON broadcasts (created_at);
-- Broadcasts up to `pruned_through` may be gone.
CREATE TABLE broadcast_bounds (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO broadcast_bounds VALUES (1, 0);
-- A socket subscription names its contact by the pubsub token.
CREATE INDEX contacts_by_pubsub_token ON contacts (pubsub_token);
"#,
    ),
    (
        9,
        r#"
-- Every event and broadcast of a message carries the conversation's
-- unread count, read from its newest messages' type and time: kept in
-- the index, the count reads no table row (it read a hundred before).
DROP INDEX messages_by_conversation;
CREATE INDEX messages_by_conversation ON messages (conversation_id, id, message_type, created_at);
"#,
    ),
    (
        10,
        r#"
-- An event's body is written once and read to send it, while its row
-- changes with each attempt: kept apart, an attempt rewrites a small row
-- rather than the body too (SQLite rewrites a whole row, and a body runs
-- over a few pages).
CREATE TABLE event_payloads (
    event_id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL
);
INSERT INTO event_payloads (event_id, payload) SELECT id, payload FROM events;
ALTER TABLE events DROP COLUMN payload;
"#,
    ),
];

/// The newest schema this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::MIGRATIONS;
    use crate::store::Outbox;
    use crate::store::sqlite::tx::{RowCache, SqliteTx};

    #[test]
    fn event_bodies_move_to_their_own_table_whole() {
        // A desk as the build before migration 10 left it, with events.
        let mut conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v < 10) {
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{version}: {e}"));
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [version])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        conn.execute_batch(
            r#"INSERT INTO events (id, kind, inbox_id, conversation_id, payload, created_at, state)
               VALUES (4, 'message_created', 1, 7, '{"content":"first"}', 0, 'pending'),
                      (9, 'conversation_created', 1, NULL, '{"id":7}', 0, 'delivered')"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        super::super::migrate(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        let mut cache = RowCache::default();
        let mut tx = SqliteTx::new(&conn, &mut cache);
        let events = tx.events_after(0, 10).unwrap_or_else(|e| panic!("{e}"));
        let read: Vec<(i64, &str)> = events.iter().map(|e| (e.id, e.payload.get())).collect();
        assert_eq!(read, [(4, r#"{"content":"first"}"#), (9, r#"{"id":7}"#)]);
    }
}
