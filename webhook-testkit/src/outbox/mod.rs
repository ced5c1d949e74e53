//! Outboxes for tests: an in-memory one, and a wrapper that injects faults into any.

mod faulty;
mod memory;

pub use faulty::{Faults, FaultyOutbox};
pub use memory::MemoryOutbox;
