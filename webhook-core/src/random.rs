//! Every source of randomness and of unique ids in the workspace, in one place.
//!
//! - [`seed`]: 64 bits from the operating system's randomness (through std's
//!   `RandomState`), for seeding; cheap enough for a few calls, not for every event.
//! - [`Rng`]: a seeded pseudo-random stream (`fastrand`'s wyrand), the same sequence for
//!   the same seed; retry jitter draws from it.
//! - [`unique_u128`]: 128 bits that no other call in this process returns, for
//!   webhook ids. It runs on every enqueue, so it is a counter through a bijection under
//!   a per-process key, not a random draw: a few multiplications and no allocation; the
//!   counter's values are handed to each thread in blocks, so producers on different
//!   cores do not take one shared cache line from each other on every event.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A seeded pseudo-random stream (not for secrets).
pub(crate) type Rng = fastrand::Rng;

/// 64 unpredictable bits, from the operating system's randomness.
///
/// std seeds every `RandomState` from the OS once per thread and changes it for each new
/// one; hashing a process-wide counter under it gives a different value on every call.
pub(crate) fn seed() -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    KEYS.get_or_init(RandomState::new).hash_one(n)
}

/// A pseudo-random stream seeded from [`seed`].
pub(crate) fn rng() -> Rng {
    Rng::with_seed(seed())
}

/// 128 bits unique to this call in this process, unpredictable-looking across
/// processes: a process-wide counter through SplitMix64's finalizer (a bijection)
/// under a random per-process key. No two calls in one process share the low half.
pub(crate) fn unique_u128() -> u128 {
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    let (k0, k1) = *KEY.get_or_init(|| (seed(), seed()));
    let lo = mix(unique_u64() ^ k1);
    u128::from(mix(lo ^ k0)) << 64 | u128::from(lo)
}

/// How many counter values a thread takes at a time.
const BLOCK: u64 = 1024;

/// A value of the process-wide counter that no other call gets.
///
/// Each thread takes [`BLOCK`] values at once and uses them in turn: with one atomic add
/// per call, every enqueue took the counter's cache line from the core that enqueued
/// last (BENCHMARKS.md, round 6). Blocks start at multiples of `BLOCK` and never
/// overlap, so a thread needs to keep only its next value: one at a block's start means
/// its block is used up (or it has none yet).
fn unique_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        /// This thread's next value.
        static NEXT: Cell<u64> = const { Cell::new(0) };
    }
    NEXT.with(|next| {
        let mut n = next.get();
        if n % BLOCK == 0 {
            n = COUNTER.fetch_add(BLOCK, Ordering::Relaxed);
        }
        next.set(n + 1);
        n
    })
}

/// The 64-bit finalizer of SplitMix64: a bijection that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_ids_do_not_repeat_and_spread_over_both_halves() {
        let ids: Vec<u128> = (0..10_000).map(|_| unique_u128()).collect();
        let distinct: HashSet<u128> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len());
        let lows: HashSet<u64> = ids.iter().map(|&id| id as u64).collect();
        assert_eq!(lows.len(), ids.len(), "the low half alone is unique");
        // Consecutive ids differ in about half of their bits, not just the last few.
        let flipped: u32 = ids.windows(2).map(|w| (w[0] ^ w[1]).count_ones()).sum();
        let mean = f64::from(flipped) / (ids.len() - 1) as f64;
        assert!((48.0..80.0).contains(&mean), "mean flipped bits {mean}");
    }

    #[test]
    fn ids_from_many_threads_never_repeat() {
        // Each thread takes several blocks, and the threads' blocks interleave.
        let per_thread = usize::try_from(BLOCK).unwrap_or(1024) * 3 + 17;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread).map(|_| unique_u128()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for thread in threads {
            for id in thread.join().expect("the thread finished") {
                assert!(all.insert(id), "an id repeated");
            }
        }
        assert_eq!(all.len(), 4 * per_thread);
    }

    #[test]
    fn the_mix_is_a_bijection_on_a_sample() {
        let outputs: HashSet<u64> = (0..100_000u64).map(mix).collect();
        assert_eq!(outputs.len(), 100_000);
    }

    #[test]
    fn seeds_differ_between_calls() {
        let seeds: HashSet<u64> = (0..1_000).map(|_| seed()).collect();
        assert_eq!(seeds.len(), 1_000);
    }

    #[test]
    fn a_seeded_stream_repeats_and_different_seeds_differ() {
        let draw = |seed| {
            let mut rng = Rng::with_seed(seed);
            (0..8).map(|_| rng.u64(..)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert_ne!(rng().u64(..), rng().u64(..));
    }
}
