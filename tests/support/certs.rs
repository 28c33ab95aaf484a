//! Certificates for the TLS tests, made with rcgen: a test authority, server
//! certificates it signs (valid or expired), and self-signed ones as the
//! app's embedded host makes them. Written as PEM files into a directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, date_time_ymd};
use sha2::{Digest, Sha256};

/// A server certificate and key as files, and the certificate's fingerprint.
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// SHA-256 of the certificate, 64 hex digits (what `--pin-sha256` takes).
    pub fingerprint: String,
}

/// A test certificate authority; `pem` is its certificate, for `SSL_CERT_FILE`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem: PathBuf,
}

fn names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}

fn write(dir: &Path, name: &str, cert_der: &[u8], cert_pem: String, key: &KeyPair) -> ServerCert {
    let (cert, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let fingerprint = Sha256::digest(cert_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ServerCert {
        cert,
        key: key_path,
        fingerprint,
    }
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = dir.join("test-ca.pem");
        std::fs::write(&pem, issuer.pem()).unwrap();
        TestCa { issuer, pem }
    }

    /// A certificate for 127.0.0.1 and localhost, signed by this authority;
    /// `expired`: its validity ended in 2020.
    pub fn server_cert(&self, dir: &Path, name: &str, expired: bool) -> ServerCert {
        let mut params = CertificateParams::new(names()).unwrap();
        if expired {
            params.not_before = date_time_ymd(2019, 1, 1);
            params.not_after = date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        write(dir, name, cert.der(), cert.pem(), &key)
    }
}

/// A self-signed certificate, as the app's embedded host makes its own.
pub fn self_signed(dir: &Path, name: &str) -> ServerCert {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    write(dir, name, cert.der(), cert.pem(), &key)
}

/// A self-signed certificate marked as an authority, as `openssl req -x509`
/// makes them (which WebPKI would refuse as a server's own certificate).
pub fn self_signed_authority(dir: &Path, name: &str) -> ServerCert {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    write(dir, name, cert.der(), cert.pem(), &key)
}
