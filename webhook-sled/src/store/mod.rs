//! The sled-backed [`FailureStore`](webhook_core::store::FailureStore).

mod corrupt;
mod failure_store;
mod inner;
mod writer;

use crate::format::{FORMAT_VERSION, FORMAT_VERSION_KEY, meta_tree_name};
use crate::{SledStoreOptions, blocking, error};
use inner::Inner;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;
use webhook_core::store::StoreError;
use writer::{Completion, Writer};

/// The name of the records tree in a store opened by path.
const RECORDS_TREE: &str = "failures";

/// A durable, bounded failure store in a sled database.
///
/// - Every change (`record`, `update`, `prune`) returns only once it is on disk: a process
///   killed right after loses nothing it was told was stored. Concurrent writers share
///   one flush (group commit), so throughput grows with concurrency.
/// - At most [`max_records`](Self::max_records) records are kept; `record` prunes the
///   oldest beyond that.
/// - `list` is a reverse scan of time-ordered keys, newest first.
/// - Changes are applied one at a time by the store's single writer (and `update` is a
///   compare-and-swap on top), so concurrent replays never lose a count.
/// - One store per folder or tree: the count and the bound assume nothing else writes to
///   the records tree.
/// - A record that cannot be decoded is skipped by `list` with a warning and counted
///   ([`corrupt_records_skipped`](Self::corrupt_records_skipped)); `get` and `update` report
///   it as [`StoreError::Corrupt`].
/// - sled's blocking calls run on tokio's blocking pool, never on async worker threads.
///
/// Clones share the same database. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct SledFailureStore {
    inner: Arc<Inner>,
    writer: Arc<Writer>,
    damage: Option<Damage>,
}

/// The file in a store's folder holding its record count as of the last flush.
const TALLY_FILE: &str = "records.tally";

/// A store that opened with fewer records than it last held (see
/// [`SledFailureStore::damage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the failure store held {expected} records after its last change but {found} were recovered: its files may be damaged"
)]
pub struct Damage {
    /// Records held after the last acknowledged change.
    pub expected: usize,
    /// Records recovered by this open.
    pub found: usize,
}

impl fmt::Debug for SledFailureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledFailureStore")
            .field("location", &self.inner.location)
            .field("max_records", &self.inner.max_records)
            .field("records", &self.inner.count())
            .field("corrupt_records_skipped", &self.corrupt_records_skipped())
            .field("damage", &self.damage)
            .finish()
    }
}

