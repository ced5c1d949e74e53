//! Webhook ids: unique per event, the same on every retry and replay.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering as CmpOrdering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::{hex, random};

/// The id sent in the `webhook-id` header. Receivers use it to deduplicate.
///
/// Generated ids look like `msg_` followed by 32 hex digits: a process-wide counter
/// scrambled under a random per-process key (128 bits, from the OS's randomness), so
/// they never repeat within a process and differ between processes and restarts.
/// They are not secret and not meant to be unguessable: a receiver authenticates an
/// event by its signature, not by its id.
///
/// Ids of up to 46 bytes (generated ones have 36) are kept inline: making one allocates
/// nothing.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookId(Repr);

/// The longest id kept inline.
const INLINE: usize = 46;

#[derive(Clone)]
enum Repr {
    /// `bytes[..len]`, always ASCII (checked when made).
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

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
        // The same text as `format!("msg_{:032x}", random::unique_u128())`, at a fraction
        // of the cost and with no allocation (this runs on every enqueue).
        let mut bytes = [0u8; INLINE];
        bytes[..4].copy_from_slice(b"msg_");
        hex::encode_into(&mut bytes[4..36], &random::unique_u128().to_be_bytes());
        Self(Repr::Inline { len: 36, bytes })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("inline ids are made of ASCII only"),
            Repr::Heap(id) => id,
        }
    }

    /// An id from text already checked to be valid.
    fn from_checked(id: &str) -> Self {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                Self(Repr::Inline { len, bytes })
            }
            _ => Self(Repr::Heap(id.into())),
        }
    }
}

impl FromStr for WebhookId {
    type Err = InvalidWebhookId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if ok {
            Ok(Self::from_checked(s))
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
        id.as_str().to_owned()
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookId").field(&self.as_str()).finish()
    }
}

impl PartialEq for WebhookId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for WebhookId {}

impl Hash for WebhookId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for WebhookId {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for WebhookId {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.as_str().cmp(other.as_str())
    }
}
