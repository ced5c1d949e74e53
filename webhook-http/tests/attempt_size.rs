//! The size of one attempt's future, which is boxed once per attempt.

mod common;

use common::{local_transport, request};
use webhook_core::transport::Transport;

/// glibc's per-thread cache serves requests of up to 1,032 bytes; larger ones take the
/// locked path, and from 1,024 bytes on a request that finds no cached chunk first
/// consolidates the fast bins. At 1,072 bytes this future cost about 700 instructions of
/// allocator work per attempt at load (BENCHMARKS.md); the bound leaves some room.
#[test]
fn one_attempt_future_stays_in_the_small_allocation_range() {
    let transport = local_transport();
    let future = transport.send(request(
        "http://127.0.0.1:9/hook",
        std::time::Duration::from_secs(1),
    ));
    let size = std::mem::size_of_val(&*future);
    println!("HttpTransport::send future: {size} bytes");
    assert!(size < 1_000, "the attempt future grew to {size} bytes");
}
