use super::*;
use std::time::{Duration, UNIX_EPOCH};

const REF_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const REF_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const REF_TS: u64 = 1_614_265_330;
const REF_BODY: &[u8] = br#"{"test": 2432232314}"#;
const REF_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn signer(secrets: &[&str], scheme: SignatureScheme) -> Signer {
    let secrets: Vec<Secret> = secrets
        .iter()
        .map(|s| Secret::parse(s).expect("valid secret"))
        .collect();
    Signer::new(
        &secrets,
        scheme,
        HeaderName::from_static(DEFAULT_HEX_HEADER),
    )
}

fn verifier(secrets: &[&str]) -> Verifier {
    Verifier::new(
        secrets
            .iter()
            .map(|s| Secret::parse(s).expect("valid secret"))
            .collect(),
    )
}

fn at(ts: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(ts)
}

#[test]
fn standard_signature_matches_the_reference_vector() {
    let s = signer(&[REF_SECRET], SignatureScheme::Standard);
    assert_eq!(s.standard_signature(REF_ID, REF_TS, REF_BODY), REF_SIG);
    let v = verifier(&[REF_SECRET]);
    v.verify_standard_parts(REF_ID, "1614265330", REF_SIG, REF_BODY, at(REF_TS))
        .expect("reference vector verifies");
}

