//! The report summary: conversations by status, channel and agent, with
//! first-response and resolution times (Chatwoot's summary, plus the
//! breakdowns).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{ConversationRecord, MessageCounts};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub conversations_count: u64,
    pub resolutions_count: u64,
    pub incoming_messages_count: u64,
    pub outgoing_messages_count: u64,
    /// Mean seconds from creation to the first agent reply, over the
    /// conversations that have one.
    pub avg_first_response_time: Option<f64>,
    /// Mean seconds from creation to resolution, over resolved ones.
    pub avg_resolution_time: Option<f64>,
    pub by_status: BTreeMap<String, u64>,
    pub by_channel: BTreeMap<String, u64>,
    /// By current assignee; `"unassigned"` for none.
    pub by_agent: BTreeMap<String, u64>,
}

/// Summarises `conversations` (those created in the report's range) and
/// the range's message counts; `channel_of` names an inbox.
pub fn summary(
    conversations: &[ConversationRecord],
    messages: MessageCounts,
    channel_of: impl Fn(i64) -> String,
) -> Summary {
    let mut summary = Summary {
        incoming_messages_count: messages.incoming,
        outgoing_messages_count: messages.outgoing,
        ..Summary::default()
    };
    let (mut first, mut first_n, mut resolution, mut resolution_n) = (0i64, 0u64, 0i64, 0u64);
    for c in conversations {
        summary.conversations_count += 1;
        *summary
            .by_status
            .entry(c.status.as_str().to_owned())
            .or_default() += 1;
        *summary
            .by_channel
            .entry(channel_of(c.inbox_id))
            .or_default() += 1;
        *summary
            .by_agent
            .entry(c.assignee.clone().unwrap_or_else(|| "unassigned".into()))
            .or_default() += 1;
        if let Some(reply) = c.first_reply_at {
            first += (reply - c.created_at).num_milliseconds();
            first_n += 1;
        }
        if let Some(resolved) = c.resolved_at.filter(|_| c.status.as_str() == "resolved") {
            summary.resolutions_count += 1;
            resolution += (resolved - c.created_at).num_milliseconds();
            resolution_n += 1;
        }
    }
    let mean = |total: i64, n: u64| (n > 0).then(|| total as f64 / 1000.0 / n as f64);
    summary.avg_first_response_time = mean(first, first_n);
    summary.avg_resolution_time = mean(resolution, resolution_n);
    summary
}
