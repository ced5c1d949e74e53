//! Turning sled's errors into [`StoreError`]s that name the store.

use webhook_core::store::StoreError;

/// What sled says when another handle holds the folder's lock (sled 0.34, `Config::try_lock`).
const LOCK_HELD: &str = "could not acquire lock";

/// A failed `operation` on the store at `path`.
pub(crate) fn io(path: &str, operation: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        operation,
        detail: detail.to_string(),
    }
}

/// A failed open: [`StoreError::Locked`] when the folder is in use, else [`StoreError::Io`].
pub(crate) fn open(path: &str, error: sled::Error) -> StoreError {
    match &error {
        sled::Error::Io(e) if e.to_string().contains(LOCK_HELD) => StoreError::Locked {
            path: path.to_owned(),
        },
        _ => io(path, "open", error),
    }
}

#[cfg(test)]
mod tests {
    use super::open;
    use webhook_core::store::StoreError;

    #[test]
    fn sleds_lock_error_becomes_locked_naming_the_path() {
        let sled_error = sled::Error::Io(std::io::Error::other(
            "could not acquire lock on \"/srv/app/.webhook/failures/db\": WouldBlock",
        ));
        match open("/srv/app/.webhook/failures", sled_error) {
            StoreError::Locked { path } => assert_eq!(path, "/srv/app/.webhook/failures"),
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[test]
    fn other_open_errors_stay_io_errors() {
        let sled_error = sled::Error::Io(std::io::Error::other("permission denied"));
        assert!(matches!(
            open("/srv/app", sled_error),
            StoreError::Io {
                operation: "open",
                ..
            }
        ));
    }
}
