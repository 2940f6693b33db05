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
pub enum SecretFileError {
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
pub fn load_or_create(path: &Path, len: usize) -> Result<SecretSlice<u8>, SecretFileError> {
    let io = |source| SecretFileError::Io {
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
            let encoded = std::fs::read_to_string(path).map_err(io)?;
            STANDARD
                .decode(encoded.trim())
                .ok()
                .filter(|secret| secret.len() == len)
                .map(SecretSlice::from)
                .ok_or_else(|| SecretFileError::Corrupt {
                    path: path.display().to_string(),
                })
        }
        Err(error) => Err(io(error)),
    }
}

/// Whether the key file exists and holds a `len`-byte key, without creating it.
pub fn check_existing(path: &Path, len: usize) -> Result<bool, SecretFileError> {
    match std::fs::read_to_string(path) {
        Ok(encoded) => {
            let valid = STANDARD
                .decode(encoded.trim())
                .is_ok_and(|secret| secret.len() == len);
            if valid {
                Ok(true)
            } else {
                Err(SecretFileError::Corrupt {
                    path: path.display().to_string(),
                })
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(SecretFileError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
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
            Err(SecretFileError::Corrupt { .. })
        ));
        std::fs::write(&path, STANDARD.encode([1u8; 16])).unwrap();
        assert!(matches!(
            load_or_create(&path, 32),
            Err(SecretFileError::Corrupt { .. })
        ));
    }
}
