//! A snapshot of the notifier for operators: counters, configuration, recent failures.

use crate::accounting::DeliveryStats;
use crate::config::ResolvedWebhookConfig;
use crate::redact::Redactor;
use crate::store::{FailureRecord, FailureStore, RecordFilter};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Everything an operator needs to see at once. Serializes to JSON; holds no secret
/// (the destination is redacted, records are sanitized).
///
/// The queue depth is `queued` (from the flattened [`DeliveryStats`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookDiagnostics {
    /// Whether delivery is on.
    pub enabled: bool,
    /// The destination, redacted to `scheme://host[:port]/…`.
    pub destination: Option<String>,
    /// Queue capacity.
    pub queue_capacity: usize,
    /// Full-queue policy (`drop_oldest`, `drop_new`, `block_with_timeout`, or `custom`).
    pub queue_policy: String,
    /// Deliveries in flight at once, at most.
    pub max_concurrency: usize,
    /// Retries that may wait at once, at most.
    pub max_pending_retries: usize,
    /// Every counter.
    #[serde(flatten)]
    pub stats: DeliveryStats,
    /// Where the failure store keeps its records.
    pub store_location: String,
    /// How many records the store holds (`None` if it could not be read).
    pub store_records: Option<usize>,
    /// Why the store could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// The newest failure records, newest first.
    pub recent_failures: Vec<FailureRecord>,
    /// The durable outbox, when the notifier has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<OutboxDiagnostics>,
    /// Each endpoint's health (breaker, pause, counters), when the notifier has endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<crate::endpoint::EndpointHealth>,
}

/// What the outbox holds, for operators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxDiagnostics {
    /// Where it keeps its entries.
    pub location: String,
    /// Entries not yet delivered or recorded (`None` if it could not be read).
    pub pending: Option<u64>,
    /// Age of the oldest entry, in seconds.
    pub oldest_pending_secs: Option<f64>,
    /// Why it could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OutboxDiagnostics {
    /// Reads `outbox`'s pending figures at `now_ms`, bounded by `bound`.
    pub(crate) async fn read(
        outbox: &dyn crate::outbox::Outbox,
        now_ms: u64,
        bound: Duration,
        redactor: &Redactor,
    ) -> Self {
        let mut diag = Self {
            location: outbox.location(),
            pending: None,
            oldest_pending_secs: None,
            error: None,
        };
        match tokio::time::timeout(bound, outbox.pending()).await {
            Ok(Ok(p)) => {
                diag.pending = Some(p.count);
                diag.oldest_pending_secs = p.oldest_age_secs(now_ms);
            }
            Ok(Err(e)) => diag.error = Some(redactor.scrub(&e.to_string())),
            Err(_) => diag.error = Some("the outbox did not answer in time".to_owned()),
        }
        diag
    }
}

/// The seed's name for a diagnostics snapshot is [`WebhookDiagnostics`]; this is the
/// default number of recent failures it includes.
pub const DEFAULT_RECENT_FAILURES: usize = 10;

impl WebhookDiagnostics {
    /// A snapshot without store figures (filled by [`WebhookDiagnostics::read_store`]).
    pub(crate) fn new(
        config: &ResolvedWebhookConfig,
        queue_capacity: usize,
        queue_policy: String,
        stats: DeliveryStats,
        store_location: String,
    ) -> Self {
        Self {
            enabled: config.enabled,
            destination: config.destination.as_ref().map(|d| d.redacted().to_owned()),
            queue_capacity,
            queue_policy,
            max_concurrency: config.max_concurrency,
            max_pending_retries: config.max_pending_retries,
            stats,
            store_location,
            store_records: None,
            store_error: None,
            recent_failures: Vec::new(),
            outbox: None,
            endpoints: Vec::new(),
        }
    }

    /// Adds the store's record count and its newest `recent` records, or why they could
    /// not be read within `bound`.
    pub(crate) async fn read_store(
        mut self,
        store: &dyn FailureStore,
        recent: usize,
        bound: Duration,
        redactor: &Redactor,
    ) -> Self {
        let read = async {
            let count = store.count().await?;
            let records = store.list(&RecordFilter::newest(recent)).await?;
            Ok::<_, crate::store::StoreError>((count, records))
        };
        match tokio::time::timeout(bound, read).await {
            Ok(Ok((count, records))) => {
                self.store_records = Some(count);
                self.recent_failures = records;
            }
            Ok(Err(e)) => self.store_error = Some(redactor.scrub(&e.to_string())),
            Err(_) => {
                self.store_error = Some("the failure store did not answer in time".to_owned())
            }
        }
        self
    }
}
