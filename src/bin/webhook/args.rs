//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # Terminal 1: a local receiver that verifies signatures and fails each event once
  webhook listen --addr 127.0.0.1:8080 --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --fail-first 1

  # Terminal 2: send one event through the full pipeline (queue, worker, retries, store)
  export WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  webhook send --url http://127.0.0.1:8080/hook --allow-insecure-http --allow-private-targets \\
      --event task_created --task-id T-1 --task-title 'Write docs'

  # Inspect failures, then replay them once the endpoint is healthy
  webhook status --format json --recent 5
  webhook replay --url http://127.0.0.1:8080/hook --allow-insecure-http --allow-private-targets \\
      --event task_created --dry-run

  # Durable: the event is in the outbox (same folder as the store) before delivery starts;
  # after a crash, drain delivers whatever the outbox holds
  webhook send --durable --url http://127.0.0.1:8080/hook --allow-insecure-http \\
      --allow-private-targets --event task_failed --task-id T-2
  webhook drain --url http://127.0.0.1:8080/hook --allow-insecure-http --allow-private-targets

  # Shared by every instance: the outbox and the failures in PostgreSQL (any subcommand)
  webhook send --durable --store 'postgres://app@127.0.0.1:5432/app?schema=webhooks' ...
  webhook status --store 'postgres://app@127.0.0.1:5432/app?schema=webhooks'

Exit codes:
  0    delivered (send); every replayed record resolved, or a dry run with eligible records (replay)
  1    not delivered, and recorded in the store; a replay that failed again or was not attempted
  2    bad usage or configuration (the message names the flag or field)
  3    not recorded: the store could not be opened, read or written (locked, read-only, full)
  4    replay: no record matched, or none of those matched is eligible
  5    --durable send or drain: not delivered yet, kept in the outbox (a retry waits
       there); `webhook drain` delivers it
  129, 130, 143
       interrupted by SIGHUP, SIGINT, SIGTERM: delivery went on for a 2 s grace, then what
       was pending was recorded in the store (the message says what)
";

/// Send, receive, inspect and replay signed webhooks.
#[derive(Debug, Parser)]
#[command(name = "webhook", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a local receiver that verifies signatures and prints one JSON line per request.
    Listen(ListenArgs),
    /// Send one event and wait for its final outcome (exit 0 delivered, 1 recorded, 3 not recorded).
    Send(SendArgs),
    /// Show the failure store: counts and recent failures (a store in use is read from a copy).
    Status(StatusArgs),
    /// Replay stored failures (bounded and filtered) and wait for their outcome (exit 4: nothing to replay).
    Replay(ReplayArgs),
    /// Deliver what the outbox holds (after a crash, or retries waiting there), then stop
    /// (exit 0 emptied, 1 some recorded as failed, 5 some left).
    Drain(DrainArgs),
}

/// Signature schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scheme {
    /// Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature (v1,<base64>).
    Standard,
    /// `sha256=<hex>` of the body in one header.
    Hex,
}

/// Output formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Signing options shared by every subcommand that signs or verifies.
#[derive(Debug, Args)]
pub(crate) struct SigningArgs {
    /// Signing secret (`whsec_<base64>` or any string); also read from WEBHOOK_SECRET.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub(crate) secret: Option<String>,
    /// Signature scheme [default: standard].
    #[arg(long, value_enum)]
    pub(crate) scheme: Option<Scheme>,
    /// Header of the hex scheme [default: x-webhook-signature-256].
    #[arg(long, value_name = "NAME")]
    pub(crate) signature_header: Option<String>,
}

