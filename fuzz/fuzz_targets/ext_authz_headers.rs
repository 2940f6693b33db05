//! The ext_authz header parsers (Basic, Bearer, API-key header, header lookup).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    apikeys_credentials::fuzzing::parse_all(data);
});
