//! Records that cannot be decoded: skipped, warned about once, counted.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// The keys of the corrupt records this store handle has come across.
#[derive(Debug, Default)]
pub(super) struct CorruptRecords {
    seen: Mutex<HashSet<Vec<u8>>>,
}

impl CorruptRecords {
    /// Notes that the record under `key` cannot be read; warns the first time.
    pub(super) fn note(&self, location: &str, key: &[u8], detail: &str) {
        let first_time = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_vec());
        if first_time {
            tracing::warn!(
                store = location,
                key = %String::from_utf8_lossy(key),
                detail,
                "skipping a corrupt failure record"
            );
        }
    }

    /// How many distinct corrupt records were skipped.
    pub(super) fn count(&self) -> u64 {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        u64::try_from(seen.len()).unwrap_or(u64::MAX)
    }
}
