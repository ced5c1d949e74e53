//! Why a transport could not be built.

/// A builder setting that cannot be turned into a working transport.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An extra root certificate (counted from 0 in the order added) is not a usable
    /// X.509 certificate.
    #[error("extra root certificate #{index} is not a valid X.509 certificate: {detail}")]
    InvalidCertificate {
        /// Which extra certificate, counted from 0 in the order added.
        index: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// PEM text given as an extra root certificate holds no `CERTIFICATE` block.
    #[error(
        "extra root certificate #{index} has no PEM `-----BEGIN CERTIFICATE-----` block; expected PEM text or use add_root_certificate_der"
    )]
    EmptyPem {
        /// Which extra certificate, counted from 0 in the order added.
        index: usize,
    },
    /// No root certificate would be trusted, so no HTTPS destination could be reached.
    #[error(
        "no trusted root certificates: keep webpki_roots(true), enable native_roots(true), or add a root certificate"
    )]
    NoRootCertificates,
    /// rustls refused the TLS configuration.
    #[error("the TLS configuration was rejected: {detail}")]
    Tls {
        /// rustls's reason.
        detail: String,
    },
}
