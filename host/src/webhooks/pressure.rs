//! Back-pressure, said out loud: when a receiver (or the worker) is slower
//! than what the desk writes, the backlog grows. Nothing is dropped or
//! reordered for it; instead the worker estimates when it will have
//! caught up, shows it as a gauge, and logs it while deliveries fall
//! behind.

use std::time::Duration;

/// A backlog smaller than this is never reported as falling behind: a
/// burst of this size drains within a round trip or two.
const QUIET_BACKLOG: u64 = 1000;

/// How often a warning is repeated while deliveries stay behind.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// What a look at the backlog concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Estimate {
    /// Nothing (or little) waiting.
    CaughtUp,
    /// Shrinking: empty in about this long.
    Draining(Duration),
    /// Growing or flat at this delivery rate: it will not catch up.
    FallingBehind,
}

impl Estimate {
    /// The gauge's value: seconds to catch up, infinite when it will not.
    pub fn seconds(self) -> f64 {
        match self {
            Self::CaughtUp => 0.0,
            Self::Draining(d) => d.as_secs_f64(),
            Self::FallingBehind => f64::INFINITY,
        }
    }
}

/// The rates behind an estimate, per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub delivered: f64,
    pub arrived: f64,
}

/// From the backlog a while ago and now, and what was delivered (or
/// given up) in between: the rates, and when the backlog will be gone.
pub fn estimate(before: u64, now: u64, finished: u64, elapsed: Duration) -> (Rates, Estimate) {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    // Everything that left the backlog or is still in it arrived at some
    // point: what is there now, plus what left, minus what was there.
    let arrived = (now + finished).saturating_sub(before);
    let rates = Rates {
        delivered: finished as f64 / seconds,
        arrived: arrived as f64 / seconds,
    };
    let estimate = if now < QUIET_BACKLOG {
        Estimate::CaughtUp
    } else if rates.delivered > rates.arrived {
        Estimate::Draining(Duration::from_secs_f64(
            now as f64 / (rates.delivered - rates.arrived),
        ))
    } else {
        Estimate::FallingBehind
    };
    (rates, estimate)
}

/// What the worker remembers between looks.
#[derive(Debug, Default)]
pub struct Watch {
    last: Option<(u64, tokio::time::Instant)>,
    /// Events finished since the last look.
    pub finished: u64,
    warned_at: Option<tokio::time::Instant>,
}

impl Watch {
    /// Takes a look at `backlog` (with the age of its oldest event); logs
    /// when deliveries fall behind or caught up again.
    pub fn look(&mut self, backlog: u64, oldest: Option<Duration>) -> Option<Estimate> {
        let now = tokio::time::Instant::now();
        let finished = std::mem::take(&mut self.finished);
        let (before, at) = self.last.replace((backlog, now))?;
        let (rates, estimate) = estimate(before, backlog, finished, now - at);
        let oldest = oldest.unwrap_or_default().as_secs();
        match estimate {
            Estimate::CaughtUp | Estimate::Draining(_) if self.warned_at.is_some() => {
                self.warned_at = None;
                tracing::info!(
                    backlog,
                    oldest_seconds = oldest,
                    "webhook deliveries are catching up: {:.0} events/s delivered, {:.0}/s arriving; caught up in about {:.0} s",
                    rates.delivered,
                    rates.arrived,
                    estimate.seconds()
                );
            }
            Estimate::FallingBehind | Estimate::Draining(_)
                if backlog >= QUIET_BACKLOG
                    && self.warned_at.is_none_or(|at| now - at >= WARN_EVERY) =>
            {
                self.warned_at = Some(now);
                let catch_up = match estimate {
                    Estimate::Draining(d) => format!("caught up in about {} s", d.as_secs()),
                    _ => "not catching up at this rate".to_owned(),
                };
                tracing::warn!(
                    backlog,
                    oldest_seconds = oldest,
                    "webhook deliveries are behind: {backlog} events waiting, the oldest {oldest} s; {:.0} events/s delivered, {:.0}/s arriving; {catch_up}",
                    rates.delivered,
                    rates.arrived,
                );
            }
            _ => {}
        }
        Some(estimate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_SECONDS: Duration = Duration::from_secs(10);

    #[test]
    fn a_small_backlog_is_caught_up() {
        assert_eq!(estimate(10, 20, 5000, TEN_SECONDS).1, Estimate::CaughtUp);
    }

    #[test]
    fn a_shrinking_backlog_says_when_it_will_be_gone() {
        // 20,000 delivered and 10,000 arrived in 10 s: 1,000/s net, and
        // 10,000 left.
        let (rates, estimate) = estimate(20_000, 10_000, 20_000, TEN_SECONDS);
        assert_eq!(
            rates,
            Rates {
                delivered: 2000.0,
                arrived: 1000.0
            }
        );
        assert_eq!(estimate, Estimate::Draining(Duration::from_secs(10)));
    }

    #[test]
    fn a_growing_backlog_will_not_catch_up() {
        let (rates, estimate) = estimate(5000, 8000, 10_000, TEN_SECONDS);
        assert_eq!(rates.arrived, 1300.0);
        assert_eq!(estimate, Estimate::FallingBehind);
        assert_eq!(estimate.seconds(), f64::INFINITY);
    }
}
