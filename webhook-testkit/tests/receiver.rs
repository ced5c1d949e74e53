//! The loopback receiver, driven by the production HTTP transport: recording, signature
//! checks, scripted answers, holding answers, and shutting down on drop.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use webhook_core::config::{Destination, DestinationPolicy};
use webhook_core::signing::{DEFAULT_HEX_HEADER, Secret, SignatureScheme, Signer, VerifyError};
use webhook_core::transport::{
    DeliveryRequest, DeliveryResponse, Transport, TransportError, TransportErrorKind,
};
use webhook_http::HttpTransport;
use webhook_testkit::{ReceiverError, Reply, Script, SignatureCheck, TestReceiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PROMPTLY: Duration = Duration::from_secs(10);
const BODY: &[u8] = br#"{"event":"task_created","timestamp":"2025-06-02T09:30:00Z"}"#;

fn transport() -> HttpTransport {
    HttpTransport::builder()
        .allow_insecure_http(true)
        .allow_private_targets(true)
        .build()
        .expect("transport builds")
}

/// A request to the receiver carrying `webhook_id`, signed with `secret` (both schemes)
/// when given.
fn request(receiver: &TestReceiver, webhook_id: &str, secret: Option<&str>) -> DeliveryRequest {
    let policy = DestinationPolicy {
        allow_insecure_http: true,
        allow_private_targets: true,
    };
    let destination = Destination::parse(&receiver.url(), policy).expect("valid URL");
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "webhook-id",
        HeaderValue::from_str(webhook_id).expect("ASCII id"),
    );
    if let Some(secret) = secret {
        let secret = Secret::parse(secret).expect("valid secret");
        let hex_header = HeaderName::from_static(DEFAULT_HEX_HEADER);
        let signer = Signer::new(&[secret], SignatureScheme::Both, hex_header);
        let now = webhook_core::time::unix_seconds(SystemTime::now());
        signer.sign_into(&mut headers, webhook_id, now, BODY);
    }
    DeliveryRequest::new(
        Arc::new(destination),
        headers,
        Bytes::from_static(BODY),
        Duration::from_secs(5),
        1,
    )
}

async fn send(
    receiver: &TestReceiver,
    webhook_id: &str,
    secret: Option<&str>,
) -> Result<DeliveryResponse, TransportError> {
    transport()
        .send(request(receiver, webhook_id, secret))
        .await
}

#[tokio::test]
async fn records_method_target_headers_and_body() {
    let receiver = TestReceiver::start().expect("starts");
    let response = send(&receiver, "msg_1", None).await.expect("answered");
    assert_eq!(response.status, 200);
    let requests = receiver
        .wait_for_requests(1, PROMPTLY)
        .await
        .expect("recorded");
    let seen = &requests[0];
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.uri.path(), "/webhook");
    assert_eq!(seen.webhook_id(), Some("msg_1"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.body.as_ref(), BODY);
    assert_eq!(seen.event().as_deref(), Some("task_created"));
    assert_eq!(seen.signatures.standard, SignatureCheck::NotChecked);
    assert_eq!(receiver.delivery_count(), 1);
}

#[tokio::test]
async fn both_signature_schemes_verify_with_the_receivers_secret() {
    let receiver = TestReceiver::builder()
        .secret(SECRET)
        .start()
        .expect("starts");
    send(&receiver, "msg_signed", Some(SECRET))
        .await
        .expect("answered");
    let seen = receiver.requests().remove(0);
    assert_eq!(seen.signatures.standard, SignatureCheck::Valid);
    assert_eq!(seen.signatures.hex, SignatureCheck::Valid);
}

