use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{Stream, StreamExt};

use super::{Database, DatabaseUrl};
use crate::error::StoreError;

/// `application_name` of the LISTEN connection, so operators (and tests) can find it in
/// `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "apikeys-listener";

impl Database {
    /// Opens a dedicated connection that LISTENs on `channel` and yields notification payloads.
    /// `None` on SQLite, which has no notifications. The stream ends when the connection drops.
    pub(crate) async fn listen(
        &self,
        channel: &str,
    ) -> Result<Option<impl Stream<Item = String> + Send + use<>>, StoreError> {
        let DatabaseUrl::Postgres(url) = self.url() else {
            return Ok(None);
        };
        let url = with_application_name(url, LISTENER_APPLICATION_NAME);
        let mut conn = AsyncPgConnection::establish(&url).await?;
        diesel::sql_query(format!("LISTEN {channel}"))
            .execute(&mut conn)
            .await?;
        let stream = futures_util::stream::unfold(conn, |mut conn| async move {
            let next = std::pin::pin!(conn.notifications_stream()).next().await;
            match next {
                Some(Ok(notification)) => Some((Some(notification.payload), conn)),
                Some(Err(error)) => {
                    tracing::warn!(%error, "change listener connection lost");
                    None
                }
                None => None,
            }
        })
        .filter_map(|payload| async move { payload });
        Ok(Some(stream))
    }
}

fn with_application_name(url: &str, name: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={name}")
}
