//! Which events are delivered.

use crate::event::WebhookEventType;
use std::fmt;

/// The set of seed events a configuration subscribes to.
///
/// The filter governs the ten [`WebhookEventType`] names. Custom event names (sent with
/// [`crate::event::WebhookMessage::custom`]) are always delivered: sending one is already
/// an explicit choice. Replays bypass the filter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EventFilter {
    mask: u16,
}

impl EventFilter {
    /// Every event.
    pub const ALL: Self = Self {
        mask: (1 << 10) - 1,
    };

    /// The default subscription: the five `task_*` events.
    pub fn default_subscription() -> Self {
        Self::from_events(WebhookEventType::DEFAULT_SUBSCRIPTION)
    }

    /// Exactly these events.
    pub fn from_events(events: impl IntoIterator<Item = WebhookEventType>) -> Self {
        let mask = events.into_iter().fold(0, |m, e| m | bit(e));
        Self { mask }
    }

    /// Whether an event with this name is delivered.
    pub fn allows(&self, event: &str) -> bool {
        WebhookEventType::from_name(event).is_none_or(|e| self.allows_type(e))
    }

    /// Whether this seed event is delivered.
    pub fn allows_type(&self, event: WebhookEventType) -> bool {
        self.mask & bit(event) != 0
    }

    /// The subscribed events.
    pub fn events(&self) -> impl Iterator<Item = WebhookEventType> + '_ {
        WebhookEventType::ALL
            .into_iter()
            .filter(|e| self.allows_type(*e))
    }
}

impl Default for EventFilter {
    fn default() -> Self {
        Self::default_subscription()
    }
}

fn bit(event: WebhookEventType) -> u16 {
    let index = WebhookEventType::ALL
        .iter()
        .position(|e| *e == event)
        .unwrap_or_default();
    1 << index
}

impl fmt::Debug for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            return f.write_str("*");
        }
        let names: Vec<&str> = self.events().map(WebhookEventType::as_str).collect();
        f.write_str(&names.join(","))
    }
}
