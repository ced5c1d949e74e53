//! Attempts that get no status: silent servers, refused ports, connections that break
//! mid-response. Each gets the right kind, and the kinds the worker retries.

mod common;

use std::time::Duration;

use common::{PROMPTLY, RawServer, local_builder, local_transport, read_request, refused_addr};
use tokio::net::TcpSocket;
use tokio::time::Instant;
use webhook_core::transport::{Transport, TransportError, TransportErrorKind};
use webhook_http::HttpTransport;

/// A server that reads the request, then holds the connection open and says nothing
/// until the test ends.
async fn silent_server() -> RawServer {
    RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await
}

/// Sends to `server` with `timeout` and checks that the attempt failed as a retryable
/// timeout no earlier than `timeout` and not much later.
async fn assert_times_out(transport: &HttpTransport, server: &RawServer, timeout: Duration) {
    let started = Instant::now();
    let err = transport
        .send(common::request(&server.http_url("/hook"), timeout))
        .await
        .expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(
        matches!(err, TransportError::Timeout { after, .. } if after == timeout),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(elapsed >= timeout, "returned early: {elapsed:?}");
    assert!(elapsed < timeout + PROMPTLY, "returned late: {elapsed:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_request_timeout() {
    let server = silent_server().await;
    let transport = local_transport();
    assert_times_out(&transport, &server, Duration::from_millis(300)).await;
    assert_eq!(server.connections(), 1);
}

/// The transport hands a finished attempt's timer to the next attempt, still armed for
/// the old deadline; an attempt whose own deadline is later must not time out then.
#[tokio::test]
async fn an_attempt_gets_its_whole_timeout_after_a_shorter_one_left_its_timer() {
    let answering = common::TestServer::plain(common::no_content()).await;
    let silent = silent_server().await;
    let transport = local_transport();

    // Ends at once; its timer (armed for 300 ms from now) is kept.
    let first = transport
        .send(common::request(
            &answering.http_url("/hook"),
            Duration::from_millis(300),
        ))
        .await
        .expect("answered");
    assert_eq!(first.status.as_u16(), 204);

    // Not at the kept timer's 300 ms.
    assert_times_out(&transport, &silent, Duration::from_millis(700)).await;
}

#[tokio::test]
async fn a_server_that_stalls_mid_headers_times_out_too() {
    let server = RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        common::write_all(&mut stream, b"HTTP/1.1 200 OK\r\nContent-").await;
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await;
    assert_times_out(&local_transport(), &server, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_refused_port_is_a_retryable_connect_error() {
    let addr = refused_addr().await;
    let transport = local_transport();

    let err = transport
        .send(common::request(
            &format!("http://{addr}/hook"),
            Duration::from_secs(5),
        ))
        .await
        .expect_err("nothing listens");

    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn a_connection_closed_mid_response_is_a_retryable_io_error() {
    let server = RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        common::write_all(&mut stream, b"HTTP/1.1 200 OK\r\nContent-Le").await;
        drop(stream);
    })
    .await;
    let transport = local_transport();

    let err = transport
        .send(common::request(
            &server.http_url("/hook"),
            Duration::from_secs(5),
        ))
        .await
        .expect_err("closed before the head was complete");

    assert_eq!(err.kind(), TransportErrorKind::Io, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_connection_reset_mid_response_is_a_retryable_io_error() {
    let server = RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        common::write_all(&mut stream, b"HTTP/1.1 503 Service Unav").await;
        stream.set_zero_linger().expect("SO_LINGER 0");
        drop(stream); // sends RST
    })
    .await;
    let transport = local_transport();

    let err = transport
        .send(common::request(
            &server.http_url("/hook"),
            Duration::from_secs(5),
        ))
        .await
        .expect_err("reset");

    assert_eq!(err.kind(), TransportErrorKind::Io, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn garbage_instead_of_http_is_a_retryable_io_error() {
    let server = RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        common::write_all(&mut stream, b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        drop(stream);
    })
    .await;
    let transport = local_transport();

    let err = transport
        .send(common::request(
            &server.http_url("/hook"),
            Duration::from_secs(5),
        ))
        .await
        .expect_err("not HTTP");

    assert_eq!(err.kind(), TransportErrorKind::Io, "{err}");
}

#[tokio::test]
async fn a_body_that_breaks_off_after_the_status_still_reports_the_status() {
    let server = RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        common::write_all(
            &mut stream,
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\npartial",
        )
        .await;
        drop(stream);
    })
    .await;
    let transport = local_transport();

    let response = transport
        .send(common::request(
            &server.http_url("/hook"),
            Duration::from_secs(5),
        ))
        .await
        .expect("the receiver answered");

    assert_eq!(response.status, http::StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_connect_that_hangs_is_cut_by_the_connect_timeout() {
    // A listener that never accepts, with its backlog filled, drops further SYNs:
    // the next connect hangs until the connect timeout.
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let filler = TcpSocket::new_v4().expect("socket");
        match tokio::time::timeout(Duration::from_millis(100), filler.connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let transport = local_builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .expect("transport");

    let started = Instant::now();
    let err = transport
        .send(common::request(
            &format!("http://{addr}/hook"),
            Duration::from_secs(10),
        ))
        .await
        .expect_err("backlog full");

    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
    drop((listener, fillers));
}
