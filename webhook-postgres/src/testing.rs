//! A schema of its own for each test (feature `test-util`): the URL comes from
//! `WEBHOOK_TEST_DATABASE_URL` (default [`DEFAULT_TEST_URL`]), the schema is dropped
//! when the handle is. With no server answering, a test skips with a printed reason, or
//! fails naming the URL when `CI=true` (CI must not pass by skipping).

use crate::{Database, PostgresError, PostgresOptions};
use std::sync::atomic::{AtomicU32, Ordering};

/// The server the tests use unless `WEBHOOK_TEST_DATABASE_URL` names another.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test database URL.
pub fn test_url() -> String {
    std::env::var("WEBHOOK_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.to_owned())
}

/// A fresh schema for one test, dropped (with everything in it) when this is dropped.
#[derive(Debug)]
pub struct TestSchema {
    /// The database, connected and migrated.
    pub db: Database,
    /// The options it was opened with (another process opens the same schema with them).
    pub options: PostgresOptions,
    keep: bool,
}

impl TestSchema {
    /// A new schema named after `test` (plus the process id and a counter), or `None`
    /// when no server answers and `CI` is not `true` (the reason is printed).
    ///
    /// # Panics
    /// When no server answers under `CI=true` (the message names the URL), or when the
    /// server answers but the schema cannot be made.
    pub fn create(test: &str) -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let stem: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(24)
            .collect();
        let name = format!("t_{stem}_{}_{n}", std::process::id());
        Self::open(PostgresOptions::new(test_url()).schema(name)).map(|(db, options)| Self {
            db,
            options,
            keep: false,
        })
    }

    /// Opens an existing schema (a child process joining a test's schema) without
    /// dropping it at the end; `None` as for [`TestSchema::create`].
    pub fn join(options: PostgresOptions) -> Option<Self> {
        Self::open(options).map(|(db, options)| Self {
            db,
            options,
            keep: true,
        })
    }

    fn open(options: PostgresOptions) -> Option<(Database, PostgresOptions)> {
        match Database::connect(options.clone()) {
            Ok(db) => Some((db, options)),
            Err(e @ PostgresError::Connect { .. }) => unavailable(&e),
            Err(e) => panic!(
                "cannot prepare the test schema at {}: {e}",
                options.location()
            ),
        }
    }
}

fn unavailable<T>(e: &PostgresError) -> Option<T> {
    let url = webhook_core::redact::url(&test_url());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "no PostgreSQL server answers at {url} ({e}); CI=true requires one: start it \
             (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set \
             WEBHOOK_TEST_DATABASE_URL"
        );
    }
    eprintln!(
        "skipped: no PostgreSQL server answers at {url} ({e}); set WEBHOOK_TEST_DATABASE_URL \
         to run the PostgreSQL tests"
    );
    None
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let db = self.db.clone();
        let dropped = self
            .db
            .inner
            .backend
            .block(async move { db.drop_schema_async().await });
        if let Err(e) = dropped {
            eprintln!(
                "warning: could not drop test schema {}: {e}",
                self.db.schema()
            );
        }
    }
}
