//! The `authorization` values each thread accepted last, recognised by their bytes.
//!
//! A gateway sends the same caller token on every call. Recognising it in the shared cache
//! meant a keyed BLAKE3 digest of its ~350 bytes, an ASCII check and a `Bearer` parse of the
//! value, the lock of a cache shard that every thread takes for that one token, and a reference
//! count that every thread writes. Here a hit is a constant-time comparison with a value this
//! thread accepted before, and a reference count only this thread writes.
//!
//! Unlike the shared cache, this keeps the values themselves: at most [`PER_THREAD`] per
//! thread, each no longer than the longest token accepted, trusted no longer than the shared
//! cache trusts them, and kept until replaced or found expired. A thread only ever finds values
//! it verified or found in the shared cache itself.

use std::cell::RefCell;
use std::sync::Arc;

use super::Caller;

/// Distinct callers (gateways, back offices) one thread remembers; more take turns.
const PER_THREAD: usize = 4;

struct Remembered {
    /// Which [`super::Authenticator`] accepted the value: another one (another identity
    /// provider, in tests another server) must not trust it.
    verifier: u64,
    value: Box<[u8]>,
    /// This thread's own copy, so cloning it writes a count no other thread shares.
    caller: Arc<Caller>,
    /// Unix seconds, as in the shared cache.
    trusted_until: i64,
}

thread_local! {
    static RECENT: RefCell<Vec<Remembered>> = const { RefCell::new(Vec::new()) };
}

/// The caller behind `value` if this thread accepted exactly these bytes for `verifier` and
/// still trusts them at `now`.
pub(super) fn recall(verifier: u64, value: &[u8], now: i64) -> Option<Arc<Caller>> {
    RECENT.with(|recent| {
        let mut recent = recent.try_borrow_mut().ok()?;
        let index = recent.iter().position(|entry| {
            entry.verifier == verifier
                // Lengths are not secret; contents are compared in constant time.
                && constant_time_eq::constant_time_eq(&entry.value, value)
        })?;
        if now < recent[index].trusted_until {
            Some(Arc::clone(&recent[index].caller))
        } else {
            recent.remove(index);
            None
        }
    })
}

/// Notes that `verifier` accepted `value` as `caller` until `trusted_until`.
pub(super) fn remember(verifier: u64, value: &[u8], caller: &Caller, trusted_until: i64, now: i64) {
    RECENT.with(|recent| {
        let Ok(mut recent) = recent.try_borrow_mut() else {
            return;
        };
        recent.retain(|entry| now < entry.trusted_until && *entry.value != *value);
        if recent.len() >= PER_THREAD {
            // The oldest goes: entries are pushed in the order they were accepted.
            recent.remove(0);
        }
        recent.push(Remembered {
            verifier,
            value: value.into(),
            caller: Arc::new(caller.clone()),
            trusted_until,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(subject: &str) -> Caller {
        Caller {
            subject: subject.to_owned(),
            email: None,
            account_id: None,
            role: None,
            staff: false,
            scopes: vec!["introspect".to_owned()],
        }
    }

    #[test]
    fn recalls_exactly_the_value_the_same_verifier_accepted_while_trusted() {
        // Each test runs on a thread of its own: nothing is remembered yet.
        remember(1, b"Bearer aaa", &caller("gw"), 100, 0);
        assert_eq!(
            recall(1, b"Bearer aaa", 99).map(|c| c.subject.clone()),
            Some("gw".into())
        );
        assert!(recall(1, b"Bearer aab", 99).is_none());
        assert!(recall(1, b"Bearer aa", 99).is_none());
        assert!(recall(1, b"Bearer aaaa", 99).is_none());
        assert!(
            recall(2, b"Bearer aaa", 99).is_none(),
            "another verifier's value"
        );
        assert!(
            recall(1, b"Bearer aaa", 100).is_none(),
            "trusted until 100, not at 100"
        );
        assert!(
            recall(1, b"Bearer aaa", 50).is_none(),
            "an expired value is forgotten"
        );
    }

    #[test]
    fn keeps_the_most_recent_few_and_replaces_a_value_accepted_again() {
        for n in 0..PER_THREAD + 2 {
            remember(
                1,
                format!("Bearer {n}").as_bytes(),
                &caller(&n.to_string()),
                100,
                0,
            );
        }
        assert!(recall(1, b"Bearer 0", 1).is_none());
        assert!(recall(1, b"Bearer 1", 1).is_none());
        for n in 2..PER_THREAD + 2 {
            assert!(
                recall(1, format!("Bearer {n}").as_bytes(), 1).is_some(),
                "{n}"
            );
        }
        remember(1, b"Bearer 2", &caller("again"), 200, 1);
        let again = recall(1, b"Bearer 2", 150).expect("re-remembered");
        assert_eq!(again.subject, "again");
        RECENT.with(|recent| assert_eq!(recent.borrow().len(), PER_THREAD));
    }

    #[test]
    fn forgetting_an_expired_value_keeps_the_others_in_order() {
        remember(1, b"Bearer a", &caller("a"), 10, 0);
        for name in ["b", "c", "d"] {
            remember(
                1,
                format!("Bearer {name}").as_bytes(),
                &caller(name),
                100,
                0,
            );
        }
        assert!(
            recall(1, b"Bearer a", 20).is_none(),
            "expired, and forgotten"
        );
        remember(1, b"Bearer e", &caller("e"), 100, 20);
        remember(1, b"Bearer f", &caller("f"), 100, 20);
        assert!(
            recall(1, b"Bearer b", 21).is_none(),
            "the oldest left went first"
        );
        for name in ["c", "d", "e", "f"] {
            assert!(
                recall(1, format!("Bearer {name}").as_bytes(), 21).is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_hit_clones_this_threads_own_copy() {
        let shared = Arc::new(caller("gw"));
        remember(7, b"Bearer t", &shared, 100, 0);
        let recalled = recall(7, b"Bearer t", 1).expect("remembered");
        assert!(!Arc::ptr_eq(&shared, &recalled));
        assert_eq!(*shared, *recalled);
        let elsewhere = std::thread::spawn(|| recall(7, b"Bearer t", 1).is_none())
            .join()
            .unwrap();
        assert!(elsewhere, "another thread has not accepted the value");
    }
}
