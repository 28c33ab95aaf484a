//! TLS for signaling: `wss://` with a certificate from files (a CA's, such as
//! Let's Encrypt's) or one given in memory (the app's self-signed one, which
//! room links name by fingerprint). rustls with ring.

use std::path::Path;
use std::sync::Arc;

use conclave_protocol::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate chain (leaf first) and its private key.
pub struct TlsIdentity {
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate file {path}: {why}")]
    CertificateFile { path: String, why: String },
    #[error("cannot read the private key file {path}: {why}")]
    KeyFile { path: String, why: String },
    #[error("{path} holds no certificate (a PEM file with BEGIN CERTIFICATE is needed)")]
    NoCertificate { path: String },
    #[error("the certificate and key do not make a usable TLS identity: {0}")]
    Unusable(String),
}

impl std::fmt::Debug for TlsIdentity {
    /// The certificate by fingerprint; never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsIdentity(sha256 {})", self.fingerprint())
    }
}

impl TlsIdentity {
    /// From PEM files: the certificate chain, and its key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
        let cert_chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::CertificateFile {
                path: cert.display().to_string(),
                why: e.to_string(),
            })?;
        if cert_chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert.display().to_string(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::KeyFile {
            path: key.display().to_string(),
            why: e.to_string(),
        })?;
        Ok(TlsIdentity { cert_chain, key })
    }

    /// The leaf certificate's SHA-256 fingerprint, for links that pin it.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert_chain[0])
    }

    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Unusable(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Unusable(e.to_string()))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
