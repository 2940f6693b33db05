use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::changes::Change;
use super::page::{KeyPage, PageCursor, PageRequest, last_if_more, rows_to_fetch};
use super::quota::CountNewKey;
use super::{Store, now};
use crate::db::with_connection;
use crate::domain::{AccountId, Actor, DisplayName, Email};
use crate::error::StoreError;
use crate::key_material::{ClientId, SecretHash};
use crate::models::{ApiKey, KeyCredential, NewApiKeyRow, NewAuditEvent, audit_action};
use crate::schema::{accounts, api_keys};

/// A key to create. The secret arrives already hashed: hashing is CPU work the caller schedules.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub account_id: AccountId,
    pub client_id: ClientId,
    pub email: Email,
    pub display_name: DisplayName,
    pub secret_hash: SecretHash,
    pub created_by: Actor,
}

impl Store {
    /// Creates a key if the account has API access and fewer than `max_active_keys` active keys.
    ///
    /// The account's active-key count is raised first, by an UPDATE that write-locks the row (a
    /// row lock on PostgreSQL, the write lock on SQLite): concurrent creates for one account take
    /// turns, each sees the count the previous one left, and a refused create rolls it back.
    pub async fn create_key(
        &self,
        new: &NewKey,
        max_active_keys: u32,
    ) -> Result<ApiKey, StoreError> {
        let at = now();
        let row = NewApiKeyRow {
            client_id: new.client_id.as_str(),
            account_id: new.account_id.as_str(),
            email: new.email.as_str(),
            display_name: new.display_name.as_str(),
            secret_hash: new.secret_hash.as_str(),
            created_at: at,
            created_by: new.created_by.as_str(),
        };
        let detail = serde_json::json!({
            "email": new.email.as_str(),
            "display_name": new.display_name.as_str(),
        });
        let audit = NewAuditEvent::new(
            at,
            &new.created_by,
            &new.account_id,
            audit_action::KEY_CREATED,
            Some(&new.client_id),
            detail,
        );
        let account_id = new.account_id.as_str();
        let mut write = self.db.get_for_write().await?;
        with_connection!(&mut write.conn, |c| {
            c.transaction::<_, StoreError, _>(async move |c| {
                let counted: Option<(bool, i64)> =
                    CountNewKey { account_id }.get_result(c).await.optional()?;
                let Some((true, active_with_this_one)) = counted else {
                    return Err(StoreError::ApiAccessDisabled {
                        account_id: account_id.to_owned(),
                    });
                };
                if active_with_this_one > i64::from(max_active_keys) {
                    return Err(StoreError::KeyLimitReached {
                        account_id: account_id.to_owned(),
                        limit: max_active_keys,
                    });
                }
                let key = diesel::insert_into(api_keys::table)
                    .values(&row)
                    .returning(ApiKey::as_returning())
                    .get_result(c)
                    .await?;
                audit.insert().execute(c).await?;
                Ok(key)
            })
            .await
        })
    }

    /// Revokes an active key of `account_id`. Unknown, already revoked and other accounts' keys
    /// are all [`StoreError::KeyNotFound`], so a caller learns nothing about keys it does not own.
    pub async fn revoke_key(
        &self,
        account_id: &AccountId,
        client_id: &ClientId,
        actor: &Actor,
    ) -> Result<ApiKey, StoreError> {
        let at = now();
        let audit = NewAuditEvent::new(
            at,
            actor,
            account_id,
            audit_action::KEY_REVOKED,
            Some(client_id),
            serde_json::json!({}),
        );
        let mut write = self.db.get_for_write().await?;
        let key = with_connection!(&mut write.conn, |c| {
            c.transaction::<_, StoreError, _>(async move |c| {
                let key = diesel::update(
                    api_keys::table
                        .filter(api_keys::client_id.eq(client_id.as_str()))
                        .filter(api_keys::account_id.eq(account_id.as_str()))
                        .filter(api_keys::revoked_at.is_null()),
                )
                .set((
                    api_keys::revoked_at.eq(at),
                    api_keys::revoked_by.eq(actor.as_str()),
                ))
                .returning(ApiKey::as_returning())
                .get_result(c)
                .await
                .optional()?
                .ok_or(StoreError::KeyNotFound)?;
                diesel::update(accounts::table.find(account_id.as_str()))
                    .set(accounts::active_keys.eq(accounts::active_keys - 1))
                    .execute(c)
                    .await?;
                audit.insert().execute(c).await?;
                Ok(key)
            })
            .await
        })?;
        drop(write);
        self.publish(&Change::KeyRevoked {
            client_id: key.client_id.clone(),
        })
        .await;
        Ok(key)
    }

