//! Rows as the store hands them out. Timestamps are UTC (`NaiveDateTime` holding UTC, as both
//! backends store them).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::{AccountId, Actor};
use crate::key_material::{ClientId, SecretHash};
use crate::schema::{accounts, api_keys, audit_events};

/// An account's API access state.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Account {
    pub account_id: String,
    pub api_access_enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An API key without its secret hash.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ApiKey {
    pub client_id: String,
    pub account_id: String,
    pub email: String,
    pub display_name: String,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<NaiveDateTime>,
}

impl ApiKey {
    pub fn client_id(&self) -> ClientId {
        ClientId::from_trusted(self.client_id.clone())
    }
}

/// What verifying a presented secret needs: the key, its hash, and whether it may be used now.
#[derive(Debug, Clone)]
pub struct KeyCredential {
    pub key: ApiKey,
    pub secret_hash: SecretHash,
    pub account_api_access_enabled: bool,
}

impl KeyCredential {
    /// Active means: not revoked, not expired, and the account has API access.
    pub fn is_usable_at(&self, now: NaiveDateTime) -> bool {
        self.account_api_access_enabled
            && self.key.revoked_at.is_none()
            && self.key.expires_at.is_none_or(|expiry| expiry > now)
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
pub(crate) struct NewApiKeyRow<'a> {
    pub client_id: &'a str,
    pub account_id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub secret_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub created_by: &'a str,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditEvent {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub account_id: String,
    pub action: String,
    pub client_id: Option<String>,
    pub detail: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
pub(crate) struct NewAuditEvent<'a> {
    pub at: NaiveDateTime,
    pub actor: &'a str,
    pub account_id: &'a str,
    pub action: &'a str,
    pub client_id: Option<&'a str>,
    pub detail: String,
}

impl<'a> NewAuditEvent<'a> {
    /// `actor` did `action` (one of [`audit_action`]) at `at` to `account_id`, and to the key
    /// `client_id` if the action concerns one; `detail` is stored as JSON text.
    pub(crate) fn new(
        at: NaiveDateTime,
        actor: &'a Actor,
        account_id: &'a AccountId,
        action: &'a str,
        client_id: Option<&'a ClientId>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            at,
            actor: actor.as_str(),
            account_id: account_id.as_str(),
            action,
            client_id: client_id.map(ClientId::as_str),
            detail: detail.to_string(),
        }
    }

    /// The INSERT of this event, to run in the transaction of the change it records.
    pub(crate) fn insert(
        &self,
    ) -> diesel::dsl::Values<diesel::dsl::insert_into<audit_events::table>, &Self> {
        diesel::insert_into(audit_events::table).values(self)
    }
}

/// The actions recorded in `audit_events.action`.
pub(crate) mod audit_action {
    pub const KEY_CREATED: &str = "key.created";
    pub const KEY_REVOKED: &str = "key.revoked";
    pub const API_ACCESS_ENABLED: &str = "account.api_access_enabled";
    pub const API_ACCESS_DISABLED: &str = "account.api_access_disabled";
}
