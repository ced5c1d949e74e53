//! What an operator sees of one endpoint.

use super::breaker::BreakerState;
use crate::accounting::EndpointCounts;
use serde::{Deserialize, Serialize};

/// One endpoint's state and counters (no secret, the URL redacted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// Its id.
    pub id: String,
    /// Its URL, redacted to `scheme://host[:port]/…`.
    pub url: String,
    /// Whether it receives deliveries.
    pub enabled: bool,
    /// Whether the breaker disabled it (after `auto_disable_after`).
    pub disabled_by_breaker: bool,
    /// Its breaker's state (`None`: no breaker).
    pub breaker: Option<BreakerState>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// How many times the breaker opened.
    pub breaker_opened: u64,
    /// Until the cool-down ends, in ms (while open).
    pub cool_down_remaining_ms: Option<u64>,
    /// Until a `Retry-After` pause ends, in ms.
    pub paused_remaining_ms: Option<u64>,
    /// Attempts running now.
    pub running: usize,
    /// Its attempts-at-once cap.
    pub max_in_flight: usize,
    /// Its counters: the identity holds for it alone.
    pub counts: EndpointCounts,
}
