//! Store models → protobuf messages.

use apikeys_proto::pb;
use apikeys_store::AuditAction;
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

/// An audit row as callers see it. The free-form `detail` column is not part of the contract, so
/// whatever a later version records there cannot leak through this message.
pub fn audit_event(event: apikeys_store::AuditEvent) -> pb::AuditEvent {
    let action = match event.recorded_action() {
        Some(AuditAction::KeyCreated) => pb::AuditAction::KeyCreated,
        Some(AuditAction::KeyRevoked) => pb::AuditAction::KeyRevoked,
        Some(AuditAction::ApiAccessEnabled) => pb::AuditAction::ApiAccessEnabled,
        Some(AuditAction::ApiAccessDisabled) => pb::AuditAction::ApiAccessDisabled,
        None => pb::AuditAction::Unspecified,
    };
    pb::AuditEvent {
        create_time: Some(timestamp(event.at)),
        actor: event.actor,
        account_id: event.account_id,
        action: action.into(),
        client_id: event.client_id.unwrap_or_default(),
    }
}
