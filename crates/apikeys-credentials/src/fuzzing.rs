//! The fuzz harness, in the library so that `fuzz/` (cargo-fuzz, nightly) and an ordinary
//! `#[test]` (stable, in CI) run exactly the same code. Each function panics only if a parser
//! breaks one of its promises; a parser that panics on its own is the other failure it finds.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{
    Credentials, HeaderLookup, MAX_HEADER_LEN, Rejection, api_key, authorization, extract,
    single_value,
};

/// Runs every header parser over `data`: as one header value (raw bytes, as Envoy sends them
/// with `encode_raw_headers`), and as a block of `name: value` lines looked up like a request.
pub fn parse_all(data: &[u8]) {
    if let Ok(value) = single_value([("authorization", data)], "authorization") {
        let value = value.unwrap_or_default();
        check_authorization(value);
        check_api_key(value);
    } else {
        assert!(std::str::from_utf8(data).is_err());
    }
    check_request(data);
}

fn check_authorization(value: &str) {
    match authorization(value) {
        Ok(Credentials::AccessToken(token)) => {
            assert!(value.len() <= MAX_HEADER_LEN);
            assert!(!token.is_empty() && !token.contains(char::is_whitespace));
            assert!(value.contains(token));
        }
        Ok(Credentials::ClientSecret { client_id, secret }) => {
            assert!(value.len() <= MAX_HEADER_LEN);
            check_pair(&client_id, &secret);
        }
        Err(Rejection::Oversized) => assert!(value.len() > MAX_HEADER_LEN),
        Err(Rejection::Missing | Rejection::Ambiguous) => {
            unreachable!("a single value is neither missing nor ambiguous")
        }
        Err(Rejection::UnsupportedScheme | Rejection::Malformed) => {}
    }
}

fn check_api_key(value: &str) {
    match api_key(value) {
        Ok(Credentials::ClientSecret { client_id, secret }) => {
            check_pair(&client_id, &secret);
            // The same pair sent as Basic credentials reads back identically.
            let basic = format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}")));
            if basic.len() <= MAX_HEADER_LEN {
                match authorization(&basic) {
                    Ok(Credentials::ClientSecret {
                        client_id: id,
                        secret: s,
                    }) => assert!(id == client_id && s == secret),
                    _ => panic!("a pair read from the API-key header must round-trip via Basic"),
                }
            }
        }
        Ok(Credentials::AccessToken(_)) => panic!("the API-key header never holds a token"),
        Err(Rejection::Oversized) => assert!(value.len() > MAX_HEADER_LEN),
        Err(Rejection::Malformed) => {}
        Err(other) => panic!("unexpected rejection of an API-key value: {other:?}"),
    }
}

fn check_pair(client_id: &str, secret: &str) {
    assert!(!client_id.is_empty() && !secret.is_empty());
    assert!(!client_id.contains(':') && !secret.contains(':'));
}

/// `data` as request headers, one `name: value` per line.
fn check_request(data: &[u8]) {
    let lines: Vec<(&str, &[u8])> = data
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            Some((name, value))
        })
        .collect();
    let headers = Lines(&lines);
    match extract(&headers, "x-api-key") {
        Ok(_) => {}
        Err(Rejection::Missing) => {
            assert!(matches!(headers.get("authorization"), Ok(None)));
            assert!(matches!(headers.get("x-api-key"), Ok(None)));
        }
        Err(Rejection::Ambiguous) => assert!(lines.len() >= 2),
        Err(_) => {}
    }
}

struct Lines<'a>(&'a [(&'a str, &'a [u8])]);

impl<'a> HeaderLookup<'a> for Lines<'a> {
    fn get(&self, name: &str) -> Result<Option<&'a str>, Rejection> {
        single_value(self.0.iter().copied(), name)
    }
}

#[cfg(test)]
mod tests {
    use apikeys_test_support::fuzz_seeds::{corpus, seeded};
    use rand::Rng;
    use rand::rngs::StdRng;

    use super::*;

    /// A fixed seed gives the same inputs on every run and machine.
    struct Inputs(StdRng);

    impl Inputs {
        fn next(&mut self) -> u64 {
            self.0.r#gen()
        }

        fn below(&mut self, n: usize) -> usize {
            self.0.gen_range(0..n)
        }

        /// Pieces that reach the parsers' branches, joined with random bytes.
        fn input(&mut self) -> Vec<u8> {
            const PIECES: &[&[u8]] = &[
                b"Bearer ",
                b"bearer ",
                b"Basic ",
                b"BASIC ",
                b"Digest ",
                b"authorization: ",
                b"x-api-key: ",
                b"\n",
                b":",
                b" ",
                b"\t",
                b"=",
                b"akc_",
                b"aks_",
                b"\xff",
                b"\xc3\xa9",
                b"\0",
                b"YWtjX2lkOmFrc19zZWNyZXQ=",
                b"OmE=",
                b"YTpiOmM",
            ];
            let mut out = Vec::new();
            for _ in 0..self.below(12) {
                if self.below(3) == 0 {
                    let len = self.below(40);
                    out.extend((0..len).map(|_| self.next() as u8));
                } else {
                    out.extend_from_slice(PIECES[self.below(PIECES.len())]);
                }
            }
            if self.below(50) == 0 {
                out.extend(std::iter::repeat_n(b'A', MAX_HEADER_LEN));
            }
            out
        }
    }

    #[test]
    fn committed_seed_corpus_passes_the_harness() {
        let inputs = corpus();
        assert!(inputs.len() >= 10, "the seed corpus is missing");
        for input in inputs {
            parse_all(&input);
        }
    }

    #[test]
    fn pseudo_random_inputs_from_a_fixed_seed_pass_the_harness() {
        let mut inputs = Inputs(seeded(0x5eed_0001));
        for _ in 0..5_000 {
            parse_all(&inputs.input());
        }
    }
}
