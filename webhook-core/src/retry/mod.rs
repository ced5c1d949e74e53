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
    /// `unit` in `[-1, 1]` (scaled to ±20 %; a sample outside is clamped, NaN counts as 0).
    ///
    /// A `Retry-After` lengthens the computed delay to its own value, capped at
    /// [`RetrySchedule::cap`] and not jittered; it never shortens the computed delay. Whatever the inputs, the result is at most [`LONGEST_DELAY`], so
    /// that adding it to a clock reading cannot overflow.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Option<Duration> {
        let base = self.base_delay(retry)?;
        let scheduled = if self.jitter {
            let unit = if unit.is_nan() {
                0.0
            } else {
                unit.clamp(-1.0, 1.0)
            };
            let ceiling = saturating_mul_f64(self.cap, 1.0 + JITTER_FRACTION);
            saturating_mul_f64(base, 1.0 + JITTER_FRACTION * unit).min(ceiling)
        } else {
            base
        };
        // A `Retry-After` may lengthen the wait (up to the cap), never shorten the one
        // the schedule set.
        let delay = match retry_after {
            Some(after) => after.min(self.cap).max(scheduled),
            None => scheduled,
        };
        Some(delay.min(LONGEST_DELAY))
    }
}

/// The longest delay [`RetrySchedule::delay`] returns, whatever the schedule and the
/// server's `Retry-After`: one year. Longer delays (a schedule built with
/// `Duration::MAX`, say) are shortened to it.
pub const LONGEST_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// `d × factor` for a finite `factor` ≥ 0, saturating at `Duration::MAX` instead of
/// panicking as `Duration::mul_f64` does.
fn saturating_mul_f64(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// The pseudo-random source of retry jitter, seeded per worker.
///
/// A stream from the crate's own `random` module (fastrand's wyrand): the same seed
/// gives the same samples, which is what `NotifierBuilder::jitter_seed` promises tests.
#[derive(Clone, Debug)]
pub struct JitterSource(crate::random::Rng);

impl JitterSource {
    /// A source seeded from the operating system's randomness.
    pub fn random() -> Self {
        Self(crate::random::rng())
    }

    /// A source with a fixed seed (deterministic sequences for tests).
    pub fn seeded(seed: u64) -> Self {
        Self(crate::random::Rng::with_seed(seed))
    }

    /// A sample in `[-1, 1]`.
    pub fn next_unit(&mut self) -> f64 {
        self.0.f64() * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn huge_schedules_retry_afters_and_odd_samples_saturate() {
        let huge = RetrySchedule::explicit(vec![Duration::MAX, Duration::MAX]);
        for after in [
            None,
            Some(Duration::MAX),
            Some(Duration::from_secs(u64::MAX)),
        ] {
            for unit in [
                0.0,
                1.0,
                -1.0,
                7.5,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ] {
                let d = huge.delay(1, after, unit).expect("within retries");
                assert_eq!(d, LONGEST_DELAY, "{after:?} {unit}");
                assert!(huge.clone().without_jitter().delay(2, after, unit) == Some(LONGEST_DELAY));
            }
        }
        // The formula's cap (30 s) applies to a huge base, plus the jitter's 20 %.
        let s = RetrySchedule::exponential(u32::MAX, Duration::MAX);
        assert_eq!(s.delay(u32::MAX, None, 1.0), Some(Duration::from_secs(36)));
        let usual = RetrySchedule::exponential(3, Duration::from_secs(1));
        assert_eq!(usual.delay(1, None, f64::NAN), Some(Duration::from_secs(1)));
        assert_eq!(
            usual.delay(1, None, f64::INFINITY),
            Some(Duration::from_millis(1200))
        );
        assert_eq!(
            usual.delay(1, Some(Duration::MAX), 0.0),
            Some(DEFAULT_MAX_DELAY)
        );
    }

    #[test]
    fn a_seeded_jitter_source_repeats_its_samples_within_the_unit_range() {
        let draw = |seed| {
            let mut rng = JitterSource::seeded(seed);
            (0..1_000).map(|_| rng.next_unit()).collect::<Vec<f64>>()
        };
        let samples = draw(7);
        assert_eq!(samples, draw(7));
        assert_ne!(samples, draw(8));
        assert!(samples.iter().all(|u| (-1.0..=1.0).contains(u)));
        assert!(samples.iter().any(|&u| u < -0.9) && samples.iter().any(|&u| u > 0.9));
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

    #[test]
    fn jitter_reaches_exactly_its_bounds_and_clamps_samples_beyond_them() {
        let s = RetrySchedule::exponential(3, Duration::from_secs(10));
        assert!(s.has_jitter());
        assert!(!s.clone().without_jitter().has_jitter());
        let ms = |unit: f64| s.delay(1, None, unit).expect("within retries").as_millis();
        assert_eq!((ms(-1.0), ms(0.0), ms(1.0)), (8_000, 10_000, 12_000));
        assert_eq!((ms(-7.5), ms(0.5), ms(7.5)), (8_000, 11_000, 12_000));
        assert_eq!(ms(f64::NEG_INFINITY), 8_000);
        // Without jitter the sample is ignored; a Retry-After is never jittered, and
        // never shortens the wait the schedule set.
        let exact = s.clone().without_jitter();
        assert_eq!(exact.delay(1, None, 1.0), Some(Duration::from_secs(10)));
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(4)), -1.0),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(11)), -1.0),
            Some(Duration::from_secs(11))
        );
        // At the cap, jitter may still add its 20 % (the ceiling), never more.
        assert_eq!(s.delay(3, None, 1.0), Some(Duration::from_secs(36)));
        assert_eq!(s.delay(3, None, -1.0), Some(Duration::from_secs(24)));
    }

    #[test]
    fn the_longest_delay_is_one_year() {
        let year = Duration::from_secs(365 * 24 * 3600);
        assert_eq!(LONGEST_DELAY, year);
        let huge = RetrySchedule::explicit(vec![Duration::MAX]).without_jitter();
        assert_eq!(huge.delay(1, None, 0.0), Some(year));
        assert_eq!(huge.delay(1, Some(Duration::MAX), 0.0), Some(year));
    }

    #[test]
    fn explicit_schedules_have_their_own_base_cap_and_count() {
        let s = RetrySchedule::explicit(vec![Duration::from_secs(2), Duration::from_secs(90)]);
        assert_eq!(s.max_retries(), 2);
        assert_eq!(s.cap(), Duration::from_secs(90));
        assert_eq!(s.base_delay(1), Some(Duration::from_secs(2)));
        assert_eq!(s.base_delay(2), Some(Duration::from_secs(90)));
        assert_eq!((s.base_delay(0), s.base_delay(3)), (None, None));
        assert!(s.has_jitter());
        assert_eq!(s.delay(2, None, 1.0), Some(Duration::from_secs(108)));
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(60)), 0.0),
            Some(Duration::from_secs(60))
        );
        let short = RetrySchedule::explicit(vec![Duration::from_secs(1)]);
        assert_eq!(short.cap(), DEFAULT_MAX_DELAY);
        assert_eq!(
            short.delay(1, Some(Duration::from_secs(3600)), 0.0),
            Some(DEFAULT_MAX_DELAY)
        );
        let none = RetrySchedule::explicit(Vec::new());
        assert_eq!((none.max_retries(), none.cap()), (0, DEFAULT_MAX_DELAY));
        assert_eq!(none.delay(1, None, 0.0), None);
        let d = RetrySchedule::default();
        assert_eq!(d, RetrySchedule::exponential(3, Duration::from_secs(1)));
        assert_eq!((d.max_retries(), d.cap()), (3, DEFAULT_MAX_DELAY));
        assert_eq!(d.base_delay(3), Some(Duration::from_secs(4)));
    }

    #[test]
    fn a_random_jitter_source_spreads_over_the_unit_range() {
        let mut rng = JitterSource::random();
        let samples: Vec<f64> = (0..1_000).map(|_| rng.next_unit()).collect();
        assert!(samples.iter().all(|u| (-1.0..=1.0).contains(u)));
        assert!(samples.iter().any(|&u| u < -0.5) && samples.iter().any(|&u| u > 0.5));
    }

    /// Durations from zero to `Duration::MAX`, weighted towards the edges.
    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (0u64..100_000).prop_map(Duration::from_millis),
            any::<u64>().prop_map(Duration::from_secs),
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            Just(Duration::MAX),
        ]
    }

    fn schedule() -> impl Strategy<Value = RetrySchedule> {
        prop_oneof![
            (0u32..40, duration()).prop_map(|(n, base)| RetrySchedule::exponential(n, base)),
            proptest::collection::vec(duration(), 0..6).prop_map(RetrySchedule::explicit),
        ]
        .prop_flat_map(|s| (Just(s), any::<bool>()))
        .prop_map(|(s, jitter)| if jitter { s } else { s.without_jitter() })
    }

    proptest! {
        #[test]
        fn delays_never_panic_and_stay_within_the_cap_and_the_clock(
            schedule in schedule(),
            retry in prop_oneof![0u32..12, any::<u32>()],
            retry_after in proptest::option::of(duration()),
            unit in prop_oneof![-1.0f64..=1.0, any::<f64>()],
        ) {
            let Some(delay) = schedule.delay(retry, retry_after, unit) else {
                prop_assert!(retry == 0 || retry > schedule.max_retries());
                return Ok(());
            };
            prop_assert!(delay <= LONGEST_DELAY);
            let ceiling = saturating_mul_f64(schedule.cap(), 1.0 + JITTER_FRACTION);
            prop_assert!(delay <= ceiling, "{delay:?} over {ceiling:?}");
            if let Some(after) = retry_after {
                let scheduled = schedule.delay(retry, None, unit).unwrap_or_default();
                let expected = after.min(schedule.cap()).max(scheduled).min(LONGEST_DELAY);
                prop_assert_eq!(delay, expected);
            }
            // What the worker does with it.
            prop_assert!(std::time::Instant::now().checked_add(delay).is_some());
            prop_assert!(tokio::time::Instant::now().checked_add(delay).is_some());
        }

        #[test]
        fn every_status_code_has_one_class(status in any::<u16>()) {
            let class = classify_status(status);
            let expected = match status {
                200..=299 => StatusClass::Success,
                408 | 425 | 429 | 500..=599 => StatusClass::Retryable,
                _ => StatusClass::Permanent,
            };
            prop_assert_eq!(class, expected);
        }
    }
}
