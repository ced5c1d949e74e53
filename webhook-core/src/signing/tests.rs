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
