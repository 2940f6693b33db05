//! Random keys kept in files beside the data (the local-mode signing key, the key-encryption
//! key of token-signing keys): created once with mode 0600, read back on every start.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::SecretSlice;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or create the key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the key file {path} is corrupt; delete it to make a new one")]
    Corrupt { path: String },
}

/// Reads the `len`-byte key in `path` (base64), or creates the file with a fresh random key.
/// Two processes racing to create it end up with the same key: creation is exclusive and the
/// loser reads what the winner wrote.
pub fn load_or_create(path: &Path, len: usize) -> Result<SecretSlice<u8>, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    };
    match create_exclusive(path) {
        Ok(mut file) => {
            let mut secret = vec![0u8; len];
            OsRng.fill_bytes(&mut secret);
            file.write_all(STANDARD.encode(&secret).as_bytes())
                .map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok(secret.into())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            load_existing(path, len)?.ok_or_else(|| io(error))
        }
        Err(error) => Err(io(error)),
    }
}

/// The `len`-byte key in `path`, or `None` when there is no such file; never creates it.
pub fn load_existing(path: &Path, len: usize) -> Result<Option<SecretSlice<u8>>, KeyFileError> {
    let encoded = match std::fs::read_to_string(path) {
        Ok(encoded) => encoded,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeyFileError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    STANDARD
        .decode(encoded.trim())
        .ok()
        .filter(|secret| secret.len() == len)
        .map(|secret| Some(SecretSlice::from(secret)))
        .ok_or_else(|| KeyFileError::Corrupt {
            path: path.display().to_string(),
        })
}

/// Whether the key file exists and holds a `len`-byte key, without creating it.
pub fn check_existing(path: &Path, len: usize) -> Result<bool, KeyFileError> {
    Ok(load_existing(path, len)?.is_some())
}

fn create_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_key_is_created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let first = load_or_create(&path, 32).unwrap();
        let second = load_or_create(&path, 32).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_or_wrong_length_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "not base64 !!").unwrap();
        assert!(matches!(
            load_or_create(&path, 32),
            Err(KeyFileError::Corrupt { .. })
        ));
        std::fs::write(&path, STANDARD.encode([1u8; 16])).unwrap();
        assert!(matches!(
            load_or_create(&path, 32),
            Err(KeyFileError::Corrupt { .. })
        ));
    }
}
