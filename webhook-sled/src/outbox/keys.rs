//! The outbox tree's keys: one tree, three kinds of key, so that one atomic sled batch
//! changes an entry and its indexes together.
//!
//! - `e` + id (8 bytes, big-endian) → the entry;
//! - `d` + not_before ms + id → nothing: entries not leased, in due order;
//! - `l` + lease end ms + id → nothing: leased entries, in the order their leases end.

pub(super) const ENTRY: u8 = b'e';
pub(super) const DUE: u8 = b'd';
pub(super) const LEASED: u8 = b'l';

pub(super) fn entry(id: u64) -> [u8; 9] {
    let mut key = [ENTRY; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// A `d` or `l` key: `kind`, then `at` ms, then the id.
pub(super) fn timed(kind: u8, at_ms: u64, id: u64) -> [u8; 17] {
    let mut key = [kind; 17];
    key[1..9].copy_from_slice(&at_ms.to_be_bytes());
    key[9..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The end (exclusive) of the `kind` keys at or before `at_ms`.
pub(super) fn timed_until(kind: u8, at_ms: u64) -> [u8; 9] {
    let mut key = [kind; 9];
    key[1..].copy_from_slice(&at_ms.saturating_add(1).to_be_bytes());
    key
}

/// (time, id) of a `d` or `l` key.
pub(super) fn parse_timed(key: &[u8]) -> Option<(u64, u64)> {
    let at = u64::from_be_bytes(key.get(1..9)?.try_into().ok()?);
    let id = u64::from_be_bytes(key.get(9..17)?.try_into().ok()?);
    Some((at, id))
}

/// The id of an `e` key.
pub(super) fn parse_entry(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_keys_sort_by_time_then_id_and_round_trip() {
        let a = timed(DUE, 5, 9);
        let b = timed(DUE, 6, 1);
        assert!(a < b);
        assert_eq!(parse_timed(&a), Some((5, 9)));
        assert!(b.as_slice() < timed_until(DUE, 6).as_slice());
        assert!(timed(DUE, 7, 0).as_slice() >= timed_until(DUE, 6).as_slice());
        assert_eq!(parse_entry(&entry(42)), Some(42));
    }
}
