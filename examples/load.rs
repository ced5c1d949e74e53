//! Load driver: delivery throughput against a bare hyper client, enqueue latency, and
//! memory under a burst, measured side by side in one run (DESIGN §8, BENCHMARKS.md).
//!
//! ```text
//! cargo run --release --example load                  # C = 8, N = 200,000
//! cargo run --release --example load -- -c 8 -n 500000 --rounds 3
//! cargo run --release --example load -- --quick       # CI smoke: N = 5,000, under a second
//! cargo run --release --example load -- --burst       # 1,000,000 events, slow sink
//! ```
//!
//! Throughput mode starts a loopback HTTP/1.1 sink in a separate process (this binary
//! again, with `--sink`), then measures
//! - `raw`: a bare hyper-util pooled client (`HttpConnector`, HTTP/1.1) POSTing the same
//!   body with the same headers as the pipeline sends, from C tasks, N requests in all;
//! - `pipeline`: a `Notifier` with `webhook_http::HttpTransport`, signing on, a
//!   10,000-slot queue and `max_concurrency` C, delivering N events, timed from the
//!   first enqueue until the worker is idle. Producer threads keep the queue from
//!   filling up (when it is nearly full they pause until it is half empty), so every
//!   enqueue is accepted at once and its latency is that of an enqueue into a queue
//!   that is not full, taken while the worker delivers.
//!
//! Within a round the two sides alternate in `--slices` parts (10 by default), so both
//! see the same phases of a machine whose speed drifts; each side's rate is its N over
//! its summed time. Each round prints both rates and the CPU time per request of this
//! process and of the sink. With `--rounds R` the whole comparison runs R times and the
//! medians are reported (the ratio as the median of the per-round ratios). The run ends
//! with one line:
//! `pipeline_rps=<n> raw_rps=<n> ratio=<pipeline/raw> p99_enqueue_ns=<n> peak_rss_mib=<n>`,
//! and exits non-zero if the pipeline lost, failed or dropped an event.
//!
//! Burst mode offers 1,000,000 events to a 10,000-slot queue whose sink answers each
//! request only after 50 ms, under `drop_oldest` or `drop_new`, then shuts down and
//! checks that every offered event is accounted for exactly (accepted, dropped,
//! evicted, delivered, failed). It exits non-zero if a count is off.
//!
//! Everything stays on 127.0.0.1 with ports chosen by the OS; the sink exits when this
//! process closes its stdin or ends.

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use webhook_core::signing::WEBHOOK_ID;
use webhook_core::worker::USER_AGENT_VALUE;
use webhook_core::{
    DropReason, EnqueueOutcome, Notifier, ResolvedWebhookConfig, WebhookConfig, WebhookContext,
    WebhookEventType, WebhookMessage, WebhookPayload, WebhookQueuePolicy,
};
use webhook_http::HttpTransport;

type BoxError = Box<dyn Error + Send + Sync>;

/// The largest queue the configuration allows (and the one DESIGN §8 measures).
const QUEUE_CAPACITY: usize = 10_000;
/// A fixed test secret: signing is on in every measurement.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The bound on any one measured phase: a stuck run fails instead of hanging.
const PHASE_BOUND: Duration = Duration::from_secs(600);
/// Producers check the queue depth once per this many enqueues.
const PACING_STRIDE: usize = 32;

