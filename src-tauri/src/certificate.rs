//! The embedded host's TLS certificate: self-signed, made once and kept in
//! the app's config directory, so the fingerprint in its room links stays
//! the same from meeting to meeting. Nobody needs a certificate authority:
//! a joining app pins the certificate the link names.

use std::path::Path;

use conclave_server::TlsIdentity;

use crate::errors::AppError;

const CERT_FILE: &str = "host-certificate.pem";
const KEY_FILE: &str = "host-key.pem";

/// The kept certificate, or a new one (then kept) if there is none yet or it is unreadable.
pub fn host_identity(config_dir: &Path) -> Result<TlsIdentity, AppError> {
    let (cert, key) = (config_dir.join(CERT_FILE), config_dir.join(KEY_FILE));
    if let Ok(identity) = TlsIdentity::from_pem_files(&cert, &key) {
        return Ok(identity);
    }
    let failed = |why: String| AppError::HostCertificate(why);
    let key_pair = rcgen::KeyPair::generate().map_err(|e| failed(e.to_string()))?;
    // The names hardly matter (the pin is the identity); these read well in a browser.
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| failed(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Conclave host");
    let certificate = params
        .self_signed(&key_pair)
        .map_err(|e| failed(e.to_string()))?;
    std::fs::create_dir_all(config_dir).map_err(|e| failed(e.to_string()))?;
    write_private(&key, key_pair.serialize_pem().as_bytes()).map_err(|e| failed(e.to_string()))?;
    std::fs::write(&cert, certificate.pem()).map_err(|e| failed(e.to_string()))?;
    TlsIdentity::from_pem_files(&cert, &key).map_err(|e| failed(e.to_string()))
}

/// Writes a file only its owner may read (the private key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_keeps_one_certificate_and_its_key_is_private() {
        let dir = std::env::temp_dir().join(format!("conclave-cert-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = host_identity(&dir).unwrap().fingerprint();
        let again = host_identity(&dir).unwrap().fingerprint();
        assert_eq!(first, again, "the same certificate next time");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
