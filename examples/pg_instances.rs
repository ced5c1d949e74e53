//! The shared-outbox experiment: `--events` events are put into one PostgreSQL outbox,
//! then `--instances` processes (this executable started again) deliver them to a
//! loopback receiver in this process, which counts each delivery by webhook id. With
//! `--kill 1`, one instance is SIGKILLed once a third has arrived; the others take its
//! entries over when its leases lapse (11 s).
//!
//! ```sh
//! cargo run --release --example pg_instances -- --instances 3 --events 20000 --kill 1
//! ```
//!
//! The database is `WEBHOOK_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in a schema of the run's own, dropped at
//! the end. `--instances 1,2,3` runs each count in turn (the end-to-end benchmark).
//! Prints each run's rate and the instances' CPU per delivery, then ends with
//! `events=<n> delivered_unique=<n> lost=<n> repeats=<n> instances=<n>`, and exits
//! non-zero if anything was lost.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use webhook_postgres::{Database, PostgresOptions};

fn main() {
    pg_support::child_main_if_asked();
    let (counts, plan) = parse(std::env::args().skip(1));
    let mut last = None;
    let mut lost = 0;
    for instances in counts {
        let tally = run_once(&pg_support::Plan {
            instances,
            ..plan.clone()
        });
        eprintln!(
            "instances={instances} deliveries_per_s={:.0} elapsed_s={:.2} instance_cpu_us_per_delivery={:.1} server_cpu_us_per_delivery={:.1} per_instance={:?} held_at_kill={:?} pending={}",
            tally.rate(),
            tally.elapsed.as_secs_f64(),
            tally.cpu_per_delivery_us(),
            tally.server_cpu_per_delivery_us(),
            tally.per_instance,
            tally.held_at_kill,
            tally.pending,
        );
        lost += tally.lost;
        last = Some(tally);
    }
    if let Some(tally) = last {
        println!("{}", tally.line());
    }
    if lost > 0 {
        std::process::exit(1);
    }
}

/// One run in a schema of its own, dropped afterwards.
fn run_once(plan: &pg_support::Plan) -> pg_support::Tally {
    let base = std::env::var("WEBHOOK_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("instances_{}_{}", std::process::id(), plan.instances);
    let options = PostgresOptions::from_url(&base).schema(&schema);
    let db = Database::connect(options.clone())
        .unwrap_or_else(|e| fail(&format!("cannot prepare the schema: {e}")));
    let url = options.url_with_schema();
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("no executable path: {e}")));
    let tally = pg_support::run(&exe, &[], &url, plan);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("no runtime: {e}")));
    if let Err(e) = rt.block_on(db.drop_schema_async()) {
        eprintln!("warning: could not drop schema {schema}: {e}");
    }
    tally
}

/// The instance counts to run one after another, and the rest of the plan.
fn parse(mut args: impl Iterator<Item = String>) -> (Vec<u32>, pg_support::Plan) {
    let mut plan = pg_support::Plan {
        instances: 3,
        events: 20_000,
        kill: false,
        restart: None,
        flush_every_commit: false,
    };
    let mut counts = vec![3];
    while let Some(arg) = args.next() {
        if arg == "--flush-every-commit" {
            plan.flush_every_commit = true;
            continue;
        }
        let value = args.next();
        let number = |name: &str| -> u64 {
            value
                .as_deref()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} takes a number")))
        };
        match arg.as_str() {
            "--instances" => {
                counts = value
                    .as_deref()
                    .unwrap_or_default()
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|n| (1..=16).contains(n))
                    })
                    .collect::<Option<Vec<_>>>()
                    .unwrap_or_else(|| usage("--instances takes 1 to 16, or a list like 1,2,3"));
            }
            "--events" => plan.events = number("--events").max(1),
            "--kill" => match number("--kill") {
                0 => plan.kill = false,
                1 => plan.kill = true,
                _ => usage("--kill takes 0 or 1 (one instance is killed)"),
            },
            other => usage(&format!("unknown argument `{other}`")),
        }
    }
    if plan.kill && counts.iter().any(|&n| n < 2) {
        usage(
            "--kill 1 needs at least 2 instances (a survivor takes the killed one's entries over)",
        );
    }
    (counts, plan)
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "pg_instances: {problem}\nusage: cargo run --release --example pg_instances -- [--instances N|1,2,3] [--events N] [--kill 0|1] [--flush-every-commit]"
    );
    std::process::exit(2);
}

fn fail(problem: &str) -> ! {
    eprintln!("pg_instances: {problem}");
    std::process::exit(1);
}
