//! The outbox's operations on its tree, each under one lock with one atomic batch.

use super::codec::{self, Lease, Stored};
use super::keys::{self, DUE, ENTRY, LEASED};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use webhook_core::outbox::{
    Claimed, LeaseToken, NewEntry, OutboxError, OwnerId, PendingStats, Settle, SettleReport,
    Settlement,
};

pub(super) struct State {
    db: sled::Db,
    tree: sled::Tree,
    pub(super) location: String,
    /// Entries held; changed only under `lock`.
    count: AtomicU64,
    /// Serializes every change (sled batches are atomic, but read-modify-write is not).
    lock: Mutex<()>,
    pub(super) leases_taken_back: u64,
}

impl State {
    pub(super) fn open(
        db: sled::Db,
        tree: sled::Tree,
        location: String,
    ) -> Result<Self, OutboxError> {
        let mut state = Self {
            db,
            tree,
            location,
            count: AtomicU64::new(0),
            lock: Mutex::new(()),
            leases_taken_back: 0,
        };
        let count = state.tree.scan_prefix([ENTRY]).count() as u64;
        state.count.store(count, Ordering::Release);
        state.leases_taken_back = state.take_back_leases()?;
        Ok(state)
    }

    pub(super) fn io(&self, operation: &'static str, detail: impl ToString) -> OutboxError {
        OutboxError::Io {
            location: self.location.clone(),
            operation,
            detail: detail.to_string(),
        }
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// One process owns the folder: every lease left in it belongs to a run that ended.
    fn take_back_leases(&self) -> Result<u64, OutboxError> {
        let _guard = self.guard();
        let mut batch = sled::Batch::default();
        let mut taken = 0;
        for item in self.tree.scan_prefix([LEASED]) {
            let (key, _) = item.map_err(|e| self.io("open", e))?;
            let Some((_, id)) = keys::parse_timed(&key) else {
                continue;
            };
            batch.remove(key);
            if let Some(mut stored) = self.read(id)? {
                stored.lease = None;
                batch.insert(&keys::entry(id), codec::encode(&stored));
                batch.insert(&keys::timed(DUE, stored.entry.not_before_ms, id), &[]);
                taken += 1;
            }
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.io("open", e))?;
        if taken > 0 {
            self.flush("open")?;
            tracing::info!(entries = taken, location = %self.location, "outbox: took back the leases of a previous run");
        }
        Ok(taken)
    }

    fn read(&self, id: u64) -> Result<Option<Stored>, OutboxError> {
        let Some(bytes) = self
            .tree
            .get(keys::entry(id))
            .map_err(|e| self.io("read", e))?
        else {
            return Ok(None);
        };
        codec::decode(id, &bytes)
            .map(Some)
            .map_err(|detail| OutboxError::Corrupt { id, detail })
    }

    pub(super) fn flush(&self, operation: &'static str) -> Result<(), OutboxError> {
        self.tree
            .flush()
            .map(|_| ())
            .map_err(|e| self.io(operation, e))
    }

    /// Appends all of `entries` in one batch, then flushes.
    pub(super) fn append(
        &self,
        owner: &OwnerId,
        entries: Vec<NewEntry>,
    ) -> Result<(), OutboxError> {
        let n = entries.len() as u64;
        {
            let _guard = self.guard();
            let mut batch = sled::Batch::default();
            for new in entries {
                let id = self.db.generate_id().map_err(|e| self.io("append", e))?;
                let entry = new.into_entry(webhook_core::outbox::EntryId(id), owner);
                batch.insert(&keys::timed(DUE, entry.not_before_ms, id), &[]);
                batch.insert(
                    &keys::entry(id),
                    codec::encode(&Stored { entry, lease: None }),
                );
            }
            self.tree
                .apply_batch(batch)
                .map_err(|e| self.io("append", e))?;
            self.count.fetch_add(n, Ordering::AcqRel);
        }
        self.flush("append (flush)")
    }

    /// Ids of entries due at `now_ms`: not leased, oldest due first, then lapsed leases.
    fn due_ids(&self, now_ms: u64, max: usize) -> Result<Vec<(Vec<u8>, u64)>, OutboxError> {
        let mut ids = Vec::new();
        for kind in [DUE, LEASED] {
            let (start, end) = ([kind], keys::timed_until(kind, now_ms));
            for item in self.tree.range(start.as_slice()..end.as_slice()) {
                if ids.len() >= max {
                    return Ok(ids);
                }
                let (key, _) = item.map_err(|e| self.io("claim", e))?;
                if let Some((_, id)) = keys::parse_timed(&key) {
                    ids.push((key.to_vec(), id));
                }
            }
        }
        Ok(ids)
    }

    pub(super) fn claim(
        &self,
        owner: &OwnerId,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, OutboxError> {
        let _guard = self.guard();
        let until_ms = now_ms.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let mut batch = sled::Batch::default();
        let mut claimed = Vec::new();
        for (index_key, id) in self.due_ids(now_ms, max)? {
            batch.remove(index_key);
            let Some(mut stored) = self.read(id)? else {
                continue;
            };
            let token = LeaseToken::fresh();
            stored.lease = Some(Lease {
                token: token.0,
                until_ms,
                owner: owner.as_str().to_owned(),
            });
            batch.insert(&keys::entry(id), codec::encode(&stored));
            batch.insert(&keys::timed(LEASED, until_ms, id), &[]);
            claimed.push(webhook_core::outbox::Claimed {
                entry: stored.entry,
                token,
            });
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.io("claim", e))?;
        Ok(claimed)
    }

    pub(super) fn settle(&self, settles: &[Settle]) -> Result<SettleReport, OutboxError> {
        let _guard = self.guard();
        let mut batch = sled::Batch::default();
        let mut report = SettleReport::default();
        let mut removed = 0;
        // A settle repeated within one batch must see the first one's effect.
        let mut seen = std::collections::HashSet::new();
        for settle in settles {
            let id = settle.id.0;
            let stored = if seen.contains(&id) {
                None
            } else {
                self.read(id)?
            };
            let Some(mut stored) = stored.filter(|s| s.token() == Some(settle.token)) else {
                report.fenced += 1;
                continue;
            };
            seen.insert(id);
            if let Some(lease) = &stored.lease {
                batch.remove(&keys::timed(LEASED, lease.until_ms, id));
            }
            stored.lease = None;
            match settle.how {
                Settlement::Delivered | Settlement::Failed => {
                    batch.remove(&keys::entry(id));
                    removed += 1;
                }
                Settlement::RetryAt {
                    attempts,
                    not_before_ms,
                } => {
                    stored.entry.attempts = attempts;
                    stored.entry.not_before_ms = not_before_ms;
                    batch.insert(&keys::timed(DUE, not_before_ms, id), &[]);
                    batch.insert(&keys::entry(id), codec::encode(&stored));
                }
                Settlement::Release { attempts } => {
                    stored.entry.attempts = attempts;
                    batch.insert(&keys::timed(DUE, stored.entry.not_before_ms, id), &[]);
                    batch.insert(&keys::entry(id), codec::encode(&stored));
                }
            }
            report.applied += 1;
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.io("settle", e))?;
        self.count.fetch_sub(removed, Ordering::AcqRel);
        Ok(report)
    }

    pub(super) fn next_due(&self) -> Result<Option<u64>, OutboxError> {
        let first = |kind: u8| -> Result<Option<u64>, OutboxError> {
            match self.tree.scan_prefix([kind]).next() {
                Some(item) => {
                    let (key, _) = item.map_err(|e| self.io("next_due", e))?;
                    Ok(keys::parse_timed(&key).map(|(at, _)| at))
                }
                None => Ok(None),
            }
        };
        Ok(match (first(DUE)?, first(LEASED)?) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    pub(super) fn pending(&self) -> Result<PendingStats, OutboxError> {
        let oldest = match self.tree.scan_prefix([ENTRY]).next() {
            Some(item) => {
                let (key, value) = item.map_err(|e| self.io("pending", e))?;
                let id = keys::parse_entry(&key).unwrap_or_default();
                codec::decode(id, &value).ok().map(|s| s.entry.created_ms)
            }
            None => None,
        };
        Ok(PendingStats {
            count: self.count(),
            oldest_created_ms: oldest,
        })
    }
}
