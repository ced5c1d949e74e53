//! The methods that may wait, each in its blocking and its async form (the rule is in
//! [`Notifier`]'s docs), and the one formula that bounds them.

use super::notifier::{Inner, Notifier};
use super::report::ShutdownReport;
use super::run::Command;
use crate::diagnostics::{OutboxDiagnostics, WebhookDiagnostics};
use crate::replay::{ReplayError, ReplayReport, ReplaySelector};
use std::future::Future;
use std::time::Duration;

/// How long a waiting method waits beyond its operation's own bound before it reports
/// that the worker did not answer.
pub const WAIT_SLACK: Duration = Duration::from_secs(2);

/// The one bound of every waiting method: the operation's own bound plus [`WAIT_SLACK`].
pub(super) fn bound(work: Duration) -> Duration {
    work.saturating_add(WAIT_SLACK)
}

impl Notifier {
    /// Waits until nothing is queued, in flight or waiting to retry, up to `timeout`.
    /// Returns whether that state was reached.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.call_blocking(timeout, self.idle_within(timeout))
            .unwrap_or(false)
    }

    /// Async form of [`Notifier::wait_idle`].
    pub async fn wait_idle_async(&self, timeout: Duration) -> bool {
        self.call_async(timeout, self.idle_within(timeout))
            .await
            .unwrap_or(false)
    }

    fn idle_within(&self, timeout: Duration) -> impl Future<Output = bool> + Send + 'static {
        let engine = self.inner.engine.clone();
        async move {
            let deadline = tokio::time::Instant::now() + timeout;
            match engine.outbox.as_ref() {
                None => engine.ledger.wait_idle_until(deadline).await,
                Some(part) => outbox_empty_until(&engine, part, deadline).await,
            }
        }
    }

    /// Counters, configuration and the newest `recent` failure records. If the store
    /// does not answer within the store timeout, the snapshot says so in `store_error`.
    pub fn diagnostics(&self, recent: usize) -> WebhookDiagnostics {
        let work = self.inner.engine.plugs.store_timeout;
        self.call_blocking(work, self.read_diagnostics(recent))
            .unwrap_or_else(|| self.diagnostics_without_store())
    }

    /// Async form of [`Notifier::diagnostics`].
    pub async fn diagnostics_async(&self, recent: usize) -> WebhookDiagnostics {
        let work = self.inner.engine.plugs.store_timeout;
        self.call_async(work, self.read_diagnostics(recent))
            .await
            .unwrap_or_else(|| self.diagnostics_without_store())
    }

    fn diagnostics_without_store(&self) -> WebhookDiagnostics {
        let mut diag = self.diagnostics_base();
        diag.store_error = Some("the webhook worker did not answer".to_owned());
        diag
    }

    fn diagnostics_base(&self) -> WebhookDiagnostics {
        let engine = &self.inner.engine;
        let config = &engine.config;
        let mut diag = WebhookDiagnostics::new(
            config,
            engine.queue.capacity(),
            engine.policy_name.clone(),
            self.stats(),
            engine.plugs.store.location(),
        );
        diag.endpoints = engine.endpoints.list();
        diag
    }

    fn read_diagnostics(
        &self,
        recent: usize,
    ) -> impl Future<Output = WebhookDiagnostics> + Send + 'static {
        let engine = self.inner.engine.clone();
        let base = self.diagnostics_base();
        async move {
            let plugs = &engine.plugs;
            let mut diag = base
                .read_store(
                    plugs.store.as_ref(),
                    recent,
                    plugs.store_timeout,
                    &engine.redactor,
                )
                .await;
            if let Some(part) = engine.outbox.as_ref() {
                let now_ms = crate::time::unix_millis(engine.clock.now());
                let outbox = part.outbox.as_ref();
                let (bound, redactor) = (plugs.store_timeout, &engine.redactor);
                diag.outbox = Some(OutboxDiagnostics::read(outbox, now_ms, bound, redactor).await);
            }
            diag
        }
    }

    /// Replays stored failures chosen by `selector` (see [`crate::replay`]).
    ///
    /// Its bound: the store timeout for each store call it makes (one list, then at most
    /// two updates per record).
    pub fn replay(
        &self,
        selector: &ReplaySelector,
        dry_run: bool,
    ) -> Result<ReplayReport, ReplayError> {
        selector.validate()?;
        let work = self.replay_bound(selector);
        self.call_blocking(work, self.run_replay(selector, dry_run))
            .unwrap_or(Err(ReplayError::Stopped))
    }

    /// Async form of [`Notifier::replay`].
    pub async fn replay_async(
        &self,
        selector: &ReplaySelector,
        dry_run: bool,
    ) -> Result<ReplayReport, ReplayError> {
        selector.validate()?;
        let work = self.replay_bound(selector);
        self.call_async(work, self.run_replay(selector, dry_run))
            .await
            .unwrap_or(Err(ReplayError::Stopped))
    }

    fn replay_bound(&self, selector: &ReplaySelector) -> Duration {
        let calls = 1 + 2 * u32::try_from(selector.limit).unwrap_or(u32::MAX / 4);
        self.inner.engine.plugs.store_timeout.saturating_mul(calls)
    }

    fn run_replay(
        &self,
        selector: &ReplaySelector,
        dry_run: bool,
    ) -> impl Future<Output = Result<ReplayReport, ReplayError>> + Send + 'static {
        let (engine, selector) = (self.inner.engine.clone(), selector.clone());
        async move {
            let plugs = &engine.plugs;
            let enqueue = |event, endpoint: Option<&str>| engine.push_replay(event, endpoint);
            let store = plugs.store.as_ref();
            crate::replay::run(store, plugs.store_timeout, &selector, dry_run, &enqueue).await
        }
    }

    /// Stops intake, keeps delivering until the queue is empty or `timeout` passes, then
    /// records what is left in the store, stops the worker and joins its thread. Its
    /// bound: `timeout` plus the store timeout.
    ///
    /// Calling it again returns the first report.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let report = self.inner.engine.lifecycle.report();
        if let Some(report) = report.get() {
            return report;
        }
        let _ = self.inner.commands.send(Command::Shutdown { timeout });
        match report.wait_blocking(bound(self.shutdown_work(timeout))) {
            Some(report) => {
                self.inner.worker.join();
                report
            }
            None => self.stuck_report(),
        }
    }

    /// Async form of [`Notifier::shutdown`]; it joins the worker thread once that thread
    /// has finished, so it never blocks the caller's runtime.
    pub async fn shutdown_async(&self, timeout: Duration) -> ShutdownReport {
        let report = self.inner.engine.lifecycle.report();
        if let Some(report) = report.get() {
            return report;
        }
        let _ = self.inner.commands.send(Command::Shutdown { timeout });
        let engine = self.inner.engine.clone();
        let published = async move { engine.lifecycle.report().wait().await.is_some() };
        // Ends with the report, at the bound, or when the worker's runtime stops.
        let _ = self
            .call_async(self.shutdown_work(timeout), published)
            .await;
        let Some(report) = report.get() else {
            return self.stuck_report();
        };
        // The thread's last steps are bounded (its runtime's own shutdown timeout).
        self.inner.worker.finished().await;
        self.inner.worker.join();
        report
    }

    fn shutdown_work(&self, timeout: Duration) -> Duration {
        timeout.saturating_add(self.inner.engine.plugs.store_timeout)
    }

    fn stuck_report(&self) -> ShutdownReport {
        let stats = self.stats();
        tracing::error!("webhook worker did not stop in time");
        ShutdownReport {
            unfinished: stats.queued + stats.in_flight + stats.waiting_retries,
            deadline_reached: true,
            stats,
            ..ShutdownReport::default()
        }
    }

    /// Runs `fut` (bounded by `work` on its own) on the worker's runtime and blocks for
    /// its result, up to [`bound`]`(work)`.
    fn call_blocking<T: Send + 'static>(
        &self,
        work: Duration,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.worker.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv_timeout(bound(work)).ok()
    }

    /// Runs `fut` on the worker's runtime and awaits its result, up to
    /// [`bound`]`(work)`. The timer runs on the worker's runtime, so the caller's
    /// runtime needs no time driver, and a paused test clock there changes nothing.
    pub(super) async fn call_async<T: Send + 'static>(
        &self,
        work: Duration,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.worker.runtime.spawn(async move {
            if let Ok(result) = tokio::time::timeout(bound(work), fut).await {
                let _ = tx.send(result);
            }
        });
        rx.await.ok()
    }
}

