use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Store;
use super::page::{AuditPageRequest, last_if_more, rows_to_fetch};
use crate::db::with_connection;
use crate::domain::AccountId;
use crate::error::StoreError;
use crate::models::{AuditEvent, audit_action};
use crate::schema::audit_events;

/// What an audit event records, as far as this version knows the stored action names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    KeyCreated,
    KeyRevoked,
    ApiAccessEnabled,
    ApiAccessDisabled,
}

impl AuditAction {
    /// The action stored as `action`, or `None` for a name this version does not know (written
    /// by a newer replica, say): the event is still listed, its action just reads as unknown.
    pub fn from_stored(action: &str) -> Option<Self> {
        match action {
            audit_action::KEY_CREATED => Some(Self::KeyCreated),
            audit_action::KEY_REVOKED => Some(Self::KeyRevoked),
            audit_action::API_ACCESS_ENABLED => Some(Self::ApiAccessEnabled),
            audit_action::API_ACCESS_DISABLED => Some(Self::ApiAccessDisabled),
            _ => None,
        }
    }
}

impl AuditEvent {
    pub fn recorded_action(&self) -> Option<AuditAction> {
        AuditAction::from_stored(&self.action)
    }
}

/// One page of audit events and the token for the next one (`None` at the end).
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_page_token: Option<String>,
}

impl Store {
    /// The most recent audit events of an account, newest first.
    pub async fn recent_audit_events(
        &self,
        account_id: &AccountId,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut conn = self.db.get().await?;
        let events = with_connection!(&mut conn, |c| {
            audit_events::table
                .filter(audit_events::account_id.eq(account_id.as_str()))
                .order(audit_events::id.desc())
                .limit(i64::from(limit))
                .select(AuditEvent::as_select())
                .load(c)
                .await
        })?;
        Ok(events)
    }

    /// One page of an account's audit trail, newest first (keyset pagination on the audit id,
    /// served by the `audit_events_by_account` index). An account without events, known or not,
    /// has an empty trail.
    pub async fn list_audit_events(
        &self,
        account_id: &AccountId,
        page: &AuditPageRequest,
    ) -> Result<AuditPage, StoreError> {
        let limit = rows_to_fetch(page.page_size());
        let before_id = page.before_id();
        let mut conn = self.db.get().await?;
        let mut events: Vec<AuditEvent> = with_connection!(&mut conn, |c| {
            let mut query = audit_events::table
                .filter(audit_events::account_id.eq(account_id.as_str()))
                .into_boxed();
            if let Some(before_id) = before_id {
                query = query.filter(audit_events::id.lt(before_id));
            }
            query
                .order(audit_events::id.desc())
                .limit(limit)
                .select(AuditEvent::as_select())
                .load(c)
                .await
        })?;
        let next_page_token = last_if_more(&mut events, page.page_size())
            .map(|last| AuditPageRequest::next_token(account_id, last.id));
        Ok(AuditPage {
            events,
            next_page_token,
        })
    }
}
