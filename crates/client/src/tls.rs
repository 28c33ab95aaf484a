//! TLS for `wss://` signaling: the system's certificate authorities, or a
//! certificate pinned by its fingerprint (a room link's `#fp=`, for a host's
//! self-signed certificate). rustls with ring.

use std::sync::Arc;

use conclave_protocol::Fingerprint;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client side of TLS: what a server's certificate must be.
pub fn client_config(pin: Option<Fingerprint>) -> Result<rustls::ClientConfig, Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let config = match pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { pin }))
            .with_no_client_auth(),
        None => builder
            .with_root_certificates(system_roots())
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The system's authorities (`SSL_CERT_FILE` / `SSL_CERT_DIR` name others).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "a system certificate could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "system certificate authorities");
    roots
}

/// Accepts exactly the certificate with this fingerprint, whatever name it
/// carries (a host's LAN address changes; the link names the certificate),
/// and only while it is valid.
#[derive(Debug)]
struct Pinned {
    pin: Fingerprint,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if Fingerprint::of(end_entity) != self.pin {
            return Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        // The pinned certificate as its own authority, for its validity dates.
        // Anything else it might fail (its name, a CA flag as `openssl req
        // -x509` sets it, extensions) does not matter: the pin is its identity.
        let mut itself = RootCertStore::empty();
        itself.add(end_entity.clone().into_owned())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(itself), provider())
            .build()
            .map_err(|e| Error::General(e.to_string()))?;
        match verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(Error::InvalidCertificate(
                error @ (CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }),
            )) => Err(Error::InvalidCertificate(error)),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a failed TLS handshake means to a person.
pub fn certificate_problem(error: &Error, pinned: bool) -> Option<CertificateProblem> {
    let Error::InvalidCertificate(error) = error else {
        return None;
    };
    Some(match error {
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => CertificateProblem::Expired,
        CertificateError::ApplicationVerificationFailure if pinned => {
            CertificateProblem::NotThePinnedOne
        }
        _ => CertificateProblem::Untrusted,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    Untrusted,
    NotThePinnedOne,
    Expired,
}
