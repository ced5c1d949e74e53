//! [mockall](https://docs.rs/mockall) mocks of the three plug points, for tests that
//! want to state exactly which calls happen.
//!
//! Each mock implements `Debug` (as the traits require) and works as a trait object:
//! `Arc::new(mock)` goes straight into a `Notifier` builder.
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

use async_trait::async_trait;
use webhook_core::queue::{FullQueue, FullQueueAction, QueuePolicy};
use webhook_core::store::{
    FailureRecord, FailureStore, RecordFilter, RecordId, RecordUpdate, StoreError,
};
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};

mockall::mock! {
    /// A mock [`Transport`]: set expectations with `expect_send()`.
    #[derive(Debug)]
    pub Transport {}

    #[async_trait]
    impl Transport for Transport {
        async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError>;
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
