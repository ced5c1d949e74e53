//! Listening for appends: every insert into the outbox (by any instance, or by an
//! application's own transaction) sends a `NOTIFY` at commit; this task turns each into
//! a wake-up of the local claimer.
//!
//! A lost connection (a restarted server, a dropped socket) is re-established and the
//! channel re-subscribed; since notifications sent meanwhile are lost, the claimer is
//! woken after each reconnect so it looks for itself. While the server is away the
//! attempts back off, up to [`MAX_BACKOFF`].

use sqlx::postgres::{PgListener, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The longest pause between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The first pause.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Listens on `channel` for as long as the crate's runtime runs.
pub(crate) async fn listen(pool: PgPool, channel: String, appended: Arc<Notify>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match subscribe(&pool, &channel).await {
            Ok(listener) => {
                backoff = FIRST_BACKOFF;
                // Anything appended while we were not listening went unheard.
                appended.notify_one();
                let Err(e) = relay(listener, &appended).await;
                tracing::warn!(error = %crate::error::detail(&e), "outbox listener lost its connection; reconnecting");
                appended.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::detail(&e), retry_in = ?backoff, "outbox listener cannot subscribe");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(pool: &PgPool, channel: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Wakes the claimer for each notification until the connection fails.
async fn relay(
    mut listener: PgListener,
    appended: &Notify,
) -> Result<std::convert::Infallible, sqlx::Error> {
    loop {
        // `Some`: an append committed. `None`: the connection was lost and has been
        // re-established and re-subscribed; what was sent meanwhile went unheard, so
        // the claimer looks for itself. `Err`: it could not be re-established.
        if listener.try_recv().await?.is_none() {
            tracing::info!("outbox listener reconnected");
        }
        appended.notify_one();
    }
}
