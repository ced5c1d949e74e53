//! Failure records and the rules for updating them.

use crate::event::WebhookId;
use crate::time;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

/// A record's id: `rec_` then 12 hex digits of unix milliseconds and 8 of a sequence number,
/// so that ids sort by time (newest last) as plain strings.
///
/// Every id is 1 to [`MAX_RECORD_ID_LEN`] characters of ASCII letters, digits, `_` and
/// `-`: no separators, dots, spaces or control characters, so an id is safe as a key and
/// as a file name. [`RecordId::new`] makes such ids; [`RecordId::from_string`] and
/// deserialization refuse anything else with an [`InvalidRecordId`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct RecordId(String);

/// The longest record id [`RecordId::from_string`] accepts (those of [`RecordId::new`]
/// have 24 characters).
pub const MAX_RECORD_ID_LEN: usize = 64;

/// Why a text is not a [`RecordId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRecordId {
    /// The text is empty or longer than [`MAX_RECORD_ID_LEN`].
    #[error(
        "record id of {length} characters refused; expected 1 to {MAX_RECORD_ID_LEN} characters (like `rec_0191a2b3c4d5000000a1`)"
    )]
    Length {
        /// The length given, in characters.
        length: usize,
    },
    /// The text holds a character other than an ASCII letter, a digit, `_` or `-`.
    #[error(
        "record id {id:?} refused: character {character:?} at position {position}; expected only ASCII letters, digits, `_` and `-`"
    )]
    Character {
        /// The id given (at most [`MAX_RECORD_ID_LEN`] characters).
        id: String,
        /// The first character that is not allowed.
        character: char,
        /// Its position, counted in characters from 0.
        position: usize,
    },
}

impl RecordId {
    /// A new id for a record failing at `at`.
    pub fn new(at: SystemTime) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| crate::random::seed() as u32 & 0x0fff_ffff);
        let seq = start.wrapping_add(SEQ.fetch_add(1, Ordering::Relaxed));
        Self::unchecked(format!("rec_{:012x}{seq:08x}", time::unix_millis(at)))
    }

    /// The id of the record of outbox entry `entry` created at `created_ms`: the same
    /// every time, so a failure recorded again after a crash replaces its record.
    pub fn for_outbox_entry(created_ms: u64, entry: u64) -> Self {
        let created = created_ms & 0xffff_ffff_ffff;
        Self::unchecked(format!("rec_{created:012x}{:08x}", entry & 0xffff_ffff))
    }

    /// Checks an existing id (as read from a store or typed by an operator): 1 to
    /// [`MAX_RECORD_ID_LEN`] ASCII letters, digits, `_` or `-`.
    ///
    /// ```
    /// use webhook_core::store::RecordId;
    ///
    /// assert!(RecordId::from_string("rec_0191a2b3c4d5000000a1").is_ok());
    /// assert!(RecordId::from_string("../etc/passwd").is_err());
    /// ```
    pub fn from_string(id: impl Into<String>) -> Result<Self, InvalidRecordId> {
        let id = id.into();
        let length = id.chars().count();
        if length == 0 || length > MAX_RECORD_ID_LEN {
            return Err(InvalidRecordId::Length { length });
        }
        let refused = id
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'));
        if let Some((position, character)) = refused {
            return Err(InvalidRecordId::Character {
                id,
                character,
                position,
            });
        }
        Ok(Self::unchecked(id))
    }

    /// Wraps `id` without checking it: for ids built here, and for labels in logs that
    /// are never stored (e.g. `"(pending)"`).
    pub(crate) fn unchecked(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RecordId {
    type Err = InvalidRecordId;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::from_string(id)
    }
}

impl TryFrom<String> for RecordId {
    type Error = InvalidRecordId;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::from_string(id)
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a delivery finally failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Every retry was used up.
    Exhausted,
    /// A failure that retrying cannot fix (4xx, 3xx, blocked destination, payload too large).
    Permanent,
    /// A retry was due but too many retries were already waiting.
    Overflow,
    /// Still queued, in flight or waiting to retry when the notifier shut down.
    Shutdown,
    /// Its endpoint's circuit breaker was open and the endpoint's queue was full.
    CircuitOpen,
}

impl FailureKind {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Exhausted => "exhausted",
            Self::Permanent => "permanent",
            Self::Overflow => "overflow",
            Self::Shutdown => "shutdown",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

/// Whether a record still needs attention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Not delivered yet.
    #[default]
    Failed,
    /// A replay delivered it.
    Resolved,
}

/// A delivery that finally failed: enough to diagnose it and to replay exactly what was sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The record's id (sorts by time).
    pub id: RecordId,
    /// The event's webhook id (kept by replays).
    pub webhook_id: WebhookId,
    /// When it (last) failed, RFC 3339.
    pub failed_at: String,
    /// When it (last) failed, unix milliseconds.
    pub failed_at_ms: u64,
    /// The event name.
    pub event: String,
    /// The task id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The destination, redacted to `scheme://host[:port]/…`.
    pub destination: String,
    /// The endpoint it was for (absent for the configuration's single URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The last error, sanitized, at most 400 characters.
    pub error: String,
    /// The last HTTP status, if a server answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Attempts made in total (original and replays).
    pub attempts: u32,
    /// How many times it was replayed.
    pub replay_count: u32,
    /// Why it failed (last time).
    pub outcome: FailureKind,
    /// Whether a replay has since delivered it.
    #[serde(default)]
    pub status: RecordStatus,
    /// When a replay delivered it, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// The JSON body exactly as it was sent.
    pub payload: Box<RawValue>,
}

/// The seed's name for [`FailureRecord`].
pub type WebhookFailureRecord = FailureRecord;

