//! A one-line progress display (indicatif) on a terminal; silent when stderr is not one.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use webhook_core::Notifier;

/// How often the counts are read and the line redrawn.
const REFRESH: Duration = Duration::from_millis(200);

/// Shows attempts and waiting retries while a command waits; the line is cleared when
/// this is dropped.
pub(crate) struct Progress {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the display if stderr is a terminal (indicatif draws nothing otherwise, and
    /// then no thread reads the counts either).
    pub(crate) fn start(notifier: &Notifier, what: &'static str) -> Self {
        Self::with_target(notifier, what, ProgressDrawTarget::stderr_with_hz(5))
    }

    fn with_target(notifier: &Notifier, what: &'static str, target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(None, target)
            .with_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg}").unwrap_or_else(
                    // The template is a constant; a mistake in it shows as the default style.
                    |_| ProgressStyle::default_spinner(),
                ),
            )
            .with_prefix(what);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (!bar.is_hidden()).then(|| {
            let (notifier, stop, bar) = (notifier.clone(), stop.clone(), bar.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bar.set_message(counts(&notifier));
                    bar.tick();
                    std::thread::park_timeout(REFRESH);
                }
            })
        });
        Self { bar, stop, thread }
    }
}

/// The line's text.
fn counts(notifier: &Notifier) -> String {
    let s = notifier.stats();
    format!(
        "{} attempt(s), {} in flight, {} retry(ies) waiting, {} delivered, {} failed",
        s.attempts, s.in_flight, s.waiting_retries, s.delivered, s.failed
    )
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use webhook_core::{MemoryFailureStore, ResolvedWebhookConfig};

    fn notifier() -> Notifier {
        Notifier::start(
            ResolvedWebhookConfig::disabled(),
            Arc::new(webhook_testkit::ScriptedTransport::new()),
            Arc::new(MemoryFailureStore::new()),
        )
        .expect("starts")
    }

    #[test]
    fn stderr_is_not_drawn_on_when_it_is_not_a_terminal() {
        use std::io::IsTerminal;
        let notifier = notifier();
        let progress = Progress::start(&notifier, "sending");
        // Under the test harness stderr is usually captured, not a terminal.
        let terminal = std::io::stderr().is_terminal();
        assert_eq!(progress.bar.is_hidden(), !terminal);
        assert_eq!(progress.thread.is_some(), terminal);
    }

    #[test]
    fn nothing_is_drawn_and_no_thread_runs_when_the_target_is_hidden() {
        let notifier = notifier();
        let progress = Progress::with_target(&notifier, "sending", ProgressDrawTarget::hidden());
        assert!(progress.thread.is_none());
        assert!(progress.bar.is_hidden());
        drop(progress);
    }

    #[test]
    fn the_line_names_every_count() {
        let line = counts(&notifier());
        assert_eq!(
            line,
            "0 attempt(s), 0 in flight, 0 retry(ies) waiting, 0 delivered, 0 failed"
        );
    }
}