#[derive(Parser, Debug)]
#[command(about = "Webhook delivery throughput, enqueue latency and burst memory")]
struct Args {
    /// Requests (bare client) and events (pipeline) to measure, each.
    #[arg(short = 'n', long, default_value_t = 200_000)]
    requests: u64,
    /// Requests in flight at once: client tasks, and the pipeline's `max_concurrency`.
    #[arg(short = 'c', long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Threads enqueueing into the pipeline.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    producers: u32,
    /// Runtime worker threads of the bare client (and, with `--burst`, of the notifier).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// Worker threads of the notifier's runtime; without it, the library's default
    /// (1: a current-thread runtime on the worker's own thread).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    notifier_threads: Option<u32>,
    /// Runtime worker threads of the sink process.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    sink_threads: u32,
    /// Within a round, alternate raw and pipeline this many times (N/slices each time;
    /// at most one slice per 1,000 requests).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    slices: u32,
    /// Repeat the whole comparison this many times and report the medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Measure only one side (for profiling; the other's figures print as 0).
    #[arg(long, value_enum)]
    only: Option<Side>,
    /// A short run for CI: 5,000 requests (100,000 events with `--burst`).
    #[arg(long)]
    quick: bool,
    /// Burst mode instead of throughput mode.
    #[arg(long)]
    burst: bool,
    /// Events offered in burst mode.
    #[arg(long, default_value_t = 1_000_000)]
    burst_events: u64,
    /// The full-queue policy in burst mode.
    #[arg(long, value_enum, default_value_t = BurstPolicy::DropOldest)]
    burst_policy: BurstPolicy,
    /// How long the sink waits before answering in burst mode, in ms.
    #[arg(long, default_value_t = 50)]
    slow_ms: u64,
    /// Install the Prometheus recorder (metrics-exporter-prometheus) before the notifier
    /// starts, so the `metrics` feature's instruments record for real (needs the root
    /// package's `metrics` feature, on by default).
    #[arg(long)]
    prometheus: bool,
    /// Register an observer (it counts the reports it is told).
    #[arg(long)]
    observer: bool,
    /// Internal: run as the sink process.
    #[arg(long, hide = true)]
    sink: bool,
    /// Internal: the sink's delay before answering, in ms.
    #[arg(long, hide = true, default_value_t = 0)]
    sink_delay_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Side {
    Raw,
    Pipeline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BurstPolicy {
    DropOldest,
    DropNew,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.sink {
        run_sink(
            Duration::from_millis(args.sink_delay_ms),
            args.sink_threads as usize,
        )
        .map(|()| true)
    } else if args.burst {
        run_burst(&args)
    } else {
        run_throughput(&args)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------
// The payload both sides send.

/// A `task_completed` event as the seed's `notify_task_completed_with_context` builds
/// it (the same as the webhook-core enqueue bench's).
fn seed_payload() -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id("RQ-0142")
        .task_title("Add a retry budget to the delivery worker")
        .statuses("doing", "done")
        .note("all checks passed")
        .context(WebhookContext {
            runner: Some("codex".to_owned()),
            model: Some("gpt-5.1-codex".to_owned()),
            phase: Some(3),
            phase_count: Some(3),
            duration_ms: Some(184_203),
            repo_root: Some("/home/dev/src/ralph".to_owned()),
            branch: Some("ralph/RQ-0142".to_owned()),
            commit: Some("9f3c2a1e5b7d4c6a8e0f1b2c3d4e5f6a7b8c9d0e".to_owned()),
            ci_gate: Some("make ci".to_owned()),
        })
}

fn config(
    port: u16,
    concurrency: u32,
    policy: WebhookQueuePolicy,
) -> Result<ResolvedWebhookConfig, BoxError> {
    Ok(WebhookConfig {
        secret: Some(SECRET.to_owned()),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        queue_capacity: Some(QUEUE_CAPACITY as u32),
        queue_policy: Some(policy),
        // Throughput mode never lets the queue fill; this is only a backstop.
        block_timeout_ms: Some(60_000),
        max_concurrency: Some(concurrency),
        timeout_secs: Some(30),
        ..WebhookConfig::for_url(format!("http://127.0.0.1:{port}/hook"))
    }
    .resolve()?)
}

/// The headers the pipeline sends for one attempt (fixed id and timestamp).
fn signed_headers(config: &ResolvedWebhookConfig, message: &WebhookMessage) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    if let Ok(id) = HeaderValue::try_from(message.id().as_str()) {
        headers.insert(WEBHOOK_ID, id);
    }
    let now = webhook_core::time::unix_seconds(std::time::SystemTime::now());
    config
        .signer()
        .sign_into(&mut headers, message.id().as_str(), now, message.body());
    headers
}

// ---------------------------------------------------------------------------------
// The sink: a separate process answering 200 with an empty body.

fn run_sink(delay: Duration, threads: usize) -> Result<(), BoxError> {
    // Leave when the parent closes our stdin (it also kills us; this covers its crash).
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0_u8; 64];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", listener.local_addr()?.port())?;
        out.flush()?;
        drop(out);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| async move {
                    // Read the whole body, so the connection stays reusable.
                    let _ = req.into_body().collect().await;
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// The sink child process; killed and reaped when dropped.
struct Sink {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Sink {
    fn start(delay_ms: u64, threads: u32) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "--sink",
                "--sink-delay-ms",
                &delay_ms.to_string(),
                "--sink-threads",
                &threads.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the sink has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let mut sink = Self {
            child,
            stdin,
            port: 0,
        };
        sink.port = line
            .trim()
            .parse()
            .map_err(|_| format!("the sink did not print its port (got {line:?})"))?;
        Ok(sink)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------
// Throughput mode.

fn run_throughput(args: &Args) -> Result<bool, BoxError> {
    let n = if args.quick {
        5_000
    } else {
        args.requests.max(1)
    };
    let c = args.concurrency;
    let notifier_threads = args
        .notifier_threads
        .map_or_else(|| "default".to_owned(), |t| t.to_string());
    let sink = Sink::start(0, args.sink_threads)?;
    let config = config(sink.port, c, WebhookQueuePolicy::BlockWithTimeout)?;
    let payload = seed_payload();
    let sample = WebhookMessage::from_payload(&payload)?;
    let headers = signed_headers(&config, &sample);
    let uri: Uri = format!("http://127.0.0.1:{}/hook", sink.port).parse()?;
    println!(
        "load: sink pid {} on 127.0.0.1:{}; body {} B, {} headers; C = {c}, N = {n}, \
         runtime threads: {} (client), {notifier_threads} (notifier); {} producer(s), {} round(s)",
        sink.child.id(),
        sink.port,
        sample.body().len(),
        headers.len(),
        args.threads,
        args.producers,
        args.rounds,
    );

    let raw_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads as usize)
        .enable_all()
        .build()?;
    let transport = HttpTransport::from_config(&config)?;
    let mut builder = Notifier::builder(config, Arc::new(transport));
    if let Some(threads) = args.notifier_threads {
        builder = builder.worker_threads(threads as usize);
    }
    let observer = Arc::new(CountingObserver::default());
    if args.observer {
        builder = builder.observer(observer.clone());
    }
    install_recorder(args.prometheus)?;
    let notifier = builder.start()?;
    let warm_up = (u64::from(c) * 250).min(n);

    let slices = u64::from(args.slices).min(n / 1_000).max(1);
    let mut raw_rps = Vec::new();
    let mut pipeline_rps = Vec::new();
    let mut latencies = Vec::new();
    let mut ok = true;
    for round in 1..=args.rounds {
        // The two sides alternate in slices, so that both see the same phases of a
        // machine whose speed drifts; each side's rate is its N over its summed time.
        let (mut raw, mut ours) = (Tally::default(), Tally::default());
        for slice in 0..slices {
            let count = n / slices + u64::from(slice < n % slices);
            let warm = if slice == 0 { warm_up } else { 0 };
            if args.only != Some(Side::Pipeline) {
                let cpu = CpuMeter::start(sink.child.id())?;
                let elapsed =
                    raw_runtime.block_on(raw_client(&uri, &sample, &headers, c, warm, count))?;
                raw.add(elapsed, count, warm, cpu.used_us()?);
            }
            if args.only != Some(Side::Raw) {
                let cpu = CpuMeter::start(sink.child.id())?;
                let run = pipeline(&notifier, &payload, args.producers as usize, warm, count)?;
                ours.add(run.elapsed, count, warm, cpu.used_us()?);
                if run.delivered != count || run.failed != 0 || run.dropped != 0 {
                    eprintln!(
                        "load: the pipeline lost events: expected {count} delivered, none \
                         failed or dropped; got {} delivered, {} failed, {} dropped",
                        run.delivered, run.failed, run.dropped
                    );
                    ok = false;
                }
                latencies.extend(run.latencies_ns);
            }
        }
        if args.only != Some(Side::Pipeline) {
            raw.print(round, "raw     ", "requests", "req/s", "request");
        }
        if args.only != Some(Side::Raw) {
            ours.print(round, "pipeline", "events  ", "events/s", "event");
        }
        raw_rps.push(raw.rate());
        pipeline_rps.push(ours.rate());
    }
    let report = notifier.shutdown(Duration::from_secs(10));
    drop(sink);

    latencies.sort_unstable();
    println!(
        "enqueue latency ({} calls, {} producer(s), queue never full): median {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        latencies.len(),
        args.producers,
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.9),
        quantile(&latencies, 0.99),
        quantile(&latencies, 0.999),
        latencies.last().copied().unwrap_or(0),
    );
    if !report.stats.balances() {
        eprintln!("load: the counters do not balance: {:?}", report.stats);
        ok = false;
    }
    if args.rounds > 1 && args.only.is_none() {
        let mut ratios: Vec<f64> = pipeline_rps
            .iter()
            .zip(&raw_rps)
            .map(|(p, r)| p / r)
            .collect();
        ratios.sort_by(f64::total_cmp);
        let spread = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            format!(
                "{:.0} .. {:.0} .. {:.0}",
                v[0],
                v[v.len() / 2],
                v[v.len() - 1]
            )
        };
        println!(
            "over {} rounds (min .. median .. max): raw {} req/s, pipeline {} events/s, \
             per-round ratio {:.3} .. {:.3} .. {:.3}",
            args.rounds,
            spread(&mut raw_rps.clone()),
            spread(&mut pipeline_rps.clone()),
            ratios[0],
            ratios[ratios.len() / 2],
            ratios[ratios.len() - 1],
        );
    }
    // Each round's two rates were measured side by side, so the ratio is taken per round
    // and its median reported (the rates' medians may come from different rounds).
    let mut paired: Vec<f64> = pipeline_rps
        .iter()
        .zip(&raw_rps)
        .map(|(p, r)| if *r > 0.0 { p / r } else { 0.0 })
        .collect();
    let ratio = median(&mut paired);
    let (pipeline_rps, raw_rps) = (median(&mut pipeline_rps), median(&mut raw_rps));
    println!(
        "pipeline_rps={pipeline_rps:.0} raw_rps={raw_rps:.0} ratio={ratio:.3} p99_enqueue_ns={} \
         peak_rss_mib={:.1}",
        quantile(&latencies, 0.99),
        peak_rss_mib()?,
    );
    if args.observer {
        let stats = notifier.stats();
        println!(
            "observer: told {} reports, missed {}, panicked {}",
            observer.0.load(std::sync::atomic::Ordering::Relaxed),
            stats.observer_missed,
            stats.observer_panics,
        );
    }
    Ok(ok)
}

/// `n` POSTs from `c` tasks through a bare pooled client, after `warm_up` untimed ones.
async fn raw_client(
    uri: &Uri,
    message: &WebhookMessage,
    headers: &HeaderMap,
    c: u32,
    warm_up: u64,
    n: u64,
) -> Result<Duration, BoxError> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_max_idle_per_host(c as usize)
        .build(http);
    let body = message.body().clone();
    let burst = |count: u64| {
        let next = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..c)
            .map(|_| {
                let (client, next) = (client.clone(), next.clone());
                let (uri, headers, body) = (uri.clone(), headers.clone(), body.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        let mut request = Request::new(Full::new(body.clone()));
                        *request.method_mut() = Method::POST;
                        *request.uri_mut() = uri.clone();
                        *request.headers_mut() = headers.clone();
                        let response = client.request(request).await?;
                        let status = response.status();
                        response.into_body().collect().await?;
                        if status != StatusCode::OK {
                            return Err(BoxError::from(format!("the sink answered {status}")));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        async move {
            for task in tasks {
                task.await??;
            }
            Ok::<_, BoxError>(())
        }
    };
    tokio::time::timeout(PHASE_BOUND, burst(warm_up)).await??;
    let started = Instant::now();
    tokio::time::timeout(PHASE_BOUND, burst(n)).await??;
    Ok(started.elapsed())
}

struct PipelineRun {
    elapsed: Duration,
    delivered: u64,
    failed: u64,
    dropped: u64,
    latencies_ns: Vec<u64>,
}

/// Delivers `warm_up` events untimed, then `n` timed from the first enqueue until the
/// worker is idle.
fn pipeline(
    notifier: &Notifier,
    payload: &WebhookPayload,
    producers: usize,
    warm_up: u64,
    n: u64,
) -> Result<PipelineRun, BoxError> {
    produce(notifier, payload, 1, warm_up);
    if !notifier.wait_idle(PHASE_BOUND) {
        return Err("the warm-up did not finish in time".into());
    }
    let before = notifier.stats();
    let started = Instant::now();
    let latencies_ns = produce(notifier, payload, producers, n);
    if !notifier.wait_idle(PHASE_BOUND) {
        return Err("the pipeline did not finish in time".into());
    }
    let elapsed = started.elapsed();
    let after = notifier.stats();
    Ok(PipelineRun {
        elapsed,
        delivered: after.delivered - before.delivered,
        failed: after.failed - before.failed,
        dropped: after.dropped_total - before.dropped_total,
        latencies_ns,
    })
}

/// Enqueues `n` events from `producers` threads, each call timed. When the queue is
/// nearly full, producers pause until it is half empty, so every enqueue finds room.
fn produce(notifier: &Notifier, payload: &WebhookPayload, producers: usize, n: u64) -> Vec<u64> {
    let high_water = (QUEUE_CAPACITY - 2 * PACING_STRIDE * producers) as u64;
    let low_water = (QUEUE_CAPACITY / 2) as u64;
    let share = |i: usize| n / producers as u64 + u64::from((i as u64) < n % producers as u64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..producers)
            .map(|i| {
                scope.spawn(move || {
                    let count = share(i);
                    let mut latencies = Vec::with_capacity(count as usize);
                    let mut sent = 0;
                    while sent < count {
                        if notifier.stats().queued >= high_water {
                            // Refill in large batches: wait until the queue is half
                            // empty, checking once a millisecond, so the harness's own
                            // wake-ups cost the machine next to nothing per event.
                            let waited = Instant::now();
                            while notifier.stats().queued > low_water
                                && waited.elapsed() < PHASE_BOUND
                            {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                        let stride = (count - sent).min(PACING_STRIDE as u64);
                        for _ in 0..stride {
                            let t = Instant::now();
                            let outcome = notifier.send(payload);
                            latencies.push(t.elapsed().as_nanos() as u64);
                            if outcome != EnqueueOutcome::Accepted {
                                eprintln!("load: an enqueue was not accepted: {outcome}");
                            }
                        }
                        sent += stride;
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

// ---------------------------------------------------------------------------------
// Burst mode.

/// Counts the reports it is told (the `--observer` flag).
#[derive(Debug, Default)]
struct CountingObserver(std::sync::atomic::AtomicU64);

impl webhook_core::observe::Observer for CountingObserver {
    fn on_event(&self, _: &webhook_core::observe::ObserverEvent) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Installs the Prometheus recorder when asked (before the notifier registers its
/// instruments).
fn install_recorder(wanted: bool) -> Result<(), BoxError> {
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

fn run_burst(args: &Args) -> Result<bool, BoxError> {
    let events = if args.quick {
        100_000
    } else {
        args.burst_events
    };
    let policy = match args.burst_policy {
        BurstPolicy::DropOldest => WebhookQueuePolicy::DropOldest,
        BurstPolicy::DropNew => WebhookQueuePolicy::DropNew,
    };
    let sink = Sink::start(args.slow_ms, args.sink_threads)?;
    let config = config(sink.port, args.concurrency, policy)?;
    let transport = HttpTransport::from_config(&config)?;
    let notifier = Notifier::builder(config, Arc::new(transport))
        .worker_threads(args.threads as usize)
        .start()?;
    let payload = seed_payload();
    println!(
        "load: burst of {events} events into a {QUEUE_CAPACITY}-slot queue, policy {policy}, \
         sink answering after {} ms, C = {}",
        args.slow_ms, args.concurrency
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

// ---------------------------------------------------------------------------------
// Figures.

/// The peak resident set size of this process (`VmHWM`), in MiB.
fn peak_rss_mib() -> Result<f64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kib / 1024.0)
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`
/// (clock ticks of 10 ms; `None` for this process).
fn cpu_time(pid: Option<u32>) -> Result<Duration, BoxError> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path)?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .ok_or("unexpected /proc stat format")?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64, BoxError> {
        Ok(fields.get(i).ok_or("short /proc stat line")?.parse()?)
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Counts the CPU used by this process and by the sink from `start` on.
struct CpuMeter {
    sink: u32,
    ours: Duration,
    theirs: Duration,
}

impl CpuMeter {
    fn start(sink: u32) -> Result<Self, BoxError> {
        Ok(Self {
            sink,
            ours: cpu_time(None)?,
            theirs: cpu_time(Some(sink))?,
        })
    }

    /// Microseconds of CPU used since `start`: (this process, the sink).
    fn used_us(&self) -> Result<(f64, f64), BoxError> {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        Ok((
            us(cpu_time(None)? - self.ours),
            us(cpu_time(Some(self.sink))? - self.theirs),
        ))
    }
}

/// One side's measured slices of a round, added up.
#[derive(Default)]
struct Tally {
    elapsed: Duration,
    timed: u64,
    /// Timed and warm-up items (the CPU figures cover both).
    all: u64,
    cpu_us: (f64, f64),
}

impl Tally {
    fn add(&mut self, elapsed: Duration, timed: u64, warm_up: u64, cpu_us: (f64, f64)) {
        self.elapsed += elapsed;
        self.timed += timed;
        self.all += timed + warm_up;
        self.cpu_us.0 += cpu_us.0;
        self.cpu_us.1 += cpu_us.1;
    }

    /// Timed items per second (0 if nothing was measured).
    fn rate(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.timed as f64 / self.elapsed.as_secs_f64()
    }

    /// Prints the round's line for this side.
    fn print(&self, round: u32, side: &str, items: &str, rate: &str, item: &str) {
        let all = self.all.max(1) as f64;
        println!(
            "round {round}: {side} {} {items} in {:.3} s = {:.0} {rate}; CPU per {item}: \
             client {:.1} us, sink {:.1} us",
            self.timed,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.cpu_us.0 / all,
            self.cpu_us.1 / all,
        );
    }
}

/// The value at quantile `q` (0.0..=1.0) of sorted samples.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
