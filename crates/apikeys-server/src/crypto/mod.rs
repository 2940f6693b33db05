//! The service's own key material and hashing machinery: the bounded argon2 pool, the keyed
//! digests its caches remember secrets by, and the random keys it keeps in files.

pub mod hashing_pool;
pub mod key_file;
pub mod keyed_digest;

pub use hashing_pool::HashingPool;
