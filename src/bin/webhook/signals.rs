//! SIGTERM, SIGINT and SIGHUP while a command waits: shut down with a short grace,
//! record what is pending, say so, and exit with `128 + the signal's number`.

use crate::Failure;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// How long an interrupted command keeps delivering before it records what is left.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// A signal that interrupted a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caught {
    /// SIGHUP (the terminal went away).
    Hangup,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a service manager stopping the command).
    Terminate,
}

impl Caught {
    /// The signal's name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Hangup => "SIGHUP",
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// The exit code: 128 + the signal's number, as shells report a signal.
    pub(crate) const fn exit_code(self) -> u8 {
        match self {
            Self::Hangup => 129,
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

/// The three signals, caught from the moment this is installed (their default action,
/// ending the process at once, no longer applies).
#[derive(Debug)]
pub(crate) struct Signals {
    hangup: Signal,
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Installs the handlers on `rt`'s signal driver.
    pub(crate) fn install(rt: &Runtime) -> Result<Self, Failure> {
        let _entered = rt.enter();
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| Failure::failed(format!("cannot catch {name}: {e}")))
        };
        Ok(Self {
            hangup: listen(SignalKind::hangup(), "SIGHUP")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// The next signal caught (including one caught before this was called).
    pub(crate) async fn next(&mut self) -> Caught {
        tokio::select! {
            _ = self.hangup.recv() => Caught::Hangup,
            _ = self.interrupt.recv() => Caught::Interrupt,
            _ = self.terminate.recv() => Caught::Terminate,
        }
    }
}
