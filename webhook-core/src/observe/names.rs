//! The names of the metrics the `metrics` feature records (Prometheus conventions:
//! `_total` counters, base units in the name). Available without the feature, for
//! code that reads them (dashboards, `webhook status --metrics-url`).

/// Final outcomes, label `outcome`: `delivered`, `exhausted`, `permanent`,
/// `overflow`, `shutdown`.
pub const DELIVERIES_TOTAL: &str = "webhook_deliveries_total";
/// Attempts, label `result`: `2xx`, `3xx`, `4xx`, `5xx`, `1xx`, `other_status`, or
/// the error kind (`timeout`, `connect`, `tls`, `blocked`, `invalid_url`, `io`,
/// `request`).
pub const ATTEMPTS_TOTAL: &str = "webhook_attempts_total";
/// Attempt durations in seconds (a histogram).
pub const ATTEMPT_DURATION_SECONDS: &str = "webhook_attempt_duration_seconds";
/// Events in the queue (a gauge).
pub const QUEUE_DEPTH: &str = "webhook_queue_depth";
/// Events being attempted or recorded (a gauge).
pub const IN_FLIGHT: &str = "webhook_in_flight";
/// Outbox entries not yet delivered (a gauge; set only when an outbox exists).
pub const OUTBOX_PENDING: &str = "webhook_outbox_pending";
/// The age of the oldest pending event in seconds, 0 when none (a gauge).
pub const OLDEST_PENDING_SECONDS: &str = "webhook_oldest_pending_seconds";
/// Refused or evicted events, label `reason`: `queue_full`, `block_timeout`,
/// `payload_too_large`, `shutting_down`, `invalid`, `evicted`.
pub const DROPPED_TOTAL: &str = "webhook_dropped_total";
/// Per endpoint (label `endpoint`): 0 closed, 1 half open, 2 open; set at each
/// breaker change.
pub const ENDPOINT_BREAKER_STATE: &str = "webhook_endpoint_breaker_state";
