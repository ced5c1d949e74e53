//! Load driver: delivery throughput against the fastest bare client we could build,
//! over plain HTTP and over TLS, enqueue latency, and memory under a burst, measured
//! side by side in one run (DESIGN §8, BENCHMARKS.md).
//!
//! ```text
//! cargo run --release --example load                       # C = 8, N = 200,000, plain HTTP
//! cargo run --release --example load -- -c 1,4,8,32,64 --rounds 3 --sides raw,pipeline,seed
//! cargo run --release --example load -- --tls              # HTTPS, HTTP/1.1
//! cargo run --release --example load -- --tls --h2         # HTTPS, HTTP/2
//! cargo run --release --example load -- --quick            # CI smoke: N = 5,000
//! cargo run --release --example load -- --burst            # 1,000,000 events, slow sink
//! ```
//!
//! Throughput mode starts a loopback sink in a separate process (this binary again, with
//! `--sink`; by default a current-thread hyper server whose thread never parks
//! (`--sink-runtime spinning`), the fastest sink found, see BENCHMARKS.md, "Round 5";
//! it keeps one core busy), over plain HTTP/1.1, or with `--tls` over HTTPS with a CA and a
//! certificate made at run time (HTTP/1.1, or HTTP/2 with `--h2`). Then, for each
//! concurrency C of `-c`, it measures the sides named by `--sides`:
//! - `raw`: a bare hyper-util pooled client (plain `HttpConnector` without a TLS layer,
//!   or hyper-rustls with only the run's protocol offered) POSTing the pipeline's exact
//!   body and headers from C tasks on its own runtime (`--client-runtimes`; the fastest
//!   is the baseline). `current+sign` adds a bare client that does per request what any
//!   webhook sender must (the message from the payload, a fresh timestamp and HMAC, a
//!   timeout), reported beside the others and never the baseline;
//! - `pipeline`: a `Notifier` with `webhook_http::HttpTransport` (trusting the sink's CA
//!   through its extra-root option, the run's protocol), signing on, a 10,000-slot queue
//!   and `max_concurrency` C, timed from the first enqueue until the worker is idle.
//!   Producer threads keep up to `--backlog` events (10,000 by default) queued in front
//!   of the worker, refilling when half have gone, so the worker never runs dry and
//!   every enqueue is accepted at once into a queue that is not full;
//! - `seed`: the seed's shape: every request builds a new client and opens a new
//!   connection (over TLS a full handshake: a new TLS configuration, so no resumption),
//!   from C tasks on a `--seed-threads` runtime.
//!
//! Within a round the sides alternate in `--slices` parts (10 by default), so all see
//! the same phases of a machine whose speed drifts; each side's rate is its N over its
//! summed time. Each round prints the rates and the CPU time per request of this process
//! and of the sink. With `--rounds R` the comparison runs R times and the medians are
//! reported (ratios as the median of the per-round ratios). Each C ends with one line:
//! `c=<C> pipeline_rps=<n> raw_rps=<n> seed_rps=<n> ratio=<pipeline/raw> p99_enqueue_ns=<n>
//! peak_rss_mib=<n>`; `--csv FILE` appends every round's figures to FILE (the chart's
//! input, `benches/chart.py`). The run exits non-zero if the pipeline lost, failed or
//! dropped an event.
//!
//! Burst mode offers 1,000,000 events to a 10,000-slot queue whose sink answers each
//! request only after 50 ms, under `drop_oldest` or `drop_new`, then shuts down and
//! checks that every offered event is accounted for exactly (accepted, dropped,
//! evicted, delivered, failed). It exits non-zero if a count is off.
//!
//! Everything stays on 127.0.0.1 with ports chosen by the OS; the sink exits when this
//! process closes its stdin or ends.

mod burst;
mod clients;
mod figures;
mod pipeline;
mod sink;
mod throughput;

