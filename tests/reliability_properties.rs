//! Properties: signatures round-trip for arbitrary bodies, ids, timestamps and keys;
//! any single-byte change fails verification; configuration parsing never panics.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use webhook_core::WebhookConfig;
use webhook_core::signing::{Secret, SignatureScheme, Signer, Verifier, VerifyError};

fn signer(secrets: &[Secret]) -> Signer {
    Signer::new(
        secrets,
        SignatureScheme::Both,
        "x-webhook-signature-256".parse().expect("header name"),
    )
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..64)
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,64}"
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2048)
}

/// Unix seconds from 1970 to 2106.
fn timestamp() -> impl Strategy<Value = u64> {
    0..=u64::from(u32::MAX)
}

/// Replaces the byte at `index % len` with another printable ASCII byte; with
/// `ignore_case`, never with the same letter in the other case.
fn change_one_printable(text: &str, index: usize, pick: u8, ignore_case: bool) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let i = index % bytes.len();
    let same = |b: u8| b == bytes[i] || (ignore_case && b.eq_ignore_ascii_case(&bytes[i]));
    let mut replacement = b'!' + pick % 94;
    while same(replacement) {
        replacement = if replacement == b'~' {
            b'!'
        } else {
            replacement + 1
        };
    }
    bytes[i] = replacement;
    String::from_utf8(bytes).expect("still ASCII")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_whsec_secret_is_the_base64_of_its_key(key in key()) {
        let text = format!("whsec_{}", STANDARD.encode(&key));
        prop_assert_eq!(Secret::parse(&text), Secret::from_bytes(key));
    }

    #[test]
    fn signatures_verify_for_any_body_id_timestamp_and_key(
        key in key(),
        rotated in key(),
        id in id(),
        body in body(),
        ts in timestamp(),
        skew in -300i64..=300,
    ) {
        let secret = Secret::from_bytes(key).expect("non-empty");
        let old = Secret::from_bytes(rotated).expect("non-empty");
        let signer = signer(&[secret.clone(), old.clone()]);
        let now = at(ts.saturating_add_signed(skew));
        let header = signer.standard_signature(&id, ts, &body);
        let hex = signer.hex_signature(&body).expect("a secret");
        // Either secret of a rotation verifies on its own.
        for verifier in [Verifier::new(vec![secret.clone()]), Verifier::new(vec![old])] {
            prop_assert_eq!(
                verifier.verify_standard_parts(&id, &ts.to_string(), &header, &body, now),
                Ok(())
            );
        }
        prop_assert_eq!(Verifier::new(vec![secret]).verify_hex(&hex, &body), Ok(()));
    }

    #[test]
    fn changing_any_single_byte_of_the_body_fails_verification(
        key in key(),
        id in id(),
        body in prop::collection::vec(any::<u8>(), 1..2048),
        ts in timestamp(),
        index in any::<usize>(),
        flip in 1u8..=255,
    ) {
        let secret = Secret::from_bytes(key).expect("non-empty");
        let signer = signer(std::slice::from_ref(&secret));
        let header = signer.standard_signature(&id, ts, &body);
        let hex = signer.hex_signature(&body).expect("a secret");
        let mut changed = body.clone();
        let i = index % changed.len();
        changed[i] ^= flip;
        let verifier = Verifier::new(vec![secret]);
        prop_assert_eq!(
            verifier.verify_standard_parts(&id, &ts.to_string(), &header, &changed, at(ts)),
            Err(VerifyError::Mismatch)
        );
        prop_assert_eq!(verifier.verify_hex(&hex, &changed), Err(VerifyError::Mismatch));
    }

    #[test]
    fn changing_any_single_byte_of_the_id_timestamp_or_signature_fails_verification(
        key in key(),
        id in id(),
        body in body(),
        ts in timestamp(),
        index in any::<usize>(),
        pick in any::<u8>(),
    ) {
        let secret = Secret::from_bytes(key).expect("non-empty");
        let signer = signer(std::slice::from_ref(&secret));
        let header = signer.standard_signature(&id, ts, &body);
        let hex = signer.hex_signature(&body).expect("a secret");
        let ts_text = ts.to_string();
        let verifier = Verifier::new(vec![secret]);
        let now = at(ts);
        let bad_id = change_one_printable(&id, index, pick, false);
        prop_assert!(verifier.verify_standard_parts(&bad_id, &ts_text, &header, &body, now).is_err());
        let bad_ts = change_one_printable(&ts_text, index, pick, false);
        prop_assert!(verifier.verify_standard_parts(&id, &bad_ts, &header, &body, now).is_err());
        let bad_header = change_one_printable(&header, index, pick, false);
        prop_assert!(verifier.verify_standard_parts(&id, &ts_text, &bad_header, &body, now).is_err());
        // Hex digits are read in either case (the same MAC), so a case change is not
        // a change of the signature.
        let bad_hex = change_one_printable(&hex, index, pick, true);
        prop_assert!(verifier.verify_hex(&bad_hex, &body).is_err());
    }

    #[test]
    fn a_timestamp_outside_the_tolerance_is_refused(
        key in key(),
        id in id(),
        body in body(),
        ts in 1_000u64..=u64::from(u32::MAX),
        beyond in 301u64..=1_000,
        ahead in any::<bool>(),
    ) {
        let secret = Secret::from_bytes(key).expect("non-empty");
        let header = signer(std::slice::from_ref(&secret)).standard_signature(&id, ts, &body);
        let now = if ahead { at(ts - beyond) } else { at(ts + beyond) };
        let result = Verifier::new(vec![secret])
            .verify_standard_parts(&id, &ts.to_string(), &header, &body, now);
        prop_assert!(
            matches!(result, Err(VerifyError::TooOld { .. } | VerifyError::TooNew { .. })),
            "{:?}",
            result
        );
    }
}

