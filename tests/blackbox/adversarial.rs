//! Adversarial input over the wire: oversized and malformed messages, hostile strings, a very
//! large account walked page by page, forged page tokens, hostile stored hashes, rehashing, and
//! key-confusion caller tokens. What `validation`, `authn` and `pagination` already cover
//! (ordinary bad ids and emails, bad and non-ASCII caller tokens, page sizes) is not repeated.

mod caller_keys;
mod encoding;
mod large_account;
mod raw;
mod stored_hashes;
mod strings;
