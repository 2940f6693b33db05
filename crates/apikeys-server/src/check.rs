//! `apikeys serve --check-config`: everything `serve` would read or reach at startup, checked
//! without serving and without changing anything (no migration, no key file created).

use std::io::Write;

use anyhow::{Context, bail};
use apikeys_store::{Database, DatabaseUrl, HashingParams, PoolOptions, SecretHasher};

use crate::auth::VerificationKeys;
use crate::cli::{GlobalArgs, ServeArgs};
use crate::commands::{key_file_path, local_key_path};
use crate::secret_file;
use crate::server::identity_provider;
use crate::services::ExtAuthzSettings;
use crate::tls;
use crate::tokens::KEK_BYTES;

/// Prints one `ok:` line per checked part on stdout, or fails with the first problem.
pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();

    let url = DatabaseUrl::parse(&global.database_url).context("invalid --database-url")?;
    let tls = tls::load(&args.tls)?;
    if let Some(setup) = &tls {
        // The TLS library pairs the key with the certificate only when it builds the acceptor.
        tonic::transport::Server::builder()
            .tls_config(setup.server.clone())
            .context("invalid TLS configuration (--tls-cert, --tls-key, --tls-client-ca)")?;
    }
    writeln!(
        out,
        "ok: listen {} ({})",
        args.listen,
        match &tls {
            None => "plaintext",
            Some(setup) if setup.client_allow_list.is_some() => "TLS, client certificates",
            Some(_) => "TLS",
        }
    )?;

    match identity_provider(&args.identity)? {
        Some(provider) => {
            VerificationKeys::from_provider(&provider)?;
            writeln!(
                out,
                "ok: caller tokens verified with the configured identity provider"
            )?;
        }
        None => {
            let path = local_key_path(global)?;
            writeln!(
                out,
                "ok: LOCAL MODE, caller tokens signed with {} ({}); not for production",
                path.display(),
                if path.exists() {
                    "exists"
                } else {
                    "created at first start"
                }
            )?;
        }
    }

    let kek_path = key_file_path(global, args.tokens.token_kek_file.as_deref(), "token-kek")?;
    let kek_exists = secret_file::check_existing(&kek_path, KEK_BYTES)?;
    writeln!(
        out,
        "ok: token key-encryption key {} ({})",
        kek_path.display(),
        if kek_exists {
            "exists"
        } else {
            "created at first start"
        }
    )?;

    SecretHasher::new(HashingParams {
        memory_kib: args.hashing.argon2_memory_kib,
        iterations: args.hashing.argon2_iterations,
        parallelism: args.hashing.argon2_parallelism,
    })
    .context("invalid argon2 parameters")?;
    ExtAuthzSettings::new(
        &args.ext_authz.ext_authz_api_key_header,
        &args.ext_authz.ext_authz_account_header,
        &args.ext_authz.ext_authz_client_header,
    )?;
    writeln!(out, "ok: argon2 parameters and ext_authz headers")?;

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
    let database = Database::connect(&url, &PoolOptions::default())?;
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