/// Outbox mode: idle means nothing in memory and nothing left in the outbox (retries
/// waiting there included). The ledger wakes this whenever memory runs empty; between
/// such moments it looks again every [`OUTBOX_IDLE_POLL`].
async fn outbox_empty_until(
    engine: &super::engine::Engine,
    part: &super::engine::OutboxPart,
    deadline: tokio::time::Instant,
) -> bool {
    loop {
        if engine.ledger.wait_idle_until(deadline).await
            && part.outbox.pending().await.is_ok_and(|p| p.count == 0)
            && engine.ledger.is_idle()
        {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep_until((now + OUTBOX_IDLE_POLL).min(deadline)).await;
    }
}

/// How often an outbox-mode idle wait looks at the outbox again.
const OUTBOX_IDLE_POLL: Duration = Duration::from_millis(10);

impl Drop for Inner {
    /// The last handle is gone: shut down with the configured grace, under the same
    /// bound as [`Notifier::shutdown`]; a worker that does not stop is detached.
    fn drop(&mut self) {
        let report = self.engine.lifecycle.report();
        if report.get().is_none() {
            let grace = self.engine.config.shutdown_grace;
            let _ = self.commands.send(Command::Shutdown { timeout: grace });
            let work = grace.saturating_add(self.engine.plugs.store_timeout);
            if report.wait_blocking(bound(work)).is_none() {
                tracing::error!("webhook worker did not stop within its grace; detaching it");
                return;
            }
        }
        self.worker.join();
    }
}
