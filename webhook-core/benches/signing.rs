//! Signing cost per attempt: `Signer::sign_into` for both schemes (Standard Webhooks and
//! hex), with 400 B and 4 KiB bodies and one secret. Each attempt is signed afresh, so
//! this is paid once per delivery attempt, on the worker.
//!
//! Run with `cargo bench -p webhook-core --bench signing`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName};
use std::hint::black_box;
use webhook_core::signing::{DEFAULT_HEX_HEADER, Secret, SignatureScheme, Signer};

/// A JSON body of exactly `len` bytes (a note padded to length).
fn body_of(len: usize) -> Vec<u8> {
    let head = br#"{"event":"task_completed","note":""#;
    let tail = br#""}"#;
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(head);
    body.resize(len - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

fn signing(c: &mut Criterion) {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid secret");
    let header = HeaderName::from_static(DEFAULT_HEX_HEADER);
    let id = "msg_2f1c9a8b7d6e5f4a3b2c1d0e9f8a7b6c";
    let timestamp = 1_760_000_000_u64;
    let mut group = c.benchmark_group("sign_into");
    for (name, scheme) in [
        ("standard", SignatureScheme::Standard),
        ("hex", SignatureScheme::Hex),
    ] {
        let signer = Signer::new(std::slice::from_ref(&secret), scheme, header.clone());
        for len in [400_usize, 4096] {
            let body = body_of(len);
            let mut headers = HeaderMap::new();
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_function(BenchmarkId::new(name, format!("{len}B")), |b| {
                b.iter(|| signer.sign_into(&mut headers, id, timestamp, black_box(&body)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
