//! The commit writer: takes accepted events from the queue in batches and appends each
//! batch to the outbox in one commit (group commit), then tells confirmed senders.

use super::engine::{Engine, OutboxPart};
use crate::outbox::NewEntry;
use crate::queue::QueuedEvent;
use std::time::Duration;

/// How often an append is tried before its events are reported as not stored.
pub(crate) const APPEND_TRIES: u32 = 3;

/// Runs until the queue is closed and empty.
pub(crate) async fn commit_loop(engine: &Engine, part: &OutboxPart) {
    loop {
        let batch = next_batch(engine, part).await;
        if batch.is_empty() {
            return;
        }
        wait_for_room(engine, part, batch.len() as u64).await;
        commit(engine, part, batch).await;
    }
}

/// The next batch: at least one event (waiting for it), then whatever arrives within
/// the linger, up to the batch size. Empty once the queue is closed and empty.
async fn next_batch(engine: &Engine, part: &OutboxPart) -> Vec<QueuedEvent> {
    let max = part.settings.batch_max;
    loop {
        let ready = engine.queue.ready();
        let mut batch = engine.queue.pop_batch(max);
        if !batch.is_empty() {
            if batch.len() < max && !part.settings.linger.is_zero() {
                tokio::time::sleep(part.settings.linger).await;
                batch.extend(engine.queue.pop_batch(max - batch.len()));
            }
            return batch;
        }
        if engine.queue.is_closed() {
            return batch;
        }
        ready.await;
    }
}

/// Waits while the outbox holds its maximum (the queue fills meanwhile, and its policy
/// applies to new events), counting each wait.
async fn wait_for_room(engine: &Engine, part: &OutboxPart, incoming: u64) {
    let fits = |p: Option<crate::outbox::PendingStats>| {
        p.is_some_and(|p| p.count + incoming <= part.settings.max_pending)
    };
    // The last answer plus this notifier's appends since is an upper bound: when it
    // fits, the outbox need not be asked.
    if fits(
        part.pending_within(engine, super::engine::PENDING_FRESH)
            .await,
    ) {
        return;
    }
    let mut pause = Duration::from_millis(10);
    let mut fresh = part.refresh_pending(engine).await;
    loop {
        match fresh {
            Some(p) if p.count + incoming <= part.settings.max_pending => return,
            Some(_) => engine.ledger.note(crate::accounting::Activity::OutboxFull),
            None => {}
        }
        if !engine.lifecycle.is_running() && engine.queue.is_closed() {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
        fresh = part.refresh_pending(engine).await;
    }
}

async fn commit(engine: &Engine, part: &OutboxPart, batch: Vec<QueuedEvent>) {
    let now_ms = crate::time::unix_millis(engine.clock.now());
    let n = batch.len() as u64;
    let mut last_error = String::new();
    for attempt in 1..=APPEND_TRIES {
        let entries: Vec<NewEntry> = batch.iter().map(|e| new_entry(e, now_ms)).collect();
        let append = part.outbox.append(&part.owner, entries);
        match tokio::time::timeout(engine.plugs.store_timeout, append).await {
            Ok(Ok(())) => {
                for event in &batch {
                    engine.ledger.stored(1, event.tally());
                }
                part.note_appended(n);
                answer(batch, &Ok(()));
                part.appended.notify_one();
                return;
            }
            Ok(Err(e)) => last_error = engine.redactor.scrub(&e.to_string()),
            Err(_) => last_error = format!("no answer within {:?}", engine.plugs.store_timeout),
        }
        engine.ledger.note(crate::accounting::Activity::OutboxError);
        tracing::warn!(attempt, events = n, error = %last_error, "outbox append failed");
        if attempt < APPEND_TRIES {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
    }
    tracing::error!(events = n, error = %last_error, "outbox append failed for good: events not stored");
    for event in &batch {
        engine.ledger.not_stored(1, event.tally());
    }
    answer(batch, &Err(last_error));
}

fn new_entry(event: &QueuedEvent, now_ms: u64) -> NewEntry {
    NewEntry {
        webhook_id: event.webhook_id().clone(),
        event: event.event().to_owned(),
        task_id: event.task_id().map(str::to_owned),
        body: event.message.body().clone(),
        attempts: 0,
        not_before_ms: now_ms,
        created_ms: now_ms,
        replay_of: event.replay_of.clone(),
        endpoint: event.endpoint_id().map(|id| id.to_string()),
        ordering_key: event.ordering_key().map(|k| k.to_string()),
    }
}

fn answer(batch: Vec<QueuedEvent>, result: &Result<(), String>) {
    for event in batch {
        if let Some(confirm) = event.durable.and_then(|d| d.confirm) {
            confirm.send(result.clone());
        }
    }
}
