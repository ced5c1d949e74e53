//! Attempt deadlines on tokio timers reused from one attempt to the next.
//!
//! A fresh `tokio::time::sleep` (or `tokio::time::timeout`) per attempt registers an
//! entry in the runtime's timer wheel on its first poll and removes it again when the
//! attempt ends in time, as nearly every attempt does: two trips through the driver's
//! lock, a clock read and the wheel's bookkeeping. In the load driver at C = 8
//! (BENCHMARKS.md, "Round 9"), a build whose attempts had no timer at all delivered
//! 0.851, 0.869 and 0.883 of the bare client against 0.847, 0.844 and 0.831 for the
//! build with one: about 3 % of the throughput.
//!
//! So [`AttemptTimers`] keeps the timers of finished attempts and hands them to the
//! next ones still armed. An attempt that starts at `t` with timeout `T` must end by
//! `t + T`; a timer left by an attempt that started earlier with the same timeout is
//! armed for an earlier instant, which is never too late. It may fire first: the
//! attempt then moves it to its own deadline and waits on. With attempts far shorter
//! than their timeout that happens about once per timer per timeout, instead of a
//! registration per attempt. A timer armed for a later instant (a longer timeout
//! before) is moved to the attempt's deadline at once, as a fresh timer would be; one
//! that has already fired is moved the first time the attempt waits on it, by the same
//! rule.
//!
//! A timer belongs to the runtime whose clock it reads, so each kept timer is marked
//! with its runtime's id and only taken by an attempt on the same runtime. A kept timer
//! still wakes the task that last waited on it when it fires; that task is polled once
//! for nothing (futures allow spurious wake-ups), about once per timeout.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::runtime::{Handle, Id};
use tokio::time::{Instant, Sleep};

/// The most timers kept between attempts: more than the deliveries any notifier runs
/// at once (`max_concurrency` is at most 256), so a busy transport finds one for every
/// attempt, while a burst of concurrent attempts leaves no more than this behind.
const KEPT: usize = 1024;

/// How far ahead a deadline that overflows the clock is put (tokio's own limit for
/// sleeps is of the same order).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A kept timer and the runtime it belongs to.
struct Kept {
    runtime: Id,
    sleep: Pin<Box<Sleep>>,
}

/// Deadlines for attempts, on timers reused from one attempt to the next.
///
/// A transport that bounds its own attempts (and so answers `true` to
/// [`Transport::enforces_timeout`](super::Transport::enforces_timeout)) can keep one
/// of these and take each attempt's deadline from it instead of making a fresh tokio
/// timer per attempt; `webhook-http`'s transport does, and so does the worker's own
/// backstop for transports that do not bound themselves. Timers are kept per tokio
/// runtime, at most 1,024 of them.
///
/// ```
/// use std::time::Duration;
/// use webhook_core::transport::AttemptTimers;
///
/// # let mut runtime = tokio::runtime::Builder::new_current_thread();
/// # runtime.enable_time().start_paused(true);
/// # runtime.build().expect("a runtime").block_on(async {
/// let timers = AttemptTimers::new();
/// // In time: the answer.
/// let answer = timers.timeout(Duration::from_secs(5), async { 204 }).await;
/// assert_eq!(answer, Some(204));
/// // Too late: `None`, after the timeout.
/// let never = std::future::pending::<u16>();
/// assert_eq!(timers.timeout(Duration::from_millis(10), never).await, None);
/// # });
/// ```
#[derive(Default)]
pub struct AttemptTimers {
    kept: Mutex<Vec<Kept>>,
}

impl fmt::Debug for AttemptTimers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptTimers")
            .field("kept", &self.lock().len())
            .finish()
    }
}

impl AttemptTimers {
    /// No timers kept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `future`, if it completes within `timeout` from now; `None` once the timeout has
    /// passed first (the future is then dropped). The future is polled before the
    /// deadline each time, so an answer ready at the deadline still counts.
    ///
    /// # Panics
    /// Outside a tokio runtime with time enabled, as `tokio::time::timeout` does.
    pub async fn timeout<F: Future>(&self, timeout: Duration, future: F) -> Option<F::Output> {
        let mut deadline = self.start(timeout);
        tokio::select! {
            biased;
            output = future => Some(output),
            () = deadline.passed() => None,
        }
    }

    /// The deadline of an attempt that starts now and may last `timeout`; the attempt
    /// waits on [`AttemptDeadline::passed`] beside its own work, and dropping the
    /// deadline hands its timer back for the next attempt. A timeout too long for the
    /// clock never passes.
    ///
    /// # Panics
    /// Outside a tokio runtime with time enabled, as `tokio::time::sleep` does.
    pub fn start(&self, timeout: Duration) -> AttemptDeadline<'_> {
        let runtime = Handle::current().id();
        let now = Instant::now();
        let at = now.checked_add(timeout).unwrap_or_else(|| now + FAR_FUTURE);
        // A timer armed no later than `at` is taken as it is, even one that has fired:
        // `passed` moves it to `at` when it sees it fire early.
        let sleep = match self.take(runtime) {
            Some(mut sleep) => {
                if sleep.deadline() > at {
                    sleep.as_mut().reset(at);
                }
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(at)),
        };
        AttemptDeadline {
            timers: self,
            runtime,
            at,
            sleep: Some(sleep),
        }
    }

    /// A kept timer of `runtime`, the most recently kept first.
    fn take(&self, runtime: Id) -> Option<Pin<Box<Sleep>>> {
        let mut kept = self.lock();
        let i = kept.iter().rposition(|k| k.runtime == runtime)?;
        Some(kept.swap_remove(i).sleep)
    }

    fn keep(&self, runtime: Id, sleep: Pin<Box<Sleep>>) {
        let mut kept = self.lock();
        if kept.len() < KEPT {
            kept.push(Kept { runtime, sleep });
        }
    }

    /// How many timers are kept (for tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        // The lock guards a list of timers only; a panic elsewhere cannot leave it
        // half-changed, so a poisoned lock is used as it is.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One attempt's deadline (from [`AttemptTimers::start`]); its timer goes back to the
