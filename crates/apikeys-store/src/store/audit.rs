use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Store;
use crate::db::with_connection;
use crate::domain::AccountId;
use crate::error::StoreError;
use crate::models::AuditEvent;
use crate::schema::audit_events;

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
}
