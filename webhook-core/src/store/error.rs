//! Store errors.

use super::{RecordId, UpdateRejected};

/// Why a store operation failed. Messages never contain payloads or secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is held by another process or handle.
    #[error(
        "failure store at {path} is in use by another process; close it or choose another folder"
    )]
    Locked {
        /// The store's location.
        path: String,
    },
    /// Reading or writing the backing storage failed.
    #[error("failure store at {path}: {operation} failed: {detail}")]
    Io {
        /// The store's location.
        path: String,
        /// What was being done (e.g. `"open"`, `"flush"`).
        operation: &'static str,
        /// The underlying cause.
        detail: String,
    },
    /// A record could not be decoded.
    #[error("failure record {id} is corrupt: {detail}")]
    Corrupt {
        /// The record's key.
        id: String,
        /// What is wrong.
        detail: String,
    },
    /// The store's on-disk format is not one this version reads.
    #[error("failure store at {path} has format version {found}; this version reads {expected}")]
    Version {
        /// The store's location.
        path: String,
        /// The version found.
        found: String,
        /// The version expected.
        expected: String,
    },
    /// An update was refused by the record's rules (e.g. replay limit reached).
    #[error("update of failure record {id} refused: {reason}")]
    Rejected {
        /// The record's id.
        id: RecordId,
        /// Why.
        reason: UpdateRejected,
    },
}
