//! The outbox table: appends, claims under leases, fenced settlements, and the
//! transactional enqueue.

use crate::database::Database;
use crate::error;
use bytes::Bytes;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Acquire, PgConnection, Row};
use std::sync::Arc;
use std::time::Duration;
use webhook_core::async_trait;
use webhook_core::outbox::{
    Claimed, EntryId, LeaseToken, NewEntry, Outbox, OutboxEntry, OutboxError, OwnerId,
    PendingStats, Settle, SettleReport, Settlement,
};
use webhook_core::store::RecordId;
use webhook_core::{WebhookId, WebhookMessage};

/// The origin recorded for entries enqueued through an application's own transaction.
pub const TRANSACTION_ORIGIN: &str = "transaction";

/// The outbox in PostgreSQL, shared by every instance that names the same schema.
///
/// - Claims take the oldest due entries with `FOR UPDATE SKIP LOCKED` in one statement
///   that also sets the lease (owner, a token from a sequence, its end), so instances
///   never wait for each other and never take the same entry under live leases.
/// - Settlements are batched in one transaction and fenced by the claim's token: a
///   settlement from an instance whose lease ran out and was taken over changes nothing.
/// - Idle instances wait on `LISTEN` (every insert notifies at commit) and poll every
///   [`WATCHED_POLL`](webhook_core::outbox::WATCHED_POLL) as a fallback.
/// - [`PostgresOutbox::enqueue_in`] appends through the application's own transaction.
///
/// Rows hold no secret: signatures are made per attempt by the instance that delivers.
#[derive(Clone, Debug)]
pub struct PostgresOutbox {
    db: Database,
}

impl PostgresOutbox {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// Enqueues `message` through the caller's connection or transaction: the webhook
    /// is sent if and only if that transaction commits (a rollback leaves no trace), and
    /// the instances' workers are woken at commit. Pass `&mut *tx` for a
    /// `sqlx::Transaction`, or `&mut *conn` for a pooled connection (then the insert
    /// commits on its own).
    ///
    /// The insert runs on the caller's runtime and connection, not on the crate's own.
    ///
    /// # The pattern
    ///
    /// ```no_run
    /// # async fn example(pool: sqlx::PgPool, outbox: webhook_postgres::PostgresOutbox)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// use webhook_core::WebhookMessage;
    ///
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO orders (id, total) VALUES ($1, $2)")
    ///     .bind("ord_1")
    ///     .bind(42_i64)
    ///     .execute(&mut *tx)
    ///     .await?;
    /// let message = WebhookMessage::custom("order.created", &serde_json::json!({"id": "ord_1"}))?;
    /// outbox.enqueue_in(&mut tx, &message).await?;
    /// tx.commit().await?; // the order and its webhook, or neither
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_in(
        &self,
        conn: &mut PgConnection,
        message: &WebhookMessage,
    ) -> Result<EntryId, OutboxError> {
        let ids = self
            .enqueue_many_in(conn, std::slice::from_ref(message))
            .await?;
        Ok(ids[0])
    }

    /// [`PostgresOutbox::enqueue_in`] for several messages, in one statement; their ids
    /// in the order given.
    pub async fn enqueue_many_in(
        &self,
        conn: &mut PgConnection,
        messages: &[WebhookMessage],
    ) -> Result<Vec<EntryId>, OutboxError> {
        self.enqueue_to(conn, messages, None).await
    }

    /// [`PostgresOutbox::enqueue_in`] for one registered endpoint (its id): the entry is
    /// that endpoint's delivery, as a routed send makes. `enqueue_in` makes the
    /// configuration's single-URL delivery; fan-out to every matching endpoint needs the
    /// notifier's endpoint set, which lives in each instance's memory, so a
    /// transaction that must reach several endpoints names each.
    pub async fn enqueue_for_endpoint_in(
        &self,
        conn: &mut PgConnection,
        message: &WebhookMessage,
        endpoint: &str,
    ) -> Result<EntryId, OutboxError> {
        let ids = self
            .enqueue_to(conn, std::slice::from_ref(message), Some(endpoint))
            .await?;
        Ok(ids[0])
    }

