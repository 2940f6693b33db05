//! The fuzz harness of the credential parsers, in the library so that `fuzz/` (cargo-fuzz,
//! nightly) and an ordinary `#[test]` (stable, in CI) run the same code. It panics only if a
//! parser breaks one of its promises, or panics on its own.

use super::{ClientId, ClientSecret};
use crate::domain::ids::MAX_ID_LEN;

/// Parses `data` (as text, lossily if it is not UTF-8, and split at the first `:` as a
/// `client_id:client_secret` pair) with every credential parser and checks what they promise.
pub fn parse_credentials(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_client_id(&text);
    check_secret(&text);
    if let Some((id, secret)) = text.split_once(':') {
        check_client_id(id);
        check_secret(secret);
    }
}

fn check_client_id(raw: &str) {
    let parsed = ClientId::parse("client_id", raw);
    match &parsed {
        Ok(id) => {
            assert_eq!(id.as_str(), raw);
            assert!(raw.len() == 28 && raw.starts_with("akc_"));
            assert!(raw[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        Err(error) => assert_eq!(error.field, "client_id"),
    }
    match ClientId::parse_reference("client_id", raw) {
        Err(error) => {
            assert_eq!(error.field, "client_id");
            assert!(raw.is_empty() || raw.len() > MAX_ID_LEN);
        }
        Ok(reference) => {
            assert!(!raw.is_empty() && raw.len() <= MAX_ID_LEN);
            assert_eq!(reference, parsed.ok());
        }
    }
}

fn check_secret(raw: &str) {
    let Some(secret) = ClientSecret::parse(raw) else {
        return;
    };
    assert_eq!(secret.expose(), raw);
    assert!(raw.len() == 53 && raw.starts_with("aks_"));
    assert!(!format!("{secret:?}").contains(&raw[4..]));
    // The checksum catches any change to the last character.
    let mut changed = raw.to_owned();
    let last = changed.pop().unwrap_or('0');
    changed.push(if last == '0' { '1' } else { '0' });
    assert!(ClientSecret::parse(&changed).is_none());
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn corpus() -> Vec<Vec<u8>> {
        fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
            let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(std::fs::read(&path).unwrap());
                }
            }
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let mut inputs = Vec::new();
        walk(&root, &mut inputs);
        inputs
    }

    #[test]
    fn committed_seed_corpus_passes_the_harness() {
        let inputs = corpus();
        assert!(inputs.len() >= 10, "the seed corpus is missing");
        for input in inputs {
            parse_credentials(&input);
        }
    }

    /// Pseudo-random inputs from a fixed seed (SplitMix64), built around the real formats so
    /// they reach the checksum: a generated secret or id with a few bytes changed or cut.
    #[test]
    fn pseudo_random_inputs_from_a_fixed_seed_pass_the_harness() {
        let mut state: u64 = 0x5eed_0002;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let secret = ClientSecret::generate();
        let bases = [
            ClientId::generate().as_str().as_bytes().to_vec(),
            secret.expose().as_bytes().to_vec(),
            format!("{}:{}", ClientId::generate(), secret.expose()).into_bytes(),
        ];
        for round in 0..5_000 {
            let mut input = bases[round % bases.len()].clone();
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % (input.len() + 1);
                match next() % 3 {
                    0 if at < input.len() => input[at] = next() as u8,
                    1 => input.insert(at, next() as u8),
                    _ => input.truncate(at),
                }
            }
            parse_credentials(&input);
        }
    }
}
