//! The size of one attempt's future, which is boxed once per attempt.

mod common;

use common::{local_transport, request};
use webhook_core::transport::Transport;

/// glibc serves requests below 1,024 bytes from its per-thread cache and small bins; at
/// 1,024 and above every allocation consolidates the fast bins first, which cost about
/// 700 instructions per attempt at load (BENCHMARKS.md). The box also holds the
/// future's header, so the future itself must stay well below the line.
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