    async fn enqueue_to(
        &self,
        conn: &mut PgConnection,
        messages: &[WebhookMessage],
        endpoint: Option<&str>,
    ) -> Result<Vec<EntryId>, OutboxError> {
        let now_ms = webhook_core::time::unix_millis(std::time::SystemTime::now());
        let entries = messages
            .iter()
            .map(|m| NewEntry {
                webhook_id: m.id().clone(),
                event: m.event().to_owned(),
                task_id: m.task_id().map(str::to_owned),
                body: m.body().clone(),
                attempts: 0,
                not_before_ms: now_ms,
                created_ms: now_ms,
                replay_of: None,
                endpoint: endpoint.map(str::to_owned),
                ordering_key: None,
            })
            .collect();
        let origin = OwnerId::from_text(TRANSACTION_ORIGIN);
        insert(conn, &self.db.inner.s, &origin, entries)
            .await
            .map_err(|e| error::outbox(&self.db.inner.location, "enqueue", &e))
    }

    /// Makes every entry that is not leased due now (attempt counts kept), so a drain
    /// does not wait for retry times hours away. Entries leased by a live instance are
    /// left to it. Returns how many were moved.
    pub async fn make_due_now(&self, now_ms: u64) -> Result<u64, OutboxError> {
        let sql = format!(
            "UPDATE {s}.outbox SET not_before_ms = $1, due_ms = $1
             WHERE lease_token IS NULL AND not_before_ms > $1",
            s = self.db.inner.s
        );
        let pool = self.db.inner.pool.clone();
        let now = ms(now_ms);
        self.run("make due", async move {
            let done = sqlx::query(&sql).bind(now).execute(&pool).await?;
            Ok(done.rows_affected())
        })
        .await
    }

    /// Who holds leases now, and on how many entries each (lapsed leases included until
    /// another claim takes them): an operator's view of the instances at work, and a
    /// test's view of what a killed instance held.
    pub async fn leases(&self) -> Result<Vec<(OwnerId, u64)>, OutboxError> {
        let sql = format!(
            "SELECT lease_owner, count(*) FROM {s}.outbox WHERE lease_owner IS NOT NULL
             GROUP BY lease_owner ORDER BY lease_owner",
            s = self.db.inner.s
        );
        let pool = self.db.inner.pool.clone();
        let rows: Vec<(String, i64)> = self
            .run("count leases", async move {
                sqlx::query_as(&sql).fetch_all(&pool).await
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(owner, n)| (OwnerId::from_text(owner), n.unsigned_abs()))
            .collect())
    }

    /// The database this outbox lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs `work` on the crate's runtime, naming `operation` in its error.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, OutboxError>
    where
        F: Future<Output = sqlx::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let result = self.db.inner.backend.run(work).await;
        result.map_err(|e| error::outbox(&self.db.inner.location, operation, &e))
    }
}

/// Makes the current transaction's commit wait for the WAL flush (the pool's sessions
/// do not: see the crate docs), for writes that must survive a server crash once
/// acknowledged.
pub(crate) async fn durable_commit(tx: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(tx)
        .await
        .map(drop)
}