/// [`AttemptTimers`] when it is dropped.
pub struct AttemptDeadline<'a> {
    timers: &'a AttemptTimers,
    runtime: Id,
    at: Instant,
    /// Always `Some` until dropped.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl fmt::Debug for AttemptDeadline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptDeadline")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl AttemptDeadline<'_> {
    /// Resolves once the deadline has passed (and, if polled again, at once).
    pub async fn passed(&mut self) {
        let Some(sleep) = self.sleep.as_mut() else {
            return;
        };
        loop {
            sleep.as_mut().await;
            // The timer fired at the instant it was armed for: the attempt's own, or an
            // earlier one left by a previous attempt.
            if sleep.deadline() >= self.at {
                return;
            }
            sleep.as_mut().reset(self.at);
        }
    }
}

impl Drop for AttemptDeadline<'_> {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            self.timers.keep(self.runtime, sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// How long an attempt that starts now with `timeout` waits for its deadline.
    async fn wait_of(timers: &AttemptTimers, timeout: Duration) -> Duration {
        let started = Instant::now();
        timers.start(timeout).passed().await;
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_gives_what_ends_in_time_and_none_at_the_deadline() {
        let timers = AttemptTimers::new();
        let started = Instant::now();
        let late = tokio::time::sleep(Duration::from_secs(6));
        assert_eq!(timers.timeout(Duration::from_secs(5), late).await, None);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let in_time = async {
            tokio::time::sleep(Duration::from_millis(4_999)).await;
            7
        };
        assert_eq!(
            timers.timeout(Duration::from_secs(5), in_time).await,
            Some(7)
        );
        // Ready at the very instant of the deadline: the answer still counts.
        let at_the_deadline = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            8
        };
        assert_eq!(
            timers
                .timeout(Duration::from_secs(5), at_the_deadline)
                .await,
            Some(8)
        );
        assert_eq!(timers.kept(), 1, "one timer served all three");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_passes_after_its_timeout_and_not_before() {
        let timers = AttemptTimers::new();
        assert_eq!(
            wait_of(&timers, Duration::from_secs(5)).await,
            Duration::from_secs(5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_armed_earlier_is_moved_to_the_new_deadline_when_it_fires() {
        let timers = AttemptTimers::new();
        // An attempt at t = 0 with a 10 s timeout ends at once; its timer is kept,
        // armed for t = 10 s.
        drop(timers.start(Duration::from_secs(10)));
        assert_eq!(timers.kept(), 1);
        tokio::time::advance(Duration::from_secs(4)).await;
        // The next attempt, at t = 4 s, gets that timer without moving it; when it
        // fires at t = 10 s, the attempt (deadline t = 14 s) waits on.
        assert_eq!(
            wait_of(&timers, Duration::from_secs(10)).await,
            Duration::from_secs(10)
        );
        assert_eq!(
            timers.kept(),
            1,
            "the kept timer was taken, not a new one made"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_armed_later_is_moved_at_once() {
        let timers = AttemptTimers::new();
        drop(timers.start(Duration::from_secs(300)));
        assert_eq!(
            wait_of(&timers, Duration::from_secs(1)).await,
            Duration::from_secs(1)
        );
        assert_eq!(timers.kept(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_that_already_fired_is_rearmed() {
        let timers = AttemptTimers::new();
        drop(timers.start(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(
            wait_of(&timers, Duration::from_secs(2)).await,
            Duration::from_secs(2)
        );
        assert_eq!(timers.kept(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_past_the_clock_never_passes_and_never_panics() {
        let timers = AttemptTimers::new();
        let mut deadline = timers.start(Duration::MAX);
        let mut passed = std::pin::pin!(deadline.passed());
        assert!(poll_once(passed.as_mut()).is_pending());
        tokio::time::advance(Duration::from_secs(86_400 * 365)).await;
        assert!(poll_once(passed.as_mut()).is_pending());
    }

    #[test]
    fn timers_are_kept_per_runtime_and_survive_their_runtime() {
        let timers = AttemptTimers::new();
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        first.block_on(async { drop(timers.start(Duration::from_secs(10))) });
        drop(first);
        assert_eq!(timers.kept(), 1, "kept after its runtime shut down");
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        second.block_on(async {
            let started = Instant::now();
            let mut deadline = timers.start(Duration::from_secs(3));
            assert_eq!(timers.kept(), 1, "the other runtime's timer is not taken");
            deadline.passed().await;
            assert_eq!(started.elapsed(), Duration::from_secs(3));
        });
        assert_eq!(timers.kept(), 2);
        drop(second);
        // Dropping timers whose runtimes are gone must not panic.
        drop(timers);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_limit_is_kept() {
        let timers = AttemptTimers::new();
        let many: Vec<_> = (0..KEPT + 10)
            .map(|_| timers.start(Duration::from_secs(1)))
            .collect();
        drop(many);
        assert_eq!(timers.kept(), KEPT);
    }
}
