//! A huge response body is not read past the limit, and never held in memory.

mod common;

use std::time::Duration;

use common::{PROMPTLY, RawServer, local_builder, local_transport, read_request};
use http::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use webhook_core::transport::Transport;

const FIFTY_MIB: usize = 50 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// A server that answers with a 50 MiB body and reports how many bytes it managed to
/// write before the client went away.
async fn huge_body_server() -> (RawServer, mpsc::UnboundedReceiver<usize>) {
    let (written_tx, written_rx) = mpsc::unbounded_channel();
    let server = RawServer::start(move |mut stream| {
        let written_tx = written_tx.clone();
        async move {
            read_request(&mut stream).await;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {FIFTY_MIB}\r\n\r\n");
            let mut written = 0;
            if stream.write_all(head.as_bytes()).await.is_ok() {
                let chunk = vec![b'x'; CHUNK];
                for _ in 0..FIFTY_MIB / CHUNK {
                    if stream.write_all(&chunk).await.is_err() {
                        break;
                    }
                    written += CHUNK;
                }
            }
            let _ = written_tx.send(written);
        }
    })
    .await;
    (server, written_rx)
}

#[tokio::test]
async fn a_fifty_mib_body_is_cut_at_the_limit_and_the_connection_dropped() {
    let (server, mut written) = huge_body_server().await;
    let transport = local_transport();

    let started = Instant::now();
    let response = transport
        .send(common::request(
            &server.http_url("/hook"),
            Duration::from_secs(20),
        ))
        .await
        .expect("a status");
    let elapsed = started.elapsed();

    assert_eq!(response.status, StatusCode::OK);
    assert!(elapsed < PROMPTLY, "took {elapsed:?}");
    let server_wrote = tokio::time::timeout(PROMPTLY, written.recv())
        .await
        .expect("the server noticed the client left")
        .expect("a count");
    assert!(
        server_wrote < 16 * 1024 * 1024,
        "the server could write {server_wrote} bytes"
    );
}

#[tokio::test]
async fn the_next_delivery_opens_a_fresh_connection_after_a_cut_body() {
    let (server, _written) = huge_body_server().await;
    let transport = local_builder()
        .max_response_body_bytes(1024)
        .build()
        .expect("transport");

    for _ in 0..3 {
        let response = transport
            .send(common::request(
                &server.http_url("/hook"),
                Duration::from_secs(20),
            ))
            .await
            .expect("a status");
        assert_eq!(response.status, StatusCode::OK);
    }

    assert_eq!(server.connections(), 3);
}
