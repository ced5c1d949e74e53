//! Body buffers kept for reuse: a delivered message's body buffer goes back to its
//! notifier, and the next message the notifier serializes is copied into it.
//!
//! Why: the application's thread allocates each body and the worker's thread frees it.
//! With glibc's allocator that pattern makes the application thread's heap shrink when a
//! run of bodies is freed and grow again, page by page, when the next run is made
//! (`mprotect` and page faults on every refill of a deep queue), and the bodies come
//! from memory that was freed longest ago. Handing the worker's freed buffers straight
//! back, most recently freed first, took the pipeline from 0.90–0.93 to 0.94–0.97 of a
//! client that makes and signs each request itself (BENCHMARKS.md, "Round 12").
//!
//! The pool never makes anyone wait: taking or returning a buffer while the other side
//! holds the lock allocates or frees instead. A body that anything else still holds (a
//! failure store, an observer, a retry) is not taken back.

use bytes::Bytes;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// The largest buffer kept (a larger body is freed as before).
pub(crate) const MAX_BUFFER: usize = 8 * 1024;

/// The most buffer capacity a pool holds, in bytes.
pub(crate) const MAX_HELD: usize = 4 * 1024 * 1024;

/// What a pool keeps while its worker has nothing queued: a trickle of events keeps
/// reusing buffers, and a burst's buffers go back to the allocator once it is over.
pub(crate) const IDLE_HELD: usize = 64 * 1024;

/// Recycled body buffers, most recently returned last.
pub(crate) struct BodyPool {
    buffers: Mutex<Vec<Vec<u8>>>,
    /// Capacity held, in bytes (changed under the lock; read without it to skip an
    /// empty pool).
    held: AtomicUsize,
    /// At most this many buffers: more events than the queue and the delivery slots
    /// hold at once never need a buffer at the same time.
    max_buffers: usize,
}

impl fmt::Debug for BodyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyPool")
            .field("held_bytes", &self.held())
            .field("max_buffers", &self.max_buffers)
            .finish()
    }
}

impl BodyPool {
    /// A pool of at most `max_buffers` buffers and [`MAX_HELD`] bytes.
    pub(crate) fn new(max_buffers: usize) -> Self {
        Self {
            buffers: Mutex::new(Vec::new()),
            held: AtomicUsize::new(0),
            max_buffers,
        }
    }

    /// The lock, unless someone else has it.
    fn try_lock(&self) -> Option<MutexGuard<'_, Vec<Vec<u8>>>> {
        match self.buffers.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Bytes of capacity held.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// An empty buffer with room for `len` bytes and at most twice that (so a small body
    /// does not pin a large buffer), if the most recently returned one is such.
    pub(crate) fn take(&self, len: usize) -> Option<Vec<u8>> {
        if self.held() == 0 {
            return None;
        }
        let mut buffers = self.try_lock()?;
        let cap = buffers.last()?.capacity();
        if cap < len || cap / 2 > len {
            return None;
        }
        let mut buffer = buffers.pop()?;
        self.held.fetch_sub(cap, Ordering::Relaxed);
        buffer.clear();
        Some(buffer)
    }

    /// Keeps `body`'s buffer for a later message, if nothing else holds the body and
    /// there is room.
    pub(crate) fn recycle(&self, body: Bytes) {
        let Ok(body) = body.try_into_mut() else {
            return;
        };
        let buffer = Vec::from(body);
        let cap = buffer.capacity();
        if cap == 0 || cap > MAX_BUFFER || self.held().saturating_add(cap) > MAX_HELD {
            return;
        }
        let Some(mut buffers) = self.try_lock() else {
            return;
        };
        if buffers.len() < self.max_buffers {
            self.held.fetch_add(cap, Ordering::Relaxed);
            buffers.push(buffer);
        }
    }

    /// Frees the least recently returned buffers until at most `bytes` are held.
    pub(crate) fn trim(&self, bytes: usize) {
        if self.held() <= bytes {
            return;
        }
        let Some(mut buffers) = self.try_lock() else {
            return;
        };
        let mut held = self.held();
        let mut cut = 0;
        while held > bytes && cut < buffers.len() {
            held -= buffers[cut].capacity();
            cut += 1;
        }
        buffers.drain(..cut);
        self.held.store(held, Ordering::Relaxed);
    }

