//! [mockall](https://docs.rs/mockall) mocks of the plug points (transport, store, policy, outbox), for tests that
//! want to state exactly which calls happen.
//!
//! Each mock implements `Debug` (as the traits require) and works as a trait object:
//! `Arc::new(mock)` goes straight into a `Notifier` builder.
//!
//! Like every mockall mock, a method called without a matching expectation panics,
//! naming the method. The worker calls two methods whatever the test is about:
//! - [`Transport::enforces_timeout`], once, when the notifier starts (on the thread that
//!   calls `start`). [`MockTransport::with_enforces_timeout`]`(false)` answers it as the
//!   trait's default does (the worker then bounds each attempt with its own timer),
//!   however often it is asked; `MockTransport::new()` plus
//!   `expect_enforces_timeout()` pins the answer and the number of calls.
//! - [`FailureStore::location`], for diagnostics: `expect_location().return_const(..)`.
//!
//! ```
//! use std::sync::Arc;
//! use webhook_core::queue::{FullQueueAction, QueuePolicy};
//! use webhook_core::store::FailureStore;
//! use webhook_testkit::mocks::{MockFailureStore, MockQueuePolicy};
//!
//! let mut policy = MockQueuePolicy::new();
//! policy.expect_on_full().return_const(FullQueueAction::DropIncoming);
//! let _policy: Arc<dyn QueuePolicy> = Arc::new(policy);
//!
//! let mut store = MockFailureStore::new();
//! store.expect_location().return_const("mock".to_owned());
//! let store: Arc<dyn FailureStore> = Arc::new(store);
//! assert_eq!(store.location(), "mock");
//! ```
// mockall generates the items of these mocks, whose docs it writes itself.
#![allow(missing_docs)]

use webhook_core::async_trait;
use webhook_core::queue::{FullQueue, FullQueueAction, QueuePolicy};
use webhook_core::store::{
    FailureRecord, FailureStore, RecordFilter, RecordId, RecordUpdate, StoreError,
};
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};

mockall::mock! {
    /// A mock [`Transport`]: set expectations with `expect_send()` and
    /// `expect_enforces_timeout()` (or start from
    /// [`MockTransport::with_enforces_timeout`], which answers the latter).
    #[derive(Debug)]
    pub Transport {}

    #[async_trait]
    impl Transport for Transport {
        async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError>;
        fn enforces_timeout(&self) -> bool;
    }
}

impl MockTransport {
    /// A mock whose [`enforces_timeout`](Transport::enforces_timeout) answers `answer`
    /// however often it is asked; `send` still needs expectations.
    ///
    /// `false` is the trait's default (the worker bounds each attempt with a timer of its
    /// own); `true` tells the worker that `send` returns within the request's timeout by
    /// itself.
    ///
    /// ```
    /// use webhook_core::Transport;
    /// use webhook_testkit::MockTransport;
    ///
    /// let transport = MockTransport::with_enforces_timeout(false);
    /// assert!(!transport.enforces_timeout());
    /// ```
    pub fn with_enforces_timeout(answer: bool) -> Self {
        let mut mock = Self::new();
        mock.expect_enforces_timeout().return_const(answer);
        mock
    }
}

mockall::mock! {
    /// A mock [`FailureStore`]: set expectations with `expect_record()`, `expect_list()`, ...
    #[derive(Debug)]
    pub FailureStore {}

    #[async_trait]
    impl FailureStore for FailureStore {
        async fn record(&self, record: FailureRecord) -> Result<(), StoreError>;
        async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError>;
        async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError>;
        async fn update(
            &self,
            id: &RecordId,
            update: &RecordUpdate,
        ) -> Result<Option<FailureRecord>, StoreError>;
        async fn prune(&self, keep: usize) -> Result<usize, StoreError>;
        async fn count(&self) -> Result<usize, StoreError>;
        fn location(&self) -> String;
    }
}

mockall::mock! {
    /// A mock [`QueuePolicy`]: set expectations with `expect_on_full()`.
    #[derive(Debug)]
    pub QueuePolicy {}

    impl QueuePolicy for QueuePolicy {
        fn on_full<'a>(&self, queue: &FullQueue<'a>) -> FullQueueAction;
    }
}

mockall::mock! {
    /// A mock [`Outbox`](webhook_core::outbox::Outbox): set expectations with
    /// `expect_append()`, `expect_claim()`, `expect_settle()`, `expect_next_due()`,
    /// `expect_pending()` and `expect_location()`.
    #[derive(Debug)]
    pub Outbox {}

    #[async_trait]
    impl webhook_core::outbox::Outbox for Outbox {
        async fn append(
            &self,
            owner: &webhook_core::outbox::OwnerId,
            entries: Vec<webhook_core::outbox::NewEntry>,
        ) -> Result<(), webhook_core::outbox::OutboxError>;
        async fn claim(
            &self,
            owner: &webhook_core::outbox::OwnerId,
            now_ms: u64,
            lease: std::time::Duration,
            max: usize,
        ) -> Result<Vec<webhook_core::outbox::Claimed>, webhook_core::outbox::OutboxError>;
        async fn settle(
            &self,
            settles: Vec<webhook_core::outbox::Settle>,
        ) -> Result<webhook_core::outbox::SettleReport, webhook_core::outbox::OutboxError>;
        async fn next_due(&self) -> Result<Option<u64>, webhook_core::outbox::OutboxError>;
        async fn pending(&self) -> Result<webhook_core::outbox::PendingStats, webhook_core::outbox::OutboxError>;
        async fn sync(&self) -> Result<(), webhook_core::outbox::OutboxError>;
        fn location(&self) -> String;
    }
}
