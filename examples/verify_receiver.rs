//! Verifying signatures in a receiver (hyper), for both schemes.
//!
//! A small hyper server checks `webhook-signature` (Standard Webhooks) with
//! `Verifier::verify_standard` and the hex header with `Verifier::verify_hex`, answers
//! 401 when either fails, and the example sends it a few events through the real
//! HTTP transport, including one signed with the wrong secret.
//!
//! Run: `cargo run --example verify_receiver`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use webhook_core::signing::{Secret, Verifier};
use webhook_core::{Notifier, WebhookConfig, WebhookEventType, WebhookPayload};
use webhook_http::HttpTransport;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn handle(
    verifier: Arc<Verifier>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    // Verify over the raw bytes, before parsing: re-serialized JSON would not match.
    let body = body.collect().await?.to_bytes();
    let standard = verifier.verify_standard(&parts.headers, &body, SystemTime::now());
    let hex = match parts
        .headers
        .get("x-webhook-signature-256")
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => verifier.verify_hex(value, &body),
        None => Err(webhook_core::signing::VerifyError::MissingHeader(
            "x-webhook-signature-256",
        )),
    };
    let id = parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let status = match (&standard, &hex) {
        (Ok(()), Ok(())) => StatusCode::NO_CONTENT,
        _ => StatusCode::UNAUTHORIZED,
    };
    println!("receiver: {id} standard={standard:?} hex={hex:?} -> {status}");
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}

fn notifier(url: &str, secret: &str) -> Result<Notifier, Box<dyn std::error::Error>> {
    let config = WebhookConfig {
        secret: Some(secret.into()),
        signature_scheme: Some(webhook_core::signing::SignatureScheme::Both),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        retry_count: Some(0),
        ..WebhookConfig::for_url(url)
    }
    .resolve()?;
    let transport = HttpTransport::from_config(&config)?;
    Ok(Notifier::builder(config, Arc::new(transport)).start()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    let verifier = Arc::new(Verifier::new(vec![Secret::parse(SECRET)?]));
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let verifier = verifier.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(verifier.clone(), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let good = notifier(&url, SECRET)?;
    good.send(&WebhookPayload::new(WebhookEventType::TaskCreated).task_id("T-1"));
    good.send(&WebhookPayload::new(WebhookEventType::TaskCompleted).task_id("T-1"));
    let good_report = good.shutdown(Duration::from_secs(10));

    let forged = notifier(&url, "not-the-secret")?;
    forged.send(&WebhookPayload::new(WebhookEventType::TaskFailed).task_id("T-2"));
    let forged_report = forged.shutdown(Duration::from_secs(10));

    println!(
        "correct secret: {} delivered; wrong secret: {} delivered, {} refused (401)",
        good_report.stats.delivered, forged_report.stats.delivered, forged_report.stats.failed
    );
    assert_eq!(
        (good_report.stats.delivered, forged_report.stats.failed),
        (2, 1)
    );
    Ok(())
}
