//! A hand-written HTTP/1.1 server for answers a real server would not give: broken
//! headers, bodies or heads that never end, redirects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a raw server answers one request.
#[derive(Clone)]
pub(crate) enum Answer {
    /// These bytes, then close.
    Bytes(Vec<u8>),
    /// A 200 with a chunked body that never ends: one byte every 50 ms.
    EndlessBody,
    /// A status line, then one header every 50 ms, never ending the head.
    EndlessHead,
}

/// A hand-written HTTP/1.1 server on 127.0.0.1: the `n`th request (counted from 0) gets
/// `answers[min(n, last)]`. Returns its address, the request count, and a channel that
/// receives one message per connection whose endless answer ended because the client
/// went away.
pub(crate) async fn raw_server(
    answers: Vec<Answer>,
) -> (
    SocketAddr,
    Arc<AtomicUsize>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let (gone_tx, gone_rx) = tokio::sync::mpsc::unbounded_channel();
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (answers, counter, gone) = (answers.clone(), counter.clone(), gone_tx.clone());
            tokio::spawn(async move {
                let mut stream = stream;
                if read_request(&mut stream).await.is_none() {
                    return;
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let answer = &answers[n.min(answers.len() - 1)];
                if answer_with(&mut stream, answer).await {
                    let _ = gone.send(());
                }
            });
        }
    });
    (addr, count, gone_rx)
}

/// Reads one request (head and `content-length` body); `None` if the client closed.
async fn read_request(stream: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(())
}

/// Writes `answer`; returns true when an endless answer stopped because the client left.
async fn answer_with(stream: &mut TcpStream, answer: &Answer) -> bool {
    let (head, step): (&[u8], &[u8]) = match answer {
        Answer::Bytes(bytes) => {
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
            return false;
        }
        Answer::EndlessBody => (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"1\r\nx\r\n",
        ),
        Answer::EndlessHead => (b"HTTP/1.1 200 OK\r\n", b"x-more: y\r\n"),
    };
    if stream.write_all(head).await.is_err() {
        return true;
    }
    // Pacing the endless answer (not synchronisation): until the client hangs up.
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        if stream.write_all(step).await.is_err() || stream.flush().await.is_err() {
            return true;
        }
    }
}

/// A response head with `status` (raw bytes), `extra` header lines and an empty body.
pub(crate) fn head(status: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut bytes = b"HTTP/1.1 ".to_vec();
    bytes.extend_from_slice(status);
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(extra);
    bytes.extend_from_slice(b"content-length: 0\r\n\r\n");
    bytes
}