/// Milliseconds as the `BIGINT` they are stored in (saturating: `u64::MAX / 2` and
/// beyond mean "the far future").
fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Inserts `entries` in order, in one statement; their ids in that order.
async fn insert(
    conn: &mut PgConnection,
    s: &str,
    origin: &OwnerId,
    entries: Vec<NewEntry>,
) -> sqlx::Result<Vec<EntryId>> {
    let n = entries.len();
    let mut cols = Columns::with_capacity(n);
    for e in entries {
        cols.push(e);
    }
    let sql = format!(
        "INSERT INTO {s}.outbox
            (webhook_id, event, task_id, body, attempts, not_before_ms, created_ms, replay_of, endpoint, ordering_key, origin, due_ms)
         SELECT w, e, t, b, a, nb, c, r, p, k, $11, nb
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::int4[], $6::int8[], $7::int8[], $8::text[], $9::text[], $10::text[])
              WITH ORDINALITY AS u(w, e, t, b, a, nb, c, r, p, k, i)
         ORDER BY i
         RETURNING id"
    );
    let rows: Vec<i64> = sqlx::query_scalar(&sql)
        .bind(cols.webhook_id)
        .bind(cols.event)
        .bind(cols.task_id)
        .bind(cols.body)
        .bind(cols.attempts)
        .bind(cols.not_before_ms)
        .bind(cols.created_ms)
        .bind(cols.replay_of)
        .bind(cols.endpoint)
        .bind(cols.ordering_key)
        .bind(origin.as_str())
        .fetch_all(conn)
        .await?;
    let mut ids: Vec<EntryId> = rows
        .into_iter()
        .map(|id| EntryId(id.unsigned_abs()))
        .collect();
    // Ids come from one sequence in insertion order, which is the order given.
    ids.sort_unstable();
    Ok(ids)
}

/// Entries as columns, for `unnest`.
struct Columns {
    webhook_id: Vec<String>,
    event: Vec<String>,
    task_id: Vec<Option<String>>,
    body: Vec<Vec<u8>>,
    attempts: Vec<i32>,
    not_before_ms: Vec<i64>,
    created_ms: Vec<i64>,
    replay_of: Vec<Option<String>>,
    endpoint: Vec<Option<String>>,
    ordering_key: Vec<Option<String>>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Self {
            webhook_id: Vec::with_capacity(n),
            event: Vec::with_capacity(n),
            task_id: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            attempts: Vec::with_capacity(n),
            not_before_ms: Vec::with_capacity(n),
            created_ms: Vec::with_capacity(n),
            replay_of: Vec::with_capacity(n),
            endpoint: Vec::with_capacity(n),
            ordering_key: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, e: NewEntry) {
        self.webhook_id.push(e.webhook_id.as_str().to_owned());
        self.event.push(e.event);
        self.task_id.push(e.task_id);
        self.body.push(e.body.to_vec());
        self.attempts
            .push(i32::try_from(e.attempts).unwrap_or(i32::MAX));
        self.not_before_ms.push(ms(e.not_before_ms));
        self.created_ms.push(ms(e.created_ms));
        self.replay_of
            .push(e.replay_of.map(|r| r.as_str().to_owned()));
        self.endpoint.push(e.endpoint);
        self.ordering_key.push(e.ordering_key);
    }
}

/// A claimed row as an entry, and when it had been due (for the order).
fn claimed_row(row: &PgRow) -> Result<(i64, Claimed), OutboxError> {
    let id: i64 = get(row, "id", 0)?;
    let corrupt = |detail: String| OutboxError::Corrupt {
        id: id.unsigned_abs(),
        detail,
    };
    let webhook_id: String = get(row, "webhook_id", id)?;
    let webhook_id: WebhookId = webhook_id
        .parse()
        .map_err(|e| corrupt(format!("webhook_id: {e}")))?;
    let replay_of = get::<Option<String>>(row, "replay_of", id)?
        .map(RecordId::from_string)
        .transpose()
        .map_err(|e| corrupt(format!("replay_of: {e}")))?;
    let entry = OutboxEntry {
        id: EntryId(id.unsigned_abs()),
        webhook_id,
        event: get(row, "event", id)?,
        task_id: get(row, "task_id", id)?,
        body: Bytes::from(get::<Vec<u8>>(row, "body", id)?),
        attempts: u32::try_from(get::<i32>(row, "attempts", id)?).unwrap_or(0),
        not_before_ms: get::<i64>(row, "not_before_ms", id)?.unsigned_abs(),
        created_ms: get::<i64>(row, "created_ms", id)?.unsigned_abs(),
        replay_of,
        endpoint: get(row, "endpoint", id)?,
        ordering_key: get(row, "ordering_key", id)?,
        origin: OwnerId::from_text(get::<String>(row, "origin", id)?),
    };
    let token = LeaseToken(get::<i64>(row, "lease_token", id)? as u64);
    Ok((get(row, "was_due", id)?, Claimed { entry, token }))
}

