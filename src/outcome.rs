//! What a seed function did with its event.

use std::fmt;
use webhook_core::EnqueueOutcome;

/// What a seed function (`notify_*`, `send_webhook`, `send_webhook_payload`) did with its
/// event. Callers may ignore it: a dropped event is counted or logged either way.
///
/// It compares equal to the [`EnqueueOutcome`] it carries, so
/// `notify_task_created(..) == EnqueueOutcome::Dropped(DropReason::Filtered)` reads as
/// it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// The global notifier's answer. A disabled configuration answers
    /// `Dropped(DropReason::Disabled)` without starting a notifier.
    Enqueue(EnqueueOutcome),
    /// The configuration was refused, so no notifier runs and the event was dropped. The
    /// error (which names the field) is logged, and [`global_notifier`](crate::global_notifier)
    /// returns it.
    InvalidConfig,
}

impl NotifyOutcome {
    /// Whether the event was queued.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Enqueue(outcome) if outcome.is_accepted())
    }

    /// The notifier's answer, if a notifier was asked.
    pub const fn enqueue_outcome(self) -> Option<EnqueueOutcome> {
        match self {
            Self::Enqueue(outcome) => Some(outcome),
            Self::InvalidConfig => None,
        }
    }
}

impl From<EnqueueOutcome> for NotifyOutcome {
    fn from(outcome: EnqueueOutcome) -> Self {
        Self::Enqueue(outcome)
    }
}

impl PartialEq<EnqueueOutcome> for NotifyOutcome {
    fn eq(&self, other: &EnqueueOutcome) -> bool {
        matches!(self, Self::Enqueue(outcome) if outcome == other)
    }
}

impl PartialEq<NotifyOutcome> for EnqueueOutcome {
    fn eq(&self, other: &NotifyOutcome) -> bool {
        other == self
    }
}

impl fmt::Display for NotifyOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Enqueue(outcome) => outcome.fmt(f),
            Self::InvalidConfig => f.write_str(
                "dropped: the webhook configuration is invalid (the error names the field)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook_core::DropReason;

    #[test]
    fn an_outcome_equals_the_enqueue_outcome_it_carries_and_nothing_else() {
        let filtered = EnqueueOutcome::Dropped(DropReason::Filtered);
        assert_eq!(NotifyOutcome::from(filtered), filtered);
        assert_eq!(filtered, NotifyOutcome::Enqueue(filtered));
        assert_ne!(NotifyOutcome::InvalidConfig, filtered);
        assert_ne!(NotifyOutcome::from(EnqueueOutcome::Accepted), filtered);
    }

    #[test]
    fn only_a_queued_event_is_accepted() {
        assert!(NotifyOutcome::from(EnqueueOutcome::Accepted).is_accepted());
        assert!(NotifyOutcome::from(EnqueueOutcome::AcceptedAfterEviction).is_accepted());
        assert!(!NotifyOutcome::from(EnqueueOutcome::Dropped(DropReason::Disabled)).is_accepted());
        assert!(!NotifyOutcome::InvalidConfig.is_accepted());
        assert_eq!(NotifyOutcome::InvalidConfig.enqueue_outcome(), None);
    }

    #[test]
    fn an_invalid_config_displays_as_a_drop() {
        assert!(
            NotifyOutcome::InvalidConfig
                .to_string()
                .starts_with("dropped: the webhook configuration is invalid")
        );
        assert_eq!(
            NotifyOutcome::from(EnqueueOutcome::Accepted).to_string(),
            "accepted"
        );
    }
}
