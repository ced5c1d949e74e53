//! The crash experiment outside the test suite: a child process sends confirmed events
//! through the sled outbox to a loopback receiver (which refuses every tenth event for
//! good and makes each other one retry once) and is SIGKILLed at random moments; a last
//! child recovers and delivers; then every confirmed event is looked for.
//!
//! ```sh
//! cargo run --release --example crash -- --kills 20
//! ```
//!
//! Ends with `confirmed=<n> delivered=<n> recorded=<n> pending=<n> lost=<n> repeated=<n>`
//! and exits non-zero if anything confirmed was lost.

#[path = "../tests/crash_support/mod.rs"]
mod crash_support;

fn main() {
    crash_support::child_main_if_asked();
    let mut kills = 20u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kills" => {
                kills = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage("--kills takes a number"));
            }
            other => usage(&format!("unknown argument `{other}`")),
        }
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| usage(&format!("no temp folder: {e}")));
    let exe =
        std::env::current_exe().unwrap_or_else(|e| usage(&format!("no executable path: {e}")));
    let tally = crash_support::run(&exe, &[], kills, dir.path());
    eprintln!("kills={}", tally.kills);
    println!("{}", tally.line());
    if tally.lost > 0 {
        std::process::exit(1);
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("crash: {problem}\nusage: cargo run --release --example crash -- [--kills N]");
    std::process::exit(2);
}
