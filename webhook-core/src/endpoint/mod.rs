//! Endpoints: many receivers, each with its own secret, filter, limits and breaker.
//!
//! An [`EndpointConfig`] is what a user writes; [`EndpointConfig::resolve`] checks it
//! into an [`Endpoint`]. A notifier holds a set of them, changed at run time
//! (`Notifier::upsert_endpoint`, `disable_endpoint`, `enable_endpoint`,
//! `remove_endpoint`, `endpoints`, `endpoint_health`). An event goes to every enabled
//! endpoint whose filter matches, or to one named endpoint ([`Route`]); each (event,
//! endpoint) pair is one delivery with its own attempts and outcome and the event's
//! `webhook-id`.
//!
//! The pure state machines live here and take the time as an argument, so they are
//! tested without a clock: [`Breaker`] (the circuit breaker) and [`TokenBucket`] (the
//! rate limit). The worker's side (per-endpoint queues, the fair scheduler, the gate
//! each attempt passes) is in `worker::endpoints`.

mod breaker;
mod bucket;
mod config;
mod health;
mod id;
mod route;

pub use crate::accounting::EndpointCounts;
pub use breaker::{Admission, Breaker, BreakerSettings, BreakerState, Transition};
pub use bucket::TokenBucket;
pub use config::{BreakerConfig, Endpoint, EndpointConfig, EndpointError};
pub use health::EndpointHealth;
pub use id::{EndpointId, InvalidEndpointId, MAX_ENDPOINT_ID_LEN};
pub use route::Route;
