//! The rate limit of one endpoint: a token bucket driven by the caller's clock.

use std::time::Duration;

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Each attempt takes
/// one; when none is left the attempt waits (it is never dropped).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens (at least 1) refilled at `rate` a second.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            tokens: burst,
            last: Duration::ZERO,
        }
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let gained = (now - self.last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + gained).min(self.burst);
            self.last = now;
        }
    }

    /// Takes a token at `now`, or says when the next one will be there.
    pub fn take(&mut self, now: Duration) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        let wait = Duration::try_from_secs_f64(missing / self.rate).unwrap_or(Duration::MAX);
        Err(now.saturating_add(wait.max(Duration::from_micros(1))))
    }

    /// Whether a token is there at `now` (without taking it).
    pub fn ready_at(&mut self, now: Duration) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            return Ok(());
        }
        let wait =
            Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate).unwrap_or(Duration::MAX);
        Err(now.saturating_add(wait.max(Duration::from_micros(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_served_at_once_then_tokens_come_at_the_rate() {
        let mut b = TokenBucket::new(10.0, 3);
        let t0 = Duration::from_secs(1);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Ok(()));
        }
        let next = b.take(t0).expect_err("empty");
        assert_eq!(next, t0 + Duration::from_millis(100));
        assert_eq!(b.take(next), Ok(()));
        assert!(b.take(next).is_err());
    }

    #[test]
    fn the_bucket_never_holds_more_than_its_burst() {
        let mut b = TokenBucket::new(100.0, 2);
        let later = Duration::from_secs(3600);
        assert!(b.take(later).is_ok());
        assert!(b.take(later).is_ok());
        assert!(b.take(later).is_err());
        assert!(b.ready_at(later + Duration::from_millis(10)).is_ok());
    }

    #[test]
    fn over_a_second_the_rate_is_kept_exactly() {
        let mut b = TokenBucket::new(50.0, 1);
        let mut now = Duration::ZERO;
        let mut taken = 0;
        for _ in 0..10_000 {
            match b.take(now) {
                Ok(()) => taken += 1,
                Err(at) => now = at,
            }
            if now > Duration::from_secs(1) {
                break;
            }
        }
        assert!((50..=52).contains(&taken), "{taken}");
    }
}
