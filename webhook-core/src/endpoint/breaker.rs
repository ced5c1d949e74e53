//! The circuit breaker of one endpoint: a pure state machine driven by the caller's clock.
//!
//! Closed, it lets every delivery through and watches the outcomes. It opens after
//! `consecutive_failures` failures in a row, or when at least `min_attempts` attempts in
//! the last `window` failed at `failure_rate` or more. Open, it lets nothing through
//! until its cool-down has passed; then it is half-open and lets exactly one delivery
//! through (the probe). A probe that succeeds closes it; one that fails opens it again
//! with a cool-down twice as long, up to `max_cool_down`. An endpoint open for longer
//! than `auto_disable_after` (when set) is disabled by the worker.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Breaker settings of one endpoint.
///
/// # Default
/// - `consecutive_failures`: 5
/// - `failure_rate`: 0.5 of at least `min_attempts` = 20 attempts in `window` = 60 s
/// - `cool_down`: 5 s, doubling on each failed probe up to `max_cool_down` = 5 min
/// - `auto_disable_after`: none (an endpoint is never disabled by the breaker)
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakerSettings {
    /// Failures in a row that open the breaker (0 turns this rule off).
    pub consecutive_failures: u32,
    /// The share of failed attempts in the window that opens it (with enough attempts).
    pub failure_rate: f64,
    /// The fewest attempts in the window for `failure_rate` to apply.
    pub min_attempts: u32,
    /// The window over which `failure_rate` is measured.
    pub window: Duration,
    /// The first cool-down after the breaker opens.
    pub cool_down: Duration,
    /// The longest cool-down.
    pub max_cool_down: Duration,
    /// Disable the endpoint once it has been open this long without a successful probe.
    pub auto_disable_after: Option<Duration>,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_attempts: 20,
            window: Duration::from_secs(60),
            cool_down: Duration::from_secs(5),
            max_cool_down: Duration::from_secs(300),
            auto_disable_after: None,
        }
    }
}

/// Where a breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Deliveries go through.
    Closed,
    /// Nothing goes through until the cool-down ends.
    Open,
    /// One probe may go through (or is under way).
    HalfOpen,
}

impl BreakerState {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// 0 closed, 1 half-open, 2 open (the gauge's value).
    pub const fn as_gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// What the breaker says to a delivery that asks to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go.
    Go,
    /// Go: you are the half-open probe; report your outcome.
    Probe,
    /// Not before this time (the end of the cool-down).
    WaitUntil(Duration),
    /// A probe is under way: wait until it reports.
    WaitForProbe,
}

/// A change of state, reported so the worker can log it and tell the observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
    /// Attempts the breaker saw since it last closed (for `breaker_opened_after`).
    pub attempts: u64,
}

/// Buckets of the failure-rate window (fixed memory whatever the attempt rate).
const BUCKETS: usize = 12;

