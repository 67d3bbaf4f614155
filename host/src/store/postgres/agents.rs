//! Inboxes and agents: who works, how loaded, and the round-robin
//! pointers. Assignment decisions lock every agent's row, in id order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::tx::PgTx;
use crate::model::Availability;
use crate::store::records::*;
use crate::store::rows::*;
use crate::store::{Error, Result};

impl crate::store::Inboxes for PgTx<'_, '_> {
    fn inboxes(&mut self) -> Result<Vec<Inbox>> {
        self.all(
            "SELECT id, channel, identifier FROM inboxes ORDER BY id",
            &[],
            inbox,
        )
    }

    fn insert_inbox(&mut self, channel: &str, identifier: &str) -> Result<Inbox> {
        let id = self.insert(
            "INSERT INTO inboxes (channel, identifier) VALUES ($1, $2) RETURNING id",
            &[&channel, &identifier],
        )?;
        Ok(Inbox {
            id,
            channel: channel.to_owned(),
            identifier: identifier.to_owned(),
        })
    }

    fn set_inbox_identifier(&mut self, inbox: i64, identifier: &str) -> Result<()> {
        self.exec(
            "UPDATE inboxes SET identifier = $2 WHERE id = $1",
            &[&inbox, &identifier],
        )
        .map(drop)
    }
}

impl crate::store::Agents for PgTx<'_, '_> {
    /// Every agent's row, locked in id order (the same order in every
    /// instance, so two decisions never wait on each other's locks): the
    /// loads, availability and round-robin pointers read after it are what
    /// the decision commits on. Loads span agents and pointers span a
    /// pool, so a decision holds them all.
    fn lock_assignment(&mut self) -> Result<()> {
        if self.holds_agents {
            return Ok(());
        }
        self.all("SELECT id FROM agents ORDER BY id FOR UPDATE", &[], |_| {
            Ok(())
        })?;
        self.holds_agents = true;
        Ok(())
    }

    fn agents(&mut self) -> Result<Vec<AgentRecord>> {
        self.all(
            concat!("SELECT ", agent_columns!(), " FROM agents ORDER BY id"),
            &[],
            agent,
        )
    }

    fn ensure_agent(&mut self, email: &str, initial: Availability) -> Result<AgentRecord> {
        self.exec(
            "INSERT INTO agents (email, availability) VALUES ($1, $2)
             ON CONFLICT (email) DO NOTHING",
            &[&email, &initial.as_str()],
        )?;
        self.one(
            concat!("SELECT ", agent_columns!(), " FROM agents WHERE email = $1"),
            &[&email],
            agent,
        )?
        .ok_or_else(|| Error::Database(format!("agent `{email}` vanished")))
    }

    /// Under the assignment lock, as every write of an agent's row: a
    /// row written before taking it would be locked out of order.
    fn set_availability(&mut self, email: &str, availability: Availability) -> Result<()> {
        self.lock_assignment()?;
        self.exec(
            "UPDATE agents SET availability = $2 WHERE email = $1",
            &[&email, &availability.as_str()],
        )
        .map(drop)
    }

    fn set_last_assigned(&mut self, email: &str, at: DateTime<Utc>) -> Result<()> {
        self.exec(
            "UPDATE agents SET last_assigned_at = $2 WHERE email = $1",
            &[&email, &ms(at)],
        )
        .map(drop)
    }

    fn open_counts(&mut self) -> Result<HashMap<String, u32>> {
        let rows = self.all(
            "SELECT a.email, (SELECT COUNT(*) FROM conversations c
                              WHERE c.status = 'open' AND c.assignee = a.email)
             FROM agents a",
            &[],
            |row| Ok((row.text(0)?, row.small(1)?)),
        )?;
        Ok(rows.into_iter().collect())
    }

    fn last_picked(&mut self, pool: &str) -> Result<Option<String>> {
        self.one(
            "SELECT agent FROM round_robin WHERE pool = $1",
            &[&pool],
            |row| row.text(0),
        )
    }

    fn set_last_picked(&mut self, pool: &str, agent: &str) -> Result<()> {
        self.exec(
            "INSERT INTO round_robin (pool, agent) VALUES ($1, $2)
             ON CONFLICT (pool) DO UPDATE SET agent = excluded.agent",
            &[&pool, &agent],
        )
        .map(drop)
    }
}
