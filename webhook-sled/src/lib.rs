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
//!
//! # On-disk format (version 1)
//!
//! - Records tree (`failures` when opened by path): the key is the record id's UTF-8 bytes.
//!   Ids are `rec_` + 12 hex digits of unix milliseconds + 8 hex digits of sequence, so
//!   keys sort by time and "newest first" is a reverse scan. The value is a JSON envelope,
//!   `{"v":1,"record":{...}}`, around the serde form of
//!   [`FailureRecord`](webhook_core::store::FailureRecord); a record whose envelope has
//!   another `v` is treated as unreadable (skipped and counted), never misread.
//! - Meta tree (`<records tree>.meta`): key `format_version`, value [`FORMAT_VERSION`]
//!   (`1`), written when the store is created.
//!
//! A later version migrates by reading the marker first and the envelopes one by one.
//!
//! # Costs
//!
//! - Opening counts the records once (a scan); after that the count is kept in memory.
//! - A lone caller pays one fsync per change; concurrent callers share fsyncs. See
//!   `benches/record.rs` (`cargo bench -p webhook-sled`) for figures.
//! - `list` scans newest first and stops at the limit, so a selective filter may read
//!   every record (at most the retention bound).

mod blocking;
mod error;
mod format;
mod options;
mod outbox;
mod path;
mod store;

pub use format::FORMAT_VERSION;
pub use options::{DEFAULT_MAX_RECORDS, SledStoreOptions};
pub use outbox::{OUTBOX_TREE, SledOutbox};
pub use path::failure_store_path;
pub use store::{Damage, SledFailureStore};
