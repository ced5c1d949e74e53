//! Test support for code that sends webhooks with `webhook-core`: no network, no
//! hand-written fakes.
//!
//! Add it as a dev-dependency only (`[dev-dependencies] webhook-testkit = ...`); it turns
//! on `webhook-core`'s `test-util` feature (for `NotifierBuilder::paused_clock`).
//!
//! # What is here
//! - [`ScriptedTransport`]: an in-memory [`Transport`](webhook_core::Transport) that
//!   answers each attempt from a [`Script`] of [`Reply`]s (statuses, delays, transport
//!   errors, `Retry-After`, silence), records every attempt, and lets a test `await` a
//!   number of attempts or deliveries, bounded by a timeout.
//! - [`TestReceiver`]: a real HTTP server on `127.0.0.1:0` that records requests, checks
//!   both signature schemes, answers from a script (or closes the connection, or holds
//!   answers until told), and hands out a ready [`config`](TestReceiver::config).
//! - [`mocks`]: mockall mocks of the three plug points ([`MockTransport`],
//!   [`MockFailureStore`], [`MockQueuePolicy`]).
//! - [`store_suite`]: the behaviour every [`FailureStore`](webhook_core::FailureStore)
//!   must show, checked with one call.
//! - [`RecordingObserver`]: an [`Observer`](webhook_core::observe::Observer) that
//!   records every report, and can be held back to play a slow observer.
//! - Helpers: [`sample_payloads`] (one per seed event type), [`TestConfig`] (fast,
//!   jitter-free retries) and [`assert_accounting`].
//!
//! # Swapping the transport in a unit test
//! Code under test takes an `Arc<dyn Transport>`; the test hands it a scripted one and
//! checks what was sent. On a paused clock the backoff takes no real time, and the
//! recorded times show it exactly.
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use webhook_core::{Notifier, ResolvedWebhookConfig, Transport, WebhookEventType, WebhookPayload};
//! use webhook_testkit::{Script, ScriptedTransport, TestConfig, assert_accounting};
//!
//! /// The code under test: reports a failed task.
//! fn report_failure(notifier: &Notifier, task: &str) {
//!     let payload = WebhookPayload::new(WebhookEventType::TaskFailed)
//!         .task_id(task)
//!         .note("CI gate failed");
//!     notifier.send(&payload);
//! }
//!
//! fn notifier(config: ResolvedWebhookConfig, transport: Arc<dyn Transport>) -> Notifier {
//!     Notifier::builder(config, transport).paused_clock().start().expect("worker starts")
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Each webhook gets two 503s, then 200.
//! let transport = Arc::new(ScriptedTransport::per_webhook(Script::fail_then_succeed(2, 503)));
//! let notifier = notifier(TestConfig::default().resolve()?, transport.clone());
//!
//! report_failure(&notifier, "RQ-7");
//!
//! transport.wait_for_deliveries(1, Duration::from_secs(5)).await?;
//! let attempts = transport.attempts();
//! assert_eq!(attempts.len(), 3);
//! assert!(attempts.iter().all(|a| a.webhook_id == attempts[0].webhook_id));
//! assert_eq!(attempts[2].event().as_deref(), Some("task_failed"));
//! assert_eq!(attempts[2].at - attempts[1].at, Duration::from_millis(200));
//! assert!(notifier.wait_idle_async(Duration::from_secs(5)).await);
//! assert_accounting(&notifier.stats());
//! # Ok(())
//! # }
//! ```
//! The same with a mock, when the test is about the exact calls:
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use webhook_core::transport::{DeliveryResponse, StatusCode};
//! use webhook_core::{Notifier, WebhookEventType, WebhookPayload};
//! use webhook_testkit::{MockTransport, TestConfig};
//!
//! // The worker asks `enforces_timeout` once at start: answer it as the trait's default does.
//! let mut transport = MockTransport::with_enforces_timeout(false);
//! transport
//!     .expect_send()
//!     .withf(|request| request.attempt == 1 && request.webhook_id().is_some())
//!     .times(1)
//!     .returning(|_| Ok(DeliveryResponse::new(StatusCode::NO_CONTENT)));
//! let notifier = Notifier::builder(TestConfig::default().resolve()?, Arc::new(transport)).start()?;
//! notifier.send(&WebhookPayload::new(WebhookEventType::TaskCreated));
//! let report = notifier.shutdown(Duration::from_secs(5));
//! assert_eq!(report.stats.delivered, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Writing and checking a custom store
//! A [`FailureStore`](webhook_core::FailureStore) needs little code, since
//! [`FailureRecord::apply`](webhook_core::store::FailureRecord::apply) and
//! [`RecordFilter::matches`](webhook_core::store::RecordFilter::matches) carry the
//! rules. [`store_suite::run_all`] checks every promise of the trait (read back,
//! newest first, filters, replay bookkeeping, no lost concurrent update, pruning):
//! ```
//! use std::sync::{Arc, Mutex};
//! use webhook_core::async_trait;
//! use webhook_core::store::{
//!     FailureRecord, FailureStore, RecordFilter, RecordId, RecordUpdate, StoreError,
//! };
//!
//! /// Keeps records in a vector, oldest first.
//! #[derive(Debug, Default)]
//! struct VecStore(Mutex<Vec<FailureRecord>>);
//!
//! impl VecStore {
//!     fn records(&self) -> std::sync::MutexGuard<'_, Vec<FailureRecord>> {
//!         self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
//!     }
//! }
//!
//! #[async_trait]
//! impl FailureStore for VecStore {
//!     async fn record(&self, record: FailureRecord) -> Result<(), StoreError> {
//!         let mut records = self.records();
//!         records.push(record);
//!         records.sort_by(|a, b| a.id.cmp(&b.id));
//!         Ok(())
//!     }
//!     async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
//!         let records = self.records();
//!         let matching = records.iter().rev().filter(|r| filter.matches(r));
//!         Ok(matching.take(filter.limit).cloned().collect())
//!     }
//!     async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError> {
//!         Ok(self.records().iter().find(|r| r.id == *id).cloned())
//!     }
//!     async fn update(
//!         &self,
//!         id: &RecordId,
//!         update: &RecordUpdate,
//!     ) -> Result<Option<FailureRecord>, StoreError> {
//!         let mut records = self.records();
//!         let Some(record) = records.iter_mut().find(|r| r.id == *id) else {
//!             return Ok(None);
//!         };
//!         let mut next = record.clone();
//!         next.apply(update)
//!             .map_err(|reason| StoreError::Rejected { id: id.clone(), reason })?;
//!         *record = next.clone();
//!         Ok(Some(next))
//!     }
//!     async fn prune(&self, keep: usize) -> Result<usize, StoreError> {
//!         let mut records = self.records();
//!         let excess = records.len().saturating_sub(keep);
//!         records.drain(..excess);
//!         Ok(excess)
//!     }
//!     async fn count(&self) -> Result<usize, StoreError> {
//!         Ok(self.records().len())
//!     }
//!     fn location(&self) -> String {
//!         "vec".to_owned()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! webhook_testkit::store_suite::run_all(Arc::new(VecStore::default())).await;
//! # }
//! ```
//!
//! # Asserting on received webhooks end to end
//! A [`TestReceiver`] is a real endpoint: deliveries go through the production
//! `webhook_http::HttpTransport`, and the receiver checks what arrived (signatures
//! included) and answers as scripted.
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use webhook_core::{Notifier, WebhookEventType};
//! use webhook_http::HttpTransport;
//! use webhook_testkit::{Script, TestReceiver, assert_accounting, sample_payload};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The first attempt of every webhook gets a 503, the second a 200.
//! let receiver = TestReceiver::builder()
//!     .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
//!     .per_webhook(Script::fail_then_succeed(1, 503))
//!     .start()?;
//! let config = receiver.test_config().resolve()?;
//! let transport = HttpTransport::from_config(&config)?;
//! let notifier = Notifier::builder(config, Arc::new(transport)).start()?;
//!
//! notifier.send(&sample_payload(WebhookEventType::TaskCompleted));
//!
//! receiver.wait_for_deliveries(1, Duration::from_secs(10)).await?;
//! let requests = receiver.requests();
//! assert_eq!(requests.len(), 2, "one 503, then the retry");
//! assert_eq!(requests[0].webhook_id(), requests[1].webhook_id());
//! assert_eq!(requests[1].event().as_deref(), Some("task_completed"));
//! assert!(requests.iter().all(|r| r.signatures.standard.is_valid()));
//! assert!(notifier.wait_idle_async(Duration::from_secs(5)).await);
//! assert_eq!(notifier.stats().retries, 1);
//! assert_accounting(&notifier.stats());
//! # Ok(())
//! # }
//! ```

