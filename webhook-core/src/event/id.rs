//! Webhook ids: unique per event, the same on every retry and replay.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The id sent in the `webhook-id` header. Receivers use it to deduplicate.
///
/// Generated ids look like `msg_` followed by 32 hex digits (128 bits, from a
/// randomly keyed PRF over a process-wide counter, so they do not repeat).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookId(String);

/// A webhook id that cannot be sent in a header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid webhook id ({len} bytes): expected 1..=128 characters from A-Z a-z 0-9 and `_-.:`"
)]
pub struct InvalidWebhookId {
    /// Length of the rejected id in bytes.
    pub len: usize,
}

impl WebhookId {
    /// A fresh, unique id.
    pub fn generate() -> Self {
        let (hi, lo) = random_u128_halves();
        // The same text as `format!("msg_{hi:016x}{lo:016x}")`, at a fraction of the cost
        // (this runs on every enqueue).
        let mut id = String::with_capacity(4 + 32);
        id.push_str("msg_");
        crate::signing::push_hex(&mut id, &hi.to_be_bytes());
        crate::signing::push_hex(&mut id, &lo.to_be_bytes());
        Self(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 64 unpredictable bits (seeds for jitter sources).
pub(crate) fn random_seed() -> u64 {
    random_u128_halves().0
}

/// 128 unpredictable bits: SipHash with a random per-process key over a counter.
pub(crate) fn random_u128_halves() -> (u64, u64) {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut a = keys.build_hasher();
    a.write_u64(n);
    a.write_u8(0);
    let mut b = keys.build_hasher();
    b.write_u64(n);
    b.write_u8(1);
    (a.finish(), b.finish())
}

impl FromStr for WebhookId {
    type Err = InvalidWebhookId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidWebhookId { len: s.len() })
        }
    }
}

impl TryFrom<String> for WebhookId {
    type Error = InvalidWebhookId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<WebhookId> for String {
    fn from(id: WebhookId) -> Self {
        id.0
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
