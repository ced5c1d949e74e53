//! The embedded durable [`Outbox`]: a tree of the failure store's sled database.

mod codec;
mod keys;
mod state;

use crate::blocking;
use state::State;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use webhook_core::async_trait;
use webhook_core::outbox::{
    Claimed, NewEntry, Outbox, OutboxError, OwnerId, PendingStats, Settle, SettleReport,
};

/// The name of the outbox's tree in the store's database.
pub const OUTBOX_TREE: &str = "outbox";

/// A durable [`Outbox`] in the same sled database as a
/// [`SledFailureStore`](crate::SledFailureStore) (a separate tree): nothing to install,
/// and one folder holds both the events not yet delivered and the failures.
///
/// - `append` returns once the batch is flushed (one fsync per batch), so an event the
///   caller was told is durable survives `SIGKILL`.
/// - One process owns the folder (sled's lock), so leases and the due order live in
///   memory: a claim writes nothing, a delivered entry costs one insert and one removal.
///   Opening the folder rebuilds the index from the entries; every lease of a previous
///   run is void (its process is gone), so its entries are due again with their
///   attempt counts.
/// - Settlements are not flushed on their own: a crash may forget one, which repeats an
///   attempt (receivers deduplicate by `webhook-id`) but never loses an entry; the next
///   append's flush, sled's own background flush, or `sync` (called at the end of a
///   shutdown) makes them durable.
/// - Appends and settlements (which write) run on tokio's blocking pool, so the worker's
///   own thread keeps delivering meanwhile; claims (a few reads), `next_due` and
///   `pending` run in place.
/// - Memory: about 100 bytes of index per held entry (bodies stay on disk).
///
/// Open it with [`SledFailureStore::outbox`](crate::SledFailureStore::outbox).
#[derive(Clone)]
pub struct SledOutbox {
    state: Arc<State>,
}

impl fmt::Debug for SledOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledOutbox")
            .field("location", &self.state.location)
            .field("pending", &self.state.count())
            .finish()
    }
}

impl SledOutbox {
    /// Opens the outbox tree of `db`, taking back the leases a previous run left.
    pub(crate) fn open(db: &sled::Db, location: String) -> Result<Self, OutboxError> {
        let tree = db.open_tree(OUTBOX_TREE).map_err(|e| OutboxError::Io {
            location: location.clone(),
            operation: "open",
            detail: e.to_string(),
        })?;
        let state = State::open(db.clone(), tree, location)?;
        Ok(Self {
            state: Arc::new(state),
        })
    }

    /// Entries held now (kept in memory; no scan).
    pub fn len(&self) -> u64 {
        self.state.count()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries found when this outbox opened (left by a previous run; due again at once
    /// if their retry time has passed).
    pub fn entries_at_open(&self) -> u64 {
        self.state.at_open
    }
}

#[async_trait]
impl Outbox for SledOutbox {
    async fn append(&self, owner: &OwnerId, entries: Vec<NewEntry>) -> Result<(), OutboxError> {
        let state = self.state.clone();
        let owner = owner.clone();
        blocking::run(move || state.append(&owner, entries))
            .await
            .map_err(|why| self.state.io("append", why))?
    }

    async fn claim(
        &self,
        owner: &OwnerId,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, OutboxError> {
        // A claim writes nothing (the leases live in memory) and reads a few entries:
        // cheaper in place than a hand-off to another thread.
        let _ = owner;
        self.state.claim(now_ms, lease, max)
    }

    async fn settle(&self, settles: Vec<Settle>) -> Result<SettleReport, OutboxError> {
        let state = self.state.clone();
        blocking::run(move || state.settle(&settles))
            .await
            .map_err(|why| self.state.io("settle", why))?
    }

    async fn next_due(&self) -> Result<Option<u64>, OutboxError> {
        Ok(self.state.next_due())
    }

    async fn pending(&self) -> Result<PendingStats, OutboxError> {
        Ok(self.state.pending())
    }

    async fn sync(&self) -> Result<(), OutboxError> {
        let state = self.state.clone();
        blocking::run(move || state.flush("sync"))
            .await
            .map_err(|why| self.state.io("sync", why))?
    }

    fn location(&self) -> String {
        format!("{} (tree {OUTBOX_TREE})", self.state.location)
    }
}
