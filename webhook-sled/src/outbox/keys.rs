//! The outbox tree's keys: `e` + the entry id (8 bytes, big-endian), so keys sort in
//! the order of appends.

pub(super) const ENTRY: u8 = b'e';

pub(super) fn entry(id: u64) -> [u8; 9] {
    let mut key = [ENTRY; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The id of an `e` key.
pub(super) fn parse_entry(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_keys_sort_by_id_and_round_trip() {
        assert!(entry(255) < entry(256));
        assert_eq!(parse_entry(&entry(42)), Some(42));
        assert_eq!(parse_entry(b"e12"), None);
    }
}
