//! Where a store lives by default.

use std::path::{Path, PathBuf};

/// The default location of the failure store under an application root: `root/.webhook/failures`.
///
/// The folder is created by [`SledFailureStore::open`](crate::SledFailureStore::open) if it
/// does not exist. Applications that keep state elsewhere pass their own path instead.
///
/// ```
/// use std::path::Path;
/// let path = webhook_sled::failure_store_path(Path::new("/srv/app"));
/// assert_eq!(path, Path::new("/srv/app/.webhook/failures"));
/// ```
pub fn failure_store_path(root: &Path) -> PathBuf {
    root.join(".webhook").join("failures")
}
