//! The receiver's side: checking signatures in constant time, with a timestamp tolerance.

use super::{HmacSha256, Secret, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, mac_for};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use http::HeaderMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// How far a `webhook-timestamp` may be from the receiver's clock, either way: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a request did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but not in the expected form.
    #[error("header `{header}` is malformed; expected {expected}")]
    BadFormat {
        /// The header's name.
        header: &'static str,
        /// The expected form.
        expected: &'static str,
    },
    /// No signature matched any secret.
    #[error("no signature matches the configured secret(s)")]
    Mismatch,
    /// The timestamp is older than the tolerance allows.
    #[error("timestamp is {age_secs} s old; the tolerance is {tolerance_secs} s")]
    TooOld {
        /// Age of the timestamp.
        age_secs: u64,
        /// The tolerance in force.
        tolerance_secs: u64,
    },
    /// The timestamp is further in the future than the tolerance allows.
    #[error("timestamp is {ahead_secs} s in the future; the tolerance is {tolerance_secs} s")]
    TooNew {
        /// How far ahead the timestamp is.
        ahead_secs: u64,
        /// The tolerance in force.
        tolerance_secs: u64,
    },
}

/// Verifies incoming webhooks with one or more secrets.
///
/// ```
/// use webhook_core::signing::{Secret, SignatureScheme, Signer, Verifier};
/// use http::HeaderMap;
///
/// let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let signer = Signer::new(&[secret.clone()], SignatureScheme::Standard, "x-sig".parse().unwrap());
/// let now = std::time::SystemTime::now();
/// let ts = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
/// let mut headers = HeaderMap::new();
/// headers.insert("webhook-id", "msg_1".parse().unwrap());
/// signer.sign_into(&mut headers, "msg_1", ts, b"{}");
///
/// let verifier = Verifier::new(vec![secret]);
/// assert!(verifier.verify_standard(&headers, b"{}", now).is_ok());
/// assert!(verifier.verify_standard(&headers, b"{ }", now).is_err());
/// ```
#[derive(Clone)]
pub struct Verifier {
    macs: Vec<HmacSha256>,
    tolerance: Duration,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.macs.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Verifier {
    /// A verifier accepting a signature by any of `secrets`, with the default tolerance.
    pub fn new(secrets: Vec<Secret>) -> Self {
        Self {
            macs: secrets.iter().map(mac_for).collect(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Sets the timestamp tolerance (default [`DEFAULT_TOLERANCE`]).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a Standard Webhooks request from its headers and raw body, at time `now`.
    pub fn verify_standard(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let get = |name: &'static str| -> Result<&str, VerifyError> {
            let value = headers.get(name).ok_or(VerifyError::MissingHeader(name))?;
            value.to_str().map_err(|_| VerifyError::BadFormat {
                header: name,
                expected: "visible ASCII",
            })
        };
        self.verify_standard_parts(
            get(WEBHOOK_ID)?,
            get(WEBHOOK_TIMESTAMP)?,
            get(WEBHOOK_SIGNATURE)?,
            body,
            now,
        )
    }

    /// Verifies Standard Webhooks header values given separately.
    pub fn verify_standard_parts(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let ts = self.check_timestamp(timestamp, now)?;
        let candidates = v1_signatures(signatures)?;
        let ts_text = ts.to_string();
        for mac in &self.macs {
            for candidate in &candidates {
                let mut mac = mac.clone();
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(ts_text.as_bytes());
                mac.update(b".");
                mac.update(body);
                if mac.verify_slice(candidate).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(VerifyError::Mismatch)
    }

    /// The timestamp, if it is unix seconds within the tolerance of `now`.
    fn check_timestamp(&self, timestamp: &str, now: SystemTime) -> Result<u64, VerifyError> {
        let ts: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadFormat {
                header: WEBHOOK_TIMESTAMP,
                expected: "unix seconds",
            })?;
        let now_s = crate::time::unix_seconds(now);
        let tolerance_secs = self.tolerance.as_secs();
        if now_s > ts && now_s - ts > tolerance_secs {
            return Err(VerifyError::TooOld {
                age_secs: now_s - ts,
                tolerance_secs,
            });
        }
        if ts > now_s && ts - now_s > tolerance_secs {
            return Err(VerifyError::TooNew {
                ahead_secs: ts - now_s,
                tolerance_secs,
            });
        }
        Ok(ts)
    }

    /// Verifies a hex-scheme header value (`sha256=<hex>`) over the raw body.
    pub fn verify_hex(&self, header_value: &str, body: &[u8]) -> Result<(), VerifyError> {
        const HEX_FORM: VerifyError = VerifyError::BadFormat {
            header: "signature",
            expected: "`sha256=` followed by 64 hex digits",
        };
        let hex = header_value
            .trim()
            .strip_prefix("sha256=")
            .ok_or(HEX_FORM)?;
        let expected = crate::hex::decode::<32>(hex).ok_or(HEX_FORM)?;
        for mac in &self.macs {
            let mut mac = mac.clone();
            mac.update(body);
            if mac.verify_slice(&expected).is_ok() {
                return Ok(());
            }
        }
        Err(VerifyError::Mismatch)
    }
}

/// The decoded `v1` entries of a `webhook-signature` value (others are skipped).
fn v1_signatures(signatures: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    const FORM: VerifyError = VerifyError::BadFormat {
        header: WEBHOOK_SIGNATURE,
        expected: "space-separated `v1,<base64>` entries",
    };
    let mut candidates = Vec::new();
    for entry in signatures.split_whitespace() {
        let (version, sig) = entry.split_once(',').ok_or(FORM)?;
        if version == "v1" {
            candidates.push(STANDARD.decode(sig).map_err(|_| FORM)?);
        }
    }
    if candidates.is_empty() {
        return Err(VerifyError::BadFormat {
            header: WEBHOOK_SIGNATURE,
            expected: "at least one `v1,<base64>` entry",
        });
    }
    Ok(candidates)
}
