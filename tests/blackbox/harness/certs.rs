//! Certificates generated at test time (rcgen): a CA, a server certificate for 127.0.0.1 and
//! client certificates, written as PEM files for the server's `--tls-*` flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The name the server certificate is issued to; clients verify it.
pub const SERVER_NAME: &str = "localhost";

/// A certificate authority that issues server and client certificates into a temp dir.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

/// A certificate and its key, as PEM files and in memory.
pub struct IssuedCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    cert_pem: String,
    key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-signed ca");
        let dir = tempfile::tempdir().expect("cert dir");
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).expect("write ca");
        Self { issuer, dir }
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server_cert(&self) -> IssuedCert {
        let mut params =
            CertificateParams::new(vec![SERVER_NAME.to_owned()]).expect("server params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAME);
        self.issue("server", params)
    }

    /// A client certificate whose subject common name is `common_name`.
    pub fn client_cert(&self, common_name: &str) -> IssuedCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        self.issue(common_name, params)
    }

    fn issue(&self, file_stem: &str, params: CertificateParams) -> IssuedCert {
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let cert_file = self.dir.path().join(format!("{file_stem}.pem"));
        let key_file = self.dir.path().join(format!("{file_stem}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        IssuedCert {
            cert_file,
            key_file,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl IssuedCert {
    pub fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

/// A TLS channel to `addr` trusting `ca`, presenting `client` when given.
pub async fn tls_channel(
    addr: SocketAddr,
    ca: &TestCa,
    client: Option<&IssuedCert>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name(SERVER_NAME);
    if let Some(client) = client {
        tls = tls.identity(client.identity());
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint uri")
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .tls_config(tls)?
        .connect()
        .await
}
