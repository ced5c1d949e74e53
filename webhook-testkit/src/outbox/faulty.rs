//! Fault injection for any [`Outbox`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use webhook_core::async_trait;
use webhook_core::outbox::{
    Claimed, NewEntry, Outbox, OutboxError, OwnerId, PendingStats, Settle, SettleReport,
};

/// Which faults a [`FaultyOutbox`] injects; change them at any time with
/// [`FaultyOutbox::set`].
///
/// # Default
/// No faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// The next this many appends fail (as a full disk would), appending nothing.
    pub failing_appends: u64,
    /// The next this many settle calls fail, applying nothing.
    pub failing_settles: u64,
    /// The next this many claim calls fail.
    pub failing_claims: u64,
    /// Every append takes this long before it runs (a slow fsync).
    pub slow_commit: Duration,
}

impl Faults {
    /// No faults.
    pub const fn none() -> Self {
        Self {
            failing_appends: 0,
            failing_settles: 0,
            failing_claims: 0,
            slow_commit: Duration::ZERO,
        }
    }

    /// The next `n` appends fail.
    pub const fn with_failing_appends(mut self, n: u64) -> Self {
        self.failing_appends = n;
        self
    }

    /// The next `n` settle calls fail.
    pub const fn with_failing_settles(mut self, n: u64) -> Self {
        self.failing_settles = n;
        self
    }

    /// The next `n` claim calls fail.
    pub const fn with_failing_claims(mut self, n: u64) -> Self {
        self.failing_claims = n;
        self
    }

    /// Every append waits `delay` first.
    pub const fn with_slow_commit(mut self, delay: Duration) -> Self {
        self.slow_commit = delay;
        self
    }
}

/// Wraps an outbox and makes its calls fail or slow down as [`Faults`] say, counting
/// what it injected: for testing how a notifier (or an application's own outbox) copes
/// with a full disk, a store that blips, or slow commits.
#[derive(Debug)]
pub struct FaultyOutbox<O> {
    inner: O,
    faults: Mutex<Faults>,
    injected: AtomicU64,
}

impl<O: Outbox> FaultyOutbox<O> {
    /// Wraps `inner` with `faults`.
    pub fn new(inner: O, faults: Faults) -> Self {
        Self {
            inner,
            faults: Mutex::new(faults),
            injected: AtomicU64::new(0),
        }
    }

    /// Replaces the faults to inject from now on.
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// The wrapped outbox.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// Takes one fault of the kind `pick` selects, if any is left.
    fn take(&self, pick: impl FnOnce(&mut Faults) -> &mut u64) -> bool {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let left = pick(&mut faults);
        if *left == 0 {
            return false;
        }
        *left -= 1;
        self.injected.fetch_add(1, Ordering::SeqCst);
        true
    }

    fn fault(&self, operation: &'static str) -> OutboxError {
        OutboxError::Io {
            location: self.inner.location(),
            operation,
            detail: "No space left on device (os error 28) [injected]".to_owned(),
        }
    }
}

#[async_trait]
impl<O: Outbox> Outbox for FaultyOutbox<O> {
    async fn append(&self, owner: &OwnerId, entries: Vec<NewEntry>) -> Result<(), OutboxError> {
        let delay = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slow_commit;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.take(|f| &mut f.failing_appends) {
            return Err(self.fault("append"));
        }
        self.inner.append(owner, entries).await
    }

    async fn claim(
        &self,
        owner: &OwnerId,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, OutboxError> {
        if self.take(|f| &mut f.failing_claims) {
            return Err(self.fault("claim"));
        }
        self.inner.claim(owner, now_ms, lease, max).await
    }

    async fn settle(&self, settles: Vec<Settle>) -> Result<SettleReport, OutboxError> {
        if self.take(|f| &mut f.failing_settles) {
            return Err(self.fault("settle"));
        }
        self.inner.settle(settles).await
    }

    async fn next_due(&self) -> Result<Option<u64>, OutboxError> {
        self.inner.next_due().await
    }

    async fn pending(&self) -> Result<PendingStats, OutboxError> {
        self.inner.pending().await
    }

    async fn sync(&self) -> Result<(), OutboxError> {
        self.inner.sync().await
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}
