//! The outbox's entries on disk and their index in memory.
//!
//! One process owns a sled folder (sled's lock), so what only matters while that process
//! lives stays in memory: which entries are due when, and the leases. On disk each entry
//! is one key; a delivered one costs one insert and one removal. Opening the folder
//! rebuilds the index from the entries (every lease of a previous run is void: its
//! process is gone).

use super::codec;
use super::keys::{self, ENTRY};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use webhook_core::outbox::{
    Claimed, EntryId, LeaseToken, NewEntry, OutboxEntry, OutboxError, OwnerId, PendingStats,
    Settle, SettleReport, Settlement,
};

pub(super) struct State {
    db: sled::Db,
    tree: sled::Tree,
    pub(super) location: String,
    index: Mutex<Index>,
    /// Entries found when the folder was opened (left by a previous run).
    pub(super) at_open: u64,
}

/// Where every held entry is: due at a time, or leased until a time.
#[derive(Default)]
struct Index {
    /// (not_before ms, id) of entries not leased.
    due: BTreeSet<(u64, u64)>,
    /// (lease end ms, id) of leased entries.
    lease_ends: BTreeSet<(u64, u64)>,
    /// id → (token, lease end ms) of leased entries.
    leases: HashMap<u64, (LeaseToken, u64)>,
    /// id → creation time (ms) of every held entry; ids grow with appends.
    created: BTreeMap<u64, u64>,
    /// Keyed entries: (endpoint, ordering key) → id → not_before (ms) of its held
    /// entries. Only a group's oldest entry (its head) is in `due` or leased; the others
    /// are parked here until the head is removed, so they go strictly in order.
    groups: HashMap<Group, BTreeMap<u64, u64>>,
    /// id → its group, for keyed entries.
    group_of: HashMap<u64, Group>,
}

/// The entries that go in order: one endpoint (or the single URL) and one key.
type Group = (Option<String>, String);

impl Index {
    /// Indexes a held entry: due at `not_before`, unless an older entry of its group is
    /// held (then it is parked).
    fn hold(&mut self, entry: &OutboxEntry) {
        let id = entry.id.0;
        self.created.insert(id, entry.created_ms);
        let Some((endpoint, key)) = entry.order() else {
            self.due.insert((entry.not_before_ms, id));
            return;
        };
        let group = (endpoint.map(str::to_owned), key.to_owned());
        let members = self.groups.entry(group.clone()).or_default();
        members.insert(id, entry.not_before_ms);
        if members.keys().next() == Some(&id) {
            // The new head: whatever was the head before (if any) is parked again.
            if let Some((&next, &at)) = members.iter().nth(1) {
                self.due.remove(&(at, next));
            }
            self.due.insert((entry.not_before_ms, id));
        }
        self.group_of.insert(id, group);
    }

    /// Forgets a removed entry; the next of its group, if any, becomes due.
    fn release(&mut self, id: u64) {
        self.created.remove(&id);
        let Some(group) = self.group_of.remove(&id) else {
            return;
        };
        let Some(members) = self.groups.get_mut(&group) else {
            return;
        };
        members.remove(&id);
        match members.iter().next() {
            Some((&next, &at)) => {
                self.due.insert((at, next));
            }
            None => {
                self.groups.remove(&group);
            }
        }
    }
}

impl State {
    pub(super) fn open(
        db: sled::Db,
        tree: sled::Tree,
        location: String,
    ) -> Result<Self, OutboxError> {
        let mut index = Index::default();
        for item in tree.scan_prefix([ENTRY]) {
            let (key, value) = item.map_err(|e| io(&location, "open", e))?;
            let Some(id) = keys::parse_entry(&key) else {
                continue;
            };
            match codec::decode(id, &value) {
                Ok(entry) => index.hold(&entry),
                Err(detail) => {
                    tracing::warn!(entry = id, %detail, location = %location, "outbox: skipping an entry that cannot be read");
                }
            }
        }
        let at_open = index.created.len() as u64;
        if at_open > 0 {
            tracing::info!(entries = at_open, location = %location, "outbox: entries left by a previous run are due again");
        }
        Ok(Self {
            db,
            tree,
            location,
            index: Mutex::new(index),
            at_open,
        })
    }

