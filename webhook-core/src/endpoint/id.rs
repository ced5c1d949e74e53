//! Endpoint ids: short, printable, safe as keys and in logs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The longest endpoint id.
pub const MAX_ENDPOINT_ID_LEN: usize = 64;

/// An endpoint's id: 1 to [`MAX_ENDPOINT_ID_LEN`] ASCII letters, digits, `_`, `-` or `.`.
/// Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndpointId(Arc<str>);

/// Why a text is not an [`EndpointId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`id` = {shown:?} is not a valid endpoint id; expected 1 to 64 ASCII letters, digits, `_`, `-` or `.`"
)]
pub struct InvalidEndpointId {
    /// The id given (clipped to 64 characters).
    pub shown: String,
}

impl EndpointId {
    /// Checks `id`.
    ///
    /// ```
    /// use webhook_core::endpoint::EndpointId;
    /// assert!(EndpointId::new("customer-42").is_ok());
    /// assert!(EndpointId::new("a b").is_err());
    /// ```
    pub fn new(id: &str) -> Result<Self, InvalidEndpointId> {
        let ok = !id.is_empty()
            && id.len() <= MAX_ENDPOINT_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(Arc::from(id)))
        } else {
            Err(InvalidEndpointId {
                shown: id.chars().take(MAX_ENDPOINT_ID_LEN).collect(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EndpointId {
    type Error = InvalidEndpointId;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::new(&id)
    }
}

impl From<EndpointId> for String {
    fn from(id: EndpointId) -> Self {
        id.0.to_string()
    }
}

impl std::str::FromStr for EndpointId {
    type Err = InvalidEndpointId;
    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::new(id)
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}
