//! What a verified key may tell its caller. The verification cache holds one per cached key
//! (100 000 by default), so the three strings share one allocation: separate `String`s made
//! the cache cost about 480 bytes per key, mostly allocator overhead.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::NaiveDateTime;

use crate::verification::clock::{Now, unix_nanos_of};

#[derive(Debug)]
pub struct VerifiedKey {
    /// `client_id`, `account_id` and `email`, back to back.
    text: Box<str>,
    account_start: u32,
    email_start: u32,
    pub created_at: NaiveDateTime,
    /// The expiry as Unix nanoseconds (`i64::MAX`: none), compared on every use without
    /// calendar arithmetic.
    expires_unix_nanos: i64,
    /// The Unix second (low 32 bits) in which a use of this key was last noted for
    /// `last_used_at`; see [`VerifiedKey::first_use_in_second`].
    use_noted_in: AtomicU32,
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
            expires_unix_nanos: expires_at.map_or(i64::MAX, unix_nanos_of),
            use_noted_in: AtomicU32::new(u32::MAX),
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

    pub(super) fn usable_at(&self, now: &Now) -> bool {
        self.expires_unix_nanos > now.unix_nanos()
    }

    /// True for the first use of this key in each second, which is then noted for
    /// `last_used_at`. Later uses in the same second are not: noting every use would take a
    /// lock every thread shares and a map write per call, for a time only ever shown to the
    /// second. An entry of its own per key, written at most once a second, is not shared that
    /// way.
    pub(super) fn first_use_in_second(&self, now: &Now) -> bool {
        // The low 32 bits tell seconds apart; only equality is asked of them.
        let second = now.unix_seconds() as u32;
        self.use_noted_in.load(Ordering::Relaxed) != second
            && self.use_noted_in.swap(second, Ordering::Relaxed) != second
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

    #[test]
    fn usable_until_the_expiry_to_the_nanosecond() {
        let now = Now::read();
        let at = now.naive_utc();
        let expiring = |offset: i64| {
            VerifiedKey::new(
                "akc_x",
                "acme",
                "ops@acme.com",
                at,
                Some(at + chrono::Duration::nanoseconds(offset)),
            )
        };
        assert!(expiring(1).usable_at(&now));
        assert!(!expiring(0).usable_at(&now));
        assert!(!expiring(-1).usable_at(&now));
        assert!(VerifiedKey::new("akc_x", "acme", "ops@acme.com", at, None).usable_at(&now));
    }

    #[test]
    fn a_use_is_noted_once_per_second() {
        let key = VerifiedKey::new(
            "akc_x",
            "acme",
            "ops@acme.com",
            Now::read().naive_utc(),
            None,
        );
        let now = Now::read();
        assert!(key.first_use_in_second(&now));
        assert!(!key.first_use_in_second(&now));
        let later = now_plus_seconds(now, 1);
        assert!(key.first_use_in_second(&later));
        assert!(!key.first_use_in_second(&later));
        assert!(
            key.first_use_in_second(&now),
            "a clock set back counts as another second"
        );
    }

    fn now_plus_seconds(now: Now, seconds: i64) -> Now {
        Now::at_unix_nanos_for_tests(now.unix_nanos() + seconds * 1_000_000_000)
    }
}
