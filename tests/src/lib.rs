//! Black-box tests of the `apikeys` binary live in `blackbox/` (one integration test binary);
//! this library is intentionally empty.
