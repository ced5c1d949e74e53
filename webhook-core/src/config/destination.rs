//! Destinations: URL parsing, the safety checks on the URL text, and redaction for logs.

use http::{HeaderValue, Uri};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which destinations are allowed. Both flags default to `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Allow `http://` (otherwise only `https://`).
    pub allow_insecure_http: bool,
    /// Allow loopback, private, link-local and metadata targets.
    pub allow_private_targets: bool,
}

/// Why a host or address is refused without `allow_private_targets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockedReason {
    /// 127.0.0.0/8, ::1, `localhost`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// fc00::/7.
    UniqueLocal,
    /// 100.64.0.0/10 (carrier-grade NAT).
    SharedAddressSpace,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 0.0.0.0, ::, 0/8.
    Unspecified,
    /// 224/4, ff00::/8, 255.255.255.255.
    Multicast,
    /// A cloud metadata endpoint (169.254.169.254, metadata.google.internal, ...).
    CloudMetadata,
}

impl BlockedReason {
    /// A short description, e.g. `"loopback address"`.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "loopback address",
            Self::Private => "private (RFC 1918) address",
            Self::UniqueLocal => "unique-local IPv6 address",
            Self::SharedAddressSpace => "carrier-grade NAT (100.64.0.0/10) address",
            Self::LinkLocal => "link-local address",
            Self::Unspecified => "unspecified address",
            Self::Multicast => "multicast or broadcast address",
            Self::CloudMetadata => "cloud metadata endpoint",
        }
    }
}

impl fmt::Display for BlockedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Classifies an IP address. `None` means it is a public address.
///
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible and NAT64 (`64:ff9b::/96`) IPv6
/// addresses are judged by the IPv4 address they carry.
pub fn classify_ip(ip: IpAddr) -> Option<BlockedReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<BlockedReason> {
    let [a, b, c, d] = ip.octets();
    let reason = if METADATA_V4.contains(&ip) {
        BlockedReason::CloudMetadata
    } else if a == 127 {
        BlockedReason::Loopback
    } else if a == 0 {
        BlockedReason::Unspecified
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        BlockedReason::Private
    } else if a == 100 && (64..=127).contains(&b) {
        BlockedReason::SharedAddressSpace
    } else if a == 169 && b == 254 {
        BlockedReason::LinkLocal
    } else if a >= 224 || (a, b, c, d) == (255, 255, 255, 255) {
        BlockedReason::Multicast
    } else {
        return None;
    };
    Some(reason)
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockedReason> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 well-known prefix and the deprecated IPv4-compatible form (not :: or ::1).
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (seg[..6] == [0; 6] && (seg[6] != 0)) {
        let [a, b] = seg[6].to_be_bytes();
        let [c, d] = seg[7].to_be_bytes();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    let reason = if ip == METADATA_V6 {
        BlockedReason::CloudMetadata
    } else if ip.is_loopback() {
        BlockedReason::Loopback
    } else if ip.is_unspecified() {
        BlockedReason::Unspecified
    } else if seg[0] & 0xfe00 == 0xfc00 {
        BlockedReason::UniqueLocal
    } else if seg[0] & 0xffc0 == 0xfe80 {
        BlockedReason::LinkLocal
    } else if seg[0] & 0xff00 == 0xff00 {
        BlockedReason::Multicast
    } else {
        return None;
    };
    Some(reason)
}

/// AWS/GCP/Azure/OpenStack (169.254.169.254), Alibaba (100.100.100.200), Azure wire server.
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
];
/// AWS's IPv6 instance metadata address.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Classifies a host as written in a URL (a name or an IP literal, brackets allowed).
///
/// Names are judged only by their text (`localhost`, `*.localhost`, metadata names);
/// what a name resolves to is checked by the transport at connect time.
pub fn classify_host(host: &str) -> Option<BlockedReason> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return classify_ip(ip);
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        Some(BlockedReason::Loopback)
    } else if matches!(
        name.as_str(),
        "metadata.google.internal" | "metadata" | "instance-data" | "metadata.azure.internal"
    ) || name.ends_with(".metadata.google.internal")
    {
        Some(BlockedReason::CloudMetadata)
    } else {
        None
    }
}

/// Why a URL was refused. Messages never repeat the URL's credentials, path or query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The text is not an absolute URL.
    #[error("`url` is not a valid absolute URL; expected https://host[:port]/path")]
    Malformed,
    /// The scheme is neither `https` nor `http`.
    #[error("`url` has scheme `{scheme}`; expected `https` (or `http` with allow_insecure_http)")]
    UnsupportedScheme {
        /// The scheme that was given.
        scheme: String,
    },
    /// The URL has no host.
    #[error("`url` has no host; expected https://host[:port]/path")]
    MissingHost,
    /// The URL's credentials hold `/`, `?` or `#`, which end the authority: the rest
    /// would be read as a host, port, path or query. The text is never repeated.
    #[error(
        "`url` has credentials holding `/`, `?` or `#`; expected them percent-encoded (`%2F`, `%3F`, `%23`)"
    )]
    UnencodedCredentials,
    /// The port is not a number in 1..=65535.
    #[error("`url` has port `{port}`; expected a number in 1..=65535")]
    InvalidPort {
        /// The port as written.
        port: String,
    },
    /// `http://` without `allow_insecure_http`.
    #[error("`url` {destination} uses plain http; set allow_insecure_http = true to allow it")]
    InsecureHttp {
        /// The redacted destination.
        destination: String,
    },
    /// A private, loopback, link-local or metadata target without `allow_private_targets`.
    #[error("`url` host `{host}` is a {reason}; set allow_private_targets = true to allow it")]
    PrivateTarget {
        /// The host as written.
        host: String,
        /// What kind of target it is.
        reason: BlockedReason,
    },
}

