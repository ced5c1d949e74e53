//! Noisy neighbour: ten endpoints, one of which never answers. How much of their
//! throughput do the other nine keep, and when does the hanging one's breaker open?
//!
//! ```sh
//! cargo run --release --example noisy_neighbour            # 3 rounds of 20,000 events
//! cargo run --example noisy_neighbour -- --quick           # CI smoke: 1 round of 300 events
//! ```
//!
//! Nine loopback HTTP receivers answer `200` at once; the tenth accepts connections and
//! never answers. Each round measures, side by side, the baseline (a notifier with the
//! nine endpoints) and the noisy case (the same nine plus the hanging one), each
//! delivering the same events: the rate is the nine endpoints' deliveries over the time
//! from the first send to the last delivery. The last line is
//! `healthy_rps=<n> baseline_rps=<n> ratio=<healthy/baseline> breaker_opened_after=<attempts>`
//! (medians over the rounds; the ratio is the median of the per-round ratios). It exits
//! non-zero if an event is lost (the accounting identity, in total and per endpoint).

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::error::Error;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use webhook_core::endpoint::{BreakerState, EndpointConfig};
use webhook_core::observe::{Observer, ObserverEvent};
use webhook_core::{Notifier, WebhookConfig, WebhookEventType, WebhookPayload};
use webhook_http::HttpTransport;

type BoxError = Box<dyn Error + Send + Sync>;

const HEALTHY: usize = 9;
const CONCURRENCY: u32 = 16;

struct Options {
    events: usize,
    rounds: usize,
}

fn options() -> Result<Options, BoxError> {
    let mut o = Options {
        events: 20_000,
        rounds: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<usize, BoxError> {
            let v = args.next().ok_or(format!("{name} needs a number"))?;
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a number").into())
        };
        match arg.as_str() {
            "--quick" => (o.events, o.rounds) = (300, 1),
            "--events" => o.events = value("--events")?.clamp(10, 100_000),
            "--rounds" => o.rounds = value("--rounds")?.clamp(1, 20),
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected --quick, --events N or --rounds N"
                )
                .into());
            }
        }
    }
    Ok(o)
}

/// Nine receivers answering 200 and one that accepts and never answers, on a runtime
/// thread of their own.
fn start_receivers() -> Result<(Vec<u16>, u16), BoxError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("receivers".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return drop(tx.send(Err(e.to_string()))),
            };
            runtime.block_on(async move {
                let mut ports = Vec::new();
                for _ in 0..HEALTHY {
                    match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await {
                        Ok(l) => {
                            ports.push(l.local_addr().map(|a| a.port()).unwrap_or(0));
                            tokio::spawn(serve_ok(l));
                        }
                        Err(e) => return drop(tx.send(Err(e.to_string()))),
                    }
                }
                let hang = match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await {
                    Ok(l) => l,
                    Err(e) => return drop(tx.send(Err(e.to_string()))),
                };
                let hang_port = hang.local_addr().map(|a| a.port()).unwrap_or(0);
                let _ = tx.send(Ok((ports, hang_port)));
                let mut held = Vec::new();
                while let Ok((stream, _)) = hang.accept().await {
                    held.push(stream); // never read, never answered
                }
            });
        })?;
    Ok(rx.recv()??)
}

