use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::changes::Change;
use super::{Store, now};
use crate::db::with_connection;
use crate::domain::{AccountId, Actor};
use crate::error::StoreError;
use crate::models::{Account, NewAuditEvent, audit_action};
use crate::schema::accounts;

impl Store {
    /// Turns API access on or off, creating the account record on first use, and records the
    /// change in the audit trail in the same transaction.
    pub async fn set_api_access(
        &self,
        account_id: &AccountId,
        enabled: bool,
        actor: &Actor,
    ) -> Result<Account, StoreError> {
        let at = now();
        let row = Account {
            account_id: account_id.as_str().to_owned(),
            api_access_enabled: enabled,
            created_at: at,
            updated_at: at,
        };
        let action = if enabled {
            audit_action::API_ACCESS_ENABLED
        } else {
            audit_action::API_ACCESS_DISABLED
        };
        let detail = serde_json::json!({ "api_access_enabled": enabled });
        let audit = NewAuditEvent::new(at, actor, account_id, action, None, detail);
        let mut write = self.db.get_for_write().await?;
        let account = with_connection!(&mut write.conn, |c| {
            c.transaction::<_, StoreError, _>(async move |c| {
                let account = diesel::insert_into(accounts::table)
                    .values(&row)
                    .on_conflict(accounts::account_id)
                    .do_update()
                    .set((
                        accounts::api_access_enabled.eq(enabled),
                        accounts::updated_at.eq(at),
                    ))
                    .returning(Account::as_returning())
                    .get_result(c)
                    .await?;
                audit.insert().execute(c).await?;
                Ok(account)
            })
            .await
        })?;
        drop(write);
        if !enabled {
            self.publish(&Change::ApiAccessDisabled {
                account_id: account.account_id.clone(),
            })
            .await;
        }
        Ok(account)
    }

    /// The account record, or `None` for an account that was never switched on or off.
    pub async fn get_account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError> {
        let mut conn = self.db.get().await?;
        let account = with_connection!(&mut conn, |c| {
            accounts::table
                .find(account_id.as_str())
                .select(Account::as_select())
                .get_result(c)
                .await
                .optional()
        })?;
        Ok(account)
    }
}
