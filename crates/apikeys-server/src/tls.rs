//! TLS for the listener and the client-certificate allow-list of mutual TLS.
//!
//! Files are read and parsed at startup so a wrong path or a file that is not PEM stops the
//! server with a message naming the flag, instead of failing the first handshake.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::auth::{Caller, INTROSPECT_SCOPE};
use crate::cli::TlsArgs;

/// PEM files of a few certificates are a few KiB; refuse to read anything absurd.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// What `serve` needs to terminate TLS.
pub struct TlsSetup {
    pub server: ServerTlsConfig,
    /// Present when client certificates are verified (`--tls-client-ca`).
    pub client_allow_list: Option<Arc<ClientAllowList>>,
}

/// Reads and checks the TLS files named by the flags; `None` when TLS is off.
pub fn load(args: &TlsArgs) -> anyhow::Result<Option<TlsSetup>> {
    let (cert_path, key_path) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => {
            if args.tls_client_ca.is_some() || !args.tls_client_allowed_subject.is_empty() {
                bail!(
                    "--tls-client-ca and --tls-client-allowed-subject need --tls-cert and --tls-key"
                );
            }
            return Ok(None);
        }
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    let cert = read_pem(cert_path, "--tls-cert")?;
    require_certificates(&cert, cert_path, "--tls-cert")?;
    let key = read_pem(key_path, "--tls-key")?;
    if !pem_labels(&key)
        .iter()
        .any(|label| label.ends_with("PRIVATE KEY"))
    {
        bail!("--tls-key {}: no PEM private key found", key_path.display());
    }
    let mut server = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    let client_allow_list = match &args.tls_client_ca {
        Some(ca_path) => {
            let ca = read_pem(ca_path, "--tls-client-ca")?;
            require_certificates(&ca, ca_path, "--tls-client-ca")?;
            // Optional: partners' back offices authenticate with bearer tokens and have no
            // certificate; a certificate that is presented must still verify against the CA.
            server = server
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(true);
            Some(Arc::new(ClientAllowList::new(
                &args.tls_client_allowed_subject,
            )?))
        }
        None => {
            if !args.tls_client_allowed_subject.is_empty() {
                bail!("--tls-client-allowed-subject needs --tls-client-ca");
            }
            None
        }
    };
    Ok(Some(TlsSetup {
        server,
        client_allow_list,
    }))
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

/// Client-certificate subjects allowed to introspect without a bearer token.
#[derive(Debug)]
pub struct ClientAllowList {
    subjects: Vec<String>,
}

impl ClientAllowList {
    fn new(subjects: &[String]) -> anyhow::Result<Self> {
        let subjects: Vec<String> = subjects
            .iter()
            .map(|subject| subject.trim().to_owned())
            .collect();
        if subjects.iter().any(String::is_empty) {
            bail!("--tls-client-allowed-subject: empty subject");
        }
        Ok(Self { subjects })
    }

    /// The caller a verified client certificate stands for, if its subject is allowed. The TLS
    /// layer has already verified the chain against `--tls-client-ca`; this only decides
    /// whether that identity is a gateway.
    pub fn caller_for(&self, leaf_der: &[u8]) -> Option<Caller> {
        let (_, certificate) = X509Certificate::from_der(leaf_der).ok()?;
        let matched = certificate_names(&certificate)
            .into_iter()
            .find(|name| self.subjects.iter().any(|allowed| allowed == name))?;
        Some(Caller {
            subject: format!("mtls:{matched}"),
            email: None,
            account_id: None,
            role: None,
            staff: false,
            scopes: vec![INTROSPECT_SCOPE.to_owned()],
        })
    }
}

/// The subject's common names and the DNS and URI subject alternative names.
fn certificate_names(certificate: &X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = certificate
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = certificate.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::URI(uri) => names.push((*uri).to_owned()),
                _ => {}
            }
        }
    }
    names
}
