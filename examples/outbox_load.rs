//! The durable outbox under load, side by side with memory mode (BENCHMARKS.md):
//!
//! - `accepts`: 4 producer threads `send` N events into a notifier with the sled
//!   outbox; the rate is N over the time until every event is durable (`stats.stored`).
//!   The transport never answers, so the measurement is the group commit alone.
//! - `confirmed`: 4 threads each `send_confirmed` events one after another; the latency
//!   of each call (until its batch is flushed), p50 and p99.
//! - `end_to_end`: N events delivered over loopback HTTP to a sink, signing on, with
//!   the sled outbox and in memory mode, rounds alternating; the rates and their ratio.
//!
//! ```sh
//! cargo run --release --example outbox_load                 # 200,000 accepts; 5 rounds of 50,000 end to end
//! cargo run --release --example outbox_load -- --quick      # a smoke run for CI
//! ```
//!
//! Ends with `accepts_per_s=<n> confirmed_p99_ms=<x> outbox_rps=<n> memory_rps=<n>
//! ratio=<x>` and exits non-zero if an event was lost or dropped.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use webhook_core::{
    Notifier, ResolvedWebhookConfig, WebhookConfig, WebhookEventType, WebhookPayload,
    WebhookQueuePolicy, async_trait,
};
use webhook_sled::SledFailureStore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
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

fn config(
    url: &str,
    edit: impl FnOnce(&mut WebhookConfig),
) -> Result<ResolvedWebhookConfig, BoxError> {
    let mut config = WebhookConfig {
        secret: Some(SECRET.to_owned()),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        queue_capacity: Some(10_000),
        queue_policy: Some(WebhookQueuePolicy::BlockWithTimeout),
        block_timeout_ms: Some(60_000),
        max_concurrency: Some(8),
        timeout_secs: Some(300),
        ..WebhookConfig::for_url(url)
    };
    edit(&mut config);
    Ok(config.resolve()?)
}

fn payload() -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id("RQ-1234")
        .task_title("Write the outbox benchmark")
}

fn durable(
    config: ResolvedWebhookConfig,
    transport: Arc<dyn Transport>,
) -> Result<(Notifier, tempfile::TempDir), BoxError> {
    let dir = tempfile::tempdir()?;
    let store = SledFailureStore::open(dir.path())?;
    let outbox = store.outbox()?;
    let notifier = Notifier::builder(config, transport)
        .store(Arc::new(store))
        .outbox(Arc::new(outbox))
        .start()?;
    Ok((notifier, dir))
}

/// Events per second made durable by 4 producers.
fn accepts(n: u64) -> Result<f64, BoxError> {
    let (notifier, _dir) = durable(
        config("http://127.0.0.1:9/x", |_| {})?,
        Arc::new(NeverAnswers),
    )?;
    let payload = payload();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PRODUCERS {
            scope.spawn(|| {
                for _ in 0..n / PRODUCERS as u64 {
                    notifier.send(&payload);
                }
            });
        }
    });
    let total = n / PRODUCERS as u64 * PRODUCERS as u64;
    while notifier.stats().stored < total {
        if started.elapsed() > BOUND {
            return Err("accepts: not durable in time".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let stats = notifier.stats();
    if stats.dropped_total > 0 || stats.not_stored > 0 {
        return Err(format!(
            "accepts: dropped {} not stored {}",
            stats.dropped_total, stats.not_stored
        )
        .into());
    }
    notifier.shutdown(Duration::ZERO);
    Ok(rate)
}

/// Latencies (ns) of `per_thread` confirmed sends on each of 4 threads.
fn confirmed(per_thread: usize) -> Result<Vec<u64>, BoxError> {
    let (notifier, _dir) = durable(
        config("http://127.0.0.1:9/x", |_| {})?,
        Arc::new(NeverAnswers),
    )?;
    let payload = payload();
    let mut all: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                scope.spawn(|| {
                    (0..per_thread)
                        .map(|_| {
                            let t = Instant::now();
                            let ok = notifier.send_confirmed(&payload).is_ok();
                            (ok, t.elapsed().as_nanos() as u64)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .filter(|(ok, _)| *ok)
            .map(|(_, ns)| ns)
            .collect()
    });
    notifier.shutdown(Duration::ZERO);
    if all.len() != per_thread * PRODUCERS {
        return Err("confirmed: a send was not confirmed".into());
    }
    all.sort_unstable();
    Ok(all)
}

/// A loopback HTTP/1.1 sink on its own thread (a current-thread runtime) answering 200.
fn sink() -> Result<u16, BoxError> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = service_fn(|req: Request<Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    Ok(port)
}

/// Deliveries per second of `n` events to the sink, with the outbox or in memory.
fn end_to_end(port: u16, n: u64, with_outbox: bool) -> Result<f64, BoxError> {
    let config = config(&format!("http://127.0.0.1:{port}/hook"), |_| {})?;
    let transport: Arc<dyn Transport> =
        Arc::new(webhook_http::HttpTransport::from_config(&config)?);
    let (notifier, _dir) = if with_outbox {
        let (n, d) = durable(config, transport)?;
        (n, Some(d))
    } else {
        (Notifier::builder(config, transport).start()?, None)
    };
    let payload = payload();
    let started = Instant::now();
    for _ in 0..n {
        notifier.send(&payload);
    }
    if !notifier.wait_idle(BOUND) {
        return Err("end to end: not idle in time".into());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let stats = notifier.stats();
    notifier.shutdown(Duration::from_secs(5));
    if stats.delivered != n {
        return Err(format!(
            "end to end: delivered {} of {n}: {stats:?}",
            stats.delivered
        )
        .into());
    }
    Ok(rate)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outbox_load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--only-outbox") {
        // For profiling: the outbox side of the end-to-end measurement alone.
        let port = sink()?;
        let rate = end_to_end(port, 50_000, true)?;
        println!("outbox_rps={rate:.0}");
        return Ok(());
    }
    let (accept_n, confirm_n, e2e_n, rounds) = if quick {
        (5_000, 50, 2_000, 1)
    } else {
        (200_000, 1_000, 50_000, 5)
    };
    let accepts_per_s = accepts(accept_n)?;
    println!(
        "accepts: {accept_n} events from {PRODUCERS} producers durable at {accepts_per_s:.0}/s"
    );
    let latencies = confirmed(confirm_n)?;
    let q = |f: f64| latencies[((latencies.len() - 1) as f64 * f) as usize] as f64 / 1e6;
    println!(
        "confirmed: {} sends on {PRODUCERS} threads: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
    let port = sink()?;
    let (mut outbox_rates, mut memory_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which side goes first, so neither always meets the machine's same phase.
        let (memory, outbox) = if round % 2 == 1 {
            let memory = end_to_end(port, e2e_n, false)?;
            (memory, end_to_end(port, e2e_n, true)?)
        } else {
            let outbox = end_to_end(port, e2e_n, true)?;
            (end_to_end(port, e2e_n, false)?, outbox)
        };
        println!(
            "round {round}: end to end {e2e_n} events: memory {memory:.0}/s, sled outbox {outbox:.0}/s, ratio {:.3}",
            outbox / memory
        );
        outbox_rates.push(outbox);
        memory_rates.push(memory);
        ratios.push(outbox / memory);
    }
    println!(
        "accepts_per_s={accepts_per_s:.0} confirmed_p99_ms={:.2} outbox_rps={:.0} memory_rps={:.0} ratio={:.3}",
        q(0.99),
        median(&mut outbox_rates),
        median(&mut memory_rates),
        median(&mut ratios)
    );
    Ok(())
}
