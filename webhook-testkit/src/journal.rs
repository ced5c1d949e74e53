//! What the scripted transport and the receiver share: the playbook, the record of every
//! attempt, a gate that holds answers, and waiting for counts with a timeout.

use crate::script::{Counting, Playbook, Reply, Script};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// An awaited count was not reached within the timeout.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("waited {}ms for {wanted} {what}, but saw only {seen}", waited.as_millis())]
pub struct WaitTimeout {
    /// What was being counted (e.g. `"requests"`).
    pub what: &'static str,
    /// The count awaited.
    pub wanted: usize,
    /// The count reached when the time ran out.
    pub seen: usize,
    /// How long it waited.
    pub waited: Duration,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    arrived: usize,
    succeeded: usize,
}

#[derive(Debug)]
struct State<T> {
    playbook: Playbook,
    entries: Vec<T>,
    succeeded: Vec<usize>,
}

/// The record of one stream of attempts.
#[derive(Debug)]
pub(crate) struct Journal<T> {
    state: Mutex<State<T>>,
    counts: watch::Sender<Counts>,
    paused: watch::Sender<bool>,
}

impl<T: Clone> Journal<T> {
    pub(crate) fn new(script: Script, counting: Counting) -> Self {
        Self {
            state: Mutex::new(State {
                playbook: Playbook::new(script, counting),
                entries: Vec::new(),
                succeeded: Vec::new(),
            }),
            counts: watch::Sender::new(Counts::default()),
            paused: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every update is a single push or insert, so a panic elsewhere cannot leave
        // the state half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Picks the reply for the next attempt of `webhook_id` (`fixed`, if given, replaces
    /// the script without advancing it) and records the attempt that `make(index, &reply)`
    /// builds. Returns the attempt's index and its reply.
    pub(crate) fn arrive(
        &self,
        webhook_id: &str,
        fixed: Option<Reply>,
        make: impl FnOnce(usize, &Reply) -> T,
    ) -> (usize, Reply) {
        let (index, reply) = {
            let mut state = self.lock();
            let reply = match fixed {
                Some(reply) => reply,
                None => state.playbook.next(webhook_id),
            };
            let index = state.entries.len();
            let entry = make(index, &reply);
            state.entries.push(entry);
            (index, reply)
        };
        self.counts.send_modify(|c| c.arrived += 1);
        (index, reply)
    }

    /// Records that attempt `index` was answered with a 2xx.
    pub(crate) fn succeeded(&self, index: usize) {
        self.lock().succeeded.push(index);
        self.counts.send_modify(|c| c.succeeded += 1);
    }

    pub(crate) fn script_for(&self, webhook_id: &str, script: Script) {
        self.lock().playbook.set(webhook_id, script);
    }

    pub(crate) fn entries(&self) -> Vec<T> {
        self.lock().entries.clone()
    }

    pub(crate) fn successes(&self) -> Vec<T> {
        let state = self.lock();
        state
            .succeeded
            .iter()
            .filter_map(|&i| state.entries.get(i).cloned())
            .collect()
    }

    pub(crate) fn arrived(&self) -> usize {
        self.counts.borrow().arrived
    }

    pub(crate) fn succeeded_count(&self) -> usize {
        self.counts.borrow().succeeded
    }

    pub(crate) fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub(crate) fn resume(&self) {
        self.paused.send_replace(false);
    }

    pub(crate) fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Returns once the gate is open (at once unless paused).
    pub(crate) async fn gate(&self) {
        let mut rx = self.paused.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we borrow it.
        let _ = rx.wait_for(|paused| !paused).await;
    }

    pub(crate) async fn wait_arrived(
        &self,
        n: usize,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Vec<T>, WaitTimeout> {
        self.wait(n, timeout, what, |c| c.arrived).await?;
        Ok(self.entries())
    }

    pub(crate) async fn wait_succeeded(
        &self,
        n: usize,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Vec<T>, WaitTimeout> {
        self.wait(n, timeout, what, |c| c.succeeded).await?;
        Ok(self.successes())
    }

    async fn wait(
        &self,
        wanted: usize,
        timeout: Duration,
        what: &'static str,
        pick: fn(&Counts) -> usize,
    ) -> Result<(), WaitTimeout> {
        let mut rx = self.counts.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|c| pick(c) >= wanted)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(WaitTimeout {
                what,
                wanted,
                seen: pick(&self.counts.borrow()),
                waited: timeout,
            }),
        }
    }
}
