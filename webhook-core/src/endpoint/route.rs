//! Where one event goes: every matching endpoint, or one named endpoint; and its
//! ordering key.

use super::id::EndpointId;
use std::sync::Arc;

/// Where an event goes and in which order.
///
/// # Default
/// Every enabled endpoint whose filter matches (and the configuration's single URL, if
/// it has one), no ordering key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// Only this endpoint (its filter is not consulted: naming it is a choice).
    pub endpoint: Option<EndpointId>,
    /// Deliveries sharing this key and an endpoint go strictly in order: the next
    /// starts only after the previous reached its final outcome.
    pub ordering_key: Option<Arc<str>>,
}

impl Route {
    /// Every matching endpoint.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only endpoint `id`.
    pub fn to(id: EndpointId) -> Self {
        Self {
            endpoint: Some(id),
            ordering_key: None,
        }
    }

    /// With ordering key `key`.
    pub fn ordering_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }
}
