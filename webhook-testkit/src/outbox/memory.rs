//! An [`Outbox`] in memory: the contract without the durability, for tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use webhook_core::async_trait;
use webhook_core::outbox::{
    Claimed, EntryId, LeaseToken, NewEntry, Outbox, OutboxEntry, OutboxError, OwnerId,
    PendingStats, Settle, SettleReport, Settlement,
};

/// An [`Outbox`] that keeps its entries in memory: it passes the outbox suite, so a test
/// can run a notifier in outbox mode (retries in the outbox, confirmed sends, fencing)
/// without a disk. It is not durable: a crash loses everything in it.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    entries: BTreeMap<u64, (OutboxEntry, Option<(LeaseToken, u64)>)>,
    /// (not_before or lease end, id) of every entry, for claims in due order.
    due: BTreeSet<(u64, u64)>,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every entry held now, oldest first (for assertions).
    pub fn entries(&self) -> Vec<OutboxEntry> {
        self.state()
            .entries
            .values()
            .map(|(e, _)| e.clone())
            .collect()
    }
}

impl State {
    /// The oldest held entry of `entry`'s ordering group other than itself, if it is
    /// keyed: while one is held, `entry` waits (it is not in `due`).
    fn older_in_group(&self, entry: &OutboxEntry) -> bool {
        entry.order().is_some_and(|group| {
            self.entries
                .range(..entry.id.0)
                .any(|(_, (e, _))| e.order() == Some(group))
        })
    }

    /// After `removed` left, the next entry of its group (if any) becomes due.
    fn promote_next(&mut self, removed: &OutboxEntry) {
        let Some(group) = removed.order() else {
            return;
        };
        let next = self
            .entries
            .range(removed.id.0..)
            .find(|(_, (e, _))| e.order() == Some(group))
            .map(|(id, (e, _))| (e.not_before_ms, *id));
        if let Some(key) = next {
            self.due.insert(key);
        }
    }

    fn key(&self, id: u64) -> Option<(u64, u64)> {
        let (entry, lease) = self.entries.get(&id)?;
        Some((lease.map_or(entry.not_before_ms, |(_, until)| until), id))
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn append(&self, owner: &OwnerId, entries: Vec<NewEntry>) -> Result<(), OutboxError> {
        let mut state = self.state();
        for new in entries {
            state.next += 1;
            let id = state.next;
            let entry = new.into_entry(EntryId(id), owner);
            if !state.older_in_group(&entry) {
                state.due.insert((entry.not_before_ms, id));
            }
            state.entries.insert(id, (entry, None));
        }
        Ok(())
    }

    async fn claim(
        &self,
        _owner: &OwnerId,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, OutboxError> {
        let mut state = self.state();
        let until = now_ms.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let ready: Vec<(u64, u64)> = state
            .due
            .range(..(now_ms.saturating_add(1), 0))
            .take(max)
            .copied()
            .collect();
        let mut claimed = Vec::with_capacity(ready.len());
        for key in ready {
            state.due.remove(&key);
            let token = LeaseToken::fresh();
            if let Some((entry, held)) = state.entries.get_mut(&key.1) {
                *held = Some((token, until));
                claimed.push(Claimed {
                    entry: entry.clone(),
                    token,
                });
            }
            state.due.insert((until, key.1));
        }
        Ok(claimed)
    }

    async fn settle(&self, settles: Vec<Settle>) -> Result<SettleReport, OutboxError> {
        let mut state = self.state();
        let mut report = SettleReport::default();
        for settle in settles {
            let id = settle.id.0;
            let current = state
                .entries
                .get(&id)
                .and_then(|(_, held)| held.map(|h| h.0));
            if current != Some(settle.token) {
                report.fenced += 1;
                continue;
            }
            if let Some(key) = state.key(id) {
                state.due.remove(&key);
            }
            match settle.how {
                Settlement::Delivered | Settlement::Failed => {
                    if let Some((removed, _)) = state.entries.remove(&id) {
                        state.promote_next(&removed);
                    }
                }
                Settlement::RetryAt {
                    attempts,
                    not_before_ms,
                } => {
                    if let Some((entry, held)) = state.entries.get_mut(&id) {
                        (entry.attempts, entry.not_before_ms, *held) =
                            (attempts, not_before_ms, None);
                    }
                    state.due.insert((not_before_ms, id));
                }
                Settlement::Release { attempts } => {
                    let mut due = 0;
                    if let Some((entry, held)) = state.entries.get_mut(&id) {
                        (entry.attempts, *held, due) = (attempts, None, entry.not_before_ms);
                    }
                    state.due.insert((due, id));
                }
            }
            report.applied += 1;
        }
        Ok(report)
    }

    async fn next_due(&self) -> Result<Option<u64>, OutboxError> {
        Ok(self.state().due.first().map(|(at, _)| *at))
    }

    async fn pending(&self) -> Result<PendingStats, OutboxError> {
        let state = self.state();
        Ok(PendingStats {
            count: state.entries.len() as u64,
            oldest_created_ms: state.entries.values().map(|(e, _)| e.created_ms).min(),
        })
    }

    /// Nothing to make durable: this outbox is not durable at all.
    async fn sync(&self) -> Result<(), OutboxError> {
        Ok(())
    }

    fn location(&self) -> String {
        "memory (not durable)".to_owned()
    }
}