    /// How many buffers are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.try_lock().map_or(0, |b| b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body in a buffer of `cap` bytes holding `len` bytes, and the buffer's address.
    fn body(len: usize, cap: usize) -> (Bytes, *const u8) {
        let mut buffer = Vec::with_capacity(cap);
        buffer.resize(len, b'x');
        let at = buffer.as_ptr();
        (Bytes::from(buffer), at)
    }

    #[test]
    fn a_returned_buffer_is_handed_out_again_most_recent_first() {
        let pool = BodyPool::new(16);
        assert_eq!(pool.take(10), None, "an empty pool has nothing");
        let (first, first_at) = body(500, 512);
        let (second, second_at) = body(500, 512);
        pool.recycle(first);
        pool.recycle(second);
        assert_eq!((pool.len(), pool.held()), (2, 1024));
        let reused = pool.take(400).expect("the last one fits");
        assert_eq!(reused.as_ptr(), second_at);
        assert!(reused.is_empty(), "handed out empty");
        assert_eq!(reused.capacity(), 512);
        assert_eq!(pool.take(512).map(|b| b.as_ptr()), Some(first_at));
        assert_eq!((pool.len(), pool.held()), (0, 0));
    }

    #[test]
    fn a_body_held_elsewhere_is_not_taken_back() {
        let pool = BodyPool::new(16);
        let (kept, _) = body(300, 300);
        let copy = kept.clone();
        pool.recycle(kept);
        assert_eq!(pool.len(), 0);
        assert_eq!(copy.len(), 300, "the holder's body is untouched");
        // A slice of a body holds it too.
        let (whole, _) = body(300, 300);
        let part = whole.slice(10..20);
        pool.recycle(whole);
        assert_eq!((pool.len(), &part[..]), (0, &b"xxxxxxxxxx"[..]));
        pool.recycle(Bytes::from_static(b"static bodies own no buffer"));
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn a_buffer_is_only_handed_out_for_a_body_it_fits_snugly() {
        let pool = BodyPool::new(16);
        pool.recycle(body(100, 1000).0);
        assert_eq!(pool.take(1001), None, "too small");
        assert_eq!(pool.take(499), None, "more than twice the body");
        assert_eq!(pool.len(), 1, "kept for a body it fits");
        assert!(pool.take(500).is_some());
    }

    #[test]
    fn the_pool_is_bounded_by_count_by_bytes_and_by_buffer_size() {
        let pool = BodyPool::new(3);
        for _ in 0..5 {
            pool.recycle(body(10, 100).0);
        }
        assert_eq!((pool.len(), pool.held()), (3, 300));
        pool.recycle(body(10, MAX_BUFFER + 1).0);
        assert_eq!(pool.len(), 3, "a large buffer is freed");

        let pool = BodyPool::new(usize::MAX);
        let per = MAX_BUFFER;
        for _ in 0..(MAX_HELD / per + 5) {
            pool.recycle(body(10, per).0);
        }
        assert_eq!(pool.held(), MAX_HELD);
        assert_eq!(pool.len(), MAX_HELD / per);
    }

    #[test]
    fn trimming_frees_the_oldest_buffers_first() {
        let pool = BodyPool::new(16);
        let (oldest, _) = body(10, 100);
        pool.recycle(oldest);
        let (newest, newest_at) = body(10, 200);
        pool.recycle(newest);
        pool.trim(250);
        assert_eq!((pool.len(), pool.held()), (1, 200));
        pool.trim(250);
        assert_eq!(pool.len(), 1, "already within the bound");
        assert_eq!(pool.take(150).map(|b| b.as_ptr()), Some(newest_at));
        pool.recycle(body(10, 100).0);
        pool.trim(0);
        assert_eq!((pool.len(), pool.held()), (0, 0));
    }

    #[test]
    fn a_busy_pool_is_skipped_not_waited_for() {
        let pool = BodyPool::new(16);
        pool.recycle(body(10, 100).0);
        let guard = pool.buffers.lock().expect("lock");
        assert_eq!(pool.take(50), None);
        pool.recycle(body(10, 100).0);
        pool.trim(0);
        drop(guard);
        assert_eq!((pool.len(), pool.held()), (1, 100));
    }
}
