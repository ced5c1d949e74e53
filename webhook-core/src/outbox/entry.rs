//! What an outbox holds and what the worker tells it.

use crate::event::WebhookId;
use crate::store::RecordId;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// An entry's id, unique within its outbox and increasing with the order of appends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntryId(pub u64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who holds a lease: one running notifier. Unique per start of a notifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OwnerId(String);

impl OwnerId {
    /// A new id: the process id and 64 random bits.
    pub fn generate() -> Self {
        Self(format!(
            "{}-{:016x}",
            std::process::id(),
            crate::random::seed()
        ))
    }

    /// An id from text (an outbox that stores owners reads them back with this).
    pub fn from_text(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Proof of one claim of one entry: a settlement must carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseToken(pub u64);

impl LeaseToken {
    /// A token unique within this process (and unlikely to repeat across processes).
    pub fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let base = *BASE.get_or_init(crate::random::seed);
        Self(base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

/// An event to append: what a delivery needs and nothing secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// The `webhook-id` every attempt carries.
    pub webhook_id: WebhookId,
    /// The event name.
    pub event: String,
    /// The task id, if any.
    pub task_id: Option<String>,
    /// The JSON body, exactly as it will be sent.
    pub body: Bytes,
    /// Attempts already made (a replay keeps its record's count).
    pub attempts: u32,
    /// Not to be attempted before this time (unix milliseconds).
    pub not_before_ms: u64,
    /// When the event was accepted (unix milliseconds).
    pub created_ms: u64,
    /// The failure record this entry replays, if it is a replay.
    pub replay_of: Option<RecordId>,
    /// The endpoint it is for (`None`: the configuration's single URL).
    pub endpoint: Option<String>,
    /// Its ordering key, if any: of the entries held for one endpoint with one key,
    /// only the oldest (lowest id) may be claimed; the next one after it is removed
    /// (delivered or failed), so they go strictly in order, retries included.
    pub ordering_key: Option<String>,
}

impl NewEntry {
    /// The stored form of this entry, with its id and the owner that appended it.
    pub fn into_entry(self, id: EntryId, origin: &OwnerId) -> OutboxEntry {
        OutboxEntry {
            id,
            webhook_id: self.webhook_id,
            event: self.event,
            task_id: self.task_id,
            body: self.body,
            attempts: self.attempts,
            not_before_ms: self.not_before_ms,
            created_ms: self.created_ms,
            replay_of: self.replay_of,
            origin: origin.clone(),
            endpoint: self.endpoint,
            ordering_key: self.ordering_key,
        }
    }
}

/// An entry as an outbox holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its id.
    pub id: EntryId,
    /// The `webhook-id` every attempt carries.
    pub webhook_id: WebhookId,
    /// The event name.
    pub event: String,
    /// The task id, if any.
    pub task_id: Option<String>,
    /// The JSON body.
    pub body: Bytes,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not to be attempted before this time (unix milliseconds).
    pub not_before_ms: u64,
    /// When the event was accepted (unix milliseconds).
    pub created_ms: u64,
    /// The failure record this entry replays, if any.
    pub replay_of: Option<RecordId>,
    /// The notifier that appended it (a claim by another one is a recovery).
    pub origin: OwnerId,
    /// The endpoint it is for (`None`: the configuration's single URL).
    pub endpoint: Option<String>,
    /// Its ordering key, if any (see [`NewEntry::ordering_key`]).
    pub ordering_key: Option<String>,
}

impl OutboxEntry {
    /// The (endpoint, key) whose entries go in order, if it has a key.
    pub fn order(&self) -> Option<(Option<&str>, &str)> {
        let key = self.ordering_key.as_deref()?;
        Some((self.endpoint.as_deref(), key))
    }
}

/// An entry handed to one owner, and the token its settlement must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// The entry as it was when claimed.
    pub entry: OutboxEntry,
    /// The claim's token.
    pub token: LeaseToken,
}

impl Claimed {
    /// The settlement of this claim: `how`, with this claim's entry and token.
    pub fn settle(&self, how: Settlement) -> Settle {
        Settle {
            id: self.entry.id,
            token: self.token,
            how,
        }
    }
}

/// What became of a claimed entry after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered: remove it.
    Delivered,
    /// Try again later: store the attempt count and when, release the lease.
    RetryAt {
        /// Attempts made so far.
        attempts: u32,
        /// Not before this time (unix milliseconds).
        not_before_ms: u64,
    },
    /// Finally failed and recorded in the failure store: remove it.
    Failed,
    /// Not finished (shutdown): release the lease, keep it due now.
    Release {
        /// Attempts made so far.
        attempts: u32,
    },
}

/// One settlement of one claimed entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    /// The entry.
    pub id: EntryId,
    /// The token of the claim being settled.
    pub token: LeaseToken,
    /// What became of it.
    pub how: Settlement,
}

/// What a batch of settlements did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SettleReport {
    /// Settlements applied.
    pub applied: u64,
    /// Settlements ignored: the token was not the entry's current one (or no such entry).
    pub fenced: u64,
}

/// What an outbox holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingStats {
    /// Entries held, leased or not.
    pub count: u64,
    /// When the oldest was created (unix milliseconds).
    pub oldest_created_ms: Option<u64>,
}

impl PendingStats {
    /// The age of the oldest entry at `now_ms`, in seconds.
    pub fn oldest_age_secs(&self, now_ms: u64) -> Option<f64> {
        self.oldest_created_ms
            .map(|created| now_ms.saturating_sub(created) as f64 / 1000.0)
    }
}