mod accounting;
mod config;
mod journal;
pub mod mocks;
mod observer;
mod payloads;
mod receiver;
mod script;
mod scripted;

mod outbox;
pub use accounting::{AccountingSnapshot, assert_accounting};
pub use config::TestConfig;
pub use journal::WaitTimeout;
pub use mocks::{MockFailureStore, MockOutbox, MockQueuePolicy, MockTransport};
pub use observer::{MAX_HOLD, RecordingObserver};
pub use outbox::{Faults, FaultyOutbox, MemoryOutbox};
pub use payloads::{SAMPLE_TIMESTAMP, sample_payload, sample_payloads};
pub use receiver::{
    ReceivedRequest, ReceiverError, SignatureCheck, Signatures, TestReceiver, TestReceiverBuilder,
};
pub use script::{Reply, ReplyKind, Script};
pub use scripted::{RecordedAttempt, ScriptedTransport};
/// The behaviour suite every [`Outbox`](webhook_core::outbox::Outbox) must pass (`outbox_suite::run_all`).
pub use webhook_core::outbox::conformance as outbox_suite;
/// The [`FailureStore`](webhook_core::FailureStore) behaviour suite: call
/// [`store_suite::run_all`] with a fresh, empty store (inside a tokio runtime); it panics
/// with a message naming the broken rule. The checks are also public one by one.
pub use webhook_core::store::conformance as store_suite;
