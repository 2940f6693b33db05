//! Store models → protobuf messages.

use apikeys_proto::pb;
use chrono::NaiveDateTime;

pub fn timestamp(at: NaiveDateTime) -> prost_types::Timestamp {
    let utc = at.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: i32::try_from(utc.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn api_key(key: apikeys_store::ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        client_id: key.client_id,
        account_id: key.account_id,
        email: key.email,
        display_name: key.display_name,
        create_time: Some(timestamp(key.created_at)),
        revoke_time: key.revoked_at.map(timestamp),
        last_used_time: key.last_used_at.map(timestamp),
        creator: key.created_by,
    }
}

pub fn account(account: apikeys_store::Account) -> pb::Account {
    pb::Account {
        account_id: account.account_id,
        api_access_enabled: account.api_access_enabled,
        update_time: Some(timestamp(account.updated_at)),
    }
}
