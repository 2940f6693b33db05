use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Store;
use crate::db::with_connection;
use crate::error::StoreError;
use crate::schema::signing_keys;

/// A token-signing key as stored: the private half sealed by the caller, the public half in the
/// clear (it is published in the JWKS anyway).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: String,
    pub sealed_private_key: String,
    pub public_key: String,
    pub created_at: NaiveDateTime,
}

impl Store {
    pub async fn insert_signing_key(&self, record: &SigningKeyRecord) -> Result<(), StoreError> {
        let mut write = self.db.get_for_write().await?;
        with_connection!(&mut write.conn, |c| {
            diesel::insert_into(signing_keys::table)
                .values(record)
                .execute(c)
                .await
        })?;
        Ok(())
    }

    /// Keys created after `since`, newest first.
    pub async fn signing_keys_since(
        &self,
        since: NaiveDateTime,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut conn = self.db.get().await?;
        let keys = with_connection!(&mut conn, |c| {
            signing_keys::table
                .filter(signing_keys::created_at.gt(since))
                .order(signing_keys::created_at.desc())
                .select(SigningKeyRecord::as_select())
                .load(c)
                .await
        })?;
        Ok(keys)
    }

    /// Deletes keys created before `before`: nothing they signed can still be valid.
    pub async fn delete_signing_keys_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<usize, StoreError> {
        let mut write = self.db.get_for_write().await?;
        let deleted = with_connection!(&mut write.conn, |c| {
            diesel::delete(signing_keys::table.filter(signing_keys::created_at.lt(before)))
                .execute(c)
                .await
        })?;
        Ok(deleted)
    }
}
