//! A direct JSON writer for [`WebhookPayload`], the body of every seed event.
//!
//! It writes exactly the bytes that `serde_json::to_writer` writes for the derived
//! `Serialize` impl (same field order, same omissions, same escapes), without going
//! through serde's map machinery that `#[serde(flatten)]` forces: the enqueue path
//! serializes every event on the caller's thread, and this takes about a third of the
//! time. The equality with serde_json is pinned by tests, including random strings.
//!
//! The fields are not listed here: `payload.rs` declares the structs with `json_object!`,
//! which implements [`Fields`] from their declarations. This module only knows how to
//! write each field type ([`Field`]).

use super::{SeedPayload, WebhookPayload};

/// Where written string values sit in the output, when they needed no escaping.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    /// The `task_id` value's characters.
    pub(crate) task_id: Option<(usize, usize)>,
}

/// A struct whose fields are written as members of a JSON object (implemented by
/// `json_object!` in `payload.rs`).
pub(crate) trait Fields {
    /// Appends `,"name":value` for every field that serde would write, in order.
    fn write_fields(&self, out: &mut Vec<u8>, spans: &mut Spans);
}

/// One field's type, as serde_json writes it with the attributes `payload.rs` gives it.
pub(crate) trait Field {
    /// Appends `key` (comma, quoted name, colon) and the value, or nothing when serde
    /// skips it. `name` is the field's name, `spans` where to note a string's position.
    fn write(&self, out: &mut Vec<u8>, key: &[u8], name: &str, spans: &mut Spans);
}

impl Field for String {
    fn write(&self, out: &mut Vec<u8>, key: &[u8], _: &str, _: &mut Spans) {
        out.extend_from_slice(key);
        string(out, self);
    }
}

/// `#[serde(default, skip_serializing_if = "Option::is_none")]`.
impl Field for Option<String> {
    fn write(&self, out: &mut Vec<u8>, key: &[u8], name: &str, spans: &mut Spans) {
        self.as_deref().write(out, key, name, spans);
    }
}

/// A borrowed `Option<String>` (the seed payload by reference, `SeedPayload`).
impl Field for Option<&str> {
    fn write(&self, out: &mut Vec<u8>, key: &[u8], name: &str, spans: &mut Spans) {
        if let Some(value) = self {
            out.extend_from_slice(key);
            let start = out.len() + 1;
            if string(out, value) && name == "task_id" {
                spans.task_id = Some((start, start + value.len()));
            }
        }
    }
}

/// `#[serde(default, skip_serializing_if = "Option::is_none")]`.
impl Field for Option<u32> {
    fn write(&self, out: &mut Vec<u8>, key: &[u8], name: &str, spans: &mut Spans) {
        self.map(u64::from).write(out, key, name, spans);
    }
}

/// `#[serde(default, skip_serializing_if = "Option::is_none")]`.
impl Field for Option<u64> {
    fn write(&self, out: &mut Vec<u8>, key: &[u8], _: &str, _: &mut Spans) {
        if let Some(value) = self {
            out.extend_from_slice(key);
            number(out, *value);
        }
    }
}

/// `#[serde(flatten)]`: the context's fields are members of the payload's object.
impl Field for super::WebhookContext {
    fn write(&self, out: &mut Vec<u8>, _: &[u8], _: &str, spans: &mut Spans) {
        self.write_fields(out, spans);
    }
}

/// Appends the JSON object of `payload` to `out`; returns where the `task_id` value's
/// characters are in `out` when they needed no escaping (so the message can point at
/// them instead of copying them).
pub(crate) fn write_payload(out: &mut Vec<u8>, payload: &WebhookPayload) -> Option<(usize, usize)> {
    let mut spans = Spans::default();
    let start = out.len();
    payload.write_fields(out, &mut spans);
    // Every member was written with a leading comma: the first one becomes the brace.
    match out.get_mut(start) {
        Some(first) => *first = b'{',
        None => out.push(b'{'),
    }
    out.push(b'}');
    spans.task_id
}

/// Appends the JSON object of `payload` stamped `timestamp`; returns the `task_id`
/// span as [`write_payload`] does.
pub(crate) fn write_seed(
    out: &mut Vec<u8>,
    payload: &SeedPayload<'_>,
    timestamp: &str,
) -> Option<(usize, usize)> {
    let mut spans = Spans::default();
    let start = out.len();
    payload.write_fields(out, timestamp, &mut spans);
    // The event is always written, with a leading comma: it becomes the brace.
    if let Some(first) = out.get_mut(start) {
        *first = b'{';
    }
    out.push(b'}');
    spans.task_id
}

