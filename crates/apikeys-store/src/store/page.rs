use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};

use crate::domain::{AccountId, ValidationError};
use crate::key_material::ClientId;
use crate::models::ApiKey;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;
const TOKEN_VERSION: &str = "v1";
const AUDIT_TOKEN_VERSION: &str = "a1";
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
        let page_size = parse_page_size(page_size)?;
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

/// `page_size` 0 means the default (50); negative or above 1000 is rejected.
fn parse_page_size(page_size: i32) -> Result<u32, ValidationError> {
    match u32::try_from(page_size) {
        Err(_) => Err(ValidationError::new("page_size", "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n > MAX_PAGE_SIZE => Err(ValidationError::new(
            "page_size",
            format!("must be at most {MAX_PAGE_SIZE}"),
        )),
        Ok(n) => Ok(n),
    }
}

/// How many rows a list query fetches for a page: one more than the page holds, whose presence
/// tells that another page follows.
pub(super) fn rows_to_fetch(page_size: u32) -> i64 {
    i64::from(page_size) + 1
}

/// Cuts `rows`, fetched with [`rows_to_fetch`], to the page; returns the last row kept if
/// another page follows, for the next page's token.
pub(super) fn last_if_more<T>(rows: &mut Vec<T>, page_size: u32) -> Option<&T> {
    if rows.len() > page_size as usize {
        rows.truncate(page_size as usize);
        rows.last()
    } else {
        None
    }
}

fn invalid_token() -> ValidationError {
    ValidationError::new("page_token", "is not a valid page token")
}

/// Tokens are bound to the account they were issued for.
fn check_issued_for(token_account: &str, account_id: &AccountId) -> Result<(), ValidationError> {
    if token_account != account_id.as_str() {
        return Err(ValidationError::new(
            "page_token",
            "was issued for another account",
        ));
    }
    Ok(())
}

/// The `|`-separated text of a token, or `None` if it is oversized or not base64 of UTF-8.
fn decode_token(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()
}

/// A validated ListAuditEvents page request: ListKeys' page sizes, and a position after the
/// audit id last returned (ids grow with time, so "newest first" is "id descending").
///
/// Like ListKeys tokens, the token is unsigned and bound to the account; its own version tag
/// keeps ListKeys tokens from being mistaken for it (and the other way round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPageRequest {
    page_size: u32,
    before_id: Option<i64>,
}

impl AuditPageRequest {
    pub fn parse(
        account_id: &AccountId,
        page_size: i32,
        page_token: &str,
    ) -> Result<Self, ValidationError> {
        let page_size = parse_page_size(page_size)?;
        let before_id = if page_token.is_empty() {
            None
        } else {
            Some(decode_audit_cursor(page_token, account_id)?)
        };
        Ok(Self {
            page_size,
            before_id,
        })
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// Only events with a smaller id belong on this page.
    pub(crate) fn before_id(&self) -> Option<i64> {
        self.before_id
    }

    /// The token that continues after the event with id `last_id`.
    pub(crate) fn next_token(account_id: &AccountId, last_id: i64) -> String {
        URL_SAFE_NO_PAD.encode(format!("{AUDIT_TOKEN_VERSION}|{last_id}|{account_id}"))
    }
}

fn decode_audit_cursor(token: &str, account_id: &AccountId) -> Result<i64, ValidationError> {
    let plain = decode_token(token).ok_or_else(invalid_token)?;
    let mut parts = plain.splitn(3, '|');
    let (Some(AUDIT_TOKEN_VERSION), Some(id), Some(token_account)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid_token());
    };
    let id = id.parse::<i64>().map_err(|_| invalid_token())?;
    check_issued_for(token_account, account_id)?;
    Ok(id)
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
        let plain = decode_token(token).ok_or_else(invalid_token)?;
        let mut parts = plain.splitn(4, '|');
        let (Some(TOKEN_VERSION), Some(micros), Some(client_id), Some(token_account)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid_token());
        };
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(invalid_token)?
            .naive_utc();
        let client_id = ClientId::parse("page_token", client_id).map_err(|_| invalid_token())?;
        check_issued_for(token_account, account_id)?;
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
    fn audit_tokens_round_trip_and_never_pass_for_key_tokens() {
        let acme = account("acme|with|pipes");
        let token = AuditPageRequest::next_token(&acme, 42);
        let parsed = AuditPageRequest::parse(&acme, 0, &token).unwrap();
        assert_eq!((parsed.page_size(), parsed.before_id()), (50, Some(42)));
        let other = AuditPageRequest::parse(&account("globex"), 10, &token).unwrap_err();
        assert_eq!(other.field, "page_token");
        assert!(other.reason.contains("another account"));
        assert_eq!(
            PageRequest::parse(&acme, 10, &token).unwrap_err().field,
            "page_token"
        );
        let key_token = PageCursor {
            created_at: DateTime::from_timestamp_micros(1).unwrap().naive_utc(),
            client_id: ClientId::generate(),
            account_id: acme.as_str().to_owned(),
        }
        .encode();
        assert_eq!(
            AuditPageRequest::parse(&acme, 10, &key_token)
                .unwrap_err()
                .field,
            "page_token"
        );
        assert_eq!(
            AuditPageRequest::parse(&acme, -1, "").unwrap_err().field,
            "page_size"
        );
        assert_eq!(
            AuditPageRequest::parse(&acme, 1001, "").unwrap_err().field,
            "page_size"
        );
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
            &URL_SAFE_NO_PAD.encode("a1|notanumber|acme"),
            &URL_SAFE_NO_PAD.encode("a1|7"),
        ] {
            assert_eq!(
                PageRequest::parse(&acme, 10, bad).unwrap_err().field,
                "page_token",
                "{bad}"
            );
            assert_eq!(
                AuditPageRequest::parse(&acme, 10, bad).unwrap_err().field,
                "page_token",
                "{bad}"
            );
        }
    }
}