/// Delivery options shared by `send` and `replay`.
#[derive(Debug, Args)]
pub(crate) struct DeliveryArgs {
    /// The endpoint.
    #[arg(long)]
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) signing: SigningArgs,
    /// A WebhookConfig file (TOML or JSON); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Per-attempt timeout in seconds (1..=300).
    #[arg(long, value_name = "N")]
    pub(crate) timeout_secs: Option<u32>,
    /// Retries after the first attempt (0..=10).
    #[arg(long, value_name = "N")]
    pub(crate) retry_count: Option<u32>,
    /// Base backoff in ms (100..=30000).
    #[arg(long, value_name = "N")]
    pub(crate) retry_backoff_ms: Option<u32>,
    /// Allow http:// URLs.
    #[arg(long)]
    pub(crate) allow_insecure_http: bool,
    /// Allow loopback, private and link-local targets.
    #[arg(long)]
    pub(crate) allow_private_targets: bool,
    /// Failure store folder, or a PostgreSQL URL shared by every instance
    /// (`postgres://user@host/db?schema=name`) [default: ./.webhook/failures].
    #[arg(long, value_name = "DIR|URL")]
    pub(crate) store: Option<PathBuf>,
    /// Keep events in the durable outbox (beside the store: same folder, or same
    /// PostgreSQL schema) until their outcome.
    #[arg(long)]
    pub(crate) durable: bool,
}

/// `webhook drain`.
#[derive(Debug, Args)]
pub(crate) struct DrainArgs {
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
    /// Respect each entry's retry time instead of delivering everything now.
    #[arg(long)]
    pub(crate) due_only: bool,
    /// Stop after this many seconds even if entries are left [default: the worst case
    /// of the entries held, at the configured concurrency].
    #[arg(long, value_name = "N")]
    pub(crate) wait_secs: Option<u64>,
}

/// `webhook listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) addr: SocketAddr,
    #[command(flatten)]
    pub(crate) signing: SigningArgs,
    /// Answer the first N requests of each webhook id with --status (default 500).
    #[arg(long, value_name = "N")]
    pub(crate) fail_first: Option<u32>,
    /// Status for failing answers; alone, every request gets it.
    #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u16).range(100..=599))]
    pub(crate) status: Option<u16>,
    /// With --secret, answer a request whose signature does not verify as any other
    /// (default: 401, so a sender's retry and failure paths can be exercised).
    #[arg(long)]
    pub(crate) accept_unverified: bool,
}

/// `webhook send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
    /// Event name (one of the ten seed events, or a custom name).
    #[arg(long)]
    pub(crate) event: String,
    /// Task id.
    #[arg(long, value_name = "ID")]
    pub(crate) task_id: Option<String>,
    /// Task title.
    #[arg(long, value_name = "T")]
    pub(crate) task_title: Option<String>,
    /// A note.
    #[arg(long, value_name = "N")]
    pub(crate) note: Option<String>,
    /// Send this JSON file as the body instead of a seed payload.
    #[arg(long, value_name = "FILE")]
    pub(crate) payload_file: Option<PathBuf>,
}

/// `webhook status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Failure store folder, or a PostgreSQL URL shared by every instance
    /// (`postgres://user@host/db?schema=name`) [default: ./.webhook/failures].
    #[arg(long, value_name = "DIR|URL")]
    pub(crate) store: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
    /// How many recent failures to show.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) recent: usize,
    /// Also show the live figures of a running notifier (queue depth, in flight,
    /// outbox pending, oldest pending age, outcomes, attempts, drops), read from its
    /// Prometheus endpoint, e.g. http://127.0.0.1:9000/metrics.
    #[arg(long, value_name = "URL")]
    pub(crate) metrics_url: Option<String>,
}

/// `webhook replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
    /// Record id or webhook id to replay (repeatable).
    #[arg(long = "id", value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Only records of this event.
    #[arg(long, value_name = "E")]
    pub(crate) event: Option<String>,
    /// Only records of this task.
    #[arg(long, value_name = "T")]
    pub(crate) task_id: Option<String>,
    /// Only deliveries to this endpoint (its id; the endpoint must be listed in `--config`
    /// for the replay to go to it).
    #[arg(long, value_name = "ID")]
    pub(crate) endpoint: Option<String>,
    /// Select every record (still bounded by --limit).
    #[arg(long)]
    pub(crate) all: bool,
    /// Consider at most N records, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) limit: usize,
    /// Skip records replayed this many times already.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) max_replay_attempts: u32,
    /// List candidates and their eligibility; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}
