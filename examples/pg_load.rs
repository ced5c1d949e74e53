//! PostgreSQL figures for BENCHMARKS.md, each beside its baseline in the same run:
//!
//! - `accepts`: 4 producer threads `send` N events into a notifier whose outbox is in
//!   PostgreSQL (the transport never answers, so this is the group commit alone); the
//!   rate is N over the time until every event is durable. Baseline: the same rows
//!   written by one connection as fast as it can, in batched `INSERT … unnest` of 1,000
//!   rows (the ceiling for any writer), rounds alternating.
//! - `txn`: the transactional enqueue's cost: transactions that insert one business
//!   row, with and without `enqueue_in` of its webhook, alternating; median and p99 of
//!   each, and the difference.
//!
//! ```sh
//! cargo run --release --example pg_load                # 3 rounds of 100,000 accepts; 2,000 transactions each way
//! cargo run --release --example pg_load -- --quick     # a smoke run for CI
//! ```
//!
//! The database is `WEBHOOK_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in schemas of the run's own, dropped at
//! the end. Ends with `accepts_per_s=<n> raw_insert_per_s=<n> ratio=<x>
//! txn_extra_us=<x>`; exits non-zero if an event was not stored.

use sqlx::{Connection, PgConnection};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use webhook_core::outbox::{NewEntry, Outbox, OwnerId};
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use webhook_core::{
    Notifier, WebhookConfig, WebhookEventType, WebhookId, WebhookMessage, WebhookPayload,
    WebhookQueuePolicy, async_trait,
};
use webhook_postgres::{Database, PostgresOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PRODUCERS: usize = 4;
const BOUND: Duration = Duration::from_secs(600);

/// A transport that never answers (the worker's timeout never fires within a run).
#[derive(Debug)]
struct NeverAnswers;

#[async_trait]
impl Transport for NeverAnswers {
    async fn send(&self, _: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        std::future::pending().await
    }
}

fn base_url() -> String {
    std::env::var("WEBHOOK_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn schema(round: &str) -> PostgresOptions {
    PostgresOptions::from_url(&base_url()).schema(format!("load_{round}_{}", std::process::id()))
}

fn payload() -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id("RQ-1234")
        .task_title("Write the PostgreSQL benchmark")
}

/// Events per second made durable in PostgreSQL by 4 producers through a notifier.
fn accepts(n: u64, round: usize) -> Result<f64, BoxError> {
    let db = Database::connect(schema(&format!("accepts{round}")))?;
    let config = WebhookConfig {
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        queue_capacity: Some(10_000),
        queue_policy: Some(WebhookQueuePolicy::BlockWithTimeout),
        block_timeout_ms: Some(60_000),
        timeout_secs: Some(300),
        outbox_max_pending: Some(10_000_000),
        ..WebhookConfig::for_url("http://127.0.0.1:9/x")
    }
    .resolve()?;
    let notifier = Notifier::builder(config, Arc::new(NeverAnswers))
        .store(Arc::new(db.failure_store()))
        .outbox(Arc::new(db.outbox()))
        .start()?;
    let payload = payload();
    let per = n / PRODUCERS as u64;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PRODUCERS {
            scope.spawn(|| {
                for _ in 0..per {
                    notifier.send(&payload);
                }
            });
        }
    });
    let total = per * PRODUCERS as u64;
    while notifier.stats().stored < total {
        if started.elapsed() > BOUND || notifier.stats().not_stored > 0 {
            return Err(format!("accepts: not durable in time: {:?}", notifier.stats()).into());
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    notifier.shutdown(Duration::ZERO);
    block(db.drop_schema_async())?;
    Ok(rate)
}

/// Rows per second written by one connection in batched inserts of 1,000: the ceiling.
fn raw_inserts(n: u64, round: usize) -> Result<f64, BoxError> {
    let db = Database::connect(schema(&format!("raw{round}")))?;
    let outbox = db.outbox();
    let owner = OwnerId::from_text("raw");
    let body = bytes::Bytes::from(serde_json::to_vec(&payload())?);
    let now = webhook_core::time::unix_millis(SystemTime::now());
    let rows = |count: u64| -> Vec<NewEntry> {
        (0..count)
            .map(|_| NewEntry {
                webhook_id: WebhookId::generate(),
                event: "task_completed".into(),
                task_id: Some("RQ-1234".into()),
                body: body.clone(),
                attempts: 0,
                not_before_ms: now,
                created_ms: now,
                replay_of: None,
                endpoint: None,
                ordering_key: None,
            })
            .collect()
    };
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let count = (n - done).min(1_000);
        block(outbox.append(&owner, rows(count)))?;
        done += count;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    block(db.drop_schema_async())?;
    Ok(rate)
}

fn block<T, E: Into<BoxError>>(f: impl Future<Output = Result<T, E>>) -> Result<T, BoxError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
        .map_err(Into::into)
}

/// Transaction latencies (µs): (without the webhook, with it), alternating.
async fn txn(count: usize) -> Result<(Vec<f64>, Vec<f64>), BoxError> {
    let db = Database::connect_async(schema("txn")).await?;
    let outbox = db.outbox();
    let mut conn = PgConnection::connect(&base_url()).await?;
    let orders = format!("\"{}\".orders", db.schema());
    sqlx::query(&format!(
        "CREATE TABLE {orders} (id BIGSERIAL PRIMARY KEY, total BIGINT NOT NULL)"
    ))
    .execute(&mut conn)
    .await?;
    let insert = format!("INSERT INTO {orders} (total) VALUES ($1)");
    let message = WebhookMessage::from_payload(&payload())?;
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for i in 0..count * 2 {
        let webhook = i % 2 == 1;
        let started = Instant::now();
        let mut tx = conn.begin().await?;
        sqlx::query(&insert).bind(42_i64).execute(&mut *tx).await?;
        if webhook {
            outbox
                .enqueue_in(&mut tx, &message.clone().with_id(WebhookId::generate()))
                .await?;
        }
        tx.commit().await?;
        let us = started.elapsed().as_secs_f64() * 1e6;
        if webhook {
            with.push(us)
        } else {
            plain.push(us)
        }
    }
    db.drop_schema_async().await?;
    Ok((plain, with))
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(i).copied().unwrap_or(0.0)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pg_load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, rounds, txns) = if quick {
        (4_000, 1, 50)
    } else {
        (100_000, 3, 2_000)
    };
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        raw.push(raw_inserts(n, round)?);
        ours.push(accepts(n, round)?);
        eprintln!(
            "round {round}: accepts_per_s={:.0} raw_insert_per_s={:.0}",
            ours[round], raw[round]
        );
    }
    let (accepts, raw) = (percentile(&mut ours, 0.5), percentile(&mut raw, 0.5));
    let (mut plain, mut with) = block(txn(txns))?;
    let (p50_plain, p50_with) = (percentile(&mut plain, 0.5), percentile(&mut with, 0.5));
    let (p99_plain, p99_with) = (percentile(&mut plain, 0.99), percentile(&mut with, 0.99));
    eprintln!(
        "txn: own insert p50={p50_plain:.0}us p99={p99_plain:.0}us; with enqueue_in p50={p50_with:.0}us p99={p99_with:.0}us ({txns} each, alternating)"
    );
    println!(
        "accepts_per_s={accepts:.0} raw_insert_per_s={raw:.0} ratio={:.2} txn_extra_us={:.0}",
        accepts / raw,
        p50_with - p50_plain
    );
    Ok(())
}
