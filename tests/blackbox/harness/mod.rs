//! Starting the real binary, minting caller tokens and talking to the three services.

mod api;
mod binary;
mod certs;
mod child_env;
mod cli;
mod every_rpc;
mod exit_status;
mod fixture;
mod keys;
mod pg_cluster;
mod server;
mod status;
mod token_api;
mod tokens;

pub use api::{Api, bearer};
pub use binary::apikeys_bin;
pub use certs::{TestCa, tls_channel};
pub use child_env::clear_inherited_settings;
pub use cli::{apikeys, run_apikeys};
pub use every_rpc::{RpcOutcome, basic_check_request};
pub use exit_status::describe_exit;
pub use fixture::Fixture;
pub use keys::{
    assert_client_id_format, assert_inactive, assert_secret_format, checksum_variant, forge_secret,
    unknown_client_id,
};
pub use pg_cluster::{PgCluster, StopMode, eventually};
pub use server::{Replica, TestServer};
pub use status::{assert_code, assert_invalid_argument};
pub use tokens::{TokenBuilder, Tokens, decode_claims, random_hex};
