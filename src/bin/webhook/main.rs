//! `webhook`: send, receive, inspect and replay signed webhooks from a shell.
//!
//! Exit codes (see [`exit`]): 0 delivered, 1 not delivered but recorded, 2 bad usage or
//! configuration, 3 not recorded (the store failed), 4 nothing to replay, 129/130/143
//! interrupted by SIGHUP/SIGINT/SIGTERM (what was pending is recorded).

mod args;
mod drain;
mod listen;
mod live;
mod progress;
mod replay;
mod send;
mod settings;
mod signals;
mod status;
mod store;
mod terminal;
mod wait;

/// The exit codes, each with one meaning.
pub(crate) mod exit {
    /// Delivered (send), every replayed record resolved (replay), or success.
    pub(crate) const OK: u8 = 0;
    /// Not delivered, and recorded in the store (or a replay that failed again).
    pub(crate) const NOT_DELIVERED: u8 = 1;
    /// Bad usage or configuration: the message names the flag or field.
    pub(crate) const USAGE: u8 = 2;
    /// Not recorded: the store could not be opened, read or written (locked, read-only,
    /// full); the message names the store and the OS error.
    pub(crate) const NOT_RECORDED: u8 = 3;
    /// Replay: no record matched, or none of those matched was eligible.
    pub(crate) const NOTHING_TO_REPLAY: u8 = 4;
    /// Outbox mode: not delivered yet, kept in the outbox (a retry waits there); `drain`
    /// delivers it.
    pub(crate) const IN_OUTBOX: u8 = 5;
}

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

/// A failure that ends the command with a message and an exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Bad usage or configuration: exit 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: exit::USAGE,
            message: message.into(),
        }
    }

    /// The operation ran but did not succeed: exit 1.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: exit::NOT_DELIVERED,
            message: message.into(),
        }
    }

    /// The store could not be opened, read or written: exit 3.
    pub(crate) fn not_recorded(message: impl Into<String>) -> Self {
        Self {
            code: exit::NOT_RECORDED,
            message: message.into(),
        }
    }

    /// A replay found nothing to do: exit 4.
    pub(crate) fn nothing_to_replay(message: impl Into<String>) -> Self {
        Self {
            code: exit::NOTHING_TO_REPLAY,
            message: message.into(),
        }
    }

    /// Kept in the outbox for later: exit 5.
    pub(crate) fn in_outbox(message: impl Into<String>) -> Self {
        Self {
            code: exit::IN_OUTBOX,
            message: message.into(),
        }
    }

    /// Interrupted by `signal`: exit 128 + its number.
    pub(crate) fn interrupted(signal: signals::Caught, message: impl Into<String>) -> Self {
        Self {
            code: signal.exit_code(),
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEBHOOK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Listen(a) => listen::run(a),
        Command::Send(a) => send::run(a),
        Command::Status(a) => status::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Drain(a) => drain::run(a),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(failure) => {
            // Whatever a message quotes (a flag's value, a line of a config file), a
            // URL in it never shows credentials, path or query.
            let message = webhook_core::redact::urls_in(&failure.message);
            eprintln!("webhook: {}", terminal::escape(&message));
            ExitCode::from(failure.code)
        }
    }
}

/// A current-thread runtime for the command's own async work (the notifier has its own).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("could not start a runtime: {e}")))
}
