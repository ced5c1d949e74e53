//! An entry's stored form: a JSON header, a NUL byte, then the body's bytes as sent.
//!
//! JSON escapes every control character, so the header holds no NUL and the first NUL
//! ends it. Version 1; a header of another version is reported as corrupt, never misread.
//! An endpoint's entry adds its `endpoint` id (absent otherwise; older headers read as
//! the single URL's), and a keyed delivery its `ordering_key`. Leases are not stored: one process owns the folder, so a lease never outlives it.

use serde::{Deserialize, Serialize};
use webhook_core::outbox::{EntryId, OutboxEntry, OwnerId};
use webhook_core::store::RecordId;
use webhook_core::transport::Bytes;

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
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ordering_key: Option<String>,
}

pub(super) fn encode(e: &OutboxEntry) -> Vec<u8> {
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
        endpoint: e.endpoint.clone(),
        ordering_key: e.ordering_key.clone(),
    };
    // A struct of strings and numbers always serializes.
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(0);
    out.extend_from_slice(&e.body);
    out
}

pub(super) fn decode(id: u64, bytes: &[u8]) -> Result<OutboxEntry, String> {
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
    Ok(OutboxEntry {
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
        endpoint: header.endpoint,
        ordering_key: header.ordering_key,
    })
}
