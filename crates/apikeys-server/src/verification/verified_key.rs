//! What a verified key may tell its caller. The verification cache holds one per cached key
//! (100 000 by default), so the three strings share one allocation: separate `String`s made
//! the cache cost about 480 bytes per key, mostly allocator overhead.

use chrono::NaiveDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    /// `client_id`, `account_id` and `email`, back to back.
    text: Box<str>,
    account_start: u32,
    email_start: u32,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

impl VerifiedKey {
    pub fn new(
        client_id: &str,
        account_id: &str,
        email: &str,
        created_at: NaiveDateTime,
        expires_at: Option<NaiveDateTime>,
    ) -> Self {
        let mut text = String::with_capacity(client_id.len() + account_id.len() + email.len());
        text.push_str(client_id);
        text.push_str(account_id);
        text.push_str(email);
        // Field caps (128, 128 and 254 bytes) keep these far below u32::MAX.
        let offset = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        Self {
            text: text.into_boxed_str(),
            account_start: offset(client_id.len()),
            email_start: offset(client_id.len() + account_id.len()),
            created_at,
            expires_at,
        }
    }

    pub fn client_id(&self) -> &str {
        self.part(0, self.account_start)
    }

    pub fn account_id(&self) -> &str {
        self.part(self.account_start, self.email_start)
    }

    pub fn email(&self) -> &str {
        self.part(self.email_start, u32::MAX)
    }

    pub(super) fn usable_at(&self, now: NaiveDateTime) -> bool {
        self.expires_at.is_none_or(|expiry| expiry > now)
    }

    fn part(&self, start: u32, end: u32) -> &str {
        let end = (end as usize).min(self.text.len());
        self.text.get(start as usize..end).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_as_given() {
        let at = chrono::DateTime::from_timestamp(1_790_000_000, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default();
        let key = VerifiedKey::new("akc_x", "acmé", "ops@acme.com", at, None);
        assert_eq!(key.client_id(), "akc_x");
        assert_eq!(key.account_id(), "acmé");
        assert_eq!(key.email(), "ops@acme.com");
        let empty = VerifiedKey::new("akc_y", "", "", at, None);
        assert_eq!(
            (empty.client_id(), empty.account_id(), empty.email()),
            ("akc_y", "", "")
        );
    }
}