#[tokio::test]
async fn a_wrong_secret_is_reported_invalid_and_a_missing_signature_missing() {
    let receiver = TestReceiver::builder()
        .secret("whsec_c2Vjb25kLXNlY3JldC1mb3ItdGVzdHM=")
        .start()
        .expect("starts");
    send(&receiver, "msg_wrong", Some(SECRET))
        .await
        .expect("answered");
    send(&receiver, "msg_unsigned", None)
        .await
        .expect("answered");
    let requests = receiver.requests();
    let wrong = &requests[0].signatures;
    assert_eq!(
        wrong.standard,
        SignatureCheck::Invalid(VerifyError::Mismatch)
    );
    assert_eq!(wrong.hex, SignatureCheck::Invalid(VerifyError::Mismatch));
    assert!(!wrong.any_valid());
    let unsigned = &requests[1].signatures;
    assert_eq!(
        (&unsigned.standard, &unsigned.hex),
        (&SignatureCheck::Missing, &SignatureCheck::Missing)
    );
}

#[tokio::test]
async fn rotated_secrets_are_all_accepted() {
    let receiver = TestReceiver::builder()
        .secret("whsec_c2Vjb25kLXNlY3JldC1mb3ItdGVzdHM=")
        .secret(SECRET)
        .start()
        .expect("starts");
    send(&receiver, "msg_old_key", Some(SECRET))
        .await
        .expect("answered");
    assert!(receiver.requests()[0].signatures.standard.is_valid());
    let config = receiver.config();
    assert_eq!(
        config.previous_secrets.as_deref(),
        Some(&[SECRET.to_owned()][..])
    );
}

#[tokio::test]
async fn required_signatures_refuse_unsigned_requests_without_using_up_the_script() {
    let receiver = TestReceiver::builder()
        .secret(SECRET)
        .require_signatures(true)
        .per_webhook(Script::sequence([Reply::status(202)]))
        .start()
        .expect("starts");
    let unsigned = send(&receiver, "msg_1", None).await.expect("answered");
    assert_eq!(unsigned.status, 401);
    let signed = send(&receiver, "msg_1", Some(SECRET))
        .await
        .expect("answered");
    assert_eq!(signed.status, 202, "the script starts at its first step");
    assert_eq!(receiver.requests()[0].reply, Reply::status(401));
}

#[tokio::test]
async fn the_longest_retry_after_is_sent_as_the_largest_whole_seconds() {
    let receiver = TestReceiver::builder()
        .per_webhook(Reply::status(503).retry_after(Duration::MAX))
        .start()
        .expect("starts");
    let answer = send(&receiver, "msg_max", None).await.expect("answered");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.retry_after, Some(Duration::from_secs(u64::MAX)));
}

#[tokio::test]
async fn answers_follow_the_script_of_each_webhook_id() {
    let throttled = Reply::status(429).retry_after(Duration::from_millis(1500));
    let receiver = TestReceiver::builder()
        .per_webhook(Script::sequence([throttled, Reply::status(500)]).then(Reply::status(204)))
        .script_for("msg_gone", Reply::status(410))
        .start()
        .expect("starts");
    let first = send(&receiver, "msg_a", None).await.expect("answered");
    assert_eq!(first.status, 429);
    assert_eq!(
        first.retry_after,
        Some(Duration::from_secs(2)),
        "rounded up to whole seconds"
    );
    assert_eq!(
        send(&receiver, "msg_b", None)
            .await
            .expect("answered")
            .status,
        429
    );
    assert_eq!(
        send(&receiver, "msg_a", None)
            .await
            .expect("answered")
            .status,
        500
    );
    assert_eq!(
        send(&receiver, "msg_a", None)
            .await
            .expect("answered")
            .status,
        204
    );
    assert_eq!(
        send(&receiver, "msg_gone", None)
            .await
            .expect("answered")
            .status,
        410
    );
    receiver.script_for("msg_b", Reply::status(201));
    assert_eq!(
        send(&receiver, "msg_b", None)
            .await
            .expect("answered")
            .status,
        201
    );
    assert_eq!(receiver.requests_for("msg_a").len(), 3);
    let delivered: Vec<_> = receiver.deliveries().iter().map(|r| r.index).collect();
    assert_eq!(delivered, [3, 5]);
}