async fn serve_ok(listener: tokio::net::TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                let _ = req.into_body().collect().await;
                Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Remembers after how many attempts the breaker first opened.
#[derive(Debug, Default)]
struct BreakerWatch(Mutex<Option<u64>>);

impl Observer for BreakerWatch {
    fn on_event(&self, event: &ObserverEvent) {
        if let ObserverEvent::Breaker(b) = event {
            if b.to == BreakerState::Open {
                let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert(b.attempts);
            }
        }
    }
}

fn notifier(watch: Arc<BreakerWatch>) -> Result<Notifier, BoxError> {
    let config = WebhookConfig {
        enabled: Some(true),
        endpoints: Some(Vec::new()),
        events: Some(vec!["*".into()]),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        timeout_secs: Some(1),
        retry_count: Some(0),
        max_concurrency: Some(CONCURRENCY),
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        ..WebhookConfig::default()
    }
    .resolve()?;
    let transport = HttpTransport::builder()
        .allow_insecure_http(true)
        .allow_private_targets(true)
        .build()?;
    Ok(Notifier::builder(config, Arc::new(transport))
        .observer(watch)
        .start()?)
}

fn endpoint(id: String, port: u16) -> EndpointConfig {
    EndpointConfig {
        secret: Some("whsec_c2Vjb25kLXNlY3JldC1mb3ItYg==".into()),
        max_in_flight: Some(4),
        queue_capacity: Some(100_000),
        ..EndpointConfig::new(id, format!("http://127.0.0.1:{port}/hook"))
    }
}

/// The nine healthy endpoints' deliveries so far.
fn healthy_delivered(n: &Notifier) -> u64 {
    n.endpoints()
        .iter()
        .filter(|h| h.id != "hang")
        .map(|h| h.counts.delivered)
        .sum()
}

/// Waits (bounded) until the nine endpoints delivered `target` events in total.
fn wait_delivered(n: &Notifier, target: u64, bound: Duration) -> Result<(), BoxError> {
    let started = Instant::now();
    while healthy_delivered(n) < target {
        if started.elapsed() > bound {
            return Err(format!(
                "only {} of {target} delivered within {bound:?}",
                healthy_delivered(n)
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

struct Round {
    rps: f64,
    breaker_opened_after: Option<u64>,
}

/// One measurement: the nine endpoints, and the hanging one if `hang` is set.
fn measure(ports: &[u16], hang: Option<u16>, events: usize) -> Result<Round, BoxError> {
    let watch = Arc::new(BreakerWatch::default());
    let n = notifier(watch.clone())?;
    for (i, port) in ports.iter().enumerate() {
        n.upsert_endpoint(&endpoint(format!("ok-{i}"), *port))?;
    }
    if let Some(port) = hang {
        let hanging = EndpointConfig {
            max_in_flight: Some(2),
            queue_capacity: Some(1000),
            ..endpoint("hang".into(), port)
        };
        n.upsert_endpoint(&hanging)?;
    }
    let payload =
        |i: usize| WebhookPayload::new(WebhookEventType::TaskCompleted).task_id(format!("T-{i}"));
    let warm = 200;
    for i in 0..warm {
        n.send(&payload(i));
    }
    wait_delivered(&n, (HEALTHY * warm) as u64, Duration::from_secs(60))?;
    let started = Instant::now();
    for i in 0..events {
        n.send(&payload(warm + i));
    }
    wait_delivered(
        &n,
        (HEALTHY * (warm + events)) as u64,
        Duration::from_secs(600),
    )?;
    let rps = (HEALTHY * events) as f64 / started.elapsed().as_secs_f64();
    let mut breaker_opened_after = None;
    if hang.is_some() {
        // Its attempts time out after 1 s, two at a time: the breaker opens within a
        // few seconds (bounded wait; the observer is told on its own thread).
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && n.endpoint_health("hang")?.breaker_opened == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let report = n.shutdown(Duration::from_millis(200));
        breaker_opened_after = *watch.0.lock().unwrap_or_else(|p| p.into_inner());
        check(&n, &report.stats)?;
    } else {
        let report = n.shutdown(Duration::from_secs(2));
        check(&n, &report.stats)?;
    }
    Ok(Round {
        rps,
        breaker_opened_after,
    })
}

fn check(n: &Notifier, stats: &webhook_core::DeliveryStats) -> Result<(), BoxError> {
    if !stats.balances() || n.endpoints().iter().any(|h| !h.counts.balances()) {
        return Err(format!("accounting identity broken: {stats:?}").into());
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("noisy_neighbour: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), BoxError> {
    let o = options()?;
    let (ports, hang) = start_receivers()?;
    eprintln!(
        "{} events per side, {} round(s), concurrency {CONCURRENCY}, 9 healthy endpoints + 1 that never answers",
        o.events, o.rounds
    );
    let (mut base, mut noisy, mut ratios, mut opened) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=o.rounds {
        let b = measure(&ports, None, o.events)?;
        let h = measure(&ports, Some(hang), o.events)?;
        let after = h
            .breaker_opened_after
            .ok_or("the hanging endpoint's breaker never opened")?;
        eprintln!(
            "round {round}: baseline {:.0}/s, with the hanging endpoint {:.0}/s (ratio {:.3}), breaker opened after {after} attempts",
            b.rps,
            h.rps,
            h.rps / b.rps
        );
        ratios.push(h.rps / b.rps);
        base.push(b.rps);
        noisy.push(h.rps);
        opened.push(after as f64);
    }
    println!(
        "healthy_rps={:.0} baseline_rps={:.0} ratio={:.3} breaker_opened_after={:.0}",
        median(noisy),
        median(base),
        median(ratios),
        median(opened)
    );
    Ok(())
}
