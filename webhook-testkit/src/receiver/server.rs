//! The receiver's serving loop: hyper's HTTP/1 server on the receiver's own runtime.

use super::Shared;
use super::request::{ReceivedRequest, Signatures};
use crate::script::{Reply, ReplyKind};
use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use webhook_core::signing::WEBHOOK_ID;
use webhook_core::transport::TransportErrorKind;

/// The largest body the receiver reads (the notifier's own limit is at most 16 MiB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Accepts connections until `stop` turns true, then drops every connection.
pub(super) async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(_) => return,
    };
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, shared.clone()));
                }
                // Out of file descriptors and the like: back off briefly and go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Serves one connection until the client closes it or a reply asks to close it.
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let close = Arc::new(Notify::new());
    let service = {
        let close = close.clone();
        service_fn(move |request| handle(request, shared.clone(), close.clone()))
    };
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        // Dropping the connection closes the socket without writing a response.
        () = close.notified() => {}
    }
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    close: Arc<Notify>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            close.notify_one();
            return Ok(std::future::pending().await);
        }
    };
    let (at, received_at) = (Instant::now(), SystemTime::now());
    let signatures = Signatures::check(
        shared.verifier.as_ref(),
        &shared.hex_header,
        &parts.headers,
        &body,
        received_at,
    );
    let webhook_id = parts
        .headers
        .get(WEBHOOK_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let refuse = shared.require_signatures && !signatures.any_valid();
    let fixed = refuse.then(|| Reply::status(401));
    let (index, reply) =
        shared
            .journal
            .arrive(&webhook_id, fixed, |index, reply| ReceivedRequest {
                index,
                method: parts.method.clone(),
                uri: parts.uri.clone(),
                version: parts.version,
                headers: parts.headers.clone(),
                body: body.clone(),
                at,
                received_at,
                signatures,
                reply: reply.clone(),
            });
    shared.journal.gate().await;
    tokio::time::sleep(reply.delay()).await;
    let status = match reply.kind() {
        ReplyKind::Status(status) => status,
        ReplyKind::NoAnswer | ReplyKind::Error(TransportErrorKind::Timeout) => {
            return Ok(std::future::pending().await);
        }
        _ => {
            close.notify_one();
            return Ok(std::future::pending().await);
        }
    };
    if status.is_success() {
        shared.journal.succeeded(index);
    }
    Ok(response(status, reply.retry_after_delay()))
}

fn response(status: StatusCode, retry_after: Option<Duration>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    if let Some(delay) = retry_after {
        // Whole seconds, rounded up; `Duration::MAX` saturates instead of overflowing.
        let secs = delay
            .as_secs()
            .saturating_add(u64::from(delay.subsec_nanos() > 0));
        response.headers_mut().insert(RETRY_AFTER, secs.into());
    }
    response
}
