//! The `Outbox` plug point: the durable home of every accepted event until its final
//! outcome, for applications that must lose nothing when the process dies.
//!
//! With an outbox, an accepted event is owned by exactly one place at a time: the
//! in-memory queue until its append is committed (the caller may wait for that with a
//! confirmed send), then the outbox until it is delivered (removed), failed (recorded in
//! the failure store, then removed), or left there at shutdown for the next start or
//! another instance. Retries wait in the outbox (`not_before`), not in memory.

mod entry;
mod error;
mod named;

pub use entry::{
    Claimed, EntryId, LeaseToken, NewEntry, OutboxEntry, OwnerId, PendingStats, Settle,
    SettleReport, Settlement,
};
pub use error::OutboxError;
pub use named::NamedSchedule;

use async_trait::async_trait;
use std::time::Duration;

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;

/// Where accepted events wait, durably, until their final outcome.
///
/// # What the worker promises
/// - It appends in batches (one call per group commit) and never appends the same event
///   twice, except that a replay re-appends a stored failure (same webhook id, new
///   entry).
/// - It only settles entries it claimed, with the [`LeaseToken`] the claim returned,
///   after each attempt: `Delivered` (remove), `RetryAt` (store the attempt count and
///   `not_before`, release the lease), `Failed` (only after the failure store has the
///   record), `Release` (give the entry back untouched but for its attempt count, at
///   shutdown).
/// - Its leases always outlast one attempt: the attempt timeout, the store timeout and a
///   margin. It claims no more than it can start at once.
/// - It never writes a secret into an entry: signatures are made per attempt.
///
/// # What it expects back
/// - `append` returns `Ok` only once the whole batch is durable (one fsync or one
///   transaction); on `Err` nothing of the batch may be claimed later (all or nothing).
/// - `claim` hands out entries whose `not_before` has passed and which no live lease
///   holds, oldest due first, each to one owner at a time, with a fresh token. An entry
///   whose lease ran out may be claimed again (by anyone). Of the entries with one
///   endpoint and one ordering key ([`OutboxEntry::order`]), only the oldest held one
///   may be handed out: the next waits until it is removed (delivered or failed), and
///   `next_due` does not count a waiting one.
/// - `settle` is fenced and idempotent: a settlement whose token is not the entry's
///   current one (the lease ran out and another claim took it, or it was already
///   settled) changes nothing and is counted in [`SettleReport::fenced`].
/// - `next_due` says when the earliest entry that is not leased falls due (or a lease
///   runs out), so an idle worker sleeps instead of polling.
/// - `pending` counts the entries held (leased or not) and the creation time of the
///   oldest.
/// - After `sync`, every settlement made before it survives a crash.
///
/// The behaviour suite `outbox::conformance::run_all` (feature `test-util`, re-exported
/// as `webhook_testkit::outbox_suite`) checks an implementation with one call.
///
/// # Example
///
/// An outbox in memory, good enough to show the contract (it is not durable):
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use webhook_core::async_trait;
/// use webhook_core::outbox::*;
///
/// #[derive(Debug, Default)]
/// struct VecOutbox {
///     entries: Mutex<BTreeMap<u64, (OutboxEntry, Option<(LeaseToken, u64)>)>>,
///     next: Mutex<u64>,
/// }
///
/// #[async_trait]
/// impl Outbox for VecOutbox {
///     async fn append(&self, owner: &OwnerId, new: Vec<NewEntry>) -> Result<(), OutboxError> {
///         let mut entries = self.entries.lock().unwrap();
///         let mut next = self.next.lock().unwrap();
///         for entry in new {
///             *next += 1;
///             entries.insert(*next, (entry.into_entry(EntryId(*next), owner), None));
///         }
///         Ok(())
///     }
///     async fn claim(&self, _: &OwnerId, now_ms: u64, lease: Duration, max: usize)
///         -> Result<Vec<Claimed>, OutboxError> {
///         let mut entries = self.entries.lock().unwrap();
///         let waiting = behind_their_head(&entries);
///         let mut out = Vec::new();
///         for (id, (entry, held)) in entries.iter_mut() {
///             let free = held.map_or(true, |(_, until)| until <= now_ms);
///             if out.len() < max && free && entry.not_before_ms <= now_ms && !waiting.contains(id) {
///                 let token = LeaseToken::fresh();
///                 *held = Some((token, now_ms + lease.as_millis() as u64));
///                 out.push(Claimed { entry: entry.clone(), token });
///             }
///         }
///         Ok(out)
///     }
///     async fn settle(&self, settles: Vec<Settle>) -> Result<SettleReport, OutboxError> {
///         let mut entries = self.entries.lock().unwrap();
///         let mut report = SettleReport::default();
///         for s in settles {
///             let current = entries.get(&s.id.0).and_then(|(_, held)| held.map(|h| h.0));
///             if current != Some(s.token) { report.fenced += 1; continue; }
///             match s.how {
///                 Settlement::Delivered | Settlement::Failed => { entries.remove(&s.id.0); }
///                 Settlement::RetryAt { attempts, not_before_ms } => {
///                     let (entry, held) = entries.get_mut(&s.id.0).unwrap();
///                     (entry.attempts, entry.not_before_ms, *held) = (attempts, not_before_ms, None);
///                 }
///                 Settlement::Release { attempts } => {
///                     let (entry, held) = entries.get_mut(&s.id.0).unwrap();
///                     (entry.attempts, *held) = (attempts, None);
///                 }
///             }
///             report.applied += 1;
///         }
///         Ok(report)
///     }
///     async fn next_due(&self) -> Result<Option<u64>, OutboxError> {
///         let entries = self.entries.lock().unwrap();
///         let waiting = behind_their_head(&entries);
///         let due = entries.iter().filter(|(id, _)| !waiting.contains(id));
///         Ok(due.map(|(_, (e, held))| held.map_or(e.not_before_ms, |h| h.1)).min())
///     }
///     async fn pending(&self) -> Result<PendingStats, OutboxError> {
///         let entries = self.entries.lock().unwrap();
///         let oldest_created_ms = entries.values().map(|(e, _)| e.created_ms).min();
///         Ok(PendingStats { count: entries.len() as u64, oldest_created_ms })
///     }
///     async fn sync(&self) -> Result<(), OutboxError> { Ok(()) } // nothing is durable here
///     fn location(&self) -> String { "memory (example)".into() }
/// }
///
/// /// Keyed entries with an older entry of the same endpoint and key: they wait.
/// fn behind_their_head(entries: &BTreeMap<u64, (OutboxEntry, Option<(LeaseToken, u64)>)>)
///     -> std::collections::HashSet<u64> {
///     let mut seen = std::collections::HashSet::new();
///     entries.iter().filter(|(_, (e, _))| e.order().is_some_and(|g| !seen.insert(g)))
///         .map(|(id, _)| *id).collect()
/// }
///
/// let outbox = VecOutbox::default();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(conformance::run_all(&outbox));
/// ```
#[async_trait]
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// Appends `entries` durably, all or nothing, in one commit, as appended by `owner`.
    async fn append(&self, owner: &OwnerId, entries: Vec<NewEntry>) -> Result<(), OutboxError>;

    /// Claims at most `max` entries due at `now_ms` (unix milliseconds), oldest due
    /// first, leased to `owner` until `now_ms + lease`.
    async fn claim(
        &self,
        owner: &OwnerId,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, OutboxError>;

    /// Applies settlements, each fenced by its token (see the trait docs).
    async fn settle(&self, settles: Vec<Settle>) -> Result<SettleReport, OutboxError>;

    /// When (unix milliseconds) the next entry falls due or lease runs out; `None` if
    /// the outbox is empty.
    async fn next_due(&self) -> Result<Option<u64>, OutboxError>;

    /// How many entries are held, and when the oldest was created.
    async fn pending(&self) -> Result<PendingStats, OutboxError>;

    /// Makes every claim and settlement so far durable. An outbox whose `settle`
    /// commits on its own (a database transaction) has nothing to do here; one that
    /// settles in memory and flushes later (sled) flushes. The worker calls it at the
    /// end of a shutdown, so a clean stop repeats no attempt at the next start.
    async fn sync(&self) -> Result<(), OutboxError>;

    /// Where the outbox keeps its entries (for diagnostics; no credentials).
    fn location(&self) -> String;
    /// A signal raised when entries may have been appended by a writer other than this
    /// notifier (another instance sharing the outbox, an application's own transaction),
    /// so an idle worker claims at once instead of at its next poll. An outbox that
    /// offers one (PostgreSQL's `LISTEN`) is polled slowly, every
    /// [`WATCHED_POLL`]; one that does not (the default) every [`UNWATCHED_POLL`].
    /// The signal should also be raised after a reconnect, when appends may have gone
    /// unheard.
    fn append_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}

/// How often an idle worker looks for due entries when its outbox raises no append
/// signal (an append by another writer is found within this time).
pub const UNWATCHED_POLL: Duration = Duration::from_secs(1);

/// How often an idle worker looks for due entries when its outbox raises an append
/// signal (the poll is then only a fallback for a lost signal).
pub const WATCHED_POLL: Duration = Duration::from_secs(5);

/// The default margin a lease keeps beyond one attempt's own bounds.
pub const LEASE_MARGIN: Duration = Duration::from_secs(10);

#[cfg(test)]
mod object_safety {
    use super::*;
    fn _takes(_: std::sync::Arc<dyn Outbox>) {}
}
