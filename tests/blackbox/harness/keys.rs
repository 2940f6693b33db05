//! The key formats of the contract: `akc_` + 24 base62 client ids, and `aks_` + 43 base62 +
//! 6 base62 CRC32 checksum chars secrets (53 chars).

use apikeys_proto::pb::IntrospectResponse;
use rand::Rng as _;

const CLIENT_ID_PREFIX: &str = "akc_";
const SECRET_PREFIX: &str = "aks_";
const SECRET_LEN: usize = 53;
const SECRET_BODY_LEN: usize = 47;

const BASE62_DIGITS_UPPER_FIRST: &[u8] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE62_DIGITS_LOWER_FIRST: &[u8] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[track_caller]
pub fn assert_client_id_format(client_id: &str) {
    let rest = client_id
        .strip_prefix(CLIENT_ID_PREFIX)
        .unwrap_or_else(|| panic!("client id {client_id:?} lacks the akc_ prefix"));
    assert!(
        rest.len() == 24 && is_base62(rest),
        "client id {client_id:?} is not akc_ + 24 base62 chars"
    );
}

#[track_caller]
pub fn assert_secret_format(secret: &str) {
    let rest = secret
        .strip_prefix(SECRET_PREFIX)
        .unwrap_or_else(|| panic!("secret lacks the aks_ prefix"));
    assert_eq!(secret.len(), SECRET_LEN, "secret is not 53 chars long");
    assert!(is_base62(rest), "secret after aks_ is not base62");
}

/// A well-formed client id that no server ever issued (fresh randomness).
pub fn unknown_client_id() -> String {
    let mut rng = rand::thread_rng();
    let body: String = (0..24)
        .map(|_| char::from(BASE62_DIGITS_UPPER_FIRST[rng.gen_range(0..62)]))
        .collect();
    format!("{CLIENT_ID_PREFIX}{body}")
}

/// The conventional ways to write a CRC32 as 6 base62 chars: two digit alphabets, most or
/// least significant digit first.
fn checksum(body: &str, variant: usize) -> String {
    let alphabet = if variant.is_multiple_of(2) {
        BASE62_DIGITS_UPPER_FIRST
    } else {
        BASE62_DIGITS_LOWER_FIRST
    };
    let mut n = crc32fast::hash(body.as_bytes());
    let mut digits: Vec<u8> = (0..6)
        .map(|_| {
            let digit = alphabet[(n % 62) as usize];
            n /= 62;
            digit
        })
        .collect();
    if variant < 2 {
        digits.reverse();
    }
    String::from_utf8(digits).expect("base62 is ascii")
}

/// Which conventional encoding of CRC32(first 47 chars) the secret's last 6 chars use, if any.
pub fn checksum_variant(secret: &str) -> Option<usize> {
    if secret.len() != SECRET_LEN || !secret.is_ascii() {
        return None;
    }
    let (body, sum) = secret.split_at(SECRET_BODY_LEN);
    (0..4).find(|&variant| checksum(body, variant) == sum)
}

/// A secret of the right format and a valid checksum (in `variant`) but a different value than
/// `secret`: one body char is changed.
pub fn forge_secret(secret: &str, variant: usize) -> String {
    let mut body = secret.as_bytes()[..SECRET_BODY_LEN].to_vec();
    body[20] = if body[20] == b'x' { b'y' } else { b'x' };
    let body = String::from_utf8(body).expect("ascii");
    let sum = checksum(&body, variant);
    format!("{body}{sum}")
}

/// Asserts an introspection answer is `active=false` with every other field empty.
#[track_caller]
pub fn assert_inactive(response: &IntrospectResponse, what: &str) {
    assert_eq!(
        response,
        &IntrospectResponse::default(),
        "{what}: expected active=false and nothing else"
    );
}
