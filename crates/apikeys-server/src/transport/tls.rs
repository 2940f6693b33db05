//! TLS for the listener.
//!
//! Files are read and parsed at startup so a wrong path or a file that is not PEM stops the
//! server with a message naming the flag, instead of failing the first handshake.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// What a certificate and key that the TLS library refuses to pair are reported as.
pub const INVALID_TLS_CONFIG: &str =
    "invalid TLS configuration (--tls-cert, --tls-key, --tls-client-ca)";

/// PEM files of a few certificates are a few KiB; refuse to read anything absurd.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The PEM files of the listener's TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain of this server (`--tls-cert`).
    pub cert: PathBuf,
    /// Private key of `cert` (`--tls-key`).
    pub key: PathBuf,
    /// CA bundle that client certificates must verify against (`--tls-client-ca`); clients may
    /// still connect without one.
    pub client_ca: Option<PathBuf>,
}

/// Reads and checks the files, and pairs the key with the certificate as the server will.
pub fn load(files: &TlsFiles) -> anyhow::Result<ServerTlsConfig> {
    let cert = read_pem(&files.cert, "--tls-cert")?;
    require_certificates(&cert, &files.cert, "--tls-cert")?;
    let key = read_pem(&files.key, "--tls-key")?;
    if !pem_labels(&key)
        .iter()
        .any(|label| label.ends_with("PRIVATE KEY"))
    {
        bail!(
            "--tls-key {}: no PEM private key found",
            files.key.display()
        );
    }
    let mut server = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca_path) = &files.client_ca {
        let ca = read_pem(ca_path, "--tls-client-ca")?;
        require_certificates(&ca, ca_path, "--tls-client-ca")?;
        // Optional: partners' back offices authenticate with bearer tokens and have no
        // certificate; a certificate that is presented must still verify against the CA.
        server = server
            .client_ca_root(Certificate::from_pem(ca))
            .client_auth_optional(true);
    }
    // The TLS library pairs the key with the certificate only when it builds the acceptor.
    tonic::transport::Server::builder()
        .tls_config(server.clone())
        .context(INVALID_TLS_CONFIG)?;
    Ok(server)
}

fn read_pem(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {flag} {}", path.display()))?
        .len();
    if size > MAX_PEM_BYTES {
        bail!(
            "{flag} {}: larger than {MAX_PEM_BYTES} bytes",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))
}

fn pem_labels(pem: &[u8]) -> Vec<String> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .map_while(Result::ok)
        .map(|block| block.label)
        .collect()
}

fn require_certificates(pem: &[u8], path: &Path, flag: &str) -> anyhow::Result<()> {
    let mut found = false;
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.with_context(|| format!("{flag} {}: not PEM", path.display()))?;
        if block.label == "CERTIFICATE" {
            block
                .parse_x509()
                .with_context(|| format!("{flag} {}: invalid certificate", path.display()))?;
            found = true;
        }
    }
    if !found {
        bail!("{flag} {}: no PEM certificate found", path.display());
    }
    Ok(())
}
