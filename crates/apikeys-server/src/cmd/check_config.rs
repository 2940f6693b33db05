//! `apikeys serve --check-config`: everything `serve` would read or reach at startup, checked
//! without serving and without changing anything (no migration, no key file created).

use std::io::Write;

use anyhow::{Context, bail};
use apikeys_store::{Database, PoolOptions};

use super::startup::{CallerIdentity, ServeSettings};
use crate::access_tokens::KEK_BYTES;
use crate::auth::VerificationKeys;
use crate::crypto::key_file;
use crate::transport::tls;

/// Prints one `ok:` line per checked part on stdout, or fails with the first problem.
pub async fn run(settings: &ServeSettings) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();

    let transport = match &settings.tls {
        None => "plaintext",
        Some(tls_settings) => {
            tls::load(&tls_settings.files)?;
            if tls_settings.client_allow_list.is_some() {
                "TLS, client certificates"
            } else {
                "TLS"
            }
        }
    };
    writeln!(out, "ok: listen {} ({transport})", settings.listener.listen)?;

    match &settings.identity {
        CallerIdentity::Provider(provider) => {
            VerificationKeys::from_provider(provider)?;
            writeln!(
                out,
                "ok: caller tokens verified with the configured identity provider"
            )?;
        }
        CallerIdentity::Local { key_file } => {
            writeln!(
                out,
                "ok: LOCAL MODE, caller tokens signed with {} ({}); not for production",
                key_file.display(),
                existence(key_file.exists())
            )?;
        }
    }

    let kek_file = &settings.token_kek_file;
    let kek_exists = key_file::check_existing(kek_file, KEK_BYTES)?;
    writeln!(
        out,
        "ok: token key-encryption key {} ({})",
        kek_file.display(),
        existence(kek_exists)
    )?;
    // The argon2 parameters and ext_authz headers were checked when the settings were built.
    writeln!(out, "ok: argon2 parameters and ext_authz headers")?;

    let url = &settings.database_url;
    if let Some(path) = url.sqlite_path()
        && !path.exists()
    {
        writeln!(
            out,
            "ok: database {} created at first start",
            path.display()
        )?;
        writeln!(out, "configuration OK")?;
        return Ok(());
    }
    let database = Database::connect(url, &PoolOptions::default())?;
    let status = database
        .migration_status()
        .await
        .with_context(|| format!("cannot reach the database at {}", url.redacted()))?;
    if !status.unknown.is_empty() {
        bail!(
            "the database at {} has migrations this release does not know ({}): it was \
             migrated by a newer apikeys",
            url.redacted(),
            status.unknown.join(", ")
        );
    }
    writeln!(
        out,
        "ok: database {} reachable, {} pending migration(s) applied at start",
        url.redacted(),
        status.pending
    )?;
    writeln!(out, "configuration OK")?;
    Ok(())
}

fn existence(exists: bool) -> &'static str {
    if exists {
        "exists"
    } else {
        "created at first start"
    }
}
