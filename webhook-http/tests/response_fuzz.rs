//! Property test over what a receiver answers: any final status, any `Retry-After`
//! (delay-seconds of any length, HTTP-dates in all three forms with any year, junk,
//! non-UTF-8 bytes) and bodies below, at and over the read limit. The transport must
//! return the status and the same delay `parse_retry_after` computes, never panic and
//! never fail the exchange.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::{TestServer, destination, local_builder};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use proptest::prelude::*;
use webhook_core::time::parse_retry_after;
use webhook_core::transport::{DeliveryRequest, Transport};

const TIMEOUT: Duration = Duration::from_secs(10);
/// The transport's response body limit in these tests.
const LIMIT: usize = 1024;

/// What the server is asked to answer, carried in the request body.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    retry_after: Option<Vec<u8>>,
    body_len: usize,
}

impl Answer {
    /// `status`, `body_len`, then the header value's bytes (if any), `\n`-separated.
    fn encode(&self) -> Bytes {
        let mut out = format!("{}\n{}\n", self.status, self.body_len).into_bytes();
        if let Some(value) = &self.retry_after {
            out.push(b'+');
            out.extend_from_slice(value);
        }
        Bytes::from(out)
    }

    fn respond(request: &[u8]) -> Response<Full<Bytes>> {
        let mut parts = request.splitn(3, |&b| b == b'\n');
        let mut number = || {
            parts
                .next()
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<usize>().ok())
                .expect("an encoded answer")
        };
        let (status, body_len) = (number(), number());
        let mut response = Response::new(Full::new(Bytes::from(vec![b'x'; body_len])));
        *response.status_mut() =
            StatusCode::from_u16(u16::try_from(status).expect("u16")).expect("status");
        if let Some(value) = parts.next().and_then(|rest| rest.strip_prefix(b"+")) {
            response.headers_mut().insert(
                "retry-after",
                HeaderValue::from_bytes(value).expect("a valid header value"),
            );
        }
        response
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn retry_after_text() -> impl Strategy<Value = String> {
    let year = || prop_oneof![1960u64..10_100, any::<u64>()];
    let date = || {
        (
            0usize..7,
            1u32..32,
            0usize..12,
            year(),
            0u32..24,
            0u32..60,
            0u32..60,
        )
    };
    prop_oneof![
        "[0-9]{1,40}",
        "[ -~]{0,40}",
        date().prop_map(|(w, d, m, y, h, mi, s)| format!(
            "{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
            WEEKDAYS[w], MONTHS[m]
        )),
        date().prop_map(|(w, d, m, y, h, mi, s)| format!(
            "{}day, {d:02}-{}-{:02} {h:02}:{mi:02}:{s:02} GMT",
            WEEKDAYS[w],
            MONTHS[m],
            y % 100
        )),
        date().prop_map(|(w, d, m, y, h, mi, s)| format!(
            "{} {} {d:>2} {h:02}:{mi:02}:{s:02} {y}",
            WEEKDAYS[w], MONTHS[m]
        )),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    let header_value = prop_oneof![
        4 => retry_after_text().prop_map(|t| t.trim().as_bytes().to_vec()),
        // obs-text: valid in a header, not UTF-8 text.
        1 => proptest::collection::vec(prop_oneof![0x21u8..0x7f, 0x80u8..=0xff], 1..20),
    ];
    (
        // Final statuses only: 1xx are informational and never end an exchange.
        prop_oneof![200u16..600, 600u16..1000, Just(204), Just(304), Just(503)],
        proptest::option::of(header_value),
        prop_oneof![0usize..16, LIMIT - 2..LIMIT + 2, 0..LIMIT * 3],
    )
        .prop_map(|(status, retry_after, body_len)| Answer {
            status,
            retry_after,
            body_len,
        })
}

#[test]
fn any_status_retry_after_and_body_size_is_reported_without_panicking() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(TestServer::plain(Arc::new(|r: &common::Recorded| {
        Answer::respond(&r.body)
    })));
    let transport = local_builder()
        .max_response_body_bytes(LIMIT)
        .build()
        .expect("transport");
    let url = server.http_url("/hook");
    let config = ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    };
    proptest!(config, |(answer in answer())| {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let request = DeliveryRequest::new(destination(&url), headers, answer.encode(), TIMEOUT, 1);
        let before = SystemTime::now();
        let response = runtime
            .block_on(transport.send(request))
            .map_err(|e| TestCaseError::fail(format!("{answer:?}: {e}")))?;
        let after = SystemTime::now();
        prop_assert_eq!(response.status.as_u16(), answer.status);
        let text = answer
            .retry_after
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok());
        match (response.retry_after, text) {
            (None, None) => {}
            (got, Some(text)) => {
                // A date's delay shrinks while the exchange runs: compare with both ends.
                let late = parse_retry_after(text, after);
                let early = parse_retry_after(text, before);
                prop_assert_eq!(got.is_some(), early.is_some(), "{:?}", answer);
                if let (Some(got), Some(late), Some(early)) = (got, late, early) {
                    prop_assert!((late..=early).contains(&got), "{got:?} not in {late:?}..={early:?}");
                }
            }
            (Some(got), None) => prop_assert!(false, "{got:?} from a non-text value"),
        }
    });
}