/// A JSON string with serde_json's escapes; returns whether it was copied unescaped.
fn string(out: &mut Vec<u8>, value: &str) -> bool {
    let bytes = value.as_bytes();
    out.push(b'"');
    let plain = is_plain(bytes);
    if plain {
        out.extend_from_slice(bytes);
    } else {
        escaped(out, bytes);
    }
    out.push(b'"');
    plain
}

/// Whether no byte needs escaping.
///
/// Strings of 16 bytes or more are checked 16 bytes at a time, each block by a
/// branch-free fold that the compiler turns into a few SIMD instructions (SSE2, which
/// every x86-64 has), and the last 16 bytes in one more block that overlaps the one
/// before. Shorter strings use two overlapping 8-byte (or 4-byte) words and a bit
/// trick. For the bench's seed payload, callgrind counts 2,596 instructions per
/// `WebhookMessage::from_payload` against 2,889 with the 8-byte word loop at every
/// length.
fn is_plain(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len >= BLOCK {
        let block = |b: &[u8]| {
            b.iter()
                .fold(0u8, |acc, &b| acc | u8::from(needs_escape(b)))
                == 0
        };
        return block(&bytes[len - BLOCK..]) && bytes.chunks_exact(BLOCK).all(block);
    }
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// A high bit set in the lanes (exactly: at least one lane) whose byte is below `n`
    /// (`n` ≤ 0x80), as in the classic "has less" bit trick.
    fn below(x: u64, n: u8) -> u64 {
        x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
    }
    fn equal(x: u64, b: u8) -> u64 {
        below(x ^ (ONES * u64::from(b)), 1)
    }
    let any = |x: u64| below(x, 0x20) | equal(x, b'"') | equal(x, b'\\') != 0;
    let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap_or_default());
    let half = |b: &[u8]| u64::from(u32::from_ne_bytes(b.try_into().unwrap_or_default()));
    // Below 16 bytes, overlapping loads cover the string with no copy: the first and
    // the last eight bytes (or, below eight, the first four and the last four).
    match len {
        8.. => !any(word(&bytes[..8])) && !any(word(&bytes[len - 8..])),
        4..=7 => !any(half(&bytes[..4]) | half(&bytes[len - 4..]) << 32),
        _ => !bytes.iter().any(|&b| needs_escape(b)),
    }
}