/// One endpoint's breaker. `now` is any monotonic time since a fixed origin.
#[derive(Clone, Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: BreakerState,
    consecutive: u32,
    /// (bucket start, successes, failures)
    window: [(Duration, u32, u32); BUCKETS],
    open_until: Duration,
    cool_down: Duration,
    opened_at: Option<Duration>,
    probing: bool,
    since_closed: u64,
    opened_count: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: BreakerState::Closed,
            consecutive: 0,
            window: [(Duration::ZERO, 0, 0); BUCKETS],
            open_until: Duration::ZERO,
            cool_down: settings.cool_down,
            opened_at: None,
            probing: false,
            since_closed: 0,
            opened_count: 0,
        }
    }

    /// The state at `now` (an open breaker whose cool-down ended reads half-open).
    pub fn state(&self, now: Duration) -> BreakerState {
        match self.state {
            BreakerState::Open if now >= self.open_until => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Failures in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }

    /// How many times it opened.
    pub fn opened_count(&self) -> u64 {
        self.opened_count
    }

    /// When the current cool-down ends (meaningful while open).
    pub fn open_until(&self) -> Duration {
        self.open_until
    }

    /// Since when it has been open without a successful probe.
    pub fn opened_at(&self) -> Option<Duration> {
        self.opened_at
    }

    /// Whether it has been open for `auto_disable_after` or longer at `now`.
    pub fn wants_disable(&self, now: Duration) -> bool {
        match (self.settings.auto_disable_after, self.opened_at) {
            (Some(after), Some(at)) => now.saturating_sub(at) >= after,
            _ => false,
        }
    }

    /// Starts the outage clock of `auto_disable_after` afresh (an operator enabled the
    /// endpoint again: it gets the whole period before it is disabled again).
    pub fn restart_outage_clock(&mut self) {
        self.opened_at = None;
    }

    /// Whether a delivery may go at `now`; a `Probe` answer marks the probe under way.
    pub fn admit(&mut self, now: Duration) -> (Admission, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admission::Go, None),
            BreakerState::Open if now < self.open_until => {
                (Admission::WaitUntil(self.open_until), None)
            }
            BreakerState::Open => {
                let t = self.go(BreakerState::HalfOpen);
                self.probing = true;
                (Admission::Probe, Some(t))
            }
            BreakerState::HalfOpen if self.probing => (Admission::WaitForProbe, None),
            BreakerState::HalfOpen => {
                self.probing = true;
                (Admission::Probe, None)
            }
        }
    }

    /// A probe ended without an outcome (cut off at shutdown): another may go.
    pub fn probe_abandoned(&mut self) {
        self.probing = false;
    }

    /// Counts an attempt's outcome at `now`; `probe` if it was the half-open probe.
    pub fn record(&mut self, now: Duration, success: bool, probe: bool) -> Option<Transition> {
        self.since_closed += 1;
        if probe || self.state == BreakerState::HalfOpen {
            self.probing = false;
            return if success {
                self.cool_down = self.settings.cool_down;
                Some(self.close())
            } else {
                self.cool_down = (self.cool_down * 2).min(self.settings.max_cool_down);
                Some(self.open(now))
            };
        }
        self.count(now, success);
        if success {
            self.consecutive = 0;
            return None;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        if self.state == BreakerState::Closed && self.trips(now) {
            return Some(self.open(now));
        }
        None
    }

    fn trips(&self, now: Duration) -> bool {
        let s = &self.settings;
        if s.consecutive_failures > 0 && self.consecutive >= s.consecutive_failures {
            return true;
        }
        let (ok, failed) = self.window_counts(now);
        let total = ok + failed;
        total >= u64::from(s.min_attempts.max(1))
            && (failed as f64) >= s.failure_rate * total as f64
    }

    fn bucket_len(&self) -> Duration {
        (self.settings.window / BUCKETS as u32).max(Duration::from_millis(1))
    }

    fn count(&mut self, now: Duration, success: bool) {
        let len = self.bucket_len();
        let start = Duration::from_nanos(
            (now.as_nanos() / len.as_nanos() * len.as_nanos()).min(u128::from(u64::MAX)) as u64,
        );
        let slot = (now.as_nanos() / len.as_nanos()) as usize % BUCKETS;
        let bucket = &mut self.window[slot];
        if bucket.0 != start {
            *bucket = (start, 0, 0);
        }
        if success {
            bucket.1 += 1;
        } else {
            bucket.2 += 1;
        }
    }

    /// Successes and failures within the window at `now`.
    pub fn window_counts(&self, now: Duration) -> (u64, u64) {
        let oldest = now.saturating_sub(self.settings.window);
        self.window
            .iter()
            .filter(|(start, ..)| *start + self.bucket_len() > oldest)
            .fold((0, 0), |(ok, bad), (_, s, f)| {
                (ok + u64::from(*s), bad + u64::from(*f))
            })
    }

    fn open(&mut self, now: Duration) -> Transition {
        self.open_until = now + self.cool_down;
        self.opened_at.get_or_insert(now);
        self.opened_count += 1;
        self.go(BreakerState::Open)
    }

    fn close(&mut self) -> Transition {
        self.consecutive = 0;
        self.opened_at = None;
        self.window = [(Duration::ZERO, 0, 0); BUCKETS];
        let t = self.go(BreakerState::Closed);
        self.since_closed = 0;
        t
    }

    fn go(&mut self, to: BreakerState) -> Transition {
        let t = Transition {
            from: self.state,
            to,
            attempts: self.since_closed,
        };
        self.state = to;
        t
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