/// The longest error text a record keeps.
pub const MAX_ERROR_CHARS: usize = crate::redact::MAX_ERROR_CHARS;

/// A change to a stored record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecordUpdate {
    /// A replay is starting: counts it, unless the record is resolved or has been replayed
    /// `max_replay_attempts` times already.
    BeginReplay {
        /// The most replays allowed.
        max_replay_attempts: u32,
    },
    /// A replay that was begun could not be enqueued: takes the count back.
    CancelReplay,
    /// A replay failed again: the record learns the new failure (not a new record).
    ReplayFailed {
        /// When, RFC 3339.
        failed_at: String,
        /// When, unix milliseconds.
        failed_at_ms: u64,
        /// The sanitized error.
        error: String,
        /// The last status, if any.
        last_status: Option<u16>,
        /// Attempts made by this replay.
        attempts: u32,
        /// Why it failed this time.
        outcome: FailureKind,
    },
    /// A replay delivered it.
    Resolved {
        /// When, RFC 3339.
        at: String,
    },
}

/// Why [`FailureRecord::apply`] refused an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateRejected {
    /// The record was already delivered by an earlier replay.
    #[error("already resolved")]
    AlreadyResolved,
    /// The record has been replayed as often as allowed.
    #[error("replayed {replay_count} times; the limit is {max_replay_attempts}")]
    ReplayLimit {
        /// Replays so far.
        replay_count: u32,
        /// The limit.
        max_replay_attempts: u32,
    },
}

impl FailureRecord {
    /// Applies `update` (the rules every store shares). On `Err` the record is unchanged.
    pub fn apply(&mut self, update: &RecordUpdate) -> Result<(), UpdateRejected> {
        match update {
            RecordUpdate::BeginReplay {
                max_replay_attempts,
            } => {
                self.check_replayable(*max_replay_attempts)?;
                self.replay_count += 1;
            }
            RecordUpdate::CancelReplay => self.replay_count = self.replay_count.saturating_sub(1),
            RecordUpdate::ReplayFailed {
                failed_at,
                failed_at_ms,
                error,
                last_status,
                attempts,
                outcome,
            } => {
                self.failed_at.clone_from(failed_at);
                self.failed_at_ms = *failed_at_ms;
                self.error = crate::redact::clip(error, MAX_ERROR_CHARS);
                self.last_status = *last_status;
                self.attempts = self.attempts.saturating_add(*attempts);
                self.outcome = *outcome;
            }
            RecordUpdate::Resolved { at } => {
                self.status = RecordStatus::Resolved;
                self.resolved_at = Some(at.clone());
            }
        }
        Ok(())
    }

    /// Whether a replay may start under `max_replay_attempts`.
    pub fn check_replayable(&self, max_replay_attempts: u32) -> Result<(), UpdateRejected> {
        if self.status == RecordStatus::Resolved {
            return Err(UpdateRejected::AlreadyResolved);
        }
        if self.replay_count >= max_replay_attempts {
            return Err(UpdateRejected::ReplayLimit {
                replay_count: self.replay_count,
                max_replay_attempts,
            });
        }
        Ok(())
    }
}

/// Which records to list. Built from [`RecordFilter::newest`] (or `default()`) and one
/// setter per field; every field left alone matches everything.
///
/// ```
/// use webhook_core::store::{RecordFilter, RecordStatus};
///
/// let open_failures_of_t7 = RecordFilter::newest(50)
///     .event("task_failed")
///     .task_id("T-7")
///     .status(RecordStatus::Failed);
/// assert_eq!(open_failures_of_t7.limit, 50);
/// ```
///
/// # Default
/// - `ids`: empty (any id)
/// - `event`: `None` (any event)
/// - `task_id`: `None` (any task, and records without one)
/// - `status`: `None` (failed and resolved)
/// - `limit`: 20
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecordFilter {
    /// Match these ids (record ids or webhook ids); empty matches any.
    pub ids: Vec<String>,
    /// Match this event name.
    pub event: Option<String>,
    /// Match this task id.
    pub task_id: Option<String>,
    /// Match this status.
    pub status: Option<RecordStatus>,
    /// Match deliveries to this endpoint.
    pub endpoint: Option<String>,
    /// At most this many records.
    pub limit: usize,
}

impl Default for RecordFilter {
    fn default() -> Self {
        Self::newest(20)
    }
}

impl RecordFilter {
    /// Everything, newest first, at most `limit`.
    pub const fn newest(limit: usize) -> Self {
        Self {
            ids: Vec::new(),
            event: None,
            task_id: None,
            status: None,
            endpoint: None,
            limit,
        }
    }

    /// Restricts to these ids (record ids or webhook ids), replacing any set before; an
    /// empty list matches any id.
    pub fn ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Restricts to one event name.
    pub fn event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Restricts to one task id.
    pub fn task_id(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// Restricts to the deliveries to one endpoint.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Restricts to one status.
    pub const fn status(mut self, status: RecordStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Lists at most `limit` records (0 lists none).
    pub const fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Whether `record` matches (every field but the limit).
    pub fn matches(&self, record: &FailureRecord) -> bool {
        (self.ids.is_empty()
            || self
                .ids
                .iter()
                .any(|id| id == record.id.as_str() || id == record.webhook_id.as_str()))
            && self.event.as_ref().is_none_or(|e| *e == record.event)
            && self
                .endpoint
                .as_ref()
                .is_none_or(|e| Some(e.as_str()) == record.endpoint.as_deref())
            && self
                .task_id
                .as_ref()
                .is_none_or(|t| Some(t.as_str()) == record.task_id.as_deref())
            && self.status.is_none_or(|s| s == record.status)
    }
}
