//! Waiting for what a command enqueued: bounded, shown on a terminal, and interrupted
//! by SIGTERM, SIGINT or SIGHUP.

use crate::progress::Progress;
use crate::signals::{Caught, Signals};
use std::time::Duration;
use tokio::runtime::Runtime;
use webhook_core::{Notifier, ResolvedWebhookConfig};

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Nothing queued, in flight or waiting to retry.
    Idle,
    /// The bound passed first.
    Unfinished,
    /// A signal came first.
    Interrupted(Caught),
}

/// Waits until `notifier` is idle, `bound` passes or a signal arrives.
pub(crate) fn idle(
    rt: &Runtime,
    signals: &mut Signals,
    notifier: &Notifier,
    bound: Duration,
    what: &'static str,
) -> Waited {
    let _progress = Progress::start(notifier, what);
    rt.block_on(async {
        tokio::select! {
            idle = notifier.wait_idle_async(bound) => if idle { Waited::Idle } else { Waited::Unfinished },
            caught = signals.next() => Waited::Interrupted(caught),
        }
    })
}

/// The longest one event can take through every attempt and retry wait, a
/// `Retry-After` up to the schedule's cap included, plus 5 s.
pub(crate) fn one_event(config: &ResolvedWebhookConfig) -> Duration {
    let retries = config.retry.max_retries();
    let waits: Duration = (1..=retries)
        .filter_map(|n| {
            let own = config.retry.delay(n, None, 1.0)?;
            let told = config.retry.delay(n, Some(config.retry.cap()), 0.0)?;
            Some(own.max(told))
        })
        .sum();
    config.timeout * (retries + 1) + waits + Duration::from_secs(5)
}

/// The longest `events` events can take at the configured concurrency: one event's
/// bound per wave of `max_concurrency` events (retry waits hold no slot, so this is
/// generous).
pub(crate) fn events(config: &ResolvedWebhookConfig, events: usize) -> Duration {
    let waves = events.div_ceil(config.max_concurrency.max(1)).max(1);
    one_event(config).saturating_mul(u32::try_from(waves).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook_core::WebhookConfig;

    fn config(json: &str) -> ResolvedWebhookConfig {
        WebhookConfig::from_json_str(json)
            .and_then(|c| c.resolve())
            .expect("valid config")
    }

    #[test]
    fn the_wait_for_one_event_covers_a_retry_after_up_to_the_cap() {
        let c = config(
            r#"{"enabled": true, "url": "https://hooks.example.com/x", "timeout_secs": 1, "retry_count": 1, "retry_backoff_ms": 100}"#,
        );
        // 2 attempts of 1 s, one Retry-After of up to 30 s, 5 s of slack.
        assert_eq!(one_event(&c), Duration::from_secs(37));
    }

    #[test]
    fn the_wait_for_many_events_grows_with_their_number_over_the_concurrency() {
        let c = config(
            r#"{"enabled": true, "url": "https://hooks.example.com/x", "max_concurrency": 4}"#,
        );
        assert_eq!(events(&c, 1), one_event(&c));
        assert_eq!(events(&c, 4), one_event(&c));
        assert_eq!(events(&c, 9), one_event(&c) * 3);
    }
}