    /// One page of an account's active keys, newest first (keyset pagination on
    /// `(created_at, client_id)`, served by the `api_keys_active_by_account` index).
    pub async fn list_active_keys(
        &self,
        account_id: &AccountId,
        page: &PageRequest,
    ) -> Result<KeyPage, StoreError> {
        let limit = rows_to_fetch(page.page_size());
        let after = page.cursor();
        let mut conn = self.db.get().await?;
        let mut keys: Vec<ApiKey> = with_connection!(&mut conn, |c| {
            let mut query = api_keys::table
                .filter(api_keys::account_id.eq(account_id.as_str()))
                .filter(api_keys::revoked_at.is_null())
                .into_boxed();
            if let Some(cursor) = after {
                query = query.filter(
                    api_keys::created_at
                        .lt(cursor.created_at)
                        .or(api_keys::created_at
                            .eq(cursor.created_at)
                            .and(api_keys::client_id.lt(cursor.client_id.as_str()))),
                );
            }
            query
                .order((api_keys::created_at.desc(), api_keys::client_id.desc()))
                .limit(limit)
                .select(ApiKey::as_select())
                .load(c)
                .await
        })?;
        let next = last_if_more(&mut keys, page.page_size())
            .map(|last| PageCursor::after(account_id, last));
        Ok(KeyPage::new(keys, next))
    }

    /// Everything needed to verify a presented secret for `client_id`, or `None` if no such key
    /// was ever issued.
    pub async fn find_credential(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<KeyCredential>, StoreError> {
        let mut conn = self.db.get().await?;
        let found: Option<(ApiKey, String, bool)> = with_connection!(&mut conn, |c| {
            api_keys::table
                .inner_join(accounts::table)
                .filter(api_keys::client_id.eq(client_id.as_str()))
                .select((
                    ApiKey::as_select(),
                    api_keys::secret_hash,
                    accounts::api_access_enabled,
                ))
                .get_result(c)
                .await
                .optional()
        })?;
        Ok(found.map(|(key, hash, enabled)| KeyCredential {
            key,
            secret_hash: SecretHash::from_stored(hash),
            account_api_access_enabled: enabled,
        }))
    }

    /// Replaces the stored hash of `client_id` with `new`, made from the same secret with the
    /// current parameters, if it is still `old` (compare-and-swap: a concurrent rehash by another
    /// replica, or a revocation racing with it, wins and this is a no-op). Returns whether the
    /// row was updated. Revoked keys are left alone: they will never verify again.
    pub async fn replace_secret_hash(
        &self,
        client_id: &ClientId,
        old: &SecretHash,
        new: &SecretHash,
    ) -> Result<bool, StoreError> {
        let mut write = self.db.get_for_write().await?;
        let updated = with_connection!(&mut write.conn, |c| {
            diesel::update(
                api_keys::table
                    .filter(api_keys::client_id.eq(client_id.as_str()))
                    .filter(api_keys::secret_hash.eq(old.as_str()))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::secret_hash.eq(new.as_str()))
            .execute(c)
            .await
        })?;
        Ok(updated == 1)
    }
}

impl Store {
    /// Records when keys were last used, in one transaction. A timestamp older than the stored
    /// one is ignored, so batches from several replicas can arrive in any order.
    pub async fn record_last_used(
        &self,
        uses: &[(ClientId, chrono::NaiveDateTime)],
    ) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut write = self.db.get_for_write().await?;
        with_connection!(&mut write.conn, |c| {
            c.transaction::<_, StoreError, _>(async move |c| {
                for (client_id, used_at) in uses {
                    diesel::update(
                        api_keys::table
                            .filter(api_keys::client_id.eq(client_id.as_str()))
                            .filter(
                                api_keys::last_used_at
                                    .is_null()
                                    .or(api_keys::last_used_at.lt(*used_at)),
                            ),
                    )
                    .set(api_keys::last_used_at.eq(*used_at))
                    .execute(c)
                    .await?;
                }
                Ok(())
            })
            .await
        })
    }
}
