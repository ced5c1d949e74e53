//! The on-disk format: a version marker per store and a versioned JSON envelope per record.
//!
//! Layout (format version 1):
//! - records tree (default name `failures`): key = the record id's UTF-8 bytes (`rec_` + 12 hex
//!   digits of unix milliseconds + 8 hex digits of sequence, so keys sort by time); value =
//!   `{"v":1,"record":<FailureRecord as JSON>}`.
//! - meta tree (`<records tree name>.meta`): key `format_version`, value `1`.
//!
//! A later version can migrate a store by reading the marker before touching records, and
//! records one by one by their envelope's `v`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use webhook_core::store::FailureRecord;

/// The store format this version writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// The record envelope version this version writes and reads.
const RECORD_VERSION: u32 = 1;

/// The meta tree key holding [`FORMAT_VERSION`].
pub(crate) const FORMAT_VERSION_KEY: &[u8] = b"format_version";

/// The name of the meta tree that belongs to the records tree `records`.
pub(crate) fn meta_tree_name(records: &[u8]) -> Vec<u8> {
    let mut name = records.to_vec();
    name.extend_from_slice(b".meta");
    name
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    v: u32,
    record: &'a FailureRecord,
}

#[derive(Deserialize)]
struct EnvelopeIn<'a> {
    v: u32,
    #[serde(borrow)]
    record: &'a RawValue,
}

/// Encodes `record` as a version-1 envelope.
pub(crate) fn encode(record: &FailureRecord) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&EnvelopeOut {
        v: RECORD_VERSION,
        record,
    })
}

/// Decodes a stored value; the error says what is wrong, in words.
pub(crate) fn decode(bytes: &[u8]) -> Result<FailureRecord, String> {
    let envelope: EnvelopeIn<'_> =
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable envelope: {e}"))?;
    if envelope.v != RECORD_VERSION {
        return Err(format!(
            "record format version {}; this version reads {RECORD_VERSION}",
            envelope.v
        ));
    }
    serde_json::from_str(envelope.record.get()).map_err(|e| format!("unreadable record: {e}"))
}