fn get<'r, T>(row: &'r PgRow, column: &'static str, id: i64) -> Result<T, OutboxError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| OutboxError::Corrupt {
        id: id.unsigned_abs(),
        detail: format!("{column}: {}", error::detail(&e)),
    })
}

/// The condition that row `o` heads its (endpoint, ordering key): it has no key, or no
/// older entry with the same endpoint and key is held. Entries leave the outbox only at
/// their final outcome, so keyed deliveries go strictly in order across instances.
fn head(s: &str) -> String {
    format!(
        "(o.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM {s}.outbox e WHERE e.ordering_key = o.ordering_key
            AND e.endpoint IS NOT DISTINCT FROM o.endpoint AND e.id < o.id))"
    )
}

/// Claims up to `max` due entries for `owner` until `until_ms`, oldest due first.
async fn claim_rows(
    pool: PgPool,
    s: String,
    owner: String,
    now_ms: i64,
    until_ms: i64,
    max: i64,
) -> sqlx::Result<Vec<PgRow>> {
    let head = head(&s);
    let sql = format!(
        "WITH picked AS (
            SELECT id, due_ms FROM {s}.outbox o WHERE due_ms <= $1 AND {head}
            ORDER BY due_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE {s}.outbox o
            SET lease_owner = $3, lease_token = nextval('{s}.lease_tokens'), due_ms = $4
           FROM picked WHERE o.id = picked.id
         RETURNING o.id, o.webhook_id, o.event, o.task_id, o.body, o.attempts, o.not_before_ms,
                   o.created_ms, o.replay_of, o.endpoint, o.ordering_key, o.origin, o.lease_token,
                   picked.due_ms AS was_due"
    );
    sqlx::query(&sql)
        .bind(now_ms)
        .bind(max)
        .bind(owner)
        .bind(until_ms)
        .fetch_all(&pool)
        .await
}

/// Applies settlements in one transaction; how many took effect.
async fn settle_rows(pool: PgPool, s: String, channel: String, batch: Batch) -> sqlx::Result<u64> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let mut applied = 0;
    if !batch.remove_ids.is_empty() {
        let sql = format!(
            "DELETE FROM {s}.outbox o USING unnest($1::int8[], $2::int8[]) AS x(id, token)
             WHERE o.id = x.id AND o.lease_token = x.token"
        );
        let done = sqlx::query(&sql)
            .bind(&batch.remove_ids)
            .bind(&batch.remove_tokens)
            .execute(&mut *tx)
            .await?;
        applied += done.rows_affected();
    }
    if !batch.keep_ids.is_empty() {
        let sql = format!(
            "UPDATE {s}.outbox o
                SET attempts = x.attempts,
                    not_before_ms = COALESCE(x.nb, o.not_before_ms),
                    due_ms = COALESCE(x.nb, o.not_before_ms),
                    lease_owner = NULL, lease_token = NULL
               FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::int8[]) AS x(id, token, attempts, nb)
              WHERE o.id = x.id AND o.lease_token = x.token"
        );
        let done = sqlx::query(&sql)
            .bind(&batch.keep_ids)
            .bind(&batch.keep_tokens)
            .bind(&batch.keep_attempts)
            .bind(&batch.keep_not_before)
            .execute(&mut *tx)
            .await?;
        applied += done.rows_affected();
        // Entries given back (or due again soon) may be for an idle instance to take.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(channel)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(applied)
}

/// Settlements as columns: the entries to remove, and those to keep (retry, release).
#[derive(Default)]
struct Batch {
    remove_ids: Vec<i64>,
    remove_tokens: Vec<i64>,
    keep_ids: Vec<i64>,
    keep_tokens: Vec<i64>,
    keep_attempts: Vec<i32>,
    keep_not_before: Vec<Option<i64>>,
}

