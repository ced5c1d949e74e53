//! The on-disk format: a version marker per store and a versioned JSON envelope per record
//! (described in the crate docs).

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

#[cfg(test)]
mod tests {
    use super::{decode, encode};
    use webhook_core::store::conformance::sample_record;

    #[test]
    fn a_record_round_trips_with_its_payload_byte_for_byte() {
        let record = sample_record("task_failed", Some("T-1"), 1_700_000_000_000);
        let bytes = encode(&record).expect("encode");
        assert!(bytes.starts_with(br#"{"v":1,"record":{"#));
        let back = decode(&bytes).expect("decode");
        assert_eq!(back.id, record.id);
        assert_eq!(back.payload.get(), record.payload.get());
    }

    #[test]
    fn an_envelope_of_another_version_is_refused_with_both_versions_named() {
        let record = sample_record("task_failed", None, 1_700_000_000_000);
        let text = String::from_utf8(encode(&record).expect("encode")).expect("utf-8");
        let newer = text.replacen(r#""v":1"#, r#""v":7"#, 1);
        let error = decode(newer.as_bytes()).expect_err("refused");
        assert!(
            error.contains("version 7") && error.contains("reads 1"),
            "{error}"
        );
    }

    #[test]
    fn garbage_is_refused_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\xff\xfe",
            b"{}",
            br#"{"v":1,"record":{"id":3}}"#,
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?}");
        }
    }
}
