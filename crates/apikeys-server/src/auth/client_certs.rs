//! Mutual TLS: which verified client certificates stand for a gateway.

use anyhow::bail;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{Caller, INTROSPECT_SCOPE};

/// Client-certificate subjects allowed to introspect without a bearer token.
#[derive(Debug)]
pub struct ClientAllowList {
    subjects: Vec<String>,
}

impl ClientAllowList {
    pub fn new(subjects: &[String]) -> anyhow::Result<Self> {
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
