//! Signing outgoing requests and verifying incoming ones.
//!
//! Two schemes, both HMAC-SHA256:
//! - [`SignatureScheme::Standard`] ([Standard Webhooks](https://www.standardwebhooks.com/)):
//!   `webhook-signature: v1,<base64 of HMAC("{id}.{timestamp}.{body}")>`, one entry per secret.
//! - [`SignatureScheme::Hex`] (the seed's): `<header>: sha256=<lowercase hex of HMAC(body)>`.

mod secret;
mod verify;

pub use secret::{Secret, SecretError};
pub use verify::{DEFAULT_TOLERANCE, Verifier, VerifyError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Header carrying the webhook id (always sent).
pub const WEBHOOK_ID: &str = "webhook-id";
/// Header carrying the unix timestamp of the attempt (Standard Webhooks).
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the Standard Webhooks signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// The default header for the hex scheme.
pub const DEFAULT_HEX_HEADER: &str = "x-webhook-signature-256";

/// Which signature headers are sent when a secret is configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// Standard Webhooks (`webhook-timestamp`, `webhook-signature: v1,...`). The default.
    #[default]
    Standard,
    /// `sha256=<hex>` of the body in a configurable header, as the seed sent.
    Hex,
    /// Both sets of headers.
    Both,
}

impl SignatureScheme {
    fn standard(self) -> bool {
        matches!(self, Self::Standard | Self::Both)
    }
    fn hex(self) -> bool {
        matches!(self, Self::Hex | Self::Both)
    }
}

/// Signs requests with one or more secrets (several during a key rotation).
///
/// Keys are set up once; each signature clones a prepared MAC state.
#[derive(Clone)]
pub struct Signer {
    macs: Vec<HmacSha256>,
    scheme: SignatureScheme,
    hex_header: HeaderName,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("secrets", &self.macs.len())
            .field("scheme", &self.scheme)
            .field("hex_header", &self.hex_header)
            .finish()
    }
}

fn mac_for(secret: &Secret) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    HmacSha256::new_from_slice(secret.key())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

impl Signer {
    /// A signer for `secrets` (the first is the current one) using `scheme`; the hex scheme
    /// writes its signature into `hex_header`.
    pub fn new(secrets: &[Secret], scheme: SignatureScheme, hex_header: HeaderName) -> Self {
        Self {
            macs: secrets.iter().map(mac_for).collect(),
            scheme,
            hex_header,
        }
    }

    /// Whether any secret is configured (without one, no signature headers are sent).
    pub fn is_active(&self) -> bool {
        !self.macs.is_empty()
    }

    /// The Standard Webhooks signature header value for one message:
    /// `v1,<base64>` per secret, space-separated.
    pub fn standard_signature(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut out = String::with_capacity(self.macs.len() * 48);
        let ts = timestamp.to_string();
        for (i, mac) in self.macs.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str("v1,");
            let tag = standard_tag(mac, id, ts.as_str(), body);
            STANDARD.encode_string(tag, &mut out);
        }
        out
    }

    /// The hex scheme header value `sha256=<hex>` (with the first secret).
    pub fn hex_signature(&self, body: &[u8]) -> Option<String> {
        let mac = self.macs.first()?;
        let mut mac = mac.clone();
        mac.update(body);
        Some(format!("sha256={}", to_hex(&mac.finalize().into_bytes())))
    }

    /// Adds the signature headers for one attempt to `headers`.
    ///
    /// With no secret this does nothing. `timestamp` is the attempt's unix time in seconds;
    /// the `webhook-timestamp` header is written whenever the Standard scheme is on.
    pub fn sign_into(&self, headers: &mut HeaderMap, id: &str, timestamp: u64, body: &[u8]) {
        if !self.is_active() {
            return;
        }
        if self.scheme.standard() {
            headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
            let sig = self.standard_signature(id, timestamp, body);
            if let Ok(value) = HeaderValue::try_from(sig) {
                headers.insert(WEBHOOK_SIGNATURE, value);
            }
        }
        if self.scheme.hex() {
            if let Some(sig) = self.hex_signature(body) {
                if let Ok(value) = HeaderValue::try_from(sig) {
                    headers.insert(self.hex_header.clone(), value);
                }
            }
        }
    }
}

fn standard_tag(mac: &HmacSha256, id: &str, ts: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = mac.clone();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Appends the lowercase hex of `bytes` to `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests;
