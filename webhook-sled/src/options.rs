//! How a store is opened: its retention bound.

use crate::SledFailureStore;
use std::path::Path;
use webhook_core::store::StoreError;

/// The number of records a store keeps unless told otherwise.
pub const DEFAULT_MAX_RECORDS: usize = 10_000;

/// Options for opening a [`SledFailureStore`].
///
/// ```no_run
/// use webhook_sled::SledStoreOptions;
/// let store = SledStoreOptions::new().with_max_records(50_000).open("/var/lib/app/failures")?;
/// # Ok::<(), webhook_core::store::StoreError>(())
/// ```
///
/// # Default
/// - max records: 10,000 ([`DEFAULT_MAX_RECORDS`]); `record` prunes the oldest beyond it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SledStoreOptions {
    max_records: usize,
}

impl Default for SledStoreOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SledStoreOptions {
    /// The defaults.
    pub const fn new() -> Self {
        Self {
            max_records: DEFAULT_MAX_RECORDS,
        }
    }

    /// Keeps at most `max_records` records (at least 1); `record` prunes the oldest beyond it.
    pub const fn with_max_records(mut self, max_records: usize) -> Self {
        self.max_records = if max_records == 0 { 1 } else { max_records };
        self
    }

    /// The retention bound.
    pub const fn max_records(&self) -> usize {
        self.max_records
    }

    /// Opens (creating if needed) the store in the folder `path` with these options.
    ///
    /// Blocks while sled opens and recovers its files: call it at startup, or from
    /// `spawn_blocking` inside async code.
    ///
    /// # Errors
    /// - [`StoreError::Locked`] if another process (or another open store in this process)
    ///   still holds the folder after a second (a store of this process that was just
    ///   dropped frees it once sled's background writes end, so the open waits that long);
    /// - [`StoreError::Version`] if the folder holds a store of a format this version does
    ///   not read;
    /// - [`StoreError::Io`] if sled cannot open or recover it.
    pub fn open(self, path: impl AsRef<Path>) -> Result<SledFailureStore, StoreError> {
        SledFailureStore::open_with(self, path.as_ref())
    }

    /// Uses `tree` of an application's own sled `db` for the records, with these options.
    ///
    /// The store also opens a small meta tree named `<tree name>.meta` in `db` for its format
    /// marker. `location` is what [`location`](webhook_core::store::FailureStore::location)
    /// reports (sled does not reveal the folder it was opened from), usually the db's path.
    /// The store owns `tree` from now on: writing to it directly makes its count wrong.
    ///
    /// # Errors
    /// [`StoreError::Version`] for a tree of an unknown format; [`StoreError::Io`] if sled fails.
    pub fn from_tree(
        self,
        db: sled::Db,
        tree: sled::Tree,
        location: impl Into<String>,
    ) -> Result<SledFailureStore, StoreError> {
        SledFailureStore::from_tree_with(self, db, tree, location.into())
    }
}
