//! The wall clock for signature timestamps and records.

use std::sync::OnceLock;
use std::time::SystemTime;

/// The system clock, or, under a paused test runtime, wall time derived from the
/// runtime's clock so that signature timestamps and record times advance with it.
#[derive(Debug, Default)]
pub(crate) struct WallClock {
    paused: bool,
    origin: OnceLock<(SystemTime, tokio::time::Instant)>,
}

impl WallClock {
    pub(crate) fn new(paused: bool) -> Self {
        Self {
            paused,
            origin: OnceLock::new(),
        }
    }

    /// Now. Call it once on the worker's runtime first, so a paused clock's origin is
    /// pinned to that runtime.
    pub(crate) fn now(&self) -> SystemTime {
        if !self.paused {
            return SystemTime::now();
        }
        let (wall, mono) = *self
            .origin
            .get_or_init(|| (SystemTime::now(), tokio::time::Instant::now()));
        wall + mono.elapsed()
    }
}
