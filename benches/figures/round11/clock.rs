use std::time::{Instant, SystemTime};
fn main() {
    let n = 20_000_000u32;
    let t = Instant::now();
    let mut acc = 0u128;
    for _ in 0..n { acc = acc.wrapping_add(Instant::now().elapsed().as_nanos()); }
    let d = t.elapsed();
    println!("Instant::now+elapsed: {:.1} ns per pair ({})", d.as_nanos() as f64 / n as f64, acc % 7);
    let t = Instant::now();
    for _ in 0..n { acc = acc.wrapping_add(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()); }
    println!("SystemTime::now: {:.1} ns ({})", t.elapsed().as_nanos() as f64 / n as f64, acc % 7);
}