impl SledFailureStore {
    /// Opens (creating if needed) the store in the folder `path`, with the default options.
    ///
    /// Blocks while sled opens and recovers its files. See [`SledStoreOptions::open`] for
    /// the errors, and [`failure_store_path`](crate::failure_store_path) for the default
    /// folder under an application root.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        SledStoreOptions::new().open(path)
    }

    /// Uses `tree` of an application's own sled `db`, with the default options.
    ///
    /// See [`SledStoreOptions::from_tree`].
    pub fn from_tree(
        db: sled::Db,
        tree: sled::Tree,
        location: impl Into<String>,
    ) -> Result<Self, StoreError> {
        SledStoreOptions::new().from_tree(db, tree, location)
    }

    /// The durable outbox in this store's database (tree [`OUTBOX_TREE`](crate::OUTBOX_TREE)),
    /// taking back the leases a previous run left (see [`SledOutbox`](crate::SledOutbox)).
    ///
    /// # Errors
    /// [`OutboxError::Io`](webhook_core::outbox::OutboxError::Io) if sled fails.
    pub fn outbox(&self) -> Result<crate::SledOutbox, webhook_core::outbox::OutboxError> {
        crate::SledOutbox::open(&self.inner.db, self.inner.location.clone())
    }

    /// Options (retention bound) for opening a store.
    pub const fn builder() -> SledStoreOptions {
        SledStoreOptions::new()
    }

    pub(crate) fn open_with(options: SledStoreOptions, path: &Path) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        let db = open_db(path, &location)?;
        let tree = db
            .open_tree(RECORDS_TREE)
            .map_err(|e| error::open(&location, e))?;
        let tally = path.join(TALLY_FILE);
        let expected = std::fs::read_to_string(&tally)
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok());
        let mut store = Self::from_tree_with(options, db, tree, location)?;
        let found = store.inner.count();
        if let Some(expected) = expected.filter(|expected| found < *expected) {
            tracing::warn!(
                store = %store.inner.location,
                expected,
                found,
                "the failure store opened with fewer records than it last held: its files may be damaged"
            );
            store.damage = Some(Damage { expected, found });
        }
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.tally = Some(tally);
        }
        Ok(store)
    }

    /// What the open found wrong: `Some` when sled recovered fewer records than the
    /// store held after its last acknowledged change (its files were damaged or cut),
    /// `None` otherwise. A store that is merely behind (its tally missing or older
    /// than its records, as after a crash between a flush and the tally's update) is
    /// not damaged. The store still opens either way; this only reports.
    pub fn damage(&self) -> Option<Damage> {
        self.damage
    }

    pub(crate) fn from_tree_with(
        options: SledStoreOptions,
        db: sled::Db,
        tree: sled::Tree,
        location: String,
    ) -> Result<Self, StoreError> {
        check_format(&db, &tree, &location)?;
        Ok(Self {
            inner: Arc::new(Inner::new(db, tree, location, options.max_records())),
            writer: Arc::default(),
            damage: None,
        })
    }

    /// The retention bound: `record` prunes the oldest records beyond it.
    pub fn max_records(&self) -> usize {
        self.inner.max_records
    }

    /// How many distinct corrupt records this handle (and its clones) skipped or refused.
    pub fn corrupt_records_skipped(&self) -> u64 {
        self.inner.corrupt.count()
    }

    /// Removes the records first recorded more than `age` ago; returns how many.
    ///
    /// See [`prune_recorded_before`](Self::prune_recorded_before).
    pub async fn prune_older_than(&self, age: Duration) -> Result<usize, StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.prune_recorded_before(cutoff).await
    }

    /// Removes the records first recorded before `cutoff`; returns how many.
    ///
    /// "First recorded" is the time in the record's id, which a replay does not change, so
    /// this is a range delete over the oldest keys and reads no record. Records whose ids do
    /// not have the `rec_<time><seq>` form are left to the retention bound.
    pub async fn prune_recorded_before(&self, cutoff: SystemTime) -> Result<usize, StoreError> {
        let millis = cutoff
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let to = format!("rec_{millis:012x}");
        self.change("prune", move |inner| {
            inner.prune_range(b"rec_", to.as_bytes())
        })
        .await
    }

    /// Runs `work` on the blocking pool.
    async fn blocking<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking::run(move || work(&inner))
            .await
            .map_err(|why| error::io(&self.inner.location, operation, why))?
    }

    /// Queues the change `work` for the writer and returns once it is durable.
    async fn change<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let location = self.inner.location.clone();
        self.writer.submit(
            Box::new(move |inner| {
                let applied = work(inner);
                let complete: Completion = Box::new(move |flush_error| {
                    let result = match (applied, flush_error) {
                        (Ok(_), Some(detail)) => Err(error::io(&location, "flush", detail)),
                        (applied, _) => applied,
                    };
                    // The caller may have stopped waiting; the change stands either way.
                    let _ = answer.send(result);
                });
                complete
            }),
            &self.inner,
        );
        answered.await.map_err(|_| {
            error::io(
                &self.inner.location,
                operation,
                "the store's writer stopped before applying the change",
            )
        })?
    }
}

/// Checks the store's format marker, writing (and flushing) it for a new store.
fn check_format(db: &sled::Db, tree: &sled::Tree, location: &str) -> Result<(), StoreError> {
    let meta = db
        .open_tree(meta_tree_name(&tree.name()))
        .map_err(|e| error::open(location, e))?;
    match meta
        .get(FORMAT_VERSION_KEY)
        .map_err(|e| error::open(location, e))?
    {
        Some(found) if *found == *FORMAT_VERSION.as_bytes() => Ok(()),
        Some(found) => Err(StoreError::Version {
            path: location.to_owned(),
            found: String::from_utf8_lossy(&found).into_owned(),
            expected: FORMAT_VERSION.to_owned(),
        }),
        None => {
            meta.insert(FORMAT_VERSION_KEY, FORMAT_VERSION.as_bytes())
                .map_err(|e| error::open(location, e))?;
            meta.flush().map_err(|e| error::open(location, e))?;
            Ok(())
        }
    }
}

/// How long an open waits for the folder's lock to come free before reporting
/// [`StoreError::Locked`], and how often it tries meanwhile.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Opens sled's db in `path`. A store of this process that was just dropped holds the
/// lock until sled's own background writes of it finish (its thread pool keeps the
/// file open a little longer), so a lock held at the first try is tried again for up to
/// [`LOCK_WAIT`]; a folder another live handle holds still ends in `Locked`.
fn open_db(path: &Path, location: &str) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .open();
        match opened.map_err(|e| error::open(location, e)) {
            Err(StoreError::Locked { .. }) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(LOCK_RETRY);
            }
            other => return other,
        }
    }
}
