//! `webhook`: send, receive, inspect and replay signed webhooks from a shell.
//!
//! Exit codes: 0 success, 1 not delivered (or a replay that failed again), 2 bad usage
//! or configuration (the message names what is wrong).

mod args;
mod listen;
mod live;
mod progress;
mod replay;
mod send;
mod settings;
mod status;

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
            code: 2,
            message: message.into(),
        }
    }

    /// The operation ran but did not succeed: exit 1.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: 1,
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("webhook: {}", failure.message);
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
