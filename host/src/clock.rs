//! The daemon's one source of the current time.
//!
//! In production it is the system clock. `livedesk serve --now` starts it
//! at a given instant instead, from where it runs at normal speed, so
//! tests can see business hours, night time and the CSAT window without
//! waiting for them.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    offset: Duration,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: start - Utc::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}
