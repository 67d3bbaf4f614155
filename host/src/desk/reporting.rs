//! Reports over a date range: CSAT and the summary.

use chrono::{DateTime, Utc};

use super::{Desk, Result};
use crate::reports;
use crate::reports::csat;
use crate::store::{ConversationFilter, CsatRecord};

/// Names an inbox for reports; an inbox whose channel left the
/// configuration keeps its stored name.
fn channel_name(work: &super::Work<'_>, inboxes: &[crate::store::Inbox], inbox: i64) -> String {
    work.rt
        .inbox_by_id(inbox)
        .map(|i| work.rt.config.channel(i.channel).name.clone())
        .or_else(|| {
            inboxes
                .iter()
                .find(|i| i.id == inbox)
                .map(|i| i.channel.clone())
        })
        .unwrap_or_else(|| format!("inbox {inbox}"))
}

impl Desk {
    /// The CSAT report of surveys sent in `[since, until)`, optionally of
    /// one inbox or one agent.
    pub async fn csat_report(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        inbox: Option<i64>,
        agent: Option<String>,
    ) -> Result<(csat::Report, Vec<CsatRecord>)> {
        self.work(move |work| {
            let inboxes = work.tx.inboxes()?;
            let mut surveys = work.tx.csat_sent_between(since, until)?;
            surveys.retain(|s| {
                inbox.is_none_or(|i| s.inbox_id == i)
                    && agent
                        .as_ref()
                        .is_none_or(|a| s.assignee.as_ref() == Some(a))
            });
            let report = csat::report(&surveys, |i| channel_name(work, &inboxes, i));
            Ok((report, surveys))
        })
        .await
    }

    /// The summary of conversations created in `[since, until)`.
    pub async fn summary(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<reports::Summary> {
        self.work(move |work| {
            let inboxes = work.tx.inboxes()?;
            let conversations = work.tx.conversations(&ConversationFilter {
                created: Some((since, until)),
                ..ConversationFilter::default()
            })?;
            let messages = work.tx.message_counts(since, until)?;
            Ok(reports::summary(&conversations, messages, |i| {
                channel_name(work, &inboxes, i)
            }))
        })
        .await
    }

    /// Events whose webhook delivery was given up, newest first.
    pub async fn dead_events(&self) -> Result<Vec<crate::store::DeadEvent>> {
        self.work(|work| Ok(work.tx.dead_events(500)?)).await
    }

    /// Sends a dead event again, from its first attempt.
    pub async fn replay_event(&self, id: i64) -> Result<()> {
        self.work(move |work| {
            if work.replay_event(id)? {
                Ok(())
            } else {
                Err(super::Error::NotFound("dead event"))
            }
        })
        .await
    }
}

/// The CSAT report of surveys sent in `[since, until)` from the desk stored
/// at `database`, without a configuration: channels keep their stored
/// names. `None` when `database` holds no desk.
pub async fn stored_csat_report(
    database: &crate::store::Location,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<csat::Report>> {
    if !crate::store::exists(database)? {
        return Ok(None);
    }
    let store = crate::store::open(database)?;
    let (surveys, inboxes) = crate::store::transaction(store.as_ref(), move |tx| {
        Ok::<_, crate::store::Error>((tx.csat_sent_between(since, until)?, tx.inboxes()?))
    })
    .await?;
    Ok(Some(csat::report(&surveys, |id| {
        inboxes
            .iter()
            .find(|i| i.id == id)
            .map_or_else(|| format!("inbox {id}"), |i| i.channel.clone())
    })))
}