#[tokio::test]
async fn closing_the_connection_is_a_retryable_error_for_the_client() {
    let receiver = TestReceiver::builder()
        .in_call_order(Script::sequence([
            Reply::close(),
            Reply::error(TransportErrorKind::Io),
        ]))
        .start()
        .expect("starts");
    for _ in 0..2 {
        let err = send(&receiver, "msg_1", None)
            .await
            .expect_err("closed without an answer");
        assert!(err.is_retryable(), "{err}");
    }
    assert_eq!(
        send(&receiver, "msg_1", None)
            .await
            .expect("answered")
            .status,
        200
    );
    assert_eq!(receiver.request_count(), 3);
}

#[tokio::test]
async fn no_answer_leaves_the_attempt_to_the_clients_timeout() {
    let receiver = TestReceiver::builder()
        .per_webhook(Reply::no_answer())
        .start()
        .expect("starts");
    let mut slow = request(&receiver, "msg_1", None);
    slow.timeout = Duration::from_millis(300);
    let err = transport().send(slow).await.expect_err("no answer");
    assert_eq!(err.kind(), TransportErrorKind::Timeout);
    assert_eq!(receiver.delivery_count(), 0);
}

#[tokio::test]
async fn a_delayed_reply_holds_the_answer_that_long() {
    let receiver = TestReceiver::builder()
        .per_webhook(Reply::status(204).after(Duration::from_millis(150)))
        .start()
        .expect("starts");
    let started = Instant::now();
    let response = send(&receiver, "msg_1", None).await.expect("answered");
    assert_eq!(response.status, 204);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn pause_holds_answers_until_resume() {
    let receiver = Arc::new(TestReceiver::start().expect("starts"));
    receiver.pause();
    let request = request(&receiver, "msg_1", None);
    let pending = tokio::spawn(async move { transport().send(request).await });
    receiver
        .wait_for_requests(1, PROMPTLY)
        .await
        .expect("arrives while paused");
    assert_eq!(receiver.delivery_count(), 0);
    receiver.resume();
    let response = pending.await.expect("task ran").expect("answered");
    assert_eq!(response.status, 200);
    receiver
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("counted");
}

#[test]
fn starts_without_a_runtime_and_stops_listening_when_dropped() {
    let receiver = TestReceiver::start().expect("starts");
    let addr = receiver.addr();
    std::net::TcpStream::connect(addr).expect("listening");
    drop(receiver);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "closed after drop"
    );
}

#[test]
fn the_config_preset_delivers_to_the_receiver() {
    let receiver = TestReceiver::builder()
        .secret(SECRET)
        .hex_header("X-Ralph-Signature")
        .start()
        .expect("starts");
    let config = receiver.config();
    assert_eq!(config.url.as_deref(), Some(receiver.url().as_str()));
    assert_eq!(config.secret.as_deref(), Some(SECRET));
    assert_eq!(
        config.signature_header.as_deref(),
        Some("X-Ralph-Signature")
    );
    let resolved = receiver.test_config().resolve().expect("valid");
    assert!(resolved.enabled && resolved.destination_policy.allow_private_targets);
    assert_eq!(resolved.signature_header.as_str(), "x-ralph-signature");
    assert!(!resolved.retry.has_jitter());
}

#[test]
fn a_bad_secret_header_name_or_requirement_is_refused_at_start() {
    let err = TestReceiver::builder()
        .secret("whsec_%%%")
        .start()
        .expect_err("bad base64");
    assert!(err.to_string().contains("secret #0"), "{err}");
    let err = TestReceiver::builder()
        .hex_header("bad header")
        .start()
        .expect_err("bad name");
    assert!(err.to_string().contains("bad header"), "{err}");
    let err = TestReceiver::builder()
        .require_signatures(true)
        .start()
        .expect_err("nothing to check signatures with");
    assert!(matches!(err, ReceiverError::RequireWithoutSecret), "{err}");
}
