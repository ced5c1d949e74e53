//! The metrics, as Prometheus scrapes them: `cargo run --example metrics`.
//!
//! 1. Installs the Prometheus recorder of `metrics-exporter-prometheus` as the global
//!    `metrics` recorder, before the notifier starts (the notifier registers its
//!    instruments when it starts).
//! 2. Serves `GET /metrics` as Prometheus text on 127.0.0.1 (a free port) and prints the
//!    URL; each scrape first refreshes the gauges (`Notifier::update_gauges`).
//! 3. Sends an event every 50 ms to a local receiver that answers each event's first
//!    attempt with 503 and every fourth event's attempts with 400 (a permanent failure).
//! 4. After `--seconds N` (default 20) it scrapes itself once, prints the `webhook_`
//!    lines and stops.
//!
//! Needs the root package's `metrics` feature (on by default).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use webhook_core::observe::names;
use webhook_core::{Notifier, WebhookEventType, WebhookMessage, WebhookPayload};
use webhook_http::HttpTransport;
use webhook_testkit::{Reply, Script, TestReceiver};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let seconds = seconds_from_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run(seconds))
}

fn seconds_from_args() -> Result<u64, Error> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(20),
        (Some("--seconds"), Some(n)) => Ok(n.parse()?),
        _ => Err("usage: metrics [--seconds N]".into()),
    }
}

async fn run(seconds: u64) -> Result<(), Error> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(names::ATTEMPT_DURATION_SECONDS.into()),
            &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        )?
        .build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    // Each event's first attempt gets a 503, the retry a 200; every fourth event is
    // refused for good (400) instead.
    let receiver = TestReceiver::builder()
        .per_webhook(Script::fail_then_succeed(1, 503))
        .start()?;
    let mut config = webhook_core::WebhookConfig {
        events: Some(vec!["*".into()]),
        retry_backoff_ms: Some(100),
        ..receiver.config()
    }
    .resolve()?;
    config.retry = config.retry.without_jitter();
    let transport = HttpTransport::from_config(&config)?;
    let notifier = Notifier::builder(config, Arc::new(transport)).start()?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("metrics: http://{addr}/metrics");
    println!("receiver: {}", receiver.url());
    let server = tokio::spawn(serve(listener, prometheus, notifier.clone()));

    let events = seconds * 20;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for i in 0..events {
        tick.tick().await;
        let payload =
            WebhookPayload::new(WebhookEventType::TaskCompleted).task_id(format!("T-{i}"));
        let message = WebhookMessage::from_payload(&payload)?;
        if i % 4 == 3 {
            receiver.script_for(message.id().as_str(), Script::always(Reply::status(400)));
        }
        notifier.enqueue_async(message).await;
    }
    notifier.wait_idle_async(Duration::from_secs(10)).await;

    let text = scrape(addr).await?;
    println!("--- one scrape of http://{addr}/metrics (webhook_ lines) ---");
    for line in text.lines().filter(|l| l.starts_with("webhook_")) {
        println!("{line}");
    }
    server.abort();
    notifier.shutdown_async(Duration::from_secs(5)).await;
    Ok(())
}

/// Answers every request with the current metrics (gauges refreshed first).
async fn serve(
    listener: tokio::net::TcpListener,
    prometheus: PrometheusHandle,
    notifier: Notifier,
) {
    // Bounded by the task's life: the caller aborts it.
    while let Ok((stream, _)) = listener.accept().await {
        let (prometheus, notifier) = (prometheus.clone(), notifier.clone());
        let service = hyper::service::service_fn(move |_: Request<Incoming>| {
            notifier.update_gauges();
            let body = Full::new(Bytes::from(prometheus.render()));
            let response = Response::builder()
                .header("content-type", "text/plain; version=0.0.4")
                .body(body);
            async move { Ok::<_, Infallible>(response.unwrap_or_default()) }
        });
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One `GET /metrics` of our own endpoint.
async fn scrape(addr: SocketAddr) -> Result<String, Error> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = format!("http://{addr}/metrics").parse()?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri)).await??;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}
