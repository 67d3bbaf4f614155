//! Per-inbox rate limiting: a token bucket for each inbox, so one busy or
//! misbehaving front end cannot take the daemon from the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    /// Requests per second an inbox may make on average; 0 turns limits off.
    per_second: f64,
    /// How many it may make at once after being quiet.
    burst: f64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        Self {
            per_second,
            // A second's worth, at least a handful: bursts of a page load.
            burst: (per_second).max(10.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `inbox`'s bucket, or says how long to wait.
    pub fn admit(&self, inbox: i64) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(inbox).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_the_rate() {
        let limiter = RateLimiter::new(10);
        for _ in 0..10 {
            assert!(limiter.admit(1).is_ok());
        }
        let wait = limiter.admit(1).err().unwrap_or_default();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
        // Another inbox has its own bucket.
        assert!(limiter.admit(2).is_ok());
        assert!(RateLimiter::new(0).admit(1).is_ok());
    }
}
