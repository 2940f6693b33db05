//! The Client ID and Client Secret parsers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    apikeys_store::fuzzing::parse_credentials(data);
});
