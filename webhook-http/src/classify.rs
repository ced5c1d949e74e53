//! Turning hyper, hyper-util, rustls and I/O failures into the core's transport errors.
//!
//! The details come only from descriptions known to hold no URL: this crate's own
//! words, hyper's fixed error descriptions and rustls's handshake errors. hyper-util's
//! and the connector's messages are never copied, since they may embed the URI.

use std::error::Error as StdError;
use std::io;

use webhook_core::transport::TransportError;

use crate::resolver::ResolveError;

/// The longest chain of causes inspected.
const MAX_DEPTH: usize = 16;
/// The longest detail copied from a library's description.
const MAX_DETAIL: usize = 160;

/// Maps a failed exchange (no status obtained) to a [`TransportError`] that names only
/// `destination` (already redacted) and a short cause.
pub(crate) fn transport_error(err: &(dyn StdError + 'static), destination: &str) -> TransportError {
    let chain = causes(err);
    let connecting = chain
        .iter()
        .filter_map(|e| e.downcast_ref::<hyper_util::client::legacy::Error>())
        .any(hyper_util::client::legacy::Error::is_connect);
    let destination = destination.to_owned();

    for cause in &chain {
        if let Some(resolve) = cause.downcast_ref::<ResolveError>() {
            return match resolve {
                ResolveError::Blocked(reason) => TransportError::Blocked {
                    destination,
                    reason: *reason,
                },
                other => TransportError::Connect {
                    destination,
                    detail: other.to_string(),
                },
            };
        }
    }
    for cause in &chain {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return TransportError::Tls {
                destination,
                detail: bounded(&tls.to_string()),
            };
        }
        if cause
            .downcast_ref::<rustls::pki_types::InvalidDnsNameError>()
            .is_some()
        {
            return TransportError::InvalidUrl {
                destination,
                detail: "the host is not a valid TLS server name".to_owned(),
            };
        }
    }
    if let Some(detail) = chain.iter().find_map(|e| io_detail(*e)) {
        return if connecting {
            TransportError::Connect {
                destination,
                detail: detail.to_owned(),
            }
        } else {
            TransportError::Io {
                destination,
                detail: detail.to_owned(),
            }
        };
    }
    if let Some(hyper) = chain.iter().find_map(|e| e.downcast_ref::<hyper::Error>()) {
        // hyper's Display is a fixed description ("connection closed before message
        // completed", "error parsing HTTP response", ...), never the URI.
        let detail = bounded(&hyper.to_string());
        return if hyper.is_user() {
            TransportError::Request {
                destination,
                detail,
            }
        } else if connecting {
            TransportError::Connect {
                destination,
                detail,
            }
        } else {
            TransportError::Io {
                destination,
                detail,
            }
        };
    }
    if connecting {
        TransportError::Connect {
            destination,
            detail: "the connection could not be established".to_owned(),
        }
    } else {
        TransportError::Io {
            destination,
            detail: "the exchange failed".to_owned(),
        }
    }
}

/// The error and its causes, outermost first.
///
/// `io::Error::source` skips the error it wraps (it returns the wrapped error's own
/// source), so wrapped errors are reached through `get_ref` instead.
fn causes<'e>(err: &'e (dyn StdError + 'static)) -> Vec<&'e (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(err);
    while let Some(current) = next {
        if chain.len() == MAX_DEPTH {
            break;
        }
        chain.push(current);
        next = match current.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    chain
}

/// A description of an I/O failure by its kind; `None` for kinds that say nothing useful
/// (the cause further down the chain is then used).
fn io_detail(err: &(dyn StdError + 'static)) -> Option<&'static str> {
    use io::ErrorKind as K;
    let detail = match err.downcast_ref::<io::Error>()?.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::BrokenPipe => "broken pipe",
        K::UnexpectedEof => "connection closed unexpectedly",
        K::TimedOut => "timed out",
        K::NotConnected => "not connected",
        K::AddrNotAvailable => "local address not available",
        K::NetworkUnreachable => "network unreachable",
        K::HostUnreachable => "host unreachable",
        K::NetworkDown => "network down",
        K::PermissionDenied => "permission denied by the operating system",
        _ => return None,
    };
    Some(detail)
}

/// Cuts a library's description to a short, single-line detail.
fn bounded(text: &str) -> String {
    webhook_core::redact::first_line(text, MAX_DETAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook_core::config::BlockedReason;
    use webhook_core::transport::TransportErrorKind;

    const DEST: &str = "https://hooks.example/…";

    #[test]
    fn blocked_resolution_wrapped_in_io_is_found() {
        let err = io::Error::other(ResolveError::Blocked(BlockedReason::Loopback));
        let mapped = transport_error(&err, DEST);
        assert_eq!(mapped.kind(), TransportErrorKind::Blocked);
        assert!(!mapped.is_retryable());
    }

    #[test]
    fn rustls_errors_two_io_layers_deep_are_tls() {
        let inner = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let err = io::Error::other(inner);
        let mapped = transport_error(&err, DEST);
        assert_eq!(mapped.kind(), TransportErrorKind::Tls);
        assert!(mapped.to_string().contains("UnknownIssuer"), "{mapped}");
    }

    #[test]
    fn io_kinds_outside_the_connect_phase_are_io_and_retryable() {
        let err = io::Error::new(io::ErrorKind::ConnectionReset, "peer said /secret/path");
        let mapped = transport_error(&err, DEST);
        assert_eq!(mapped.kind(), TransportErrorKind::Io);
        assert!(mapped.is_retryable());
        assert!(!mapped.to_string().contains("secret"), "{mapped}");
    }

    #[test]
    fn unknown_errors_never_leak_their_text() {
        let err = io::Error::other("https://user:pw@hooks.example/p?sig=1");
        let mapped = transport_error(&err, DEST);
        let text = format!("{mapped} {mapped:?}");
        assert!(!text.contains("pw") && !text.contains("sig"), "{text}");
    }

    #[test]
    fn long_details_are_cut() {
        let long = "x".repeat(1000);
        assert!(bounded(&long).chars().count() <= MAX_DETAIL + 1);
        assert_eq!(bounded("one\ntwo"), "one");
    }
}
