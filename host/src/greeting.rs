//! The automatic first reply of a new conversation: the welcome message
//! inside business hours, the unavailable message outside them.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::Channel;

/// An agent reply this recent makes the unavailable message unnecessary:
/// somebody is evidently there.
pub const RECENT_AGENT_REPLY: Duration = Duration::minutes(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum Greeting {
    Welcome(String),
    Unavailable(String),
    None,
}

/// What a new conversation receives at `at`.
pub fn for_new_conversation(channel: &Channel, at: DateTime<Utc>) -> Greeting {
    match &channel.hours {
        Some(hours) if !hours.schedule.is_open(at) => hours
            .unavailable_message
            .clone()
            .map_or(Greeting::None, Greeting::Unavailable),
        _ => channel
            .welcome
            .clone()
            .map_or(Greeting::None, Greeting::Welcome),
    }
}

/// Whether an incoming message at `at` should get the unavailable message:
/// the channel is closed, it was not already sent in this closed period,
/// and no agent replied in the last five minutes.
pub fn unavailable_due(
    channel: &Channel,
    at: DateTime<Utc>,
    last_sent: Option<DateTime<Utc>>,
    last_agent_reply: Option<DateTime<Utc>>,
) -> Option<&str> {
    let hours = channel.hours.as_ref()?;
    let message = hours.unavailable_message.as_deref()?;
    if hours.schedule.is_open(at) {
        return None;
    }
    if last_agent_reply.is_some_and(|reply| at - reply < RECENT_AGENT_REPLY) {
        return None;
    }
    // A closed period is named by the instant it ends.
    let same_period = last_sent
        .is_some_and(|sent| hours.schedule.next_open(sent) == hours.schedule.next_open(at));
    (!same_period).then_some(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BusinessHours, Policy};
    use crate::hours::{Schedule, Window};

    fn channel() -> Channel {
        let mut schedule = Schedule::new(chrono_tz::UTC);
        for day in 0..5 {
            schedule.add_weekly(
                day,
                Window {
                    open: 9 * 60,
                    close: 17 * 60,
                },
            );
        }
        Channel {
            name: "Support".into(),
            inbox_identifier: None,
            webhook: None,
            identity_validation: None,
            welcome: Some("Hi!".into()),
            csat: false,
            hours: Some(BusinessHours {
                schedule,
                unavailable_message: Some("Closed.".into()),
            }),
            agents: Vec::new(),
            ai_agent: None,
            policy: Policy::LeastLoad,
            reassign_after: None,
            rules: Vec::new(),
            span: Default::default(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn welcome_inside_hours_unavailable_outside() {
        let c = channel();
        assert_eq!(
            for_new_conversation(&c, at("2026-11-24T10:00:00Z")),
            Greeting::Welcome("Hi!".into())
        );
        assert_eq!(
            for_new_conversation(&c, at("2026-11-24T20:00:00Z")),
            Greeting::Unavailable("Closed.".into())
        );
    }

    #[test]
    fn outside_hours_sends_unavailable_message_once_per_closed_period() {
        let c = channel();
        let first = at("2026-11-24T20:00:00Z");
        assert_eq!(unavailable_due(&c, first, None, None), Some("Closed."));
        assert_eq!(
            unavailable_due(&c, at("2026-11-25T06:00:00Z"), Some(first), None),
            None
        );
        // The next evening is a new closed period.
        assert_eq!(
            unavailable_due(&c, at("2026-11-25T20:00:00Z"), Some(first), None),
            Some("Closed.")
        );
    }

    #[test]
    fn recent_agent_reply_suppresses_unavailable_message() {
        let c = channel();
        let now = at("2026-11-24T20:00:00Z");
        assert_eq!(
            unavailable_due(&c, now, None, Some(now - Duration::minutes(4))),
            None
        );
        assert_eq!(
            unavailable_due(&c, now, None, Some(now - Duration::minutes(6))),
            Some("Closed.")
        );
        assert_eq!(
            unavailable_due(&c, at("2026-11-24T10:00:00Z"), None, None),
            None
        );
    }
}
