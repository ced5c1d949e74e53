//! When to retry: classifying outcomes and computing the delay before each retry.

use std::sync::Arc;
use std::time::Duration;

/// The longest delay the exponential formula (and `Retry-After`) may produce: 30 s.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// Jitter applied to every computed delay: ±20 %.
pub const JITTER_FRACTION: f64 = 0.2;

/// What an HTTP status means for the delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: delivered.
    Success,
    /// 408, 425, 429, 5xx: worth another attempt.
    Retryable,
    /// Everything else (other 4xx, 3xx, 1xx): retrying will not help.
    Permanent,
}

/// Classifies a response status.
pub const fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        408 | 425 | 429 | 500..=599 => StatusClass::Retryable,
        _ => StatusClass::Permanent,
    }
}

/// The delays between attempts.
///
/// By default retry `n` (1-based) waits `min(cap, base × 2^(n-1))`, then ±20 % jitter.
/// An explicit schedule (a list of delays, one per retry) replaces the formula; the
/// number of retries is then the schedule's length.
///
/// # Default
/// - retries: 3
/// - base: 1 s
/// - cap: 30 s
/// - jitter: on (±20 %)
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule {
    max_retries: u32,
    base: Duration,
    cap: Duration,
    explicit: Option<Arc<[Duration]>>,
    jitter: bool,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::exponential(3, Duration::from_secs(1))
    }
}

impl RetrySchedule {
    /// `max_retries` retries after the first attempt, starting at `base` and doubling, capped at 30 s.
    pub fn exponential(max_retries: u32, base: Duration) -> Self {
        Self {
            max_retries,
            base,
            cap: DEFAULT_MAX_DELAY,
            explicit: None,
            jitter: true,
        }
    }

    /// One retry per entry of `delays`, waiting that long (jitter still applies).
    pub fn explicit(delays: Vec<Duration>) -> Self {
        let cap = delays
            .iter()
            .copied()
            .max()
            .unwrap_or_default()
            .max(DEFAULT_MAX_DELAY);
        Self {
            max_retries: u32::try_from(delays.len()).unwrap_or(u32::MAX),
            base: delays.first().copied().unwrap_or_default(),
            cap,
            explicit: Some(delays.into()),
            jitter: true,
        }
    }

    /// Turns jitter off (for deterministic tests and demos).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Whether jitter is applied.
    pub fn has_jitter(&self) -> bool {
        self.jitter
    }

    /// How many retries follow the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The longest delay a retry may wait (30 s, or the longest explicit delay).
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The delay before retry `retry` (1-based) before jitter; `None` when retries are exhausted.
    pub fn base_delay(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        if let Some(explicit) = &self.explicit {
            return explicit.get(usize::try_from(retry - 1).ok()?).copied();
        }
        let factor = 1u32.checked_shl(retry - 1).unwrap_or(u32::MAX);
        Some(self.base.saturating_mul(factor).min(self.cap))
    }

    /// The delay before retry `retry`, given a server's `Retry-After` and a jitter sample
    /// `unit` in `[-1, 1]` (scaled to ±20 %).
    ///
    /// A `Retry-After` replaces the computed delay, capped at [`RetrySchedule::cap`], and
    /// is not jittered.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Option<Duration> {
        let base = self.base_delay(retry)?;
        if let Some(after) = retry_after {
            return Some(after.min(self.cap));
        }
        if !self.jitter {
            return Some(base);
        }
        let factor = 1.0 + JITTER_FRACTION * unit.clamp(-1.0, 1.0);
        Some(
            base.mul_f64(factor)
                .min(self.cap.mul_f64(1.0 + JITTER_FRACTION)),
        )
    }
}

/// A small, fast pseudo-random source for jitter (xorshift64*), seeded per worker.
#[derive(Clone, Debug)]
pub struct JitterSource(u64);

impl JitterSource {
    /// A source seeded from the process's random keys.
    pub fn random() -> Self {
        Self::seeded(crate::event::random_seed())
    }

    /// A source with a fixed seed (deterministic sequences for tests).
    pub fn seeded(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A sample in `[-1, 1]`.
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (v as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_delays_double_from_base_and_stop_at_the_cap() {
        let s = RetrySchedule::exponential(7, Duration::from_secs(1)).without_jitter();
        let got: Vec<u64> = (1..=7)
            .map(|n| s.delay(n, None, 0.0).expect("within retries").as_secs())
            .collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(s.delay(8, None, 0.0), None);
        assert_eq!(s.delay(0, None, 0.0), None);
    }

    #[test]
    fn zero_jitter_sample_gives_the_exact_formula() {
        let s = RetrySchedule::exponential(5, Duration::from_millis(250));
        let got: Vec<u128> = (1..=5)
            .map(|n| s.delay(n, None, 0.0).expect("within retries").as_millis())
            .collect();
        assert_eq!(got, [250, 500, 1000, 2000, 4000]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = RetrySchedule::exponential(3, Duration::from_secs(1));
        let mut rng = JitterSource::seeded(42);
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for _ in 0..10_000 {
            let d = s
                .delay(2, None, rng.next_unit())
                .expect("within")
                .as_secs_f64();
            lo = lo.min(d);
            hi = hi.max(d);
        }
        assert!(lo >= 1.6 && hi <= 2.4, "range {lo}..{hi}");
        assert!(lo < 1.65 && hi > 2.35, "jitter should spread: {lo}..{hi}");
    }

    #[test]
    fn retry_after_replaces_the_delay_up_to_the_cap() {
        let s = RetrySchedule::exponential(3, Duration::from_secs(1));
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(7)), 0.9),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(3600)), 0.0),
            Some(DEFAULT_MAX_DELAY)
        );
    }

    #[test]
    fn explicit_schedules_replace_the_formula() {
        let s = RetrySchedule::explicit(vec![Duration::from_secs(5), Duration::from_secs(300)])
            .without_jitter();
        assert_eq!(s.max_retries(), 2);
        assert_eq!(s.delay(2, None, 0.0), Some(Duration::from_secs(300)));
        assert_eq!(s.delay(3, None, 0.0), None);
    }

    #[test]
    fn statuses_are_classified_as_designed() {
        for ok in [200, 201, 204, 299] {
            assert_eq!(classify_status(ok), StatusClass::Success);
        }
        for retry in [408, 425, 429, 500, 502, 503, 599] {
            assert_eq!(classify_status(retry), StatusClass::Retryable);
        }
        for permanent in [100, 301, 302, 400, 401, 404, 410, 422] {
            assert_eq!(classify_status(permanent), StatusClass::Permanent);
        }
    }
}