    pub(super) fn io(&self, operation: &'static str, detail: impl ToString) -> OutboxError {
        io(&self.location, operation, detail)
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn count(&self) -> u64 {
        self.index().created.len() as u64
    }

    pub(super) fn flush(&self, operation: &'static str) -> Result<(), OutboxError> {
        self.tree
            .flush()
            .map(|_| ())
            .map_err(|e| self.io(operation, e))
    }

    fn read(&self, id: u64) -> Result<Option<OutboxEntry>, OutboxError> {
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

    /// Writes all of `entries` in one batch and flushes, then indexes them.
    pub(super) fn append(
        &self,
        owner: &OwnerId,
        entries: Vec<NewEntry>,
    ) -> Result<(), OutboxError> {
        let mut batch = sled::Batch::default();
        let mut indexed = Vec::with_capacity(entries.len());
        for new in entries {
            let id = self.db.generate_id().map_err(|e| self.io("append", e))?;
            let entry = new.into_entry(EntryId(id), owner);
            batch.insert(&keys::entry(id), codec::encode(&entry));
            indexed.push(entry);
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.io("append", e))?;
        self.flush("append (flush)")?;
        let mut index = self.index();
        for entry in &indexed {
            index.hold(entry);
        }
        Ok(())
    }

    pub(super) fn claim(
        &self,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, OutboxError> {
        let until = now_ms.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let picked = {
            let mut index = self.index();
            let due: Vec<(u64, u64)> = index
                .due
                .range(..(now_ms.saturating_add(1), 0))
                .take(max)
                .copied()
                .collect();
            let lapsed: Vec<(u64, u64)> = index
                .lease_ends
                .range(..(now_ms.saturating_add(1), 0))
                .take(max - due.len())
                .copied()
                .collect();
            let mut picked = Vec::with_capacity(due.len() + lapsed.len());
            for key in due {
                index.due.remove(&key);
                picked.push(key.1);
            }
            for key in lapsed {
                index.lease_ends.remove(&key);
                picked.push(key.1);
            }
            for id in &picked {
                let token = LeaseToken::fresh();
                index.leases.insert(*id, (token, until));
                index.lease_ends.insert((until, *id));
            }
            picked
        };
        let mut claimed = Vec::with_capacity(picked.len());
        for id in picked {
            let token = self.index().leases.get(&id).map(|l| l.0);
            match (self.read(id)?, token) {
                (Some(entry), Some(token)) => claimed.push(Claimed { entry, token }),
                _ => self.forget(id),
            }
        }
        Ok(claimed)
    }

    /// Drops an id whose entry is gone from the index.
    fn forget(&self, id: u64) {
        let mut index = self.index();
        if let Some((_, until)) = index.leases.remove(&id) {
            index.lease_ends.remove(&(until, id));
        }
        index.release(id);
    }

    pub(super) fn settle(&self, settles: &[Settle]) -> Result<SettleReport, OutboxError> {
        let mut report = SettleReport::default();
        let mut batch = sled::Batch::default();
        let mut applied = Vec::new();
        {
            let mut index = self.index();
            for settle in settles {
                let id = settle.id.0;
                match index.leases.get(&id) {
                    Some((token, until)) if *token == settle.token => {
                        let until = *until;
                        index.leases.remove(&id);
                        index.lease_ends.remove(&(until, id));
                        applied.push(*settle);
                    }
                    _ => report.fenced += 1,
                }
            }
        }
        let mut due_again = Vec::new();
        for settle in &applied {
            let id = settle.id.0;
            let (attempts, not_before) = match settle.how {
                Settlement::Delivered | Settlement::Failed => {
                    batch.remove(&keys::entry(id));
                    continue;
                }
                Settlement::RetryAt {
                    attempts,
                    not_before_ms,
                } => (attempts, Some(not_before_ms)),
                Settlement::Release { attempts } => (attempts, None),
            };
            let Some(mut entry) = self.read(id)? else {
                continue;
            };
            entry.attempts = attempts;
            if let Some(at) = not_before {
                entry.not_before_ms = at;
            }
            due_again.push((entry.not_before_ms, id));
            batch.insert(&keys::entry(id), codec::encode(&entry));
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.io("settle", e))?;
        let mut index = self.index();
        for settle in &applied {
            if matches!(settle.how, Settlement::Delivered | Settlement::Failed) {
                index.release(settle.id.0);
            }
        }
        index.due.extend(due_again);
        report.applied = applied.len() as u64;
        Ok(report)
    }

    pub(super) fn next_due(&self) -> Option<u64> {
        let index = self.index();
        let due = index.due.first().map(|k| k.0);
        let lease = index.lease_ends.first().map(|k| k.0);
        match (due, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn pending(&self) -> PendingStats {
        let index = self.index();
        PendingStats {
            count: index.created.len() as u64,
            // Ids grow with appends, and so do creation times.
            oldest_created_ms: index.created.first_key_value().map(|(_, c)| *c),
        }
    }
}

fn io(location: &str, operation: &'static str, detail: impl ToString) -> OutboxError {
    OutboxError::Io {
        location: location.to_owned(),
        operation,
        detail: detail.to_string(),
    }
}
