//! The notifier: a cloneable handle over a background worker with its own thread.
//!
//! The worker runs on a dedicated OS thread with its own tokio runtime. That is what
//! lets the handle be used from plain threads (no runtime needed), from inside any
//! runtime flavour without blocking it (enqueue never awaits the worker), and be
//! dropped anywhere: the worker's runtime is created and dropped on its own thread, so
//! "cannot drop a runtime in a context where blocking is not allowed" cannot happen,
//! and a blocking shutdown never deadlocks a current-thread runtime, because the
//! worker never needs the caller's runtime to make progress.
//!
//! # Layout
//! - `notifier`: the handle and how it offers events to the queue;
//! - `waiting`: the methods that may wait, blocking and async, under one bound;
//! - `builder`: configuration, the engine's assembly, the thread and runtime;
//! - `engine`: the parts a worker is made of, each with one owner;
//! - `run`: the dispatch loop, its lanes, and the drain at shutdown;
//! - `delivery`: one event's attempts and retry waits; `attempt`: one attempt and its
//!   verdict; `settle`: the final outcome written to the store and the ledger;
//! - `request`: headers and signatures per attempt; `clock`: wall time;
//!   `lifecycle`: phase, cut-off and report.

mod attempt;
mod builder;
mod claim;
mod clock;
mod commit;
mod confirm;
mod delivery;
mod durable_send;
mod endpoint_api;
mod endpoints;
mod engine;
mod lifecycle;
mod notifier;
mod outcome;
mod report;
mod request;
mod run;
mod settle;
mod waiting;

pub use crate::accounting::{DeliveryStats, DroppedCounts, EndpointCounts, FailedCounts};
pub use builder::{DEFAULT_OBSERVER_BUFFER, DEFAULT_STORE_TIMEOUT, NotifierBuilder, StartError};
pub(crate) use confirm::{ClaimRef, Confirm};
pub use confirm::{Durable, NotStored};
pub use notifier::Notifier;
pub use outcome::{DropReason, EnqueueOutcome};
pub use report::ShutdownReport;
pub use request::USER_AGENT_VALUE;
pub use waiting::WAIT_SLACK;

pub(crate) use attempt::Verdict;
pub(crate) use endpoints::EndpointRuntime;
