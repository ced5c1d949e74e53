//! Connecting: options, the pool, the migrations, and the handle the store and the
//! outbox share.

use crate::backend::Backend;
use crate::error::{self, PostgresError};
use crate::schema;
use crate::{PostgresFailureStore, PostgresOutbox};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How to reach the database and where in it to keep things.
///
/// ```
/// use webhook_postgres::PostgresOptions;
/// let options = PostgresOptions::new("postgres://app:secret@127.0.0.1:5432/app")
///     .schema("webhooks")
///     .max_connections(8);
/// // Debug output never shows the password.
/// assert!(!format!("{options:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct PostgresOptions {
    url: String,
    schema: String,
    max_connections: u32,
    acquire_timeout: Duration,
    failure_capacity: usize,
    flush_every_commit: bool,
}

/// Connections the pool opens at most, unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
/// How long a query waits for a free connection (or a new one) before it fails.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl PostgresOptions {
    /// Options for `url` (`postgres://user[:password]@host[:port]/database`), the
    /// [`DEFAULT_SCHEMA`](crate::DEFAULT_SCHEMA), [`DEFAULT_MAX_CONNECTIONS`], and the
    /// failure store keeping at most [`DEFAULT_CAPACITY`](webhook_core::store::DEFAULT_CAPACITY)
    /// records.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: schema::DEFAULT_SCHEMA.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            failure_capacity: webhook_core::store::DEFAULT_CAPACITY,
            flush_every_commit: false,
        }
    }

    /// Makes claims and settlements wait for PostgreSQL's WAL flush too (off by default:
    /// appends and failure records always wait; a claim or settlement forgotten in a
    /// server crash only repeats a delivery). On: the server's own
    /// `synchronous_commit` applies to every transaction.
    #[must_use]
    pub fn flush_every_commit(mut self, on: bool) -> Self {
        self.flush_every_commit = on;
        self
    }

    /// Options from a URL that may name the schema in its query, as the command line's
    /// `--store` and the seed facade's `store_path` do:
    /// `postgres://user@host/db?schema=webhooks` (the `schema` parameter is taken out;
    /// any other parameter is the driver's).
    ///
    /// ```
    /// use webhook_postgres::PostgresOptions;
    /// let options = PostgresOptions::from_url("postgres://app@db:5432/app?sslmode=disable&schema=hooks");
    /// assert_eq!(options.schema_name(), "hooks");
    /// assert_eq!(options.location(), "postgres://db:5432/… schema hooks");
    /// let again = PostgresOptions::from_url(&options.url_with_schema());
    /// assert_eq!((again.schema_name(), again.location()), ("hooks", options.location()));
    /// ```
    pub fn from_url(url: &str) -> Self {
        let Some((base, query)) = url.split_once('?') else {
            return Self::new(url);
        };
        let (mut schema, mut rest) = (None, Vec::new());
        for pair in query.split('&') {
            match pair.strip_prefix("schema=") {
                Some(name) => schema = Some(name.to_owned()),
                None => rest.push(pair),
            }
        }
        let url = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let options = Self::new(url);
        match schema {
            Some(name) => options.schema(name),
            None => options,
        }
    }

    /// The schema that holds the tables (created if absent): 1 to 48 lowercase ASCII
    /// letters, digits and `_`, not starting with a digit or `pg_`. Instances share an
    /// outbox by naming the same schema.
    #[must_use]
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// The most connections the pool opens (at least 2: one listens for appends).
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(2);
        self
    }

    /// How long a query waits for a connection before it fails.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The most failure records kept (the oldest are pruned beyond it; at least 1).
    #[must_use]
    pub fn failure_capacity(mut self, records: usize) -> Self {
        self.failure_capacity = records.max(1);
        self
    }

    /// The URL with the schema in its query: what [`PostgresOptions::from_url`] reads
    /// back, e.g. to hand another process (a `--store` argument). It holds the URL's
    /// credentials: never log it.
    pub fn url_with_schema(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.url, self.schema)
    }

    /// The schema name.
    pub fn schema_name(&self) -> &str {
        &self.schema
    }

    /// Where the data lives, for messages: host, port and schema, no credentials.
    pub fn location(&self) -> String {
        format!(
            "{} schema {}",
            webhook_core::redact::url(&self.url),
            self.schema
        )
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &webhook_core::redact::url(&self.url))
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("failure_capacity", &self.failure_capacity)
            .field("flush_every_commit", &self.flush_every_commit)
            .finish()
    }
}

/// Whether `text` is a PostgreSQL URL (`postgres://` or `postgresql://`), as the
/// command line and the seed facade tell a database from a store folder.
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The URL, when a store path (the command line's `--store`, a config's `store_path`)
/// names a PostgreSQL database rather than a folder.
pub fn url_in(path: &std::path::Path) -> Option<&str> {
    path.to_str().filter(|text| is_postgres_url(text))
}

