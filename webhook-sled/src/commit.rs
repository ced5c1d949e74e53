//! Group commit: concurrent writers share one `flush` (fsync) instead of one each.
//!
//! A writer applies its change, takes a ticket, and waits until a flush that started after
//! its ticket was issued has completed. If no flush is running, the waiter starts one that
//! covers every ticket issued so far; writers arriving meanwhile wait for the next one.
//! Each writer still returns only after its own change is on disk.

use crate::blocking;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::watch;

/// Tickets and flush progress of one store.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<CommitState>,
    /// Bumped after every flush attempt (the value is the flushed ticket), to wake waiters.
    progress: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct CommitState {
    /// The last ticket issued.
    issued: u64,
    /// Every ticket up to this one is durable.
    flushed: u64,
    /// A flush is running.
    flushing: bool,
}

impl GroupCommit {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(CommitState::default()),
            progress: watch::Sender::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, CommitState> {
        // Every critical section leaves the state consistent (plain assignments).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A ticket for a change that has just been applied (call after applying it).
    pub(crate) fn ticket(&self) -> u64 {
        let mut state = self.state();
        state.issued += 1;
        state.issued
    }

    /// Waits until the change behind `ticket` is durable, flushing `tree` if nobody else is.
    /// The error is sled's, or why the flush task produced nothing.
    pub(crate) async fn durable(
        self: &Arc<Self>,
        ticket: u64,
        tree: &sled::Tree,
    ) -> Result<(), String> {
        loop {
            // Subscribe before looking, so a flush finishing in between still wakes us.
            let mut progress = self.progress.subscribe();
            let target = {
                let mut state = self.state();
                if state.flushed >= ticket {
                    return Ok(());
                }
                if state.flushing {
                    None
                } else {
                    state.flushing = true;
                    Some(state.issued)
                }
            };
            match target {
                None => {
                    // The sender lives in `self`, so this only returns once a flush ends.
                    let _ = progress.changed().await;
                }
                Some(target) => {
                    let job = FlushJob {
                        commit: Arc::clone(self),
                        target,
                        succeeded: false,
                    };
                    let tree = tree.clone();
                    let flushed = blocking::run(move || job.run(tree)).await;
                    match flushed {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(why) => return Err(why.to_owned()),
                    }
                }
            }
        }
    }

    fn finish(&self, target: u64, succeeded: bool) {
        let flushed = {
            let mut state = self.state();
            state.flushing = false;
            if succeeded {
                state.flushed = state.flushed.max(target);
            }
            state.flushed
        };
        self.progress.send_replace(flushed);
    }
}

/// One flush covering tickets up to `target`. Dropping it (run or not) ends the flush, so a
/// panicking or cancelled task cannot leave the other writers waiting forever.
struct FlushJob {
    commit: Arc<GroupCommit>,
    target: u64,
    succeeded: bool,
}

impl FlushJob {
    fn run(mut self, tree: sled::Tree) -> Result<(), sled::Error> {
        let result = tree.flush().map(drop);
        // Release sled before waking writers: once the last store handle is dropped the
        // folder's lock must be free for the next open.
        drop(tree);
        self.succeeded = result.is_ok();
        result
    }
}

impl Drop for FlushJob {
    fn drop(&mut self) {
        self.commit.finish(self.target, self.succeeded);
    }
}
