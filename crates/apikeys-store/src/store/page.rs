use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};

use crate::domain::{AccountId, ValidationError};
use crate::key_material::ClientId;
use crate::models::ApiKey;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;
const TOKEN_VERSION: &str = "v1";
/// Real tokens are ~200 bytes; anything much longer is rejected before decoding.
const MAX_TOKEN_LEN: usize = 1024;

/// A validated ListKeys page request.
///
/// The page token is an opaque position (`created_at`, `client_id`) bound to the account it was
/// issued for. It is not signed: it grants nothing, since every query is scoped to the account
/// the caller is authorised for, and a hand-made token only moves the starting point within that
/// account's own keys. Tokens of another account or that do not decode are rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    page_size: u32,
    cursor: Option<PageCursor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageCursor {
    pub created_at: NaiveDateTime,
    pub client_id: ClientId,
    pub account_id: String,
}

/// One page of keys and the token for the next one (`None` at the end).
#[derive(Debug, Clone)]
pub struct KeyPage {
    pub keys: Vec<ApiKey>,
    pub next_page_token: Option<String>,
}

impl KeyPage {
    pub(crate) fn new(keys: Vec<ApiKey>, next: Option<PageCursor>) -> Self {
        Self {
            keys,
            next_page_token: next.map(|cursor| cursor.encode()),
        }
    }
}

impl PageRequest {
    /// `page_size` 0 means the default (50); negative or above 1000 is rejected.
    pub fn parse(
        account_id: &AccountId,
        page_size: i32,
        page_token: &str,
    ) -> Result<Self, ValidationError> {
        let page_size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => {
                return Err(ValidationError::new("page_size", "must not be negative"));
            }
            n if n as u32 > MAX_PAGE_SIZE => {
                return Err(ValidationError::new(
                    "page_size",
                    format!("must be at most {MAX_PAGE_SIZE}"),
                ));
            }
            n => n as u32,
        };
        let cursor = if page_token.is_empty() {
            None
        } else {
            Some(PageCursor::decode(page_token, account_id)?)
        };
        Ok(Self { page_size, cursor })
    }

    pub fn first(page_size: u32) -> Self {
        Self {
            page_size: page_size.clamp(1, MAX_PAGE_SIZE),
            cursor: None,
        }
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    pub(crate) fn cursor(&self) -> Option<&PageCursor> {
        self.cursor.as_ref()
    }
}

impl PageCursor {
    pub fn after(account_id: &AccountId, last: &ApiKey) -> Self {
        Self {
            created_at: last.created_at,
            client_id: last.client_id(),
            account_id: account_id.as_str().to_owned(),
        }
    }

    fn encode(&self) -> String {
        let micros = self.created_at.and_utc().timestamp_micros();
        let plain = format!(
            "{TOKEN_VERSION}|{micros}|{}|{}",
            self.client_id, self.account_id
        );
        URL_SAFE_NO_PAD.encode(plain)
    }

    fn decode(token: &str, account_id: &AccountId) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("page_token", "is not a valid page token");
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let plain = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = plain.splitn(4, '|');
        let (Some(TOKEN_VERSION), Some(micros), Some(client_id), Some(token_account)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(invalid)?
            .naive_utc();
        let client_id = ClientId::parse("page_token", client_id).map_err(|_| invalid())?;
        if token_account != account_id.as_str() {
            return Err(ValidationError::new(
                "page_token",
                "was issued for another account",
            ));
        }
        Ok(Self {
            created_at,
            client_id,
            account_id: token_account.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::parse("account_id", id).unwrap()
    }

    #[test]
    fn page_size_defaults_and_bounds() {
        let acme = account("acme");
        assert_eq!(PageRequest::parse(&acme, 0, "").unwrap().page_size(), 50);
        assert_eq!(
            PageRequest::parse(&acme, 1000, "").unwrap().page_size(),
            1000
        );
        assert_eq!(
            PageRequest::parse(&acme, -1, "").unwrap_err().field,
            "page_size"
        );
        assert_eq!(
            PageRequest::parse(&acme, 1001, "").unwrap_err().field,
            "page_size"
        );
    }

    #[test]
    fn token_round_trips_for_its_account_only() {
        let acme = account("acme|with|pipes");
        let cursor = PageCursor {
            created_at: DateTime::from_timestamp_micros(1_780_000_000_123_456)
                .unwrap()
                .naive_utc(),
            client_id: ClientId::generate(),
            account_id: acme.as_str().to_owned(),
        };
        let token = cursor.encode();
        let parsed = PageRequest::parse(&acme, 10, &token).unwrap();
        assert_eq!(parsed.cursor(), Some(&cursor));
        let other = PageRequest::parse(&account("globex"), 10, &token).unwrap_err();
        assert!(other.reason.contains("another account"));
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let acme = account("acme");
        let long = "A".repeat(5000);
        for bad in [
            "garbage!",
            "djF8eHx5fHo",
            long.as_str(),
            &URL_SAFE_NO_PAD.encode("v1|notanumber|akc_x|acme"),
            &URL_SAFE_NO_PAD.encode("v2|1|akc_AAAAAAAAAAAAAAAAAAAAAAAA|acme"),
            &URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00]),
        ] {
            assert_eq!(
                PageRequest::parse(&acme, 10, bad).unwrap_err().field,
                "page_token",
                "{bad}"
            );
        }
    }
}
