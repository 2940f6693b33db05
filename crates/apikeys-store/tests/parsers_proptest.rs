//! Property tests of every parser that sees request input before anything else does: no input
//! panics, every rejection names its field (the server turns it into INVALID_ARGUMENT with that
//! field first), and valid generated inputs are accepted and come back unchanged.
#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

use apikeys_store::{AccountId, ClientId, ClientSecret, DisplayName, Email, PageRequest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

/// Any string, biased towards the characters the parsers branch on.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9_@.:|\\-+ ]{0,64}",
        "(akc_|aks_)[0-9A-Za-z]{0,60}",
        // Multi-byte characters where the parsers split at byte offsets.
        "(akc_|aks_)[0-9A-Za-z\u{e9}\u{20ac}]{20,49}",
        "aks_[0-9A-Za-z]{41,43}[\u{e9}\u{20ac}][0-9A-Za-z]{3,6}",
        "[\\x00-\\x1f\\u{80}-\\u{10ffff}@.a]{0,40}",
        (0usize..600).prop_map(|n| "a".repeat(n)),
    ]
}

fn account_id() -> impl Strategy<Value = AccountId> {
    "[!-~]{1,128}".prop_map(|raw| AccountId::parse("account_id", &raw).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn client_id_parsers_never_panic_and_name_the_field(raw in hostile_string()) {
        match ClientId::parse("client_id", &raw) {
            Ok(id) => {
                prop_assert_eq!(id.as_str(), raw.as_str());
                prop_assert!(raw.starts_with("akc_") && raw.len() == 28);
            }
            Err(error) => {
                prop_assert_eq!(error.field, "client_id");
                prop_assert!(error.to_string().starts_with("client_id: "));
            }
        }
        if let Err(error) = ClientId::parse_reference("client_id", &raw) {
            prop_assert_eq!(error.field, "client_id");
            prop_assert!(raw.is_empty() || raw.len() > 128);
        }
    }

    #[test]
    fn generated_client_ids_round_trip(_seed in any::<u8>()) {
        let id = ClientId::generate();
        prop_assert_eq!(ClientId::parse("client_id", id.as_str()).unwrap(), id.clone());
        prop_assert_eq!(ClientId::parse_reference("client_id", id.as_str()).unwrap(), Some(id));
    }

    #[test]
    fn secret_parser_never_panics_and_accepts_only_the_format(raw in hostile_string()) {
        if let Some(secret) = ClientSecret::parse(&raw) {
            prop_assert_eq!(secret.expose(), raw.as_str());
            prop_assert!(raw.starts_with("aks_") && raw.len() == 53);
        }
    }

    #[test]
    fn generated_secrets_round_trip_and_any_edit_is_caught(position in 4usize..53, byte in any::<u8>()) {
        let secret = ClientSecret::generate();
        let raw = secret.expose();
        let parsed = ClientSecret::parse(raw).unwrap();
        prop_assert_eq!(parsed.expose(), raw);
        let mut edited = raw.as_bytes().to_vec();
        prop_assume!(edited[position] != byte);
        edited[position] = byte;
        let edited = String::from_utf8_lossy(&edited);
        prop_assert!(ClientSecret::parse(&edited).is_none());
    }

    #[test]
    fn email_parser_never_panics_and_names_the_field(raw in hostile_string()) {
        match Email::parse("email", &raw) {
            Ok(email) => {
                // Stored and returned exactly as given: never normalised.
                prop_assert_eq!(email.as_str(), raw.as_str());
                prop_assert!(raw.len() <= 254 && raw.contains('@'));
                prop_assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()));
            }
            Err(error) => {
                prop_assert_eq!(error.field, "email");
                prop_assert!(error.to_string().starts_with("email: "));
            }
        }
    }

    #[test]
    fn generated_emails_round_trip(
        raw in "[a-z0-9]{1,20}(\\.[a-z0-9+]{1,10})?@[a-z0-9]{1,20}(\\.[a-z0-9]{1,10})?\\.[a-z]{2,6}"
    ) {
        let parsed = Email::parse("email", &raw).unwrap();
        prop_assert_eq!(parsed.as_str(), raw.as_str());
    }

    #[test]
    fn account_id_parser_never_panics_and_names_the_field(raw in hostile_string()) {
        match AccountId::parse("account_id", &raw) {
            Ok(id) => {
                prop_assert_eq!(id.as_str(), raw.as_str());
                prop_assert!(!raw.is_empty() && raw.len() <= 128);
                prop_assert!(raw.bytes().all(|b| b.is_ascii_graphic()));
            }
            Err(error) => prop_assert_eq!(error.field, "account_id"),
        }
    }

    #[test]
    fn generated_account_ids_round_trip(raw in "[!-~]{1,128}") {
        let parsed = AccountId::parse("account_id", &raw).unwrap();
        prop_assert_eq!(parsed.as_str(), raw.as_str());
    }

    #[test]
    fn display_name_parser_never_panics_and_names_the_field(raw in hostile_string()) {
        match DisplayName::parse("display_name", &raw) {
            Ok(name) => {
                prop_assert_eq!(name.as_str(), raw.trim());
                prop_assert!(raw.chars().count() <= 200);
                prop_assert!(!raw.chars().any(char::is_control));
            }
            Err(error) => prop_assert_eq!(error.field, "display_name"),
        }
    }

    #[test]
    fn generated_display_names_round_trip(raw in "[^\\p{Cc}\\s]([^\\p{Cc}]{0,198}[^\\p{Cc}\\s])?") {
        let parsed = DisplayName::parse("display_name", &raw).unwrap();
        prop_assert_eq!(parsed.as_str(), raw.as_str());
    }

    #[test]
    fn page_requests_never_panic_and_name_the_field(
        account in account_id(),
        size in any::<i32>(),
        token in prop_oneof![
            hostile_string(),
            hostile_string().prop_map(|plain| URL_SAFE_NO_PAD.encode(plain)),
            (any::<i64>(), hostile_string(), hostile_string())
                .prop_map(|(t, id, acc)| URL_SAFE_NO_PAD.encode(format!("v1|{t}|{id}|{acc}"))),
        ],
    ) {
        match PageRequest::parse(&account, size, &token) {
            Ok(page) => {
                prop_assert!((1..=1000).contains(&page.page_size()));
                prop_assert!((0..=1000).contains(&size));
            }
            Err(error) => prop_assert!(
                error.field == "page_size" || error.field == "page_token",
                "{error}"
            ),
        }
    }

    /// A token in the documented position format is accepted for its own account only.
    #[test]
    fn well_formed_page_tokens_bind_to_their_account(
        account in account_id(),
        other in account_id(),
        micros in -8_000_000_000_000_000i64..8_000_000_000_000_000,
        size in 0i32..=1000,
    ) {
        let token = URL_SAFE_NO_PAD.encode(format!("v1|{micros}|{}|{account}", ClientId::generate()));
        let page = PageRequest::parse(&account, size, &token).unwrap();
        prop_assert_eq!(page.page_size(), if size == 0 { 50 } else { size as u32 });
        if other != account {
            let error = PageRequest::parse(&other, size, &token).unwrap_err();
            prop_assert_eq!(error.field, "page_token");
        }
    }
}
