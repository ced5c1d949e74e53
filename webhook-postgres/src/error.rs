//! Errors: connecting and migrating, and the mapping of database errors onto the
//! core's outbox and store errors. No message holds a password, a payload or a secret.

use webhook_core::outbox::OutboxError;
use webhook_core::store::StoreError;

/// Why the database could not be opened for the store and the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The URL is not a PostgreSQL URL this crate can use.
    #[error("database URL refused: {reason}; expected postgres://user@host:port/database")]
    InvalidUrl {
        /// What is wrong (never the URL's password).
        reason: String,
    },
    /// The schema name is not one this crate accepts.
    #[error("schema name {name:?} refused: {reason}")]
    InvalidSchema {
        /// The name as given (cut to 80 characters).
        name: String,
        /// What is wrong, and what was expected.
        reason: String,
    },
    /// No connection could be made.
    #[error("cannot connect to {location}: {detail}")]
    Connect {
        /// The server (credentials, path and query removed).
        location: String,
        /// The cause.
        detail: String,
    },
    /// A migration failed; nothing of it was applied.
    #[error("cannot migrate schema {schema:?}: {step} failed: {detail}")]
    Migrate {
        /// The schema.
        schema: String,
        /// What was being done.
        step: &'static str,
        /// The cause.
        detail: String,
    },
    /// The schema was migrated by a newer version of this crate.
    #[error(
        "schema {schema:?} is at version {found}; this build knows versions up to {known}: upgrade this program or choose another schema"
    )]
    NewerSchema {
        /// The schema.
        schema: String,
        /// Its version.
        found: i32,
        /// The newest version this build knows.
        known: i32,
    },
    /// The crate's runtime could not start.
    #[error("cannot start the database runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The first line of a database error, with any URL in it reduced to its host.
pub(crate) fn detail(e: &sqlx::Error) -> String {
    let text = webhook_core::redact::urls_in(&e.to_string());
    webhook_core::redact::first_line(&text, 300)
}

/// A database error as an outbox error.
pub(crate) fn outbox(location: &str, operation: &'static str, e: &sqlx::Error) -> OutboxError {
    OutboxError::Io {
        location: location.to_owned(),
        operation,
        detail: detail(e),
    }
}

/// A database error as a store error.
pub(crate) fn store(location: &str, operation: &'static str, e: &sqlx::Error) -> StoreError {
    StoreError::Io {
        path: location.to_owned(),
        operation,
        detail: detail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_error_loses_the_password_of_any_url_in_it() {
        let e = sqlx::Error::Configuration("bad postgres://app:hunter2@db.internal:5432/x".into());
        let text = detail(&e);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("db.internal"), "{text}");
    }
}