/// The configuration's field names, so generated objects often hit real fields.
const FIELDS: &[&str] = &[
    "enabled",
    "url",
    "allow_insecure_http",
    "allow_private_targets",
    "secret",
    "previous_secrets",
    "events",
    "timeout_secs",
    "retry_count",
    "retry_backoff_ms",
    "retry_schedule_ms",
    "queue_capacity",
    "parallel_queue_multiplier",
    "queue_policy",
    "block_timeout_ms",
    "signature_scheme",
    "signature_header",
    "max_concurrency",
    "max_pending_retries",
    "shutdown_grace_ms",
    "max_payload_bytes",
    "store_path",
    "headers",
];

fn leaf() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..=20_000).prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("*".to_owned()),
            Just("task_created".to_owned()),
            Just("drop_new".to_owned()),
            Just("block_with_timeout".to_owned()),
            Just("hex".to_owned()),
            Just("https://hooks.example.com/in".to_owned()),
            Just("http://127.0.0.1:9/x?y=z".to_owned()),
            Just("whsec_".to_owned()),
            Just("whsec_AAAA".to_owned()),
            Just("x-custom".to_owned()),
            ".{0,40}",
        ]
        .prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    leaf().prop_recursive(3, 48, 8, |inner| {
        let key = prop_oneof![
            prop::sample::select(FIELDS).prop_map(str::to_owned),
            "[a-z_]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key, inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object of real field names with arbitrary values.
fn config_object() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::btree_map(prop::sample::select(FIELDS), json_value(), 0..12).prop_map(|m| {
        serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    })
}

/// Everything a caller does with a parsed configuration: none of it may panic.
fn exercise(config: &WebhookConfig, workers: usize) {
    let _ = format!("{config} {config:?}");
    match config.resolve() {
        Ok(resolved) => {
            let _ = format!("{resolved} {resolved:?}");
            let scaled = resolved.for_parallel(workers);
            assert!(scaled.queue_capacity <= 10_000);
            assert!((1..=256).contains(&scaled.max_concurrency));
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

/// TOML values JSON cannot express, and odd ones.
fn toml_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        Just("-inf".to_owned()),
        Just("1e400".to_owned()),
        Just("-0.0".to_owned()),
        Just("9223372036854775807".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        Just("[]".to_owned()),
        Just("[1, \"a\", 2.5]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("\"\"".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[a-z*_]{0,20}".prop_map(|s| format!("\"{s}\"")),
        "[a-z_]{0,12}".prop_map(|s| format!("[\"{s}\", \"*\"]")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_config_parsing_never_panics(value in json_value(), workers in any::<usize>()) {
        if let Ok(config) = WebhookConfig::from_json_str(&value.to_string()) {
            exercise(&config, workers);
        }
    }

    #[test]
    fn json_objects_of_real_fields_parse_or_are_refused_without_panicking(
        value in config_object(),
        workers in any::<usize>(),
    ) {
        match WebhookConfig::from_json_str(&value.to_string()) {
            Ok(config) => exercise(&config, workers),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn arbitrary_text_as_json_or_toml_never_panics(text in ".{0,200}") {
        let _ = WebhookConfig::from_json_str(&text);
        let _ = toml::from_str::<WebhookConfig>(&text);
    }

    #[test]
    fn toml_config_parsing_never_panics(
        lines in prop::collection::vec(
            (prop::sample::select(FIELDS), toml_literal()),
            0..10,
        ),
        workers in any::<usize>(),
    ) {
        let text: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        if let Ok(config) = toml::from_str::<WebhookConfig>(&text) {
            exercise(&config, workers);
        }
    }

    #[test]
    fn toml_written_from_json_objects_never_panics(value in config_object()) {
        if let Ok(text) = toml::to_string(&value) {
            if let Ok(config) = toml::from_str::<WebhookConfig>(&text) {
                exercise(&config, 4);
            }
        }
    }
}
