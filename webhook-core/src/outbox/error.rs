//! Outbox errors.

/// Why an outbox operation failed. Messages name the outbox and never hold a payload or
/// a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The outbox is held by another process or handle.
    #[error("outbox at {location} is in use by another process; close it or choose another folder")]
    Locked {
        /// The outbox's location.
        location: String,
    },
    /// Reading or writing the backing storage failed (a full disk, a read-only folder,
    /// a lost connection).
    #[error("outbox at {location}: {operation} failed: {detail}")]
    Io {
        /// The outbox's location.
        location: String,
        /// What was being done (e.g. `"append"`, `"flush"`).
        operation: &'static str,
        /// The underlying cause, with the OS error when there is one.
        detail: String,
    },
    /// An entry could not be decoded.
    #[error("outbox entry {id} is corrupt: {detail}")]
    Corrupt {
        /// The entry's id.
        id: u64,
        /// What is wrong.
        detail: String,
    },
    /// The outbox did not answer within the bound.
    #[error("outbox at {location} did not answer within {after:?}")]
    Timeout {
        /// The outbox's location.
        location: String,
        /// The bound.
        after: std::time::Duration,
    },
}
