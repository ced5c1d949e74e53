//! A durable, bounded, crash-safe [`FailureStore`](webhook_core::store::FailureStore) on
//! [sled](https://docs.rs/sled/0.34).
//!
//! Deliveries that finally failed are kept across restarts for diagnostics and replay:
//!
//! - **Durable**: `record`, `update` and `prune` return only after the change is flushed
//!   to disk, so a record that was acknowledged survives `SIGKILL` or a power cut.
//!   Concurrent writers share one flush (group commit).
//! - **Bounded**: at most 10,000 records by default ([`SledStoreOptions::with_max_records`]);
//!   `record` prunes the oldest beyond the bound, and
//!   [`prune_older_than`](SledFailureStore::prune_older_than) prunes by age.
//! - **Safe to share**: a second open of the same folder, in this process or another, gets
//!   [`StoreError::Locked`](webhook_core::store::StoreError::Locked) naming the folder; a
//!   corrupt record is skipped with a warning and counted, never a crash.
//! - **Versioned**: the folder carries a format marker ([`FORMAT_VERSION`]); a store of an
//!   unknown format is refused with
//!   [`StoreError::Version`](webhook_core::store::StoreError::Version) rather than misread.
//!   The layout is described in the `format` module's source.
//! - **Non-blocking**: sled's blocking calls run on tokio's blocking pool.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use webhook_core::store::{FailureStore, RecordFilter};
//! use webhook_sled::{SledFailureStore, failure_store_path};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let app_root = tempfile::tempdir()?;
//! # let app_root = app_root.path();
//! // `app_root/.webhook/failures`, kept for 50,000 records.
//! let store = SledFailureStore::builder()
//!     .with_max_records(50_000)
//!     .open(failure_store_path(app_root))?;
//! let store: Arc<dyn FailureStore> = Arc::new(store);
//!
//! // The notifier records what finally failed; an operator lists it later.
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let newest = runtime.block_on(store.list(&RecordFilter::newest(20).event("task_failed")))?;
//! assert!(newest.is_empty());
//! assert!(store.location().ends_with("failures"));
//! # Ok(())
//! # }
//! ```
//!
//! To keep the records inside a sled database the application already has, use
//! [`SledFailureStore::from_tree`].

mod blocking;
mod error;
mod format;
mod options;
mod path;
mod store;

pub use format::FORMAT_VERSION;
pub use options::{DEFAULT_MAX_RECORDS, SledStoreOptions};
pub use path::failure_store_path;
pub use store::SledFailureStore;
