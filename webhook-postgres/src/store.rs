//! The failure table: one row per record, the record kept as its JSON text (so the
//! payload stays byte for byte), with the columns the filters use beside it.

use crate::database::Database;
use crate::error;
use sqlx::Acquire;
use sqlx::postgres::PgPool;
use webhook_core::async_trait;
use webhook_core::store::{
    FailureRecord, FailureStore, RecordFilter, RecordId, RecordStatus, RecordUpdate, StoreError,
};

/// The failure store in PostgreSQL: a record written by one instance is listed, read
/// and replayed by any other. Updates are atomic per record (a row lock), so concurrent
/// replays from several instances are counted exactly. Keeps at most the capacity set
/// with [`PostgresOptions::failure_capacity`](crate::PostgresOptions::failure_capacity),
/// pruning the oldest after each record.
#[derive(Clone, Debug)]
pub struct PostgresFailureStore {
    db: Database,
}

impl PostgresFailureStore {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database this store lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        F: Future<Output = sqlx::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let result = self.db.inner.backend.run(work).await;
        result.map_err(|e| error::store(&self.db.inner.location, operation, &e))
    }

    fn pool(&self) -> PgPool {
        self.db.inner.pool.clone()
    }

    fn sql(&self, template: &str) -> String {
        template.replace("{s}", &self.db.inner.s)
    }
}

fn status_text(status: RecordStatus) -> &'static str {
    match status {
        RecordStatus::Failed => "failed",
        RecordStatus::Resolved => "resolved",
    }
}

fn encode(record: &FailureRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt {
        id: record.id.to_string(),
        detail: format!("cannot encode: {e}"),
    })
}

fn decode(id: &str, text: &str) -> Result<FailureRecord, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        id: id.to_owned(),
        detail: e.to_string(),
    })
}

const UPSERT: &str =
    "INSERT INTO {s}.failures (id, webhook_id, event, task_id, endpoint, status, record)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (id) DO UPDATE SET webhook_id = EXCLUDED.webhook_id, event = EXCLUDED.event,
        task_id = EXCLUDED.task_id, endpoint = EXCLUDED.endpoint, status = EXCLUDED.status,
        record = EXCLUDED.record";

const PRUNE: &str = "DELETE FROM {s}.failures WHERE id IN (
    SELECT id FROM {s}.failures ORDER BY id DESC OFFSET $1)";

const LIST: &str = "SELECT id, record FROM {s}.failures
    WHERE (cardinality($1::text[]) = 0 OR id = ANY($1) OR webhook_id = ANY($1))
      AND ($2::text IS NULL OR event = $2)
      AND ($3::text IS NULL OR task_id = $3)
      AND ($4::text IS NULL OR status = $4)
      AND ($6::text IS NULL OR endpoint = $6)
    ORDER BY id DESC LIMIT $5";

#[async_trait]
impl FailureStore for PostgresFailureStore {
    async fn record(&self, record: FailureRecord) -> Result<(), StoreError> {
        let text = encode(&record)?;
        let (upsert, prune) = (self.sql(UPSERT), self.sql(PRUNE));
        let keep = i64::try_from(self.db.inner.failure_capacity).unwrap_or(i64::MAX);
        let pool = self.pool();
        self.run("record", async move {
            let mut conn = pool.acquire().await?;
            let mut tx = conn.begin().await?;
            crate::outbox::durable_commit(&mut tx).await?;
            sqlx::query(&upsert)
                .bind(record.id.as_str())
                .bind(record.webhook_id.as_str())
                .bind(&record.event)
                .bind(&record.task_id)
                .bind(&record.endpoint)
                .bind(status_text(record.status))
                .bind(text)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&prune).bind(keep).execute(&mut *tx).await?;
            tx.commit().await
        })
        .await
    }

    async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
        let sql = self.sql(LIST);
        let pool = self.pool();
        let filter = filter.clone();
        let rows: Vec<(String, String)> = self
            .run("list", async move {
                sqlx::query_as(&sql)
                    .bind(&filter.ids)
                    .bind(&filter.event)
                    .bind(&filter.task_id)
                    .bind(filter.status.map(status_text))
                    .bind(i64::try_from(filter.limit).unwrap_or(i64::MAX))
                    .bind(&filter.endpoint)
                    .fetch_all(&pool)
                    .await
            })
            .await?;
        rows.iter().map(|(id, text)| decode(id, text)).collect()
    }

    async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError> {
        let sql = self.sql("SELECT record FROM {s}.failures WHERE id = $1");
        let pool = self.pool();
        let key = id.as_str().to_owned();
        let text: Option<String> = self
            .run("get", async move {
                sqlx::query_scalar(&sql)
                    .bind(key)
                    .fetch_optional(&pool)
                    .await
            })
            .await?;
        text.map(|t| decode(id.as_str(), &t)).transpose()
    }

    async fn update(
        &self,
        id: &RecordId,
        update: &RecordUpdate,
    ) -> Result<Option<FailureRecord>, StoreError> {
        let work = update_row(
            self.pool(),
            self.sql("SELECT record FROM {s}.failures WHERE id = $1 FOR UPDATE"),
            self.sql("UPDATE {s}.failures SET status = $2, record = $3 WHERE id = $1"),
            id.clone(),
            update.clone(),
        );
        let result = self.db.inner.backend.run(work).await;
        result.map_err(|e| match e {
            Updated::Db(e) => error::store(&self.db.inner.location, "update", &e),
            Updated::Store(e) => e,
        })
    }

    async fn prune(&self, keep: usize) -> Result<usize, StoreError> {
        let sql = self.sql(PRUNE);
        let pool = self.pool();
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let removed = self
            .run("prune", async move {
                sqlx::query(&sql).bind(keep).execute(&pool).await
            })
            .await?
            .rows_affected();
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    async fn count(&self) -> Result<usize, StoreError> {
        let sql = self.sql("SELECT count(*) FROM {s}.failures");
        let pool = self.pool();
        let n: i64 = self
            .run("count", async move {
                sqlx::query_scalar(&sql).fetch_one(&pool).await
            })
            .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn location(&self) -> String {
        self.db.inner.location.clone()
    }
}

/// Why an update failed: the database, or the record's own rules (or its text).
enum Updated {
    Db(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for Updated {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// Reads the row under a lock, applies `update`, writes it back, in one transaction.
async fn update_row(
    pool: PgPool,
    select: String,
    write: String,
    id: RecordId,
    update: RecordUpdate,
) -> Result<Option<FailureRecord>, Updated> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    crate::outbox::durable_commit(&mut tx).await?;
    let text: Option<String> = sqlx::query_scalar(&select)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(text) = text else {
        return Ok(None);
    };
    let mut record = decode(id.as_str(), &text).map_err(Updated::Store)?;
    if let Err(reason) = record.apply(&update) {
        return Err(Updated::Store(StoreError::Rejected { id, reason }));
    }
    let text = encode(&record).map_err(Updated::Store)?;
    sqlx::query(&write)
        .bind(id.as_str())
        .bind(status_text(record.status))
        .bind(text)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(record))
}
