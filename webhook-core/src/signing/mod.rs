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

// The names parsed once: inserting by `&'static str` parses and validates the name on
// every call (about a thousand instructions each, three per attempt).
/// [`WEBHOOK_ID`] as a header name.
pub(crate) static WEBHOOK_ID_NAME: HeaderName = HeaderName::from_static(WEBHOOK_ID);
static WEBHOOK_TIMESTAMP_NAME: HeaderName = HeaderName::from_static(WEBHOOK_TIMESTAMP);
static WEBHOOK_SIGNATURE_NAME: HeaderName = HeaderName::from_static(WEBHOOK_SIGNATURE);
/// Length of one `v1,<base64 of 32 bytes>` entry.
const STANDARD_ENTRY_LEN: usize = 3 + 44;

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
        let mut digits = [0_u8; 20];
        let bytes = self.standard_bytes(id, decimal(timestamp, &mut digits), body);
        // Only ASCII was written (`v1,`, base64, spaces).
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// [`standard_signature`](Self::standard_signature) as bytes, exactly sized, so that
    /// `sign_into` hands them to a header value as they are. The base64 goes straight
    /// into place: the `base64` crate's `encode_string` took about 900 instructions for
    /// a 32-byte tag, `encode_slice` a third of that.
    fn standard_bytes(&self, id: &str, ts: &[u8], body: &[u8]) -> Vec<u8> {
        let len = (self.macs.len() * (STANDARD_ENTRY_LEN + 1)).saturating_sub(1);
        let mut out = Vec::with_capacity(len);
        for (i, mac) in self.macs.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(b"v1,");
            let tag = standard_tag(mac, id, ts, body);
            let at = out.len();
            out.resize(at + STANDARD_ENTRY_LEN - 3, 0);
            // 32 bytes always take exactly 44 characters of padded base64.
            let written = STANDARD.encode_slice(tag, &mut out[at..]).unwrap_or(0);
            out.truncate(at + written);
        }
        out
    }

    /// The hex scheme header value `sha256=<hex>` (with the first secret).
    pub fn hex_signature(&self, body: &[u8]) -> Option<String> {
        let mac = self.macs.first()?;
        let mut mac = mac.clone();
        mac.update(body);
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256=");
        crate::hex::push(&mut out, &mac.finalize().into_bytes());
        Some(out)
    }

    /// Adds the signature headers for one attempt to `headers`.
    ///
    /// With no secret this does nothing. `timestamp` is the attempt's unix time in seconds;
    /// the `webhook-timestamp` header is written whenever the Standard scheme is on.
    pub fn sign_into(&self, headers: &mut HeaderMap, id: &str, timestamp: u64, body: &[u8]) {
        self.sign_at(headers, id, &Stamp::new(timestamp), body);
    }

    /// [`sign_into`](Self::sign_into) with the timestamp's header value made beforehand
    /// (the worker makes it once per second, not once per attempt).
    pub(crate) fn sign_at(&self, headers: &mut HeaderMap, id: &str, stamp: &Stamp, body: &[u8]) {
        if !self.is_active() {
            return;
        }
        if self.scheme.standard() {
            headers.insert(WEBHOOK_TIMESTAMP_NAME.clone(), stamp.value.clone());
            let sig = self.standard_bytes(id, stamp.value.as_bytes(), body);
            let value = header_value(sig).ok();
            set_or_remove(headers, &WEBHOOK_SIGNATURE_NAME, value);
        }
        if self.scheme.hex() {
            let value = self
                .hex_signature(body)
                .and_then(|sig| header_value(sig).ok());
            set_or_remove(headers, &self.hex_header, value);
        }
    }

    /// The headers [`sign_into`](Signer::sign_into) writes, in its order.
    #[cfg(test)]
    pub(crate) fn header_names(&self) -> Vec<HeaderName> {
        let mut names = Vec::new();
        if self.is_active() && self.scheme.standard() {
            names.push(WEBHOOK_TIMESTAMP_NAME.clone());
            names.push(WEBHOOK_SIGNATURE_NAME.clone());
        }
        if self.is_active() && self.scheme.hex() {
            names.push(self.hex_header.clone());
        }
        names
    }
}

/// A signing time: unix seconds and their `webhook-timestamp` header value.
#[derive(Clone, Debug)]
pub(crate) struct Stamp {
    pub(crate) secs: u64,
    value: HeaderValue,
}

impl Stamp {
    pub(crate) fn new(secs: u64) -> Self {
        Self {
            secs,
            value: HeaderValue::from(secs),
        }
    }
}

/// Sets `name` to `value`, or removes it (a signature header must never go out empty).
/// Signature values are base64 or hex, so `None` does not happen in practice.
fn set_or_remove(headers: &mut HeaderMap, name: &HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(value) => headers.insert(name.clone(), value),
        None => headers.remove(name),
    };
}

/// A header value that takes over `text`'s buffer (no copy when it is exactly sized).
fn header_value(
    text: impl Into<bytes::Bytes>,
) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    HeaderValue::from_maybe_shared(text.into())
}

/// The decimal digits of `n`, written into `buf`.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

fn standard_tag(mac: &HmacSha256, id: &str, ts: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = mac.clone();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts);
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests;
