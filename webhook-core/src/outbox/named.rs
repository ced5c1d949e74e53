//! Named retry schedules beside the exponential one.

use crate::retry::RetrySchedule;
use std::time::Duration;

/// A retry schedule with a name, for configuration files and flags.
///
/// The long ones are meant for an outbox: its retries wait there, not in memory, and
/// survive a restart. In memory mode they are allowed, but a retry still waiting at
/// shutdown is recorded in the failure store (outcome `shutdown`) and not retried by
/// the next start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedSchedule {
    /// `min(30 s, base × 2^(n-1))` ± 20 %, `retry_count` times (the default).
    Exponential,
    /// The schedule Svix publishes: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (± 20 %),
    /// about 28 hours in all.
    Svix,
    /// A day of retries in growing steps: 10 s, 1 min, 10 min, 1 h, 3 h, 6 h, 12 h.
    Day,
}

impl NamedSchedule {
    /// Every name, for error messages.
    pub const NAMES: &'static str = "`exponential`, `svix`, `day`";

    /// The schedule of a name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "exponential" => Some(Self::Exponential),
            "svix" => Some(Self::Svix),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    /// The delays of an explicit schedule (`None` for the exponential one).
    pub fn delays(self) -> Option<Vec<Duration>> {
        let secs: &[u64] = match self {
            Self::Exponential => return None,
            Self::Svix => &[5, 300, 1800, 7200, 18_000, 36_000, 36_000],
            Self::Day => &[10, 60, 600, 3600, 10_800, 21_600, 43_200],
        };
        Some(secs.iter().map(|s| Duration::from_secs(*s)).collect())
    }

    /// The schedule, jittered ± 20 %.
    pub fn schedule(self, exponential: RetrySchedule) -> RetrySchedule {
        self.delays().map_or(exponential, RetrySchedule::explicit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svix_schedule_is_the_published_one() {
        let s = NamedSchedule::parse("svix")
            .expect("known")
            .schedule(RetrySchedule::exponential(3, Duration::from_secs(1)));
        assert_eq!(s.max_retries(), 7);
        let delays: Vec<u64> = (1..=7)
            .map(|n| s.base_delay(n).expect("within").as_secs())
            .collect();
        assert_eq!(delays, [5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        assert_eq!(NamedSchedule::parse("hourly"), None);
    }
}
