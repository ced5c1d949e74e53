//! PostgreSQL for `webhook-core`: one outbox and one failure store shared by every
//! instance of an application, and the transactional outbox.
//!
//! - [`PostgresOutbox`] implements [`Outbox`](webhook_core::outbox::Outbox): instances
//!   naming the same schema share it. Claims use `FOR UPDATE SKIP LOCKED` under leases
//!   (the core refuses a lease shorter than the attempt timeout plus a margin),
//!   settlements are fenced by the claim's token, idle instances wait on `LISTEN`, and an
//!   instance that dies loses nothing: its leases lapse and the others take over.
//! - [`PostgresFailureStore`] implements [`FailureStore`](webhook_core::FailureStore):
//!   a failure recorded by one instance is listed and replayed by any other.
//! - [`PostgresOutbox::enqueue_in`] enqueues through the application's own transaction:
//!   the webhook goes out if and only if that transaction commits.
//!
//! Durability: appends and failure records commit only once PostgreSQL has flushed them
//! (`synchronous_commit = on` for their transactions), so an event acknowledged as
//! durable survives a server crash. Claims and settlements do not wait for the flush
//! (the pool's sessions run with `synchronous_commit = off`): a server crash can forget
//! the last few milliseconds of them, which only repeats a delivery (a forgotten
//! removal or lease) or an attempt (a forgotten retry time), never loses an event, and
//! a failure recorded again keeps its id. Measured side by side on the project's
//! machine, where a WAL flush takes 1 to 4 ms: one instance delivers 6,300–6,900 events
//! a second end to end, against 3,400–4,300 with
//! [`PostgresOptions::flush_every_commit`] (BENCHMARKS.md), which restores the flush
//! for every commit.
//!
//! Both come from one [`Database`]: one pool, on a small runtime of the crate's own (so
//! it works from the notifier's worker, a command line and an application's runtime
//! alike), and a schema the user names, created and migrated at connect under an
//! advisory lock. Rows hold no secret: signatures are made per attempt.
//!
//! ```no_run
//! use std::sync::Arc;
//! use webhook_core::{Notifier, WebhookConfig};
//! use webhook_postgres::{Database, PostgresOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect(PostgresOptions::new("postgres://app@127.0.0.1/app").schema("webhooks"))?;
//! let config = WebhookConfig {
//!     url: Some("https://example.com/hooks".into()),
//!     secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
//!     durable: Some(true),
//!     ..WebhookConfig::default()
//! }
//! .resolve()?;
//! # let transport: Arc<dyn webhook_core::Transport> = unimplemented!();
//! let notifier = Notifier::builder(config, transport)
//!     .store(Arc::new(db.failure_store()))
//!     .outbox(Arc::new(db.outbox()))
//!     .start()?;
//! # drop(notifier);
//! # Ok(())
//! # }
//! ```

mod backend;
mod database;
mod error;
mod listen;
mod outbox;
mod schema;
mod store;
#[cfg(feature = "test-util")]
pub mod testing;

pub use database::{
    DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Database, PostgresOptions,
    describe_store_path, is_postgres_url, url_in,
};
pub use error::PostgresError;
pub use outbox::{PostgresOutbox, TRANSACTION_ORIGIN};
pub use schema::{DEFAULT_SCHEMA, MAX_SCHEMA_LEN};
/// The sqlx this crate is built with, for [`PostgresOutbox::enqueue_in`]'s connection.
pub use sqlx;
pub use store::PostgresFailureStore;
