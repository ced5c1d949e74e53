//! An in-process webhook notifier: the contracts and the engine.
//!
//! An application hands an event to a [`Notifier`] and goes on at once; a
//! background worker signs it, delivers it through a [`Transport`], retries what is
//! worth retrying and keeps what finally failed in a [`FailureStore`], from which it can
//! be replayed. A bounded queue with a [`QueuePolicy`] keeps a slow endpoint from
//! slowing the application.
//!
//! This crate has no HTTP client and no database: `webhook-http` provides the hyper
//! transport, `webhook-sled` a durable store, `webhook-testkit` mocks and a receiver.
//!
//! # Modules
//! - [`event`]: event names, the seed's payload, messages and webhook ids.
//! - [`config`]: `WebhookConfig` and its validated form, destinations and their checks.
//! - [`signing`]: Standard Webhooks and hex HMAC-SHA256 signatures, and verification.
//! - [`transport`], [`store`], [`queue`]: the three plug points.
//! - [`retry`]: classification and the retry schedule.
//! - [`worker`]: the [`Notifier`] handle, its worker thread, counters and shutdown.
//! - [`diagnostics`], [`replay`]: what operators look at and how they resend failures.
//! - [`observe`]: the `Observer` plug point, the figures gauges show, metric names.
//! - [`endpoint`]: many receivers: endpoints, their breakers, rate limits and routes.
//! - [`redact`]: what of a URL, an error or a secret may be shown, in one place.

mod accounting;
pub mod config;
pub mod diagnostics;
pub mod endpoint;
pub mod event;
mod hex;
pub mod observe;
pub mod outbox;
pub mod queue;
mod random;
pub mod redact;
pub mod replay;
pub mod retry;
pub mod signing;
pub mod store;
pub mod time;
pub mod transport;
pub mod worker;

/// The attribute that implementations of [`Transport`] and [`FailureStore`] put on their
/// `impl` blocks (re-exported from `async-trait`, so implementers need no dependency on it).
pub use async_trait::async_trait;
/// The `http` crate, whose [`StatusCode`](http::StatusCode) and
/// [`HeaderMap`](http::HeaderMap) the [`Transport`] contract uses.
pub use http;

pub use config::{ConfigError, ResolvedWebhookConfig, WebhookConfig};
pub use diagnostics::WebhookDiagnostics;
pub use event::{
    SeedPayload, WebhookContext, WebhookEventType, WebhookId, WebhookMessage, WebhookPayload,
};
pub use queue::{QueuePolicy, WebhookQueuePolicy};
pub use replay::{ReplayCandidate, ReplayError, ReplayReport, ReplaySelector};
pub use store::{FailureRecord, FailureStore, MemoryFailureStore, WebhookFailureRecord};
pub use transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
pub use worker::{
    DeliveryStats, DropReason, Durable, EnqueueOutcome, NotStored, Notifier, NotifierBuilder,
    ShutdownReport, StartError,
};

#[cfg(test)]
mod object_safety {
    use super::*;
    use std::sync::Arc;

    // Compiles only while the three traits stay object-safe.
    fn _takes_trait_objects(
        _: Arc<dyn Transport>,
        _: Arc<dyn FailureStore>,
        _: Arc<dyn QueuePolicy>,
        _: Arc<dyn observe::Observer>,
    ) {
    }

    #[test]
    fn the_plug_points_are_usable_as_trait_objects() {
        let store: Arc<dyn FailureStore> = Arc::new(MemoryFailureStore::new());
        let policy: Arc<dyn QueuePolicy> = Arc::new(WebhookQueuePolicy::DropNew);
        assert_eq!(store.location(), "memory");
        assert!(format!("{policy:?}").contains("DropNew"));
    }
}
