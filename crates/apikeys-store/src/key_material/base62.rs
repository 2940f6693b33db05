use rand::RngCore;
use rand::rngs::OsRng;

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Bytes at or above this (4 × 62) are dropped, so `byte % 62` is uniform.
const UNBIASED_BELOW: u8 = 248;

/// `len` characters drawn uniformly from the base62 alphabet with the OS CSPRNG
/// (log2(62) ≈ 5.95 bits each).
pub fn random_string(len: usize) -> String {
    // The OS source is read in batches: every read is a `getrandom` system call, and one per
    // character would be 67 of them per key (24 for the client id, 43 for the secret).
    let mut batch = [0u8; 64];
    let mut out = String::with_capacity(len);
    while out.len() < len {
        OsRng.fill_bytes(&mut batch);
        let unbiased = batch.iter().filter(|&&byte| byte < UNBIASED_BELOW);
        for &byte in unbiased.take(len - out.len()) {
            out.push(char::from(ALPHABET[usize::from(byte % 62)]));
        }
    }
    out
}

/// A u32 as exactly six base62 digits (62^6 > 2^32), most significant first.
pub fn u32_fixed6(mut value: u32) -> [u8; 6] {
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits
}

pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_encoding_covers_the_u32_range() {
        assert_eq!(&u32_fixed6(0), b"000000");
        assert_eq!(&u32_fixed6(61), b"00000z");
        assert_eq!(&u32_fixed6(62), b"000010");
        assert_eq!(&u32_fixed6(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn random_strings_use_only_the_alphabet() {
        let s = random_string(1000);
        assert_eq!(s.len(), 1000);
        assert!(is_base62(&s));
        for len in [0, 1, 63, 64, 65, 200] {
            assert_eq!(random_string(len).len(), len);
        }
    }

    #[test]
    fn every_character_is_equally_likely() {
        // 10 000 expected per character, standard deviation about 100: a 5 % band is five
        // deviations wide, while a plain `byte % 62` would put 21 % too many on '0'..='7'.
        let draws = random_string(62 * 10_000);
        let mut counts = [0u32; 62];
        for byte in draws.bytes() {
            let index = ALPHABET.iter().position(|&c| c == byte).expect("base62");
            counts[index] += 1;
        }
        for (index, &count) in counts.iter().enumerate() {
            assert!(
                (9_500..=10_500).contains(&count),
                "{} drawn {count} times",
                char::from(ALPHABET[index])
            );
        }
    }
}
