//! A one-line progress display on a terminal; silent when stderr is piped.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use webhook_core::Notifier;

/// Shows attempts and waiting retries while a command waits.
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the display if stderr is a terminal.
    pub(crate) fn start(notifier: &Notifier, what: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let (notifier, stop) = (notifier.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let s = notifier.stats();
                    eprint!(
                        "\r{what}: {} attempt(s), {} in flight, {} retry(ies) waiting, {} delivered, {} failed   ",
                        s.attempts, s.in_flight, s.waiting_retries, s.delivered, s.failed
                    );
                    let _ = std::io::stderr().flush();
                    std::thread::park_timeout(Duration::from_millis(200));
                }
                eprint!("\r{}\r", " ".repeat(100));
            })
        });
        Self { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