/// The block [`is_plain`] checks at once.
const BLOCK: usize = 16;

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The slow path: copies runs of plain bytes and escapes the rest as serde_json does
/// (`\"`, `\\`, the short forms `\b \t \n \f \r`, and `\u00xx` for other control bytes).
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&crate::hex::pair(b));
            }
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A decimal number.
fn number(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    out.extend_from_slice(crate::signing::decimal(value, &mut digits));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{WebhookContext, WebhookEventType};
    use proptest::prelude::*;

    fn ours(payload: &WebhookPayload) -> Vec<u8> {
        let mut out = Vec::new();
        write_payload(&mut out, payload);
        out
    }

    fn full() -> WebhookPayload {
        WebhookPayload::new(WebhookEventType::TaskCompleted)
            .task_id("RQ-1")
            .task_title("title")
            .statuses("doing", "done")
            .note("ok")
            .context(WebhookContext {
                runner: Some("r".into()),
                model: Some("m".into()),
                phase: Some(0),
                phase_count: Some(u32::MAX),
                duration_ms: Some(u64::MAX),
                repo_root: Some("/x".into()),
                branch: Some("b".into()),
                commit: Some("c".into()),
                ci_gate: Some("g".into()),
            })
    }

    #[test]
    fn matches_serde_json_with_no_field_set_and_with_every_field_set() {
        let bare = WebhookPayload::new(WebhookEventType::LoopStarted);
        for payload in [bare, full()] {
            assert_eq!(
                String::from_utf8(ours(&payload)).unwrap(),
                serde_json::to_string(&payload).unwrap()
            );
        }
    }

    #[test]
    fn escapes_like_serde_json() {
        let text = "q\"b\\s/\u{8}\t\n\u{c}\r\u{0}\u{1f}\u{7f}é😀";
        let payload = WebhookPayload::named(text).task_id(text).note(text);
        assert_eq!(ours(&payload), serde_json::to_vec(&payload).unwrap());
    }

    #[test]
    fn task_span_points_at_an_unescaped_task_id_only() {
        let mut out = b"prefix".to_vec();
        let span = write_payload(&mut out, &full()).unwrap();
        assert_eq!(&out[span.0..span.1], b"RQ-1");
        let escaped = WebhookPayload::named("e").task_id("a\"b");
        assert_eq!(write_payload(&mut Vec::new(), &escaped), None);
        assert_eq!(
            write_payload(&mut Vec::new(), &WebhookPayload::named("e")),
            None
        );
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,20}",
            any::<String>(),
            proptest::collection::vec(0u8..0x80, 0..24).prop_map(|b| String::from_utf8(b).unwrap()),
        ]
    }

    /// The borrowed form of `payload` (a seed event) and its JSON stamped with the
    /// payload's own timestamp.
    fn seed_json(payload: &WebhookPayload, event: WebhookEventType) -> Vec<u8> {
        let context = payload.context.clone();
        let borrowed = SeedPayload {
            event,
            task_id: payload.task_id.as_deref(),
            task_title: payload.task_title.as_deref(),
            previous_status: payload.previous_status.as_deref(),
            current_status: payload.current_status.as_deref(),
            note: payload.note.as_deref(),
            context: (context != WebhookContext::default()).then_some(&context),
        };
        let mut out = b"prefix".to_vec();
        let span = write_seed(&mut out, &borrowed, &payload.timestamp);
        if let Some((start, end)) = span {
            let task_id = payload.task_id.as_deref().map(str::as_bytes);
            assert_eq!(Some(&out[start..end]), task_id);
        }
        out.split_off(6)
    }

    #[test]
    fn a_borrowed_seed_payload_is_written_as_the_owned_one() {
        let bare = WebhookPayload::new(WebhookEventType::LoopStarted);
        assert_eq!(seed_json(&bare, WebhookEventType::LoopStarted), ours(&bare));
        // One payload for both sides: each `full()` is stamped with the time it is made,
        // so two of them differ when a millisecond passes between them.
        let full = full();
        assert_eq!(
            seed_json(&full, WebhookEventType::TaskCompleted),
            ours(&full)
        );
    }

    /// A payload of `event` with its other fields from 12 strings and 3 numbers.
    fn arbitrary(
        event: String,
        strings: &[Option<String>],
        numbers: &[Option<u64>],
    ) -> WebhookPayload {
        let s = |i: usize| strings[i].clone();
        WebhookPayload {
            event,
            timestamp: s(1).unwrap_or_default(),
            task_id: s(2),
            task_title: s(3),
            previous_status: s(4),
            current_status: s(5),
            note: s(6),
            context: WebhookContext {
                runner: s(7),
                model: s(8),
                phase: numbers[0].map(|n| n as u32),
                phase_count: numbers[1].map(|n| (n >> 32) as u32),
                duration_ms: numbers[2],
                repo_root: s(9),
                branch: s(10),
                commit: s(11),
                ci_gate: s(0),
            },
        }
    }

    #[test]
    fn is_plain_finds_a_byte_to_escape_at_every_position_of_every_short_length() {
        for len in 0..=49 {
            for fill in [b'a', b' ', 0x7f, 0x80, 0xff] {
                let plain = vec![fill; len];
                assert!(is_plain(&plain), "len {len} fill {fill:#x}");
                for at in 0..len {
                    for special in [0x00, 0x1f, b'"', b'\\', b'\n'] {
                        let mut bytes = plain.clone();
                        bytes[at] = special;
                        assert!(!is_plain(&bytes), "len {len} at {at} byte {special:#x}");
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_borrowed_seed_payload_is_written_as_the_owned_one(
            strings in proptest::collection::vec(proptest::option::of(text()), 12),
            numbers in proptest::collection::vec(proptest::option::of(any::<u64>()), 3),
            event in 0usize..10,
        ) {
            let event = WebhookEventType::ALL[event];
            let payload = arbitrary(event.as_str().to_owned(), &strings, &numbers);
            prop_assert_eq!(seed_json(&payload, event), serde_json::to_vec(&payload).unwrap());
        }

        #[test]
        fn any_payload_is_written_as_serde_json_writes_it(
            strings in proptest::collection::vec(proptest::option::of(text()), 12),
            numbers in proptest::collection::vec(proptest::option::of(any::<u64>()), 3),
        ) {
            let payload = arbitrary(strings[0].clone().unwrap_or_default(), &strings, &numbers);
            prop_assert_eq!(ours(&payload), serde_json::to_vec(&payload).unwrap());
        }
    }
}
