//! `webhook drain`: deliver what the outbox holds, then stop.

use crate::args::DrainArgs;
use crate::signals::{self, Signals};
use crate::store::Backend;
use crate::wait::{self, Waited};
use crate::{Failure, settings};
use std::time::{Duration, SystemTime};
use webhook_core::outbox::{Outbox, OwnerId, Settle, Settlement};

pub(crate) fn run(args: DrainArgs) -> Result<(), Failure> {
    let mut config = settings::delivery_config(&args.delivery)?;
    config.outbox.durable = true;
    let dir = settings::store_dir(args.delivery.store.as_deref(), Some(&config));
    let rt = crate::runtime()?;
    let mut signals = Signals::install(&rt)?;
    let store = settings::open_store(&dir)?;
    let outbox = store
        .outbox()
        .map_err(|e| Failure::not_recorded(format!("cannot open the outbox: {e}")))?;
    let held = rt
        .block_on(outbox.pending())
        .map_err(|e| Failure::not_recorded(format!("cannot read the outbox: {e}")))?
        .count;
    if !args.due_only {
        rt.block_on(make_all_due(store.backend(), &*outbox, held))?;
    }
    let bound = args.wait_secs.map_or_else(
        || wait::events(&config, usize::try_from(held).unwrap_or(usize::MAX)),
        Duration::from_secs,
    );
    drop(outbox);
    let notifier = settings::notifier(config, store)?;
    let waited = wait::idle(&rt, &mut signals, &notifier, bound, "draining");
    let grace = match waited {
        Waited::Interrupted(_) => signals::GRACE,
        Waited::Idle | Waited::Unfinished => Duration::from_secs(1),
    };
    let report = notifier.shutdown(grace);
    let stats = report.stats;
    let text = format!(
        "drained {} of {held} entr(ies): {} delivered, {} recorded as failed, {} left in the outbox at {}",
        stats.claimed,
        stats.delivered,
        stats.failed,
        report.left_in_outbox,
        settings::describe(&dir)
    );
    if let Waited::Interrupted(signal) = waited {
        return Err(Failure::interrupted(
            signal,
            format!("interrupted by {}: {text}", signal.name()),
        ));
    }
    if report.left_in_outbox > 0 {
        return Err(Failure::in_outbox(text));
    }
    if stats.failed > 0 {
        return Err(Failure::failed(text));
    }
    println!("{text}");
    Ok(())
}

/// Makes every entry due now (its attempt count kept), so a drain does not wait for
/// retry times that may be hours away. In PostgreSQL, entries leased by a running
/// instance are left to it; in sled (one process at a time) one claim takes all `held`
/// entries (a second would take the ones just made due again).
async fn make_all_due(backend: &Backend, outbox: &dyn Outbox, held: u64) -> Result<(), Failure> {
    let now_ms = webhook_core::time::unix_millis(SystemTime::now());
    let cannot = |e: webhook_core::outbox::OutboxError| {
        Failure::not_recorded(format!("cannot read the outbox: {e}"))
    };
    if let Backend::Postgres(db) = backend {
        db.outbox().make_due_now(now_ms).await.map_err(cannot)?;
        return Ok(());
    }
    let owner = OwnerId::generate();
    let max = usize::try_from(held).unwrap_or(usize::MAX);
    let claimed = outbox
        .claim(&owner, u64::MAX / 2, Duration::from_secs(60), max)
        .await
        .map_err(cannot)?;
    let settles = claimed
        .iter()
        .map(|c| Settle {
            id: c.entry.id,
            token: c.token,
            how: Settlement::RetryAt {
                attempts: c.entry.attempts,
                not_before_ms: now_ms,
            },
        })
        .collect();
    outbox.settle(settles).await.map_err(cannot)?;
    outbox.sync().await.map_err(cannot)
}
