//! The transactional outbox: an application inserts a business row and its webhook in
//! one transaction of its own, so the webhook goes out if and only if the row is
//! committed. A notifier (which could run in any instance) delivers from the shared
//! outbox to a local receiver.
//!
//! ```sh
//! cargo run --example postgres_outbox
//! ```
//!
//! The database is `WEBHOOK_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the example works in a schema of its
//! own and drops it at the end.

use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::Duration;
use webhook_core::{Notifier, WebhookConfig, WebhookMessage};
use webhook_postgres::{Database, PostgresOptions};
use webhook_testkit::TestReceiver;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let url = std::env::var("WEBHOOK_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("example_outbox_{}", std::process::id());

    // The webhook side: the failure store and outbox in PostgreSQL, and a notifier.
    let db = Database::connect(PostgresOptions::new(&url).schema(&schema))?;
    let receiver = TestReceiver::start()?;
    let config = WebhookConfig {
        durable: Some(true),
        ..receiver.config()
    }
    .resolve()?;
    let transport = webhook_http::HttpTransport::from_config(&config)?;
    let notifier = Notifier::builder(config, Arc::new(transport))
        .store(Arc::new(db.failure_store()))
        .outbox(Arc::new(db.outbox()))
        .start()?;

    // The application side: its own connection, its own table, its own transactions.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outbox = db.outbox();
    rt.block_on(async {
        let mut conn = PgConnection::connect(&url).await?;
        let orders = format!("\"{schema}\".orders");
        sqlx::query(&format!(
            "CREATE TABLE {orders} (id TEXT PRIMARY KEY, total_cents BIGINT NOT NULL)"
        ))
        .execute(&mut conn)
        .await?;
        for (order, total, commit) in [
            ("ord_1", 4200, true),
            ("ord_2", 990, false),
            ("ord_3", 150, true),
        ] {
            let mut tx = conn.begin().await?;
            sqlx::query(&format!(
                "INSERT INTO {orders} (id, total_cents) VALUES ($1, $2)"
            ))
            .bind(order)
            .bind(total as i64)
            .execute(&mut *tx)
            .await?;
            let event = serde_json::json!({ "order": order, "total_cents": total });
            let message = WebhookMessage::custom("order.created", &event)?;
            outbox.enqueue_in(&mut tx, &message).await?;
            if commit {
                tx.commit().await?;
                println!("{order}: committed, with its webhook {}", message.id());
            } else {
                tx.rollback().await?;
                println!("{order}: rolled back: neither the row nor its webhook exists");
            }
        }
        Ok::<_, BoxError>(())
    })?;

    // The notifier is woken by the commit's NOTIFY and delivers both committed webhooks.
    let delivered = rt.block_on(receiver.wait_for_deliveries(2, Duration::from_secs(30)))?;
    notifier.wait_idle(Duration::from_secs(10));
    for request in &delivered {
        println!(
            "receiver got {} {}",
            request.webhook_id().unwrap_or("?"),
            request.json()?
        );
    }
    let report = notifier.shutdown(Duration::from_secs(5));
    rt.block_on(db.drop_schema_async())?;
    println!(
        "delivered={} (2 committed, 1 rolled back) left_in_outbox={}",
        receiver.delivery_count(),
        report.left_in_outbox
    );
    if receiver.delivery_count() != 2 {
        return Err("expected exactly the two committed webhooks".into());
    }
    Ok(())
}
