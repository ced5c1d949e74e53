//! Signing secrets: parsed once, never printed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// An HMAC key. `Debug` and `Display` print `Secret(***)`; the key never leaves this type
/// except into the MAC.
///
/// A secret written `whsec_<base64>` (the Standard Webhooks form) is base64-decoded to
/// the key; any other string is used as its raw UTF-8 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

/// A secret that cannot be used. The message never contains the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret is empty.
    #[error("the secret is empty; expected at least one character")]
    Empty,
    /// `whsec_` followed by something that is not base64.
    #[error("the secret starts with `whsec_` but the rest is not valid base64")]
    BadBase64,
}

impl Secret {
    /// Parses a secret (see the type's docs for the `whsec_` rule).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = match text.strip_prefix("whsec_") {
            Some(b64) => STANDARD.decode(b64).map_err(|_| SecretError::BadBase64)?,
            None => text.as_bytes().to_vec(),
        };
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { key })
    }

    /// A secret from raw key bytes.
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let key = key.into();
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { key })
    }

    /// The key as text, when it is UTF-8 (used only to scrub it from error texts).
    pub(crate) fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