/// A store path for messages: a folder as it is, a database as its host, port and
/// schema (never its password).
pub fn describe_store_path(path: &std::path::Path) -> String {
    match url_in(path) {
        Some(url) => PostgresOptions::from_url(url).location(),
        None => path.display().to_string(),
    }
}

/// One database: the pool, the schema, and the runtime the pool lives on. The failure
/// store and the outbox made from it share all three.
///
/// Cloning is cheap; the pool closes when the last clone, store or outbox is dropped.
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: PgPool,
    /// `"schema"`, quoted for SQL.
    pub(crate) s: String,
    pub(crate) schema: String,
    pub(crate) location: String,
    pub(crate) failure_capacity: usize,
    /// Raised when an append may have happened elsewhere (see `listen`).
    pub(crate) appended: Arc<Notify>,
    pub(crate) listening: OnceLock<()>,
    // Declared last: dropped after the pool.
    pub(crate) backend: Backend,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects, then applies the migrations the schema lacks (under an advisory lock,
    /// so instances may start at once). Blocks the calling thread; from async code use
    /// [`Database::connect_async`].
    pub fn connect(options: PostgresOptions) -> Result<Self, PostgresError> {
        let backend = Backend::start().map_err(PostgresError::Runtime)?;
        let pool = backend.block(open(options.clone()))?;
        Ok(Self::assemble(backend, pool, &options))
    }

    /// [`Database::connect`] for async code (on any runtime).
    pub async fn connect_async(options: PostgresOptions) -> Result<Self, PostgresError> {
        let backend = Backend::start().map_err(PostgresError::Runtime)?;
        let pool = backend.run(open(options.clone())).await?;
        Ok(Self::assemble(backend, pool, &options))
    }

    fn assemble(backend: Backend, pool: PgPool, options: &PostgresOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                s: schema::quoted(&options.schema),
                schema: options.schema.clone(),
                location: options.location(),
                failure_capacity: options.failure_capacity,
                appended: Arc::new(Notify::new()),
                listening: OnceLock::new(),
                backend,
            }),
        }
    }

    /// The failure store in this database.
    pub fn failure_store(&self) -> PostgresFailureStore {
        PostgresFailureStore::new(self.clone())
    }

    /// The outbox in this database. Its first call starts listening for appends by
    /// other instances.
    pub fn outbox(&self) -> PostgresOutbox {
        self.inner.listening.get_or_init(|| {
            let task = crate::listen::listen(
                self.inner.pool.clone(),
                schema::channel(&self.inner.schema),
                self.inner.appended.clone(),
            );
            self.inner.backend.spawn(task);
        });
        PostgresOutbox::new(self.clone())
    }

    /// The pool (on the crate's own runtime: use it through the store and outbox, or
    /// for reads in tests and tools). Its sessions run with `synchronous_commit = off` unless
    /// [`PostgresOptions::flush_every_commit`] was set.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The schema name.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// Where the data lives: host, port and schema, no credentials.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Drops the schema and everything in it (for tests and tools; irreversible).
    pub async fn drop_schema_async(&self) -> Result<(), PostgresError> {
        let pool = self.inner.pool.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.inner.s);
        let schema = self.inner.schema.clone();
        self.inner
            .backend
            .run(async move { sqlx::query(&sql).execute(&pool).await.map(drop) })
            .await
            .map_err(|e| PostgresError::Migrate {
                schema,
                step: "drop the schema",
                detail: error::detail(&e),
            })
    }
}

/// Opens the pool and migrates (on the backend runtime).
async fn open(options: PostgresOptions) -> Result<PgPool, PostgresError> {
    schema::check_name(&options.schema)?;
    if !is_postgres_url(&options.url) {
        let scheme = options
            .url
            .split_once("://")
            .map_or("", |(scheme, _)| scheme);
        return Err(PostgresError::InvalidUrl {
            reason: format!("scheme {scheme:?} is not `postgres` or `postgresql`"),
        });
    }
    let mut connect = PgConnectOptions::from_str(&options.url)
        .map_err(|e| PostgresError::InvalidUrl {
            reason: error::detail(&e),
        })?
        .application_name("webhook");
    if !options.flush_every_commit {
        // Claims and settlements do not wait for the WAL flush; appends and failure
        // records turn it back on for their own transactions (see the crate docs).
        connect = connect.options([("synchronous_commit", "off")]);
    }
    // One connection of its own first: its error names the cause (a refused connection,
    // an unknown role), where the pool's would only say that it timed out.
    let cannot = |e: sqlx::Error| PostgresError::Connect {
        location: webhook_core::redact::url(&options.url),
        detail: error::detail(&e),
    };
    let mut conn = tokio::time::timeout(
        options.acquire_timeout,
        PgConnection::connect_with(&connect),
    )
    .await
    .map_err(|_| PostgresError::Connect {
        location: webhook_core::redact::url(&options.url),
        detail: format!("no answer within {:?}", options.acquire_timeout),
    })?
    .map_err(cannot)?;
    schema::migrate(&mut conn, &options.schema).await?;
    let _ = conn.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(connect);
    Ok(pool)
}
