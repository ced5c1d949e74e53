//! An entry's stored form: a JSON header, a NUL byte, then the body's bytes as sent.
//!
//! JSON escapes every control character, so the header holds no NUL and the first NUL
//! ends it. Version 1; a header of another version is reported as corrupt, never misread.

use serde::{Deserialize, Serialize};
use webhook_core::outbox::{EntryId, LeaseToken, OutboxEntry, OwnerId};
use webhook_core::store::RecordId;
use webhook_core::transport::Bytes;

/// The lease an entry is under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Lease {
    pub(super) token: u64,
    pub(super) until_ms: u64,
    pub(super) owner: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    v: u8,
    webhook_id: String,
    event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_id: Option<String>,
    attempts: u32,
    not_before_ms: u64,
    created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replay_of: Option<String>,
    origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<Lease>,
}

/// An entry and its lease, as stored.
#[derive(Clone, Debug)]
pub(super) struct Stored {
    pub(super) entry: OutboxEntry,
    pub(super) lease: Option<Lease>,
}

impl Stored {
    pub(super) fn token(&self) -> Option<LeaseToken> {
        self.lease.as_ref().map(|l| LeaseToken(l.token))
    }
}

pub(super) fn encode(stored: &Stored) -> Vec<u8> {
    let e = &stored.entry;
    let header = Header {
        v: 1,
        webhook_id: e.webhook_id.to_string(),
        event: e.event.clone(),
        task_id: e.task_id.clone(),
        attempts: e.attempts,
        not_before_ms: e.not_before_ms,
        created_ms: e.created_ms,
        replay_of: e.replay_of.as_ref().map(|r| r.as_str().to_owned()),
        origin: e.origin.as_str().to_owned(),
        lease: stored.lease.clone(),
    };
    // A struct of strings and numbers always serializes.
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(0);
    out.extend_from_slice(&e.body);
    out
}

pub(super) fn decode(id: u64, bytes: &[u8]) -> Result<Stored, String> {
    let split = bytes.iter().position(|b| *b == 0).ok_or("no header end")?;
    let header: Header =
        serde_json::from_slice(&bytes[..split]).map_err(|e| format!("header: {e}"))?;
    if header.v != 1 {
        return Err(format!("format version {}; this version reads 1", header.v));
    }
    let webhook_id = header
        .webhook_id
        .parse()
        .map_err(|e| format!("webhook id: {e}"))?;
    let replay_of = match header.replay_of {
        Some(text) => Some(RecordId::from_string(text).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(Stored {
        entry: OutboxEntry {
            id: EntryId(id),
            webhook_id,
            event: header.event,
            task_id: header.task_id,
            body: Bytes::copy_from_slice(&bytes[split + 1..]),
            attempts: header.attempts,
            not_before_ms: header.not_before_ms,
            created_ms: header.created_ms,
            replay_of,
            origin: OwnerId::from_text(header.origin),
        },
        lease: header.lease,
    })
}
