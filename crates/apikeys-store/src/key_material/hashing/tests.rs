use super::*;

fn cheap() -> SecretHasher {
    SecretHasher::new(HashingParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap()
}

#[test]
fn hashes_are_interchangeable_with_argon2s_own_api() {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    let hasher = cheap();
    let secret = ClientSecret::generate();
    // Made by argon2's own hash_password: stored hashes made that way must keep verifying.
    let salt = SaltString::generate(&mut OsRng);
    let theirs = hasher
        .argon2
        .hash_password(secret.expose().as_bytes(), &salt)
        .unwrap()
        .to_string();
    assert!(hasher.verify(&secret, &SecretHash(theirs.clone())));
    assert!(!hasher.verify(&ClientSecret::generate(), &SecretHash(theirs)));
    // Ours verifies with argon2's own verifier, and has the same PHC shape.
    let ours = hasher.hash(&secret).unwrap();
    let parsed = PasswordHash::new(ours.as_str()).unwrap();
    assert!(
        hasher
            .argon2
            .verify_password(secret.expose().as_bytes(), &parsed)
            .is_ok()
    );
    assert!(
        ours.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "{}",
        ours.as_str()
    );
    // A bigger cost after a smaller one on the same thread reuses and grows the buffer.
    let bigger = SecretHasher::new(HashingParams {
        memory_kib: 256,
        iterations: 1,
        parallelism: 2,
    })
    .unwrap();
    let big = bigger.hash(&secret).unwrap();
    assert!(hasher.verify(&secret, &big) && bigger.verify(&secret, &ours));
}

/// A PHC string with the given parameter segment and a well-formed salt and hash.
fn phc_with(params: &str) -> SecretHash {
    SecretHash::from_stored(format!(
        "$argon2id$v=19${params}$c29tZXNhbHRzb21lc2FsdA$\
         AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    ))
}

#[test]
fn hash_is_argon2id_phc_and_verifies_only_the_right_secret() {
    let hasher = cheap();
    let secret = ClientSecret::generate();
    let hash = hasher.hash(&secret).unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
    assert!(!hash.as_str().contains(secret.expose()));
    assert!(hasher.verify(&secret, &hash));
    assert!(!hasher.verify(&ClientSecret::generate(), &hash));
    assert_eq!(hasher.vet(&hash), Ok(()));
    assert!(!hasher.needs_rehash(&hash));
}

#[test]
fn hashes_made_with_other_parameters_still_verify_and_need_a_rehash() {
    let secret = ClientSecret::generate();
    let old = cheap().hash(&secret).unwrap();
    let current = SecretHasher::new(HashingParams {
        memory_kib: 128,
        iterations: 2,
        parallelism: 1,
    })
    .unwrap();
    assert!(current.verify(&secret, &old));
    assert!(current.needs_rehash(&old));
    let fresh = current.hash(&secret).unwrap();
    assert!(current.verify(&secret, &fresh));
    assert!(!current.needs_rehash(&fresh));
}

#[test]
fn garbage_stored_hash_verifies_nothing() {
    let hasher = cheap();
    let secret = ClientSecret::generate();
    let long = "$".repeat(1 << 20);
    for garbage in ["garbage", "", "$argon2id$", long.as_str()] {
        let stored = SecretHash::from_stored(garbage.into());
        assert_eq!(
            hasher.vet(&stored),
            Err(StoredHashRejection::Unparseable),
            "{:.40}",
            garbage
        );
        assert!(!hasher.verify(&secret, &stored));
        assert!(!hasher.needs_rehash(&stored));
    }
}

#[test]
fn other_algorithms_are_refused() {
    let hasher = cheap();
    for stored in [
        "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$i=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let stored = SecretHash::from_stored(stored.into());
        assert_eq!(
            hasher.vet(&stored),
            Err(StoredHashRejection::WrongAlgorithm)
        );
        assert!(!hasher.verify(&ClientSecret::generate(), &stored));
    }
}

#[test]
fn hostile_costs_are_refused_before_argon2_allocates() {
    // Were any of these handed to argon2, the test would allocate 4 GiB or spin for hours.
    let hasher = cheap();
    for params in [
        "m=4194304,t=1,p=1",
        "m=64,t=4294967295,p=1",
        "m=2040,t=1,p=255",
        "m=4194304,t=4294967295,p=255",
    ] {
        let stored = phc_with(params);
        assert_eq!(
            hasher.vet(&stored),
            Err(StoredHashRejection::CostOverCap),
            "{params}"
        );
        assert!(!hasher.verify(&ClientSecret::generate(), &stored));
    }
    // Out of argon2's own range (m below 8 × p, p above 2^24 - 1): unusable either way.
    for params in ["m=8,t=1,p=255", "m=64,t=1,p=99999999", "m=64,t=0,p=1"] {
        assert_eq!(
            hasher.vet(&phc_with(params)),
            Err(StoredHashRejection::Unparseable),
            "{params}"
        );
    }
}

#[test]
fn caps_allow_the_owasp_default_and_four_times_the_configured_cost() {
    let caps = cheap().caps;
    assert_eq!(caps.memory_kib, 4 * 19_456);
    assert_eq!(caps.iterations, 8);
    assert_eq!(caps.parallelism, 4);
    let big = HashingParams {
        memory_kib: 65_536,
        iterations: 3,
        parallelism: 2,
    }
    .stored_hash_caps();
    assert_eq!(
        (big.memory_kib, big.iterations, big.parallelism),
        (262_144, 12, 8)
    );
    assert_eq!(cheap().vet(&phc_with("m=77824,t=8,p=4")), Ok(()));
}

#[test]
fn default_parameters_are_owasp() {
    let hasher = SecretHasher::new(HashingParams::default()).unwrap();
    let hash = hasher.hash(&ClientSecret::generate()).unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}
