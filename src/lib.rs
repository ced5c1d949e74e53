//! Webhook notifications for applications: the seed's free-function API, wired over
//! [`webhook_core`] (queue, worker, signing), [`webhook_http`] (hyper + rustls) and
//! [`webhook_sled`] (a durable failure store).
//!
//! Every function here enqueues and returns at once; a background worker delivers.
//! Failures never fail the caller: they are logged, counted, and kept in the failure
//! store, from which [`replay_failed_deliveries`] resends them.
//!
//! ```no_run
//! use webhook::{WebhookConfig, notify_task_created, diagnostics_snapshot};
//!
//! let config = WebhookConfig {
//!     secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
//!     ..WebhookConfig::for_url("https://hooks.example.com/in")
//! };
//! notify_task_created("T-1", "Write the docs", &config);
//! let diagnostics = diagnostics_snapshot(&config, 5);
//! println!("{} queued, {} delivered", diagnostics.stats.queued, diagnostics.stats.delivered);
//! webhook::shutdown_worker(std::time::Duration::from_secs(5));
//! ```
//!
//! # Signals: what an application must call
//!
//! The library installs no signal handler: SIGTERM, SIGINT and SIGHUP keep their
//! default action, which ends the process at once and loses every event still queued,
//! in flight or waiting to retry (recorded failures survive in the sled store). An
//! application that wants those events recorded catches the signals itself and calls
//! [`shutdown_worker`] with a short grace before exiting, e.g. with tokio:
//!
//! ```no_run
//! # async fn run() {
//! use tokio::signal::unix::{SignalKind, signal};
//! let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
//! tokio::select! {
//!     _ = term.recv() => {}
//!     _ = tokio::signal::ctrl_c() => {}
//! }
//! // Delivers for up to 2 s, then records what is left; blocks, so off the runtime:
//! let report = tokio::task::spawn_blocking(|| {
//!     webhook::shutdown_worker(std::time::Duration::from_secs(2))
//! })
//! .await;
//! eprintln!("stopped: {report:?}");
//! std::process::exit(143);
//! # }
//! ```
//!
//! The `webhook` command does exactly this (exit 129, 130 or 143 after recording).
//!
//! Applications that want their own handle (several endpoints, a custom transport or
//! store) use [`webhook_core::Notifier`] directly; this layer is a thin wrapper over it.

mod global;
mod outcome;
mod seed;

pub use global::{GlobalError, global_notifier, shutdown_worker};
pub use outcome::NotifyOutcome;
pub use seed::*;

/// The seed re-exported its queue policy from its contracts module; so does this crate.
pub use webhook_core::queue::WebhookQueuePolicy;
pub use webhook_core::{
    ConfigError, DeliveryStats, DropReason, EnqueueOutcome, Notifier, ReplayCandidate, ReplayError,
    ReplayReport, ReplaySelector, ResolvedWebhookConfig, ShutdownReport, WebhookConfig,
    WebhookContext, WebhookDiagnostics, WebhookEventType, WebhookFailureRecord, WebhookPayload,
};
pub use webhook_sled::failure_store_path;

/// The README's Rust snippets, compiled as doctests so the README cannot drift.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
