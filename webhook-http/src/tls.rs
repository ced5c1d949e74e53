//! The rustls client configuration: ring provider, root certificates, ALPN.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::error::BuildError;

/// An extra trust anchor as the caller gave it.
#[derive(Clone)]
pub(crate) enum ExtraRoot {
    /// One DER-encoded certificate.
    Der(Vec<u8>),
    /// PEM text holding one or more `CERTIFICATE` blocks.
    Pem(Vec<u8>),
}

impl std::fmt::Debug for ExtraRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Der(bytes) => write!(f, "Der({} bytes)", bytes.len()),
            Self::Pem(bytes) => write!(f, "Pem({} bytes)", bytes.len()),
        }
    }
}

/// Where trust comes from.
#[derive(Clone, Debug)]
pub(crate) struct TrustSettings {
    pub(crate) webpki_roots: bool,
    pub(crate) native_roots: bool,
    pub(crate) extra_roots: Vec<ExtraRoot>,
}

/// Builds the client configuration (ALPN is set later by the connector builder).
pub(crate) fn client_config(trust: &TrustSettings) -> Result<ClientConfig, BuildError> {
    let roots = root_store(trust)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Tls {
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn root_store(trust: &TrustSettings) -> Result<RootCertStore, BuildError> {
    let mut roots = RootCertStore::empty();
    if trust.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if trust.native_roots {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::warn!(
                errors = found.errors.len(),
                "some system root certificates could not be loaded"
            );
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "loaded system root certificates");
    }
    for (index, extra) in trust.extra_roots.iter().enumerate() {
        for der in certificates(index, extra)? {
            roots.add(der).map_err(|e| BuildError::InvalidCertificate {
                index,
                detail: e.to_string(),
            })?;
        }
    }
    if roots.is_empty() {
        return Err(BuildError::NoRootCertificates);
    }
    Ok(roots)
}

fn certificates(
    index: usize,
    extra: &ExtraRoot,
) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    match extra {
        ExtraRoot::Der(bytes) => Ok(vec![CertificateDer::from(bytes.clone())]),
        ExtraRoot::Pem(text) => {
            let certs = CertificateDer::pem_slice_iter(text)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BuildError::InvalidCertificate {
                    index,
                    detail: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(BuildError::EmptyPem { index });
            }
            Ok(certs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(extra_roots: Vec<ExtraRoot>) -> TrustSettings {
        TrustSettings {
            webpki_roots: false,
            native_roots: false,
            extra_roots,
        }
    }

    #[test]
    fn webpki_roots_are_trusted_by_default_settings() {
        let settings = TrustSettings {
            webpki_roots: true,
            ..trust(Vec::new())
        };
        assert!(root_store(&settings).expect("webpki roots").len() > 50);
    }

    #[test]
    fn no_source_of_trust_is_an_error() {
        assert!(matches!(
            root_store(&trust(Vec::new())),
            Err(BuildError::NoRootCertificates)
        ));
    }

    #[test]
    fn pem_without_certificates_is_rejected_with_its_index() {
        let err = root_store(&trust(vec![ExtraRoot::Pem(b"not pem".to_vec())]))
            .expect_err("no certificate block");
        assert!(matches!(err, BuildError::EmptyPem { index: 0 }), "{err}");
    }

    #[test]
    fn garbage_der_is_rejected() {
        let err =
            root_store(&trust(vec![ExtraRoot::Der(vec![1, 2, 3])])).expect_err("not a certificate");
        assert!(
            matches!(err, BuildError::InvalidCertificate { index: 0, .. }),
            "{err}"
        );
    }
}
