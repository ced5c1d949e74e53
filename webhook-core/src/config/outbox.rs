//! The outbox settings of a configuration: durability, group commit, bound, lease.

use super::{ConfigError, WebhookConfig, check};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// When `send` returns, with an outbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// `send` returns at once; the event is durable within one group commit
    /// (`commit_linger_ms`, or sooner when `commit_batch_max` events are waiting). The
    /// confirmed forms (`Notifier::send_confirmed`) wait for it.
    #[default]
    Batched,
    /// Every `send` waits until its event is durable (or says it was not stored).
    Sync,
}

/// The validated outbox settings.
///
/// # Default
/// - durable: `false` (the outbox itself is given to the builder; the facade and the
///   CLI open the sled outbox beside the store when this is `true`)
/// - durability: [`Durability::Batched`]
/// - batch: 512 events, linger 2 ms
/// - max pending: 1,000,000 entries
/// - lease: twice the attempt timeout plus 30 s
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxSettings {
    /// Use a durable outbox (facade and CLI).
    pub durable: bool,
    /// When `send` returns.
    pub durability: Durability,
    /// Most events in one commit.
    pub batch_max: usize,
    /// How long a commit waits for more events.
    pub linger: Duration,
    /// Most entries the outbox holds before new events wait in the queue.
    pub max_pending: u64,
    /// How long a claim holds an entry.
    pub lease: Duration,
}

/// The shortest margin a lease keeps beyond the attempt timeout.
pub const MIN_LEASE_MARGIN: Duration = Duration::from_secs(10);

/// What of a lease must be left, beyond the attempt timeout, for a claimed entry's
/// attempt to start (the rest of [`MIN_LEASE_MARGIN`] is for the time a claim waits in
/// the worker's ready buffer): the settlement and clock differences between instances
/// fit in it.
pub const LEASE_START_MARGIN: Duration = Duration::from_secs(5);

impl WebhookConfig {
    /// Checks the outbox fields against `timeout` (the attempt timeout).
    pub(super) fn outbox_settings(&self, timeout: Duration) -> Result<OutboxSettings, ConfigError> {
        let batch = check(
            "commit_batch_max",
            self.commit_batch_max,
            512,
            1..=10_000,
            "1..=10000",
        )?;
        let linger = check(
            "commit_linger_ms",
            self.commit_linger_ms,
            2,
            0..=1000,
            "0..=1000",
        )?;
        let max_pending = check(
            "outbox_max_pending",
            self.outbox_max_pending,
            1_000_000,
            100..=100_000_000,
            "100..=100000000",
        )?;
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let min_lease = timeout_ms + MIN_LEASE_MARGIN.as_millis() as u64;
        let default_lease = 2 * timeout_ms + 30_000;
        let lease = self.lease_ms.unwrap_or(default_lease);
        if !(min_lease..=86_400_000).contains(&lease) {
            return Err(ConfigError::LeaseTooShort {
                lease_ms: lease,
                min_ms: min_lease,
            });
        }
        Ok(OutboxSettings {
            durable: self.durable.unwrap_or(false),
            durability: self.durability.unwrap_or_default(),
            batch_max: batch as usize,
            linger: Duration::from_millis(linger),
            max_pending,
            lease: Duration::from_millis(lease),
        })
    }
}