use clap::{Parser, ValueEnum};
use sink::{SinkRuntime, SinkServer, SinkSpec};
use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Requests (bare client, seed's shape) and events (pipeline) to measure, each, per
    /// concurrency.
    #[arg(short = 'n', long, default_value_t = 200_000)]
    requests: u64,
    /// Requests in flight at once (a comma-separated list runs each in turn): client
    /// tasks, and the pipeline's `max_concurrency`.
    #[arg(short = 'c', long, default_value = "8", value_delimiter = ',',
          value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: Vec<u32>,
    /// The sides to measure (alternating within each round).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "raw,pipeline"
    )]
    sides: Vec<Side>,
    /// HTTPS to the sink (a CA and certificate made at run time).
    #[arg(long)]
    tls: bool,
    /// With `--tls`: HTTP/2 (every side offers only h2); HTTP/1.1 otherwise.
    #[arg(long, requires = "tls")]
    h2: bool,
    /// With `--tls`: the pipeline's transport keeps its default protocol choice instead
    /// of the run's (`--h2` or not); the bare client still speaks the run's protocol.
    #[arg(long, requires = "tls")]
    transport_default: bool,
    /// The pipeline's producers refill the queue up to this many events whenever it has
    /// drained to half of it (they look once a millisecond). With 512 the queued events
    /// stay within a core's cache and half of them still last 2.5 ms at 100,000
    /// events/s; the default keeps the round-2 figures' deep queue (BENCHMARKS.md,
    /// "Round 3": the two measured alike).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(64..=10_000))]
    backlog: u32,
    /// Threads enqueueing into the pipeline.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    producers: u32,
    /// The bare client's runtimes, each measured in every slice (`current`; `spinning`,
    /// a current-thread runtime that never parks, like the spinning sink; or `multi<N>`
    /// for a multi-thread runtime with N workers); each round's baseline is the fastest
    /// of them. With `+sign` (e.g. `current+sign`) that client builds every
    /// request's message from the payload, signs it (fresh timestamp, HMAC over the
    /// body) and bounds it with a timeout, as any webhook sender must; it is reported
    /// beside the others and never the baseline.
    #[arg(long, value_delimiter = ',', default_value = "current,multi1,multi2")]
    client_runtimes: Vec<String>,
    /// Runtime worker threads of the notifier with `--burst`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// Runtime worker threads of the seed's shape.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    seed_threads: u32,
    /// Worker threads of the notifier's runtime; without it, the library's default.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    notifier_threads: Option<u32>,
    /// How the sink runs its server (burst mode always uses a multi-thread one).
    #[arg(long, value_enum, default_value_t = SinkRuntime::Spinning)]
    sink_runtime: SinkRuntime,
    /// The sink's HTTP/1.1 server: hyper's, or a hand-written responder that answers
    /// with the same bytes (HTTP/2 is always hyper's; burst mode always uses hyper's).
    #[arg(long, value_enum, default_value_t = SinkServer::Hyper)]
    sink_server: SinkServer,
    /// The sink's threads (multi: runtime workers; per-thread: runtimes).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    sink_threads: u32,
    /// Within a round, alternate the sides this many times (N/slices each time; at most
    /// one slice per 1,000 requests).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    slices: u32,
    /// Repeat the whole comparison this many times and report the medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Append each round's figures to this CSV file (header written if it is new).
    #[arg(long)]
    csv: Option<std::path::PathBuf>,
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

/// One side of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Side {
    /// The bare pooled client.
    Raw,
    /// The notifier.
    Pipeline,
    /// A new client and connection per request.
    Seed,
    /// A second notifier whose transport keeps its default protocol choice (with
    /// `--tls`; the same as `pipeline` over plain HTTP).
    Default,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BurstPolicy {
    DropOldest,
    DropNew,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.sink {
        sink::run_sink(SinkSpec {
            runtime: args.sink_runtime,
            server: args.sink_server,
            threads: args.sink_threads,
            delay_ms: args.sink_delay_ms,
            tls: args.tls,
        })
        .map(|()| true)
    } else if args.burst {
        burst::run_burst(&args)
    } else {
        throughput::run_throughput(&args)
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