/// A validated destination URL. `Debug` and `Display` show only `scheme://host[:port]/…`.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    uri: Uri,
    redacted: String,
    basic_auth: Option<(String, String)>,
    /// `host[:port]` as an HTTP/1.1 `host` header (the port only when it is not the
    /// scheme's default), made once: formatting it per request cost a transport about
    /// 3,000 instructions, 8 % of a delivery's CPU (BENCHMARKS.md).
    host_header: Option<HeaderValue>,
    /// What [`classify_host`] says of the host, judged once.
    blocked: Option<BlockedReason>,
}

impl Destination {
    /// Parses and checks a URL against `policy` (scheme, host, and the host's text).
    pub fn parse(url: &str, policy: DestinationPolicy) -> Result<Self, DestinationError> {
        if has_unencoded_credentials(url.trim()) {
            return Err(DestinationError::UnencodedCredentials);
        }
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|_| DestinationError::Malformed)?;
        let scheme = uri
            .scheme_str()
            .ok_or(DestinationError::Malformed)?
            .to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(DestinationError::UnsupportedScheme { scheme });
        }
        let authority = uri.authority().ok_or(DestinationError::MissingHost)?;
        let host = authority.host();
        if host.is_empty() {
            return Err(DestinationError::MissingHost);
        }
        check_port(authority.as_str())?;
        let redacted = crate::redact::parts(&scheme, host, authority.port_u16());
        if scheme == "http" && !policy.allow_insecure_http {
            return Err(DestinationError::InsecureHttp {
                destination: redacted,
            });
        }
        if !policy.allow_private_targets {
            if let Some(reason) = classify_host(host) {
                return Err(DestinationError::PrivateTarget {
                    host: host.to_owned(),
                    reason,
                });
            }
        }
        let basic_auth = authority.as_str().rsplit_once('@').map(|(userinfo, _)| {
            match userinfo.split_once(':') {
                Some((u, p)) => (u.to_owned(), p.to_owned()),
                None => (userinfo.to_owned(), String::new()),
            }
        });
        let uri = if basic_auth.is_some() {
            strip_userinfo(&uri).ok_or(DestinationError::Malformed)?
        } else {
            uri
        };
        Ok(Self {
            host_header: host_header(&uri),
            blocked: uri.host().and_then(classify_host),
            uri,
            redacted,
            basic_auth,
        })
    }

    /// The URI to request, without credentials (those are in [`Destination::basic_auth`]).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// `scheme://host[:port]/…`, safe for logs and errors.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The host as the URL writes it, without the port: an IPv6 literal keeps its
    /// brackets (`[::1]`).
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// The `host` header an HTTP/1.1 request to this destination carries: the host and,
    /// when it is not the scheme's default, the port.
    pub fn host_header(&self) -> Option<&HeaderValue> {
        self.host_header.as_ref()
    }

    /// Why the host, as written, is refused without `allow_private_targets` (`None` if it
    /// is not; a name that resolves to such an address is judged when it is resolved).
    pub fn blocked_reason(&self) -> Option<BlockedReason> {
        self.blocked
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }

    /// Credentials given in the URL (`https://user:pw@host/`), sent as HTTP Basic auth.
    pub fn basic_auth(&self) -> Option<(&str, &str)> {
        self.basic_auth
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

/// Whether `url`'s first segment (up to `/`, `?` or `#`) is no `host[:port]` but the
/// text holds an `@` further on: credentials whose password holds `/`, `?` or `#`.
fn has_unencoded_credentials(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (first, after) = rest.split_at(end);
    if first.contains('@') || !after.contains('@') {
        return false;
    }
    let port = match first.rfind(']') {
        Some(bracket) => first[bracket + 1..].strip_prefix(':'),
        None => first.split_once(':').map(|(_, port)| port),
    };
    port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
}

/// `http::Uri` silently ignores a port it cannot parse (e.g. `:99999`); refuse it.
fn check_port(authority: &str) -> Result<(), DestinationError> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after_host = match host_port.rfind(']') {
        Some(end) => &host_port[end + 1..],
        None => host_port.find(':').map_or("", |i| &host_port[i..]),
    };
    let Some(port) = after_host.strip_prefix(':') else {
        return Ok(());
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(DestinationError::InvalidPort {
            port: port.to_owned(),
        }),
    }
}

/// `host[:port]` for the `host` header, leaving out the scheme's default port.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let text = match uri.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    HeaderValue::try_from(text).ok()
}

fn strip_userinfo(uri: &Uri) -> Option<Uri> {
    let authority = uri.authority()?;
    let host_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(host_port.parse().ok()?);
    Uri::from_parts(parts).ok()
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Destination").field(&self.redacted).finish()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Renders any URL text as `scheme://host[:port]/…` (see [`crate::redact::url`]).
pub fn redact_url(url: &str) -> String {
    crate::redact::url(url)
}
