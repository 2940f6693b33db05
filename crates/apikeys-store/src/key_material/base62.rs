use rand::Rng;
use rand::rngs::OsRng;

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from the base62 alphabet with the OS CSPRNG
/// (log2(62) ≈ 5.95 bits each).
pub fn random_string(len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
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
    }
}
