//! The store's state and its blocking operations (run on the blocking pool by the caller).

use super::corrupt::CorruptRecords;
use crate::{error, format};
use std::sync::atomic::{AtomicUsize, Ordering};
use webhook_core::store::{FailureRecord, RecordFilter, RecordId, RecordUpdate, StoreError};

/// Everything one store shares between its handles and its blocking tasks.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) records: sled::Tree,
    pub(super) location: String,
    pub(super) max_records: usize,
    /// Exact number of records; changed only by the single writer (see `writer`).
    count: AtomicUsize,
    pub(super) corrupt: CorruptRecords,
    /// The file beside sled's that holds the record count as of the last flush (stores
    /// opened by path only): what `open` compares with what sled recovered.
    pub(super) tally: Option<std::path::PathBuf>,
    /// Keeps the database (and the meta tree's owner) open as long as the store.
    pub(super) db: sled::Db,
}

impl Inner {
    /// Wraps an opened tree, counting its records (one O(n) scan).
    pub(super) fn new(
        db: sled::Db,
        records: sled::Tree,
        location: String,
        max_records: usize,
    ) -> Self {
        let count = records.len();
        Self {
            records,
            location,
            max_records,
            count: AtomicUsize::new(count),
            corrupt: CorruptRecords::default(),
            tally: None,
            db,
        }
    }

    pub(super) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Writes the count to the tally file (after a successful flush). A failure only
    /// weakens the damage check on the next open, so it is logged, not returned.
    pub(super) fn write_tally(&self) {
        let Some(path) = &self.tally else {
            return;
        };
        let next = path.with_extension("next");
        let written = std::fs::write(&next, self.count().to_string())
            .and_then(|()| std::fs::rename(&next, path));
        if let Err(e) = written {
            tracing::warn!(store = %self.location, error = %e, "could not write the record tally");
        }
    }

    fn io(&self, operation: &'static str, detail: impl ToString) -> StoreError {
        error::io(&self.location, operation, detail)
    }

    fn decode(&self, key: &[u8], value: &[u8]) -> Result<FailureRecord, StoreError> {
        format::decode(value).map_err(|detail| {
            self.corrupt.note(&self.location, key, &detail);
            StoreError::Corrupt {
                id: String::from_utf8_lossy(key).into_owned(),
                detail,
            }
        })
    }

    fn encode(&self, record: &FailureRecord) -> Result<Vec<u8>, StoreError> {
        format::encode(record).map_err(|e| StoreError::Corrupt {
            id: record.id.to_string(),
            detail: format!("cannot be encoded: {e}"),
        })
    }

    /// Inserts `record`, then prunes the oldest beyond the retention bound.
    pub(super) fn record(&self, record: &FailureRecord) -> Result<(), StoreError> {
        let value = self.encode(record)?;
        let previous = self
            .records
            .insert(record.id.as_str().as_bytes(), value)
            .map_err(|e| self.io("insert", e))?;
        if previous.is_none() {
            self.count.fetch_add(1, Ordering::AcqRel);
        }
        self.prune(self.max_records)?;
        Ok(())
    }

    /// Matching records, newest first (a reverse scan of the time-ordered keys).
    pub(super) fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
        let mut found = Vec::new();
        if filter.limit == 0 {
            return Ok(found);
        }
        for entry in self.records.iter().rev() {
            let (key, value) = entry.map_err(|e| self.io("list", e))?;
            let Ok(record) = self.decode(&key, &value) else {
                continue;
            };
            if filter.matches(&record) {
                found.push(record);
                if found.len() >= filter.limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    pub(super) fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError> {
        let key = id.as_str().as_bytes();
        match self.records.get(key).map_err(|e| self.io("get", e))? {
            Some(value) => self.decode(key, &value).map(Some),
            None => Ok(None),
        }
    }

    /// Applies `update` with a compare-and-swap loop. The single writer already applies
    /// changes one at a time; the swap keeps an update from resurrecting or overwriting a
    /// record changed in between by anything else (it is then applied again to the newer
    /// value, or finds the record gone).
    pub(super) fn update(
        &self,
        id: &RecordId,
        update: &RecordUpdate,
    ) -> Result<Option<FailureRecord>, StoreError> {
        let key = id.as_str().as_bytes();
        loop {
            let Some(current) = self.records.get(key).map_err(|e| self.io("update", e))? else {
                return Ok(None);
            };
            let mut record = self.decode(key, &current)?;
            record
                .apply(update)
                .map_err(|reason| StoreError::Rejected {
                    id: id.clone(),
                    reason,
                })?;
            let next = self.encode(&record)?;
            let swapped = self
                .records
                .compare_and_swap(key, Some(&current), Some(next))
                .map_err(|e| self.io("update", e))?;
            if swapped.is_ok() {
                return Ok(Some(record));
            }
        }
    }

    /// Removes the oldest records until at most `keep` remain.
    pub(super) fn prune(&self, keep: usize) -> Result<usize, StoreError> {
        let mut removed = 0;
        while self.count() > keep {
            match self.records.pop_min().map_err(|e| self.io("prune", e))? {
                Some(_) => {
                    self.count.fetch_sub(1, Ordering::AcqRel);
                    removed += 1;
                }
                None => {
                    self.count.store(0, Ordering::Release);
                    break;
                }
            }
        }
        Ok(removed)
    }

    /// Removes the records whose keys lie in `[from, to)`.
    pub(super) fn prune_range(&self, from: &[u8], to: &[u8]) -> Result<usize, StoreError> {
        let mut removed = 0;
        for key in self.records.range(from..to).keys() {
            let key = key.map_err(|e| self.io("prune", e))?;
            if self
                .records
                .remove(&key)
                .map_err(|e| self.io("prune", e))?
                .is_some()
            {
                self.count.fetch_sub(1, Ordering::AcqRel);
                removed += 1;
            }
        }
        Ok(removed)
    }
}
