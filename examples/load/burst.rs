//! Burst mode: a million events into a 10,000-slot queue whose sink is slow; every
//! count must come out exact.

use crate::figures::peak_rss_mib;
use crate::pipeline::{config, seed_payload, url};
use crate::sink::{Sink, SinkRuntime, SinkServer, SinkSpec};
use crate::{Args, BoxError, BurstPolicy, QUEUE_CAPACITY};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webhook_core::{DropReason, EnqueueOutcome, Notifier, WebhookQueuePolicy};
use webhook_http::HttpTransport;

/// Counts the reports it is told (the `--observer` flag).
#[derive(Debug, Default)]
pub(crate) struct CountingObserver(pub(crate) std::sync::atomic::AtomicU64);

impl webhook_core::observe::Observer for CountingObserver {
    fn on_event(&self, _: &webhook_core::observe::ObserverEvent) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Installs the Prometheus recorder when asked (before the notifier registers its
/// instruments).
pub(crate) fn install_recorder(wanted: bool) -> Result<(), BoxError> {
    if !wanted {
        return Ok(());
    }
    #[cfg(feature = "metrics")]
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::set_global_recorder(recorder)?;
        println!("load: Prometheus recorder installed (feature metrics on)");
        Ok(())
    }
    #[cfg(not(feature = "metrics"))]
    Err("--prometheus needs the root package's `metrics` feature".into())
}

pub(crate) fn run_burst(args: &Args) -> Result<bool, BoxError> {
    let events = if args.quick {
        100_000
    } else {
        args.burst_events
    };
    let policy = match args.burst_policy {
        BurstPolicy::DropOldest => WebhookQueuePolicy::DropOldest,
        BurstPolicy::DropNew => WebhookQueuePolicy::DropNew,
    };
    let sink = Sink::start(SinkSpec {
        runtime: SinkRuntime::Multi,
        server: SinkServer::Hyper,
        threads: 2,
        delay_ms: args.slow_ms,
        tls: false,
    })?;
    let concurrency = args.concurrency.first().copied().unwrap_or(8);
    let config = config(url(&sink), concurrency, policy)?;
    let transport = HttpTransport::from_config(&config)?;
    let notifier = Notifier::builder(config, Arc::new(transport))
        .worker_threads(args.threads as usize)
        .start()?;
    let payload = seed_payload();
    println!(
        "load: burst of {events} events into a {QUEUE_CAPACITY}-slot queue, policy {policy}, \
         sink answering after {} ms, C = {}",
        args.slow_ms, concurrency
    );

    let (mut accepted, mut after_eviction, mut refused, mut other) = (0_u64, 0_u64, 0_u64, 0_u64);
    let started = Instant::now();
    for _ in 0..events {
        match notifier.send(&payload) {
            EnqueueOutcome::Accepted => accepted += 1,
            EnqueueOutcome::AcceptedAfterEviction => after_eviction += 1,
            EnqueueOutcome::Dropped(DropReason::QueueFull) => refused += 1,
            EnqueueOutcome::Dropped(_) => other += 1,
        }
    }
    let offered_in = started.elapsed();
    let during = notifier.stats();
    let report = notifier.shutdown(Duration::from_millis(500));
    drop(sink);
    let s = report.stats;
    println!(
        "offered {events} in {:.3} s ({:.0} events/s); at the end of the burst: queued {}, in flight {}",
        offered_in.as_secs_f64(),
        events as f64 / offered_in.as_secs_f64(),
        during.queued,
        during.in_flight,
    );
    println!(
        "caller saw: accepted {accepted}, accepted after an eviction {after_eviction}, \
         refused (queue full) {refused}, other {other}"
    );
    println!(
        "counters: accepted {} dropped {} evicted {} delivered {} failed {} (recorded at shutdown {}) \
         queued {} in_flight {} waiting {}",
        s.accepted,
        s.dropped_total,
        s.evicted,
        s.delivered,
        s.failed,
        s.failed_by_kind.shutdown,
        s.queued,
        s.in_flight,
        s.waiting_retries,
    );
    let checks = [
        (
            "offered = accepted + dropped",
            events == s.accepted + s.dropped_total,
        ),
        (
            "the caller's accepted = counters' accepted",
            accepted + after_eviction == s.accepted,
        ),
        (
            "the caller's refusals = counters' dropped",
            refused + other == s.dropped_total && refused == s.dropped.queue_full,
        ),
        (
            "one eviction per accepted-after-eviction",
            after_eviction == s.evicted,
        ),
        (
            "accepted = delivered + failed + evicted (nothing pending)",
            s.is_idle() && s.accepted == s.delivered + s.failed + s.evicted,
        ),
        ("the counters balance", s.balances()),
    ];
    let mut ok = true;
    for (what, holds) in checks {
        println!("check: {what}: {}", if holds { "ok" } else { "FAILED" });
        ok &= holds;
    }
    let rss = peak_rss_mib()?;
    println!(
        "burst events={events} policy={policy} accepted={} dropped={} evicted={} delivered={} failed={} \
         counts_exact={ok} peak_rss_mib={rss:.1}",
        s.accepted, s.dropped_total, s.evicted, s.delivered, s.failed,
    );
    Ok(ok)
}
