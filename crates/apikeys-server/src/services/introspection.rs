use std::sync::Arc;

use apikeys_proto::pb;
use apikeys_proto::pb::introspection_service_server::IntrospectionService;
use apikeys_store::{ClientId, ClientSecret, Store};
use tonic::{Request, Response, Status};
use tracing::{Span, field, instrument};

use super::{caller, convert};
use crate::auth::{Caller, authorize_introspection};
use crate::error::ApiError;
use crate::secret_work::SecretWork;
use crate::usage::UsageRecorder;

pub struct IntrospectionServiceImpl {
    store: Store,
    secrets: Arc<SecretWork>,
    usage: Arc<UsageRecorder>,
}

/// RFC 7662 §2.2: an inactive answer says nothing else.
fn inactive() -> pb::IntrospectResponse {
    pb::IntrospectResponse::default()
}

impl IntrospectionServiceImpl {
    pub fn new(store: Store, secrets: Arc<SecretWork>, usage: Arc<UsageRecorder>) -> Self {
        Self {
            store,
            secrets,
            usage,
        }
    }

    async fn introspect_credentials(
        &self,
        caller: &Caller,
        request: pb::IntrospectRequest,
    ) -> Result<pb::IntrospectResponse, ApiError> {
        authorize_introspection(caller)?;
        // Malformed input is answered without any I/O or hashing.
        let (Ok(client_id), Some(secret)) = (
            ClientId::parse("client_id", &request.client_id),
            ClientSecret::parse(&request.client_secret),
        ) else {
            return Ok(inactive());
        };
        Span::current().record("client_id", client_id.as_str());
        let credential = self.store.find_credential(&client_id).await?;
        let stored_hash = credential.as_ref().map(|c| c.secret_hash.clone());
        if !self.secrets.verify(secret, stored_hash).await? {
            return Ok(inactive());
        }
        let Some(credential) = credential else {
            return Ok(inactive());
        };
        let now = chrono::Utc::now().naive_utc();
        if !credential.is_usable_at(now) {
            return Ok(inactive());
        }
        self.usage.record(&client_id, now);
        let key = credential.key;
        Ok(pb::IntrospectResponse {
            active: true,
            create_time: Some(convert::timestamp(key.created_at)),
            client_id: key.client_id,
            account_id: key.account_id,
            email: key.email,
            expire_time: None,
        })
    }
}

#[tonic::async_trait]
impl IntrospectionService for IntrospectionServiceImpl {
    #[instrument(name = "Introspect", skip_all, fields(client_id = field::Empty))]
    async fn introspect(
        &self,
        request: Request<pb::IntrospectRequest>,
    ) -> Result<Response<pb::IntrospectResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.introspect_credentials(&caller, request.into_inner())
                .await?,
        ))
    }
}
