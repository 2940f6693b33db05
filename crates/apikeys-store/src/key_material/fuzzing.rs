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
    use apikeys_test_support::fuzz_seeds::{corpus, seeded};
    use rand::Rng;

    use super::*;

    #[test]
    fn committed_seed_corpus_passes_the_harness() {
        let inputs = corpus();
        assert!(inputs.len() >= 10, "the seed corpus is missing");
        for input in inputs {
            parse_credentials(&input);
        }
    }

    /// Pseudo-random inputs from a fixed seed, built around the real formats so
    /// they reach the checksum: a generated secret or id with a few bytes changed or cut.
    #[test]
    fn pseudo_random_inputs_from_a_fixed_seed_pass_the_harness() {
        let mut rng = seeded(0x5eed_0002);
        let mut next = move || rng.r#gen::<u64>();
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