#[test]
fn hex_signature_matches_rfc4231_test_case_2() {
    // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
    let s = signer(&["Jefe"], SignatureScheme::Hex);
    let sig = s
        .hex_signature(b"what do ya want for nothing?")
        .expect("has secret");
    assert_eq!(
        sig,
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    verifier(&["Jefe"])
        .verify_hex(&sig, b"what do ya want for nothing?")
        .expect("verifies");
}

#[test]
fn sign_into_writes_the_headers_of_each_scheme() {
    let mut headers = HeaderMap::new();
    signer(&[REF_SECRET], SignatureScheme::Both).sign_into(&mut headers, REF_ID, REF_TS, REF_BODY);
    assert_eq!(headers[WEBHOOK_TIMESTAMP], "1614265330");
    assert_eq!(headers[WEBHOOK_SIGNATURE], REF_SIG);
    assert!(
        headers[DEFAULT_HEX_HEADER]
            .to_str()
            .expect("ascii")
            .starts_with("sha256=")
    );

    let mut hex_only = HeaderMap::new();
    signer(&["k"], SignatureScheme::Hex).sign_into(&mut hex_only, REF_ID, REF_TS, REF_BODY);
    assert!(hex_only.get(WEBHOOK_SIGNATURE).is_none());
    assert!(hex_only.get(DEFAULT_HEX_HEADER).is_some());

    let mut unsigned = HeaderMap::new();
    signer(&[], SignatureScheme::Both).sign_into(&mut unsigned, REF_ID, REF_TS, REF_BODY);
    assert!(unsigned.is_empty());
}

#[test]
fn rotation_sends_one_signature_per_secret_and_either_verifies() {
    let s = signer(&["new-secret", "old-secret"], SignatureScheme::Standard);
    let sig = s.standard_signature("msg_1", 100, b"{}");
    assert_eq!(sig.split(' ').count(), 2);
    for secret in ["new-secret", "old-secret"] {
        verifier(&[secret])
            .verify_standard_parts("msg_1", "100", &sig, b"{}", at(100))
            .expect("each secret verifies");
    }
}

#[test]
fn standard_verification_rejects_tampering_wrong_secrets_and_bad_times() {
    let v = verifier(&[REF_SECRET]);
    let mut flipped = REF_BODY.to_vec();
    flipped[3] ^= 1;
    assert_eq!(
        v.verify_standard_parts(REF_ID, "1614265330", REF_SIG, &flipped, at(REF_TS)),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verifier(&["whsec_AAAA"]).verify_standard_parts(
            REF_ID,
            "1614265330",
            REF_SIG,
            REF_BODY,
            at(REF_TS)
        ),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        v.verify_standard_parts(REF_ID, "1614265330", REF_SIG, REF_BODY, at(REF_TS + 301)),
        Err(VerifyError::TooOld {
            age_secs: 301,
            tolerance_secs: 300
        })
    );
    assert_eq!(
        v.verify_standard_parts(REF_ID, "1614265330", REF_SIG, REF_BODY, at(REF_TS - 400)),
        Err(VerifyError::TooNew {
            ahead_secs: 400,
            tolerance_secs: 300
        })
    );
    assert!(matches!(
        v.verify_standard_parts(REF_ID, "yesterday", REF_SIG, REF_BODY, at(REF_TS)),
        Err(VerifyError::BadFormat {
            header: WEBHOOK_TIMESTAMP,
            ..
        })
    ));
    assert!(matches!(
        v.verify_standard_parts(REF_ID, "1614265330", "nonsense", REF_BODY, at(REF_TS)),
        Err(VerifyError::BadFormat {
            header: WEBHOOK_SIGNATURE,
            ..
        })
    ));
    assert_eq!(
        v.verify_standard(&HeaderMap::new(), REF_BODY, at(REF_TS)),
        Err(VerifyError::MissingHeader(WEBHOOK_ID))
    );
}

#[test]
fn hex_verification_rejects_tampering_and_other_forms() {
    let hex = verifier(&["k"]);
    let good = signer(&["k"], SignatureScheme::Hex)
        .hex_signature(b"body")
        .expect("signed");
    assert_eq!(hex.verify_hex(&good, b"bodY"), Err(VerifyError::Mismatch));
    assert!(matches!(
        hex.verify_hex("md5=abc", b"body"),
        Err(VerifyError::BadFormat { .. })
    ));
}

#[test]
fn secrets_never_print() {
    let secret = Secret::parse("S3cr3t-token").expect("valid");
    assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
    let s = Signer::new(
        &[secret],
        SignatureScheme::Both,
        HeaderName::from_static("x-sig"),
    );
    assert!(!format!("{s:?}").contains("S3cr3t"));
    assert_eq!(Secret::parse("whsec_!!!"), Err(SecretError::BadBase64));
    assert_eq!(Secret::parse(""), Err(SecretError::Empty));
}

#[test]
fn timestamps_are_written_in_decimal() {
    let mut buf = [0_u8; 20];
    for n in [0, 7, 10, 1_700_000_000, u64::MAX] {
        assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
    }
}

#[test]
fn header_values_match_the_string_forms() {
    let s = signer(&[REF_SECRET, "k2"], SignatureScheme::Both);
    let mut headers = HeaderMap::new();
    s.sign_into(&mut headers, REF_ID, REF_TS, REF_BODY);
    let standard = s.standard_signature(REF_ID, REF_TS, REF_BODY);
    assert_eq!(standard.len(), standard.capacity());
    assert_eq!(headers[WEBHOOK_SIGNATURE], standard.as_str());
    let hex = s.hex_signature(REF_BODY).expect("a secret");
    assert_eq!(hex.len(), hex.capacity());
    assert_eq!(headers[DEFAULT_HEX_HEADER], hex.as_str());
}

#[test]
fn a_timestamp_up_to_the_tolerance_in_the_past_or_future_verifies() {
    let v = verifier(&[REF_SECRET]);
    for now in [
        REF_TS,
        REF_TS + 1,
        REF_TS + 299,
        REF_TS + 300,
        REF_TS - 1,
        REF_TS - 300,
    ] {
        v.verify_standard_parts(REF_ID, "1614265330", REF_SIG, REF_BODY, at(now))
            .unwrap_or_else(|e| panic!("{} s off: {e}", now.abs_diff(REF_TS)));
    }
    assert_eq!(
        v.verify_standard_parts(REF_ID, "1614265330", REF_SIG, REF_BODY, at(REF_TS - 301)),
        Err(VerifyError::TooNew {
            ahead_secs: 301,
            tolerance_secs: 300
        })
    );
    // A narrower tolerance is the one in force, both ways.
    let strict = verifier(&[REF_SECRET]).with_tolerance(Duration::from_secs(10));
    for now in [REF_TS + 10, REF_TS - 10] {
        strict
            .verify_standard_parts(REF_ID, "1614265330", REF_SIG, REF_BODY, at(now))
            .expect("within 10 s");
    }
    assert_eq!(
        strict.verify_standard_parts(REF_ID, "1614265330", REF_SIG, REF_BODY, at(REF_TS + 11)),
        Err(VerifyError::TooOld {
            age_secs: 11,
            tolerance_secs: 10
        })
    );
    assert_eq!(
        strict.verify_standard_parts(REF_ID, " 1614265330 ", REF_SIG, REF_BODY, at(REF_TS - 11)),
        Err(VerifyError::TooNew {
            ahead_secs: 11,
            tolerance_secs: 10
        })
    );
    assert_eq!(
        format!("{strict:?}"),
        "Verifier { secrets: 1, tolerance: 10s }"
    );
}

#[test]
fn any_matching_secret_or_v1_entry_verifies_and_other_versions_are_skipped() {
    let other =
        signer(&["other"], SignatureScheme::Standard).standard_signature(REF_ID, REF_TS, REF_BODY);
    // The matching entry second, after another secret's and an unknown version's.
    let listed = format!("{other} v2,bm90LWEtdjEtc2ln {REF_SIG}");
    let v = verifier(&["whsec_AAAA", REF_SECRET]);
    v.verify_standard_parts(REF_ID, "1614265330", &listed, REF_BODY, at(REF_TS))
        .expect("the second secret matches the third entry");
    // The id and the timestamp are part of what is signed.
    assert_eq!(
        v.verify_standard_parts("msg_other", "1614265330", REF_SIG, REF_BODY, at(REF_TS)),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        v.verify_standard_parts(REF_ID, "1614265331", REF_SIG, REF_BODY, at(REF_TS)),
        Err(VerifyError::Mismatch)
    );
    let only_v2 = v.verify_standard_parts(REF_ID, "1614265330", "v2,abcd", REF_BODY, at(REF_TS));
    assert_eq!(
        only_v2,
        Err(VerifyError::BadFormat {
            header: WEBHOOK_SIGNATURE,
            expected: "at least one `v1,<base64>` entry"
        })
    );
    for malformed in ["v1", "v1,not*base64", "v1;abc"] {
        assert_eq!(
            v.verify_standard_parts(REF_ID, "1614265330", malformed, REF_BODY, at(REF_TS)),
            Err(VerifyError::BadFormat {
                header: WEBHOOK_SIGNATURE,
                expected: "space-separated `v1,<base64>` entries"
            }),
            "{malformed}"
        );
    }
}

#[test]
fn standard_verification_names_each_missing_or_unreadable_header() {
    let v = verifier(&[REF_SECRET]);
    let mut headers = HeaderMap::new();
    headers.insert(WEBHOOK_ID, REF_ID.parse().expect("value"));
    assert_eq!(
        v.verify_standard(&headers, REF_BODY, at(REF_TS)),
        Err(VerifyError::MissingHeader(WEBHOOK_TIMESTAMP))
    );
    headers.insert(WEBHOOK_TIMESTAMP, "1614265330".parse().expect("value"));
    assert_eq!(
        v.verify_standard(&headers, REF_BODY, at(REF_TS)),
        Err(VerifyError::MissingHeader(WEBHOOK_SIGNATURE))
    );
    headers.insert(WEBHOOK_SIGNATURE, REF_SIG.parse().expect("value"));
    v.verify_standard(&headers, REF_BODY, at(REF_TS))
        .expect("complete headers verify");
    headers.insert(
        WEBHOOK_ID,
        http::HeaderValue::from_bytes(b"msg_\xff").expect("opaque bytes are allowed"),
    );
    assert_eq!(
        v.verify_standard(&headers, REF_BODY, at(REF_TS)),
        Err(VerifyError::BadFormat {
            header: WEBHOOK_ID,
            expected: "visible ASCII"
        })
    );
}

#[test]
fn hex_verification_accepts_any_configured_secret_and_explains_its_form() {
    let good = signer(&["k2"], SignatureScheme::Hex)
        .hex_signature(b"body")
        .expect("signed");
    verifier(&["k1", "k2"])
        .verify_hex(&format!(" {good} "), b"body")
        .expect("the second secret matches");
    let form = Err(VerifyError::BadFormat {
        header: "signature",
        expected: "`sha256=` followed by 64 hex digits",
    });
    assert_eq!(verifier(&["k2"]).verify_hex("sha256=abcd", b"body"), form);
    assert_eq!(verifier(&["k2"]).verify_hex(&good[7..], b"body"), form);
}

#[test]
fn verify_errors_explain_themselves() {
    let cases = [
        (
            VerifyError::MissingHeader("webhook-id"),
            "missing header `webhook-id`",
        ),
        (
            VerifyError::TooOld {
                age_secs: 301,
                tolerance_secs: 300,
            },
            "timestamp is 301 s old; the tolerance is 300 s",
        ),
        (
            VerifyError::TooNew {
                ahead_secs: 400,
                tolerance_secs: 300,
            },
            "timestamp is 400 s in the future; the tolerance is 300 s",
        ),
        (
            VerifyError::Mismatch,
            "no signature matches the configured secret(s)",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}

#[test]
fn signer_reports_its_headers_and_debug_form_per_scheme() {
    let names = |scheme, secrets: &[&str]| -> Vec<String> {
        signer(secrets, scheme)
            .header_names()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        names(SignatureScheme::Standard, &["k"]),
        [WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE]
    );
    assert_eq!(names(SignatureScheme::Hex, &["k"]), [DEFAULT_HEX_HEADER]);
    assert_eq!(
        names(SignatureScheme::Both, &["k"]),
        [WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE, DEFAULT_HEX_HEADER]
    );
    assert!(names(SignatureScheme::Both, &[]).is_empty());
    assert!(!signer(&[], SignatureScheme::Both).is_active());
    assert!(signer(&["k"], SignatureScheme::Hex).is_active());
    assert_eq!(signer(&[], SignatureScheme::Hex).hex_signature(b"x"), None);
    assert_eq!(
        signer(&[], SignatureScheme::Standard).standard_signature("i", 1, b"x"),
        ""
    );
    assert_eq!(
        format!("{:?}", signer(&["a", "b"], SignatureScheme::Hex)),
        "Signer { secrets: 2, scheme: Hex, hex_header: \"x-webhook-signature-256\" }"
    );
    // Standard only: no hex header; hex only: no timestamp.
    let mut standard = HeaderMap::new();
    signer(&["k"], SignatureScheme::Standard).sign_into(&mut standard, REF_ID, REF_TS, REF_BODY);
    assert!(standard.get(DEFAULT_HEX_HEADER).is_none());
    assert_eq!(standard.len(), 2);
    let mut hex = HeaderMap::new();
    signer(&["k"], SignatureScheme::Hex).sign_into(&mut hex, REF_ID, REF_TS, REF_BODY);
    assert!(hex.get(WEBHOOK_TIMESTAMP).is_none());
    assert_eq!(hex.len(), 1);
}

#[test]
fn signing_replaces_earlier_signature_headers() {
    let s = signer(&[REF_SECRET], SignatureScheme::Both);
    let mut headers = HeaderMap::new();
    s.sign_into(&mut headers, REF_ID, 1, REF_BODY);
    s.sign_into(&mut headers, REF_ID, REF_TS, REF_BODY);
    assert_eq!(headers.get_all(WEBHOOK_SIGNATURE).iter().count(), 1);
    assert_eq!(headers[WEBHOOK_SIGNATURE], REF_SIG);
    assert_eq!(headers.get_all(DEFAULT_HEX_HEADER).iter().count(), 1);
    let mut removed = HeaderMap::new();
    removed.insert(WEBHOOK_SIGNATURE, "stale".parse().expect("value"));
    set_or_remove(&mut removed, &WEBHOOK_SIGNATURE_NAME, None);
    assert!(removed.is_empty());
}
