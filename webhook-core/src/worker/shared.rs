//! State shared by the handle, the worker loop and the delivery tasks.

use super::report::ShutdownReport;
use super::stats::Counters;
use crate::config::ResolvedWebhookConfig;
use crate::queue::BoundedQueue;
use crate::retry::JitterSource;
use crate::signing::{Signer, WEBHOOK_ID_NAME};
use crate::store::FailureStore;
use crate::transport::{DeliveryRequest, Transport};
use base64::Engine;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, Semaphore, watch};

/// The `user-agent` sent with every request.
pub const USER_AGENT_VALUE: &str = concat!("webhook-rs/", env!("CARGO_PKG_VERSION"));

/// Where the worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// Intake is closed; keep delivering until the deadline.
    Draining {
        deadline: tokio::time::Instant,
    },
    /// The deadline passed: everything still pending goes to the store.
    Aborted,
}

pub(crate) struct Shared {
    pub(crate) config: ResolvedWebhookConfig,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) store: Arc<dyn FailureStore>,
    pub(crate) queue: BoundedQueue,
    pub(crate) counters: Arc<Counters>,
    pub(crate) signer: Signer,
    pub(crate) base_headers: HeaderMap,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) phase: watch::Sender<Phase>,
    pub(crate) jitter: Mutex<JitterSource>,
    pub(crate) store_timeout: Duration,
    pub(crate) policy_name: String,
    /// Woken whenever an event leaves `in_flight` or `waiting_retries`.
    pub(crate) activity: Notify,
    /// Texts that must never reach a log line or a record (URL path/query, password, secrets).
    pub(crate) scrub: Vec<String>,
    pub(crate) report: Mutex<Option<ShutdownReport>>,
    pub(crate) report_ready: Condvar,
    pub(crate) report_watch: watch::Sender<Option<ShutdownReport>>,
    /// Under a paused test clock, wall time is derived from the runtime's clock so that
    /// signature timestamps advance with it.
    pub(crate) paused_clock: bool,
    pub(crate) wall_origin: std::sync::OnceLock<(SystemTime, tokio::time::Instant)>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn base_headers(config: &ResolvedWebhookConfig, user_agent: &str) -> HeaderMap {
        let mut headers = config.headers.0.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let agent = HeaderValue::try_from(user_agent)
            .unwrap_or_else(|_| HeaderValue::from_static(USER_AGENT_VALUE));
        headers.insert(USER_AGENT, agent);
        if let Some((user, password)) = config.destination.as_ref().and_then(|d| d.basic_auth()) {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            if let Ok(mut value) = HeaderValue::try_from(format!("Basic {token}")) {
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
        }
        headers
    }

    pub(crate) fn scrub_list(config: &ResolvedWebhookConfig) -> Vec<String> {
        let mut scrub = Vec::new();
        if let Some(dest) = &config.destination {
            if let Some(pq) = dest.uri().path_and_query() {
                if pq.as_str().len() > 1 {
                    scrub.push(pq.as_str().to_owned());
                    scrub.push(pq.path().to_owned());
                    if let Some(q) = pq.query() {
                        scrub.push(q.to_owned());
                    }
                }
            }
            if let Some((user, password)) = dest.basic_auth() {
                scrub.push(format!("{user}:{password}"));
                if !password.is_empty() {
                    scrub.push(password.to_owned());
                }
            }
        }
        scrub.retain(|s| s.len() > 1);
        scrub.sort_by_key(|s| std::cmp::Reverse(s.len()));
        scrub
    }

    /// Removes anything secret from an error text and clips it to the record limit.
    pub(crate) fn sanitize(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.scrub {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), "…");
            }
        }
        for secret in &self.config.secrets {
            if let Some(s) = secret.as_text() {
                if s.len() >= 4 && out.contains(s) {
                    out = out.replace(s, "***");
                }
            }
        }
        crate::store::clip_error(&out)
    }

    /// Builds one attempt: fresh timestamp and signatures, same webhook id.
    pub(crate) fn request(
        &self,
        destination: &Arc<crate::config::Destination>,
        event: &crate::queue::QueuedEvent,
        attempt: u32,
    ) -> DeliveryRequest {
        let mut headers = self.base_headers.clone();
        let id = event.message.id().as_str();
        if let Ok(value) = HeaderValue::try_from(id) {
            headers.insert(WEBHOOK_ID_NAME.clone(), value);
        }
        let now = crate::time::unix_seconds(self.wall_clock());
        self.signer
            .sign_into(&mut headers, id, now, event.message.body());
        DeliveryRequest::new(
            destination.clone(),
            headers,
            event.message.body().clone(),
            self.config.timeout,
            attempt,
        )
    }

    /// Offers a replayed event without evicting anything.
    pub(crate) fn push_replay(&self, event: crate::queue::QueuedEvent) -> bool {
        let ok = self.queue.push_if_room(event) == crate::queue::PushResult::Accepted;
        if ok {
            super::stats::bump(&self.counters.replays_enqueued);
        }
        ok
    }

    /// The wall-clock time for signatures and records.
    pub(crate) fn wall_clock(&self) -> SystemTime {
        if !self.paused_clock {
            return SystemTime::now();
        }
        let (wall, mono) = *self
            .wall_origin
            .get_or_init(|| (SystemTime::now(), tokio::time::Instant::now()));
        wall + mono.elapsed()
    }

    pub(crate) fn is_idle(&self) -> bool {
        let c = &self.counters;
        self.queue.len() == 0
            && c.in_flight.load(Ordering::SeqCst) == 0
            && c.waiting_retries.load(Ordering::SeqCst) == 0
    }

    /// Waits until nothing is queued, in flight or waiting, or until `deadline`.
    pub(crate) async fn wait_idle_until(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let woken = self.activity.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.is_idle() {
                return true;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return self.is_idle();
            }
        }
    }

    /// Leaves `in_flight` (after the event's final counter was bumped).
    pub(crate) fn leave_in_flight(&self) {
        self.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.activity.notify_waiters();
    }

    pub(crate) fn jitter_sample(&self) -> f64 {
        self.jitter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_unit()
    }

    pub(crate) fn publish_report(&self, report: ShutdownReport) {
        *self.report.lock().unwrap_or_else(PoisonError::into_inner) = Some(report.clone());
        self.report_ready.notify_all();
        self.report_watch.send_replace(Some(report));
    }

    pub(crate) fn finished_report(&self) -> Option<ShutdownReport> {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Blocks until the worker has published its report, up to `bound`.
    pub(crate) fn wait_report(&self, bound: Duration) -> Option<ShutdownReport> {
        let guard = self.report.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .report_ready
            .wait_timeout_while(guard, bound, |r| r.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        guard.clone()
    }
}
