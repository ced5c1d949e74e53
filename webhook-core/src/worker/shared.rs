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
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::task::{Poll, Waker};
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

/// How the shutdown cuts off the attempts still running at its deadline.
///
/// Each delivery task (a lane that goes on with the next queued event, or a task spawned
/// while draining) holds one slot for its whole life, so an attempt only stores its
/// task's waker (usually the same one, so nothing is cloned) under an uncontended lock.
/// A `watch` receiver per attempt cost a subscription and a registration in a shared
/// waiter list for every event.
#[derive(Debug, Default)]
pub(crate) struct AbortSlot {
    /// Whether the shutdown fired, and the waker of the attempt waiting on it.
    state: Mutex<(bool, Option<Waker>)>,
}

impl AbortSlot {
    fn fire(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Resolves once the shutdown deadline has passed.
    pub(crate) async fn fired(&self) {
        poll_fn(|cx| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.0 {
                return Poll::Ready(());
            }
            match &state.1 {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.1 = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
    }
}

/// Every live [`AbortSlot`], and whether they have been fired.
#[derive(Debug, Default)]
pub(crate) struct AbortSlots {
    state: Mutex<(bool, Vec<Weak<AbortSlot>>)>,
}

impl AbortSlots {
    /// A new slot, already fired if the shutdown deadline has passed.
    pub(crate) fn slot(&self) -> Arc<AbortSlot> {
        let slot = Arc::new(AbortSlot::default());
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 {
            slot.fire();
            return slot;
        }
        // Slots die with their tasks; forget the dead ones before the list doubles.
        if state.1.len() == state.1.capacity() {
            state.1.retain(|weak| weak.strong_count() > 0);
        }
        state.1.push(Arc::downgrade(&slot));
        slot
    }

    /// Fires every slot, now and to come.
    pub(crate) fn fire_all(&self) {
        let slots = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        for slot in slots.iter().filter_map(Weak::upgrade) {
            slot.fire();
        }
    }
}

pub(crate) struct Shared {
    pub(crate) config: ResolvedWebhookConfig,
    pub(crate) transport: Arc<dyn Transport>,
    /// [`Transport::enforces_timeout`], asked once.
    pub(crate) transport_bounds_itself: bool,
    pub(crate) store: Arc<dyn FailureStore>,
    pub(crate) queue: BoundedQueue,
    pub(crate) counters: Arc<Counters>,
    pub(crate) signer: Signer,
    pub(crate) base_headers: HeaderMap,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) phase: watch::Sender<Phase>,
    /// Fired together with `Phase::Aborted`: cuts off the attempts in flight.
    pub(crate) aborts: AbortSlots,
    pub(crate) jitter: Mutex<JitterSource>,
    pub(crate) store_timeout: Duration,
    pub(crate) policy_name: String,
    /// Woken when the worker may have become idle (see `leave_in_flight`).
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
    /// The headers every attempt starts from, with placeholders for the per-attempt
    /// ones (webhook id, signature headers) at the end: a clone of it then has room for
    /// them and keeps its order, and `request` only replaces values.
    pub(crate) fn base_headers(
        config: &ResolvedWebhookConfig,
        user_agent: &str,
        signer: &Signer,
    ) -> HeaderMap {
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
        headers.insert(WEBHOOK_ID_NAME.clone(), HeaderValue::from_static(""));
        for name in signer.header_names() {
            headers.insert(name, HeaderValue::from_static(""));
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
        // Ids are checked when made, so the value cannot be refused; if it were, the
        // placeholder goes rather than an empty header.
        match HeaderValue::try_from(id) {
            Ok(value) => headers.insert(WEBHOOK_ID_NAME.clone(), value),
            Err(_) => headers.remove(&WEBHOOK_ID_NAME),
        };
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
    ///
    /// Only the waiters for idleness listen to `activity`, so they are woken only when
    /// this may have made the worker idle, not once per event (a waiter re-checking
    /// after every delivery cost a task wake-up per event at full load). Whatever event
    /// leaves last sees the others' decrements (one chain of read-modify-writes) and its
    /// own pop, so the wake-up for the idle state is never missed.
    pub(crate) fn leave_in_flight(&self) {
        let before = self.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.is_idle() {
            self.activity.notify_waiters();
        }
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
