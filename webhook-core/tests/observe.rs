//! The attempt span (captured by a real subscriber) and the figures of the moment.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use support::{Gated, Scripted, config, ok};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use webhook_core::{Notifier, WebhookEventType, WebhookPayload};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A span's name and its fields as text.
type Captured = (String, BTreeMap<String, String>);

/// Every span, by span id.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<BTreeMap<u64, Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.lock().insert(id.into_u64(), (name, fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.lock().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

impl Spans {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Captured>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fields of the `webhook.attempt` spans of webhook `id`, oldest first.
    fn attempts_of(&self, id: &str) -> Vec<BTreeMap<String, String>> {
        self.lock()
            .values()
            .filter(|(name, f)| {
                name == "webhook.attempt" && f.get("webhook.id").map(String::as_str) == Some(id)
            })
            .map(|(_, f)| f.clone())
            .collect()
    }
}

/// The process-wide collector (the worker runs on its own thread, so a thread-local
/// default would not see its spans).
fn spans() -> Spans {
    static SPANS: OnceLock<Spans> = OnceLock::new();
    SPANS
        .get_or_init(|| {
            let spans = Spans::default();
            let subscriber = tracing_subscriber::registry().with(spans.clone());
            tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
            spans
        })
        .clone()
}

#[tokio::test]
async fn each_attempt_has_a_span_with_id_attempt_and_outcome_and_no_secret_path_or_query() {
    let spans = spans();
    // The span the transport runs in, per call.
    let inside: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = inside.clone();
    let transport = Scripted::new(move |_, n| {
        let current = tracing::Span::current();
        let name = current.metadata().map_or("none", |m| m.name()).to_owned();
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name);
        Ok(ok(if n == 0 { 503 } else { 200 }))
    });
    let cfg = config(serde_json::json!({ "secret": SECRET, "retry_backoff_ms": 100 }));
    let notifier = Notifier::builder(cfg, transport.clone())
        .paused_clock()
        .start()
        .expect("start");
    notifier.send(&WebhookPayload::new(WebhookEventType::TaskCreated).task_id("T-9"));
    assert!(notifier.wait_idle_async(Duration::from_secs(60)).await);
    let id = transport.seen()[0].webhook_id.clone();

    let attempts = spans.attempts_of(&id);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let field = |i: usize, name: &str| attempts[i].get(name).cloned().unwrap_or_default();
    assert_eq!(field(0, "webhook.attempt"), "1");
    assert_eq!(field(0, "outcome"), "retryable");
    assert_eq!(field(0, "http.response.status_code"), "503");
    assert_eq!(field(1, "webhook.attempt"), "2");
    assert_eq!(field(1, "outcome"), "success");
    assert_eq!(field(1, "http.response.status_code"), "200");
    assert_eq!(field(1, "webhook.event"), "task_created");
    assert_eq!(field(1, "server.address"), "hooks.example.com");
    let everything = format!("{attempts:?}");
    for leak in [
        "TOKEN",
        "sig=abc",
        "/hook",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(!everything.contains(leak), "{leak} in {everything}");
    }
    let inside = inside
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(inside, ["webhook.attempt", "webhook.attempt"]);
    notifier.shutdown_async(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_oldest_pending_age_is_that_of_the_oldest_queued_event_and_never_understated() {
    let _ = spans();
    let (transport, mut arrived) = Gated::new();
    let cfg = config(serde_json::json!({ "max_concurrency": 1 }));
    let notifier = Notifier::builder(cfg, transport.clone())
        .start()
        .expect("start");
    let payload = WebhookPayload::new(WebhookEventType::TaskCreated);
    assert!(notifier.figures().oldest_pending.is_none());

    let start = Instant::now();
    notifier.send(&payload);
    arrived.recv().await.expect("first attempt under way");
    notifier.send(&payload);
    let after = Instant::now();
    notifier.send(&payload);
    let asked = Instant::now();
    let figures = notifier.figures();
    let answered = Instant::now();

    assert_eq!((figures.queue_depth, figures.in_flight), (2, 1));
    assert_eq!(figures.outbox_pending, None, "no outbox in memory mode");
    let age = figures.oldest_pending.expect("events are pending");
    // The second event (the front of the queue) was offered before `after`: the age
    // never understates. Its stamp is the last published reading of the clock: the
    // worker's when it took the first event (after `start`), or one at most the stamp
    // grain (100 µs) older: it overstates by at most that much.
    let grain = Duration::from_micros(100);
    assert!(age >= asked - after, "{age:?}");
    assert!(age <= answered - start + grain, "{age:?}");

    transport.release_all();
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    let figures = notifier.figures();
    assert_eq!((figures.queue_depth, figures.in_flight), (0, 0));
    assert_eq!(figures.oldest_pending, None);
    notifier.shutdown_async(Duration::from_secs(5)).await;
}
