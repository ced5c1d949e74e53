//! `webhook listen`: a local receiver that verifies signatures and prints what it gets.

use crate::Failure;
use crate::args::{ListenArgs, Scheme};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use webhook_core::signing::{DEFAULT_HEX_HEADER, Secret, Verifier};

/// Largest body the receiver reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

struct Receiver {
    verifier: Option<Verifier>,
    scheme: Scheme,
    hex_header: String,
    fail_first: u32,
    fail_status: StatusCode,
    /// Answer 200 to requests whose signature does not verify (debugging only).
    accept_unverified: bool,
    seen: Mutex<HashMap<String, u32>>,
}

pub(crate) fn run(args: ListenArgs) -> Result<(), Failure> {
    let verifier = match &args.signing.secret {
        Some(s) => Some(Verifier::new(vec![
            Secret::parse(s).map_err(|e| Failure::usage(format!("--secret: {e}")))?,
        ])),
        None => None,
    };
    let fail_status = StatusCode::from_u16(args.status.unwrap_or(500))
        .map_err(|_| Failure::usage("--status: expected a code in 100..=599"))?;
    let fail_first = match (args.fail_first, args.status) {
        (Some(n), _) => n,
        (None, Some(_)) => u32::MAX,
        (None, None) => 0,
    };
    let receiver = Arc::new(Receiver {
        verifier,
        scheme: args.signing.scheme.unwrap_or(Scheme::Standard),
        hex_header: args
            .signing
            .signature_header
            .clone()
            .unwrap_or_else(|| DEFAULT_HEX_HEADER.to_owned())
            .to_ascii_lowercase(),
        fail_first,
        fail_status,
        accept_unverified: args.accept_unverified,
        seen: Mutex::new(HashMap::new()),
    });
    crate::runtime()?.block_on(serve(args.addr, receiver))
}

async fn serve(addr: std::net::SocketAddr, receiver: Arc<Receiver>) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("--addr {addr}: cannot listen: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::failed(format!("cannot read the bound address: {e}")))?;
    eprintln!("listening on http://{local}/");
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let receiver = receiver.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let receiver = receiver.clone();
                async move { Ok::<_, std::convert::Infallible>(receiver.handle(req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Receiver {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return respond(StatusCode::PAYLOAD_TOO_LARGE),
        };
        let webhook_id = header(&parts.headers, "webhook-id")
            .unwrap_or_default()
            .to_owned();
        let attempt = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let n = seen.entry(webhook_id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let (verified, verify_error) = self.verify(&parts.headers, &body);
        let payload: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        let event = payload.get("event").cloned().unwrap_or(Value::Null);
        let status = if verified == Value::Bool(false) && !self.accept_unverified {
            StatusCode::UNAUTHORIZED
        } else if attempt <= self.fail_first {
            self.fail_status
        } else {
            StatusCode::OK
        };
        let mut line = json!({
            "webhook_id": webhook_id,
            "event": event,
            "verified": verified,
            "attempt": attempt,
            "status": status.as_u16(),
            "payload": payload,
        });
        if let Some(error) = verify_error {
            line["verify_error"] = Value::String(error);
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        respond(status)
    }

    /// `(verified, why not)`; `verified` is null without a secret.
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> (Value, Option<String>) {
        let Some(verifier) = &self.verifier else {
            return (Value::Null, None);
        };
        let result = match self.scheme {
            Scheme::Standard => verifier.verify_standard(headers, body, SystemTime::now()),
            Scheme::Hex => match header(headers, &self.hex_header) {
                Some(value) => verifier.verify_hex(value, body),
                None => Err(webhook_core::signing::VerifyError::Mismatch),
            },
        };
        match result {
            Ok(()) => (Value::Bool(true), None),
            Err(e) => (Value::Bool(false), Some(e.to_string())),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn respond(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