impl Batch {
    fn of(settles: &[Settle]) -> Self {
        let mut batch = Self::default();
        for settle in settles {
            let id = ms(settle.id.0);
            let token = settle.token.0 as i64;
            let (attempts, not_before) = match settle.how {
                Settlement::Delivered | Settlement::Failed => {
                    batch.remove_ids.push(id);
                    batch.remove_tokens.push(token);
                    continue;
                }
                Settlement::RetryAt {
                    attempts,
                    not_before_ms,
                } => (attempts, Some(ms(not_before_ms))),
                Settlement::Release { attempts } => (attempts, None),
            };
            batch.keep_ids.push(id);
            batch.keep_tokens.push(token);
            batch
                .keep_attempts
                .push(i32::try_from(attempts).unwrap_or(i32::MAX));
            batch.keep_not_before.push(not_before);
        }
        batch
    }
}

#[async_trait]
impl Outbox for PostgresOutbox {
    async fn append(&self, owner: &OwnerId, entries: Vec<NewEntry>) -> Result<(), OutboxError> {
        if entries.is_empty() {
            return Ok(());
        }
        let pool = self.db.inner.pool.clone();
        let s = self.db.inner.s.clone();
        let owner = owner.clone();
        self.run("append", async move {
            let mut conn = pool.acquire().await?;
            let mut tx = conn.begin().await?;
            durable_commit(&mut tx).await?;
            insert(&mut tx, &s, &owner, entries).await?;
            tx.commit().await
        })
        .await
    }

    async fn claim(
        &self,
        owner: &OwnerId,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, OutboxError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let work = claim_rows(
            self.db.inner.pool.clone(),
            self.db.inner.s.clone(),
            owner.as_str().to_owned(),
            ms(now_ms),
            ms(now_ms.saturating_add(lease_ms)),
            i64::try_from(max).unwrap_or(i64::MAX),
        );
        let rows = self.run("claim", work).await?;
        let mut claimed = rows
            .iter()
            .map(claimed_row)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|(due, c)| (*due, c.entry.id));
        Ok(claimed.into_iter().map(|(_, c)| c).collect())
    }

    async fn settle(&self, settles: Vec<Settle>) -> Result<SettleReport, OutboxError> {
        let total = settles.len() as u64;
        if total == 0 {
            return Ok(SettleReport::default());
        }
        let work = settle_rows(
            self.db.inner.pool.clone(),
            self.db.inner.s.clone(),
            crate::schema::channel(&self.db.inner.schema),
            Batch::of(&settles),
        );
        let applied = self.run("settle", work).await?;
        Ok(SettleReport {
            applied,
            fenced: total.saturating_sub(applied),
        })
    }

    async fn next_due(&self) -> Result<Option<u64>, OutboxError> {
        let s = &self.db.inner.s;
        let sql = format!("SELECT min(due_ms) FROM {s}.outbox o WHERE {}", head(s));
        let pool = self.db.inner.pool.clone();
        let due: Option<i64> = self
            .run("next_due", async move {
                sqlx::query_scalar(&sql).fetch_one(&pool).await
            })
            .await?;
        Ok(due.map(i64::unsigned_abs))
    }

    async fn pending(&self) -> Result<PendingStats, OutboxError> {
        let sql = format!(
            "SELECT count(*), min(created_ms) FROM {}.outbox",
            self.db.inner.s
        );
        let pool = self.db.inner.pool.clone();
        let (count, oldest): (i64, Option<i64>) = self
            .run("pending", async move {
                sqlx::query_as(&sql).fetch_one(&pool).await
            })
            .await?;
        Ok(PendingStats {
            count: count.unsigned_abs(),
            oldest_created_ms: oldest.map(i64::unsigned_abs),
        })
    }

    async fn sync(&self) -> Result<(), OutboxError> {
        // Every append and settlement commits its own transaction.
        Ok(())
    }

    fn location(&self) -> String {
        self.db.inner.location.clone()
    }

    fn append_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.db.inner.appended.clone())
    }
}
