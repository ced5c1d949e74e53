//! Name resolution that refuses blocked addresses before any socket is opened.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use tower_service::Service;
use webhook_core::config::{BlockedReason, classify_ip};

/// Resolves host names for the connector and drops every address in a blocked range
/// (unless private targets are allowed).
///
/// The connector calls this only for names: IP literals bypass resolution, so the
/// transport checks those itself before sending.
#[derive(Clone, Debug, Default)]
pub(crate) struct GuardedResolver {
    overrides: Arc<HashMap<String, Vec<IpAddr>>>,
    allow_private_targets: bool,
}

impl GuardedResolver {
    /// A resolver using the system's resolver, except for the names in `overrides`
    /// (keys are lowercase names without a trailing dot).
    pub(crate) fn new(
        overrides: HashMap<String, Vec<IpAddr>>,
        allow_private_targets: bool,
    ) -> Self {
        Self {
            overrides: Arc::new(overrides),
            allow_private_targets,
        }
    }

    async fn resolve(self, name: Name) -> Result<std::vec::IntoIter<SocketAddr>, ResolveError> {
        let host = name.as_str();
        let candidates: Vec<IpAddr> = match self.overrides.get(&override_key(host)) {
            Some(addrs) => addrs.clone(),
            None => tokio::net::lookup_host((host, 0))
                .await
                .map_err(ResolveError::Lookup)?
                .map(|addr| addr.ip())
                .collect(),
        };
        let admitted = admit(&candidates, self.allow_private_targets)?;
        Ok(admitted
            .into_iter()
            .map(|ip| SocketAddr::new(ip, 0))
            .collect::<Vec<_>>()
            .into_iter())
    }
}

/// The key under which an override for `host` is stored.
pub(crate) fn override_key(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Keeps the addresses that may be contacted.
///
/// Blocked addresses are dropped; when nothing is left, the first blocked address's
/// reason is reported, so a name resolving only to loopback is refused like the literal.
pub(crate) fn admit(
    candidates: &[IpAddr],
    allow_private_targets: bool,
) -> Result<Vec<IpAddr>, ResolveError> {
    if allow_private_targets {
        return if candidates.is_empty() {
            Err(ResolveError::NoAddresses)
        } else {
            Ok(candidates.to_vec())
        };
    }
    let mut first_refusal = None;
    let mut admitted = Vec::with_capacity(candidates.len());
    for &ip in candidates {
        match classify_ip(ip) {
            None => admitted.push(ip),
            Some(reason) => {
                first_refusal.get_or_insert(reason);
            }
        }
    }
    match (admitted.is_empty(), first_refusal) {
        (false, _) => Ok(admitted),
        (true, Some(reason)) => Err(ResolveError::Blocked(reason)),
        (true, None) => Err(ResolveError::NoAddresses),
    }
}

impl Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        Box::pin(self.clone().resolve(name))
    }
}

/// Why a name yielded no address to connect to. Its `Display` never names the host.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// The system resolver failed (unknown name, no DNS server, ...).
    Lookup(io::Error),
    /// The name resolved to nothing.
    NoAddresses,
    /// Every address is in a blocked range.
    Blocked(BlockedReason),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lookup(_) => f.write_str("DNS lookup failed"),
            Self::NoAddresses => f.write_str("DNS returned no addresses"),
            Self::Blocked(reason) => write!(f, "every resolved address is a {reason}"),
        }
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Lookup(io) => Some(io),
            Self::NoAddresses | Self::Blocked(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn public_addresses_pass_and_blocked_ones_are_dropped() {
        let got = admit(&[ip("127.0.0.1"), ip("93.184.216.34")], false).expect("one is public");
        assert_eq!(got, vec![ip("93.184.216.34")]);
    }

    #[test]
    fn a_name_with_only_blocked_addresses_is_refused_with_the_first_reason() {
        let err = admit(&[ip("10.0.0.1"), ip("127.0.0.1")], false).expect_err("all private");
        assert!(matches!(err, ResolveError::Blocked(BlockedReason::Private)));
        let err = admit(&[ip("::ffff:127.0.0.1")], false).expect_err("mapped loopback");
        assert!(matches!(
            err,
            ResolveError::Blocked(BlockedReason::Loopback)
        ));
        let err = admit(&[ip("169.254.169.254")], false).expect_err("metadata");
        assert!(matches!(
            err,
            ResolveError::Blocked(BlockedReason::CloudMetadata)
        ));
    }

    #[test]
    fn private_opt_in_admits_everything() {
        let all = [ip("127.0.0.1"), ip("::1"), ip("192.168.1.1")];
        assert_eq!(admit(&all, true).expect("opt-in"), all.to_vec());
    }

    #[test]
    fn an_empty_answer_is_not_mistaken_for_a_refusal() {
        assert!(matches!(admit(&[], false), Err(ResolveError::NoAddresses)));
        assert!(matches!(admit(&[], true), Err(ResolveError::NoAddresses)));
    }

    #[test]
    fn override_keys_ignore_case_and_the_trailing_dot() {
        assert_eq!(override_key("Innocent.Example."), "innocent.example");
    }
}
