//! [`ReceivedRequest`]: one request as the receiver saw it, and its signature checks.

use crate::script::Reply;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Uri, Version};
use std::time::{Instant, SystemTime};
use webhook_core::signing::{Verifier, VerifyError, WEBHOOK_ID, WEBHOOK_SIGNATURE};

/// The result of checking one signature scheme on a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The receiver was started without a secret, so nothing was checked.
    NotChecked,
    /// The scheme's signature header was absent.
    Missing,
    /// The signature verified with one of the receiver's secrets.
    Valid,
    /// The signature header was present but did not verify.
    Invalid(VerifyError),
}

impl SignatureCheck {
    /// Whether the signature verified.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid)
    }
}

/// Both schemes' checks of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signatures {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), checked
    /// with the default timestamp tolerance against the receiver's clock.
    pub standard: SignatureCheck,
    /// The hex scheme (`sha256=<hex>` in the receiver's hex header).
    pub hex: SignatureCheck,
}

impl Signatures {
    /// Whether at least one scheme verified.
    pub fn any_valid(&self) -> bool {
        self.standard.is_valid() || self.hex.is_valid()
    }

    pub(crate) fn check(
        verifier: Option<&Verifier>,
        hex_header: &HeaderName,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Self {
        let Some(verifier) = verifier else {
            return Self {
                standard: SignatureCheck::NotChecked,
                hex: SignatureCheck::NotChecked,
            };
        };
        let standard = if headers.contains_key(WEBHOOK_SIGNATURE) {
            outcome(verifier.verify_standard(headers, body, now))
        } else {
            SignatureCheck::Missing
        };
        let hex = match headers.get(hex_header) {
            None => SignatureCheck::Missing,
            Some(value) => match value.to_str() {
                Ok(text) => outcome(verifier.verify_hex(text, body)),
                Err(_) => SignatureCheck::Invalid(VerifyError::BadFormat {
                    header: "signature",
                    expected: "visible ASCII",
                }),
            },
        };
        Self { standard, hex }
    }
}

fn outcome(result: Result<(), VerifyError>) -> SignatureCheck {
    match result {
        Ok(()) => SignatureCheck::Valid,
        Err(e) => SignatureCheck::Invalid(e),
    }
}

/// One request as the [`TestReceiver`](crate::TestReceiver) saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// Position in arrival order (0 for the first request).
    pub index: usize,
    /// The HTTP method.
    pub method: Method,
    /// The request target (path and query).
    pub uri: Uri,
    /// The HTTP version.
    pub version: Version,
    /// Every header received.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the whole request had arrived (the receiver's own, real clock).
    pub at: Instant,
    /// The wall-clock time of arrival (used for the timestamp check).
    pub received_at: SystemTime,
    /// What the signature checks found.
    pub signatures: Signatures,
    /// The scripted reply it got (a 401 if signatures were required and none verified).
    pub reply: Reply,
}

impl ReceivedRequest {
    /// The `webhook-id` header, if present.
    pub fn webhook_id(&self) -> Option<&str> {
        self.header(WEBHOOK_ID)
    }

    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The `event` field of the body, if the body is a JSON object with one.
    pub fn event(&self) -> Option<String> {
        self.json().ok()?.get("event")?.as_str().map(str::to_owned)
    }
}
