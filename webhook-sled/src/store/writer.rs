//! The single writer and its group commit.
//!
//! Every change (record, update, prune) is queued as a job. One writer at a time, on the
//! blocking pool, takes all queued jobs, applies them, flushes once (one fsync for the
//! whole batch) and only then answers their callers. While it flushes, new jobs queue up
//! and form the next batch, so the batch size follows the load: a lone caller pays one
//! flush per change, many concurrent callers share them. When the queue is empty the
//! writer ends; the next change starts a new one.
//!
//! Because only the writer changes the records tree, the record count and the retention
//! bound are exact without further locking.

use super::inner::Inner;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::runtime::Handle;

/// The most jobs one flush covers, to bound how long the first caller of a batch waits.
const MAX_BATCH: usize = 1024;

/// Answers a job's caller once the flush outcome is known (`Some(detail)` if it failed).
pub(super) type Completion = Box<dyn FnOnce(Option<&str>) + Send>;

/// Applies one change to the store and returns how to answer its caller.
pub(super) type Job = Box<dyn FnOnce(&Inner) -> Completion + Send>;

/// The queue of changes waiting for the writer.
#[derive(Default)]
pub(super) struct Writer {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// A writer is running and will take the queued jobs.
    active: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = self.queue();
        f.debug_struct("Writer")
            .field("queued", &queue.jobs.len())
            .field("active", &queue.active)
            .finish()
    }
}

impl Writer {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Every critical section is a single queue operation or flag change.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, starting a writer on the blocking pool if none is running.
    ///
    /// Outside a tokio runtime the writer runs here, before this returns.
    pub(super) fn submit(self: &Arc<Self>, job: Job, inner: &Arc<Inner>) {
        let start = {
            let mut queue = self.queue();
            queue.jobs.push_back(job);
            !std::mem::replace(&mut queue.active, true)
        };
        if !start {
            return;
        }
        let run = WriterRun {
            writer: Arc::clone(self),
            finished: false,
        };
        let inner = Arc::clone(inner);
        let work = move || run.run(inner);
        match Handle::try_current() {
            // Detached: callers wait for their own answers, not for the writer.
            Ok(handle) => drop(handle.spawn_blocking(work)),
            Err(_) => work(),
        }
    }
}

/// One writer's life. If it ends abnormally (a panic, or a runtime shutting down before it
/// ran), dropping it lets the next change start a writer and fails the queued jobs, whose
/// callers then get an error instead of waiting forever.
struct WriterRun {
    writer: Arc<Writer>,
    finished: bool,
}

impl WriterRun {
    fn run(mut self, inner: Arc<Inner>) {
        loop {
            let batch: Vec<Job> = {
                let mut queue = self.writer.queue();
                let take = queue.jobs.len().min(MAX_BATCH);
                queue.jobs.drain(..take).collect()
            };
            let completions: Vec<Completion> = batch.into_iter().map(|job| job(&inner)).collect();
            let flush_error = inner.records.flush().err().map(|e| e.to_string());
            if flush_error.is_none() {
                inner.write_tally();
            }
            let more = {
                let mut queue = self.writer.queue();
                if queue.jobs.is_empty() {
                    queue.active = false;
                }
                queue.active
            };
            if !more {
                // Release sled before answering: once the last handle is dropped, the
                // folder's lock must be free for the next open.
                drop(inner);
                self.finished = true;
                answer(completions, flush_error.as_deref());
                return;
            }
            answer(completions, flush_error.as_deref());
        }
    }
}

fn answer(completions: Vec<Completion>, flush_error: Option<&str>) {
    for complete in completions {
        complete(flush_error);
    }
}

impl Drop for WriterRun {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let abandoned: Vec<Job> = {
            let mut queue = self.writer.queue();
            queue.active = false;
            queue.jobs.drain(..).collect()
        };
        tracing::error!(
            abandoned = abandoned.len(),
            "failure store writer stopped abnormally; queued changes were not applied"
        );
    }
}
