//! The schema: its name, and the versioned migrations applied at connect.
//!
//! Why not sqlx's own migrator: its bookkeeping table and its SQL follow the
//! connection's `search_path`, while this crate's tables live in a schema the user
//! names and are also written through the application's own connections (the
//! transactional outbox), whose `search_path` is theirs. Every statement here names its
//! schema, and the few lines below keep the versions.

use crate::error::PostgresError;
use sqlx::{Connection, PgConnection};

/// The schema used when none is chosen.
pub const DEFAULT_SCHEMA: &str = "webhook";

/// The longest schema name accepted: the append channel, `webhook_outbox:<schema>`,
/// must fit PostgreSQL's 63-character names (`pg_notify` refuses longer ones, and
/// `LISTEN` would cut them).
pub const MAX_SCHEMA_LEN: usize = 63 - CHANNEL_PREFIX.len();

/// The append channel's name before the schema.
const CHANNEL_PREFIX: &str = "webhook_outbox:";

/// Checks a schema name: 1 to [`MAX_SCHEMA_LEN`] (48) characters, lowercase ASCII
/// letters, digits and `_`, not starting with a digit, and not `pg_`-prefixed
/// (reserved by PostgreSQL).
pub(crate) fn check_name(name: &str) -> Result<(), PostgresError> {
    let refuse = |reason: String| {
        Err(PostgresError::InvalidSchema {
            name: name.chars().take(80).collect(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_SCHEMA_LEN {
        return refuse(format!(
            "it has {} characters; expected 1 to {MAX_SCHEMA_LEN}",
            name.chars().count()
        ));
    }
    if let Some((at, c)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return refuse(format!(
            "character {c:?} at position {at}; expected lowercase ASCII letters, digits and `_`"
        ));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return refuse("it starts with a digit; expected a letter or `_` first".into());
    }
    if name.starts_with("pg_") {
        return refuse("names starting with `pg_` are reserved by PostgreSQL".into());
    }
    Ok(())
}

/// One migration: its version and its statements, with `{s}` for the quoted schema.
struct Migration {
    version: i32,
    name: &'static str,
    statements: &'static [&'static str],
}

/// Every migration, oldest first. A released migration is never edited: a change is a
/// new version.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "outbox, failures, lease tokens, append notifications",
    statements: &[
        "CREATE TABLE {s}.outbox (
            id BIGSERIAL PRIMARY KEY,
            webhook_id TEXT NOT NULL,
            event TEXT NOT NULL,
            task_id TEXT,
            body BYTEA NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before_ms BIGINT NOT NULL,
            created_ms BIGINT NOT NULL,
            replay_of TEXT,
            endpoint TEXT,
            ordering_key TEXT,
            origin TEXT NOT NULL,
            due_ms BIGINT NOT NULL,
            lease_owner TEXT,
            lease_token BIGINT
        )",
        "COMMENT ON COLUMN {s}.outbox.due_ms IS
            'when the entry can be claimed: not_before_ms when free, the lease''s end when leased'",
        "CREATE INDEX outbox_due ON {s}.outbox (due_ms, id)",
        "CREATE INDEX outbox_order ON {s}.outbox (ordering_key, id) WHERE ordering_key IS NOT NULL",
        "CREATE SEQUENCE {s}.lease_tokens",
        "CREATE TABLE {s}.failures (
            id TEXT PRIMARY KEY,
            webhook_id TEXT NOT NULL,
            event TEXT NOT NULL,
            task_id TEXT,
            endpoint TEXT,
            status TEXT NOT NULL,
            record TEXT NOT NULL
        )",
        "CREATE INDEX failures_webhook_id ON {s}.failures (webhook_id)",
        "CREATE FUNCTION {s}.outbox_appended() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM pg_notify('webhook_outbox:' || TG_TABLE_SCHEMA, '');
             RETURN NULL;
         END $$",
        "CREATE TRIGGER outbox_appended AFTER INSERT ON {s}.outbox
            FOR EACH STATEMENT EXECUTE FUNCTION {s}.outbox_appended()",
    ],
}];

/// The newest schema version this build knows.
pub(crate) const CURRENT_VERSION: i32 = 1;

/// The `LISTEN` channel of a schema's appends (the trigger above sends on it).
pub(crate) fn channel(schema: &str) -> String {
    format!("{CHANNEL_PREFIX}{schema}")
}

/// `"name"`: the schema quoted for SQL (the name was checked: no quote inside).
pub(crate) fn quoted(schema: &str) -> String {
    format!("\"{schema}\"")
}

/// Applies the migrations `schema` lacks, in one transaction, under an advisory lock
/// keyed by the schema, so instances starting at once apply each version once.
pub(crate) async fn migrate(conn: &mut PgConnection, schema: &str) -> Result<(), PostgresError> {
    let s = quoted(schema);
    let fail = |step: &'static str| {
        move |e: sqlx::Error| PostgresError::Migrate {
            schema: schema.to_owned(),
            step,
            detail: crate::error::detail(&e),
        }
    };
    let mut tx = conn.begin().await.map_err(fail("begin"))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("webhook-postgres migrate {schema}"))
        .execute(&mut *tx)
        .await
        .map_err(fail("take the advisory lock"))?;
    for statement in [
        format!("CREATE SCHEMA IF NOT EXISTS {s}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ),
    ] {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .map_err(fail("create the schema"))?;
    }
    let found: Option<i32> =
        sqlx::query_scalar(&format!("SELECT max(version) FROM {s}.migrations"))
            .fetch_one(&mut *tx)
            .await
            .map_err(fail("read the version"))?;
    let found = found.unwrap_or(0);
    if found > CURRENT_VERSION {
        return Err(PostgresError::NewerSchema {
            schema: schema.to_owned(),
            found,
            known: CURRENT_VERSION,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        apply(&mut tx, &s, migration)
            .await
            .map_err(fail("apply a migration"))?;
    }
    tx.commit().await.map_err(fail("commit"))
}

async fn apply(conn: &mut PgConnection, s: &str, migration: &Migration) -> sqlx::Result<()> {
    for statement in migration.statements {
        sqlx::query(&statement.replace("{s}", s))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(&format!(
        "INSERT INTO {s}.migrations (version, name) VALUES ($1, $2)"
    ))
    .bind(migration.version)
    .bind(migration.name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked_and_the_error_says_what_was_expected() {
        for good in ["webhook", "_w1", "tenant_42", &"a".repeat(48)] {
            assert!(check_name(good).is_ok(), "{good} is a valid name");
        }
        let cases = [
            ("", "expected 1 to 48"),
            (&"a".repeat(49), "expected 1 to 48"),
            ("Webhook", "expected lowercase ASCII letters"),
            ("a\"; DROP", "expected lowercase ASCII letters"),
            ("1abc", "starts with a digit"),
            ("pg_mine", "reserved"),
        ];
        for (bad, says) in cases {
            let e = check_name(bad).expect_err(bad).to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(e.contains("schema"), "names what was wrong: {e}");
        }
    }

    #[test]
    fn the_newest_migration_is_the_current_version_and_versions_increase() {
        let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(versions.last(), Some(&CURRENT_VERSION));
    }

    #[test]
    fn the_longest_schema_name_still_makes_a_channel_postgres_accepts() {
        assert!(channel(&"a".repeat(MAX_SCHEMA_LEN)).len() <= 63);
    }
}
