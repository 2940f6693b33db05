use std::sync::Arc;

use apikeys_proto::pb;
use apikeys_proto::pb::api_key_service_server::ApiKeyService;
use apikeys_store::{
    Actor, AuditPageRequest, ClientId, ClientSecret, DisplayName, Email, NewKey, PageRequest, Store,
};
use tonic::{Request, Response, Status};
use tracing::{Span, field, instrument};

use super::{caller, convert, managed_account};
use crate::auth::Caller;
use crate::crypto::HashingPool;
use crate::error::ApiError;
use crate::verification::CredentialVerifier;
use crate::verification::usage::UsageRecorder;

/// Per-account limits on keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    pub max_active_keys: u32,
}

pub struct ApiKeyServiceImpl {
    store: Store,
    hashing_pool: Arc<HashingPool>,
    usage: Arc<UsageRecorder>,
    verifier: Arc<CredentialVerifier>,
    limits: KeyLimits,
}

impl ApiKeyServiceImpl {
    pub fn new(
        store: Store,
        hashing_pool: Arc<HashingPool>,
        usage: Arc<UsageRecorder>,
        verifier: Arc<CredentialVerifier>,
        limits: KeyLimits,
    ) -> Self {
        Self {
            store,
            hashing_pool,
            usage,
            verifier,
            limits,
        }
    }

    async fn create(
        &self,
        caller: &Caller,
        request: pb::CreateKeyRequest,
    ) -> Result<pb::CreateKeyResponse, ApiError> {
        let account_id = managed_account(caller, &request.account_id)?;
        let email = Email::parse("email", &request.email)?;
        let display_name = DisplayName::parse("display_name", &request.display_name)?;

        let secret = ClientSecret::generate();
        let secret_hash = self.hashing_pool.hash(secret.clone()).await?;
        let new_key = NewKey {
            account_id,
            client_id: ClientId::generate(),
            email,
            display_name,
            secret_hash,
            created_by: Actor::new(&caller.subject),
        };
        Span::current().record("client_id", new_key.client_id.as_str());
        let key = self
            .store
            .create_key(&new_key, self.limits.max_active_keys)
            .await?;
        tracing::info!("api key created");
        Ok(pb::CreateKeyResponse {
            key: Some(convert::api_key(key)),
            client_secret: secret.expose().to_owned(),
        })
    }

    async fn list(
        &self,
        caller: &Caller,
        request: pb::ListKeysRequest,
    ) -> Result<pb::ListKeysResponse, ApiError> {
        let account_id = managed_account(caller, &request.account_id)?;
        let page = PageRequest::parse(&account_id, request.page_size, &request.page_token)?;
        let page = self.store.list_active_keys(&account_id, &page).await?;
        Ok(pb::ListKeysResponse {
            keys: page
                .keys
                .into_iter()
                .map(|mut key| {
                    // Uses this replica has not flushed yet are newer than the stored value.
                    if let Some(pending) = self.usage.pending(&key.client_id) {
                        key.last_used_at = key.last_used_at.max(Some(pending));
                    }
                    convert::api_key(key)
                })
                .collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        })
    }

    async fn revoke(
        &self,
        caller: &Caller,
        request: pb::RevokeKeyRequest,
    ) -> Result<pb::RevokeKeyResponse, ApiError> {
        let account_id = managed_account(caller, &request.account_id)?;
        // A well-bounded id in another format names no key of ours: not found, like any other.
        let client_id = ClientId::parse_reference("client_id", &request.client_id)?
            .ok_or(ApiError::KeyNotFound)?;
        Span::current().record("client_id", client_id.as_str());
        let key = self
            .store
            .revoke_key(&account_id, &client_id, &Actor::new(&caller.subject))
            .await?;
        // Before the response: the next introspection on this replica must miss the cache.
        self.verifier.evict_key(client_id.as_str());
        tracing::info!("api key revoked");
        Ok(pb::RevokeKeyResponse {
            key: Some(convert::api_key(key)),
        })
    }

    /// The audit trail is read by those who manage the keys, under ListKeys' rules.
    async fn list_audit(
        &self,
        caller: &Caller,
        request: pb::ListAuditEventsRequest,
    ) -> Result<pb::ListAuditEventsResponse, ApiError> {
        let account_id = managed_account(caller, &request.account_id)?;
        let page = AuditPageRequest::parse(&account_id, request.page_size, &request.page_token)?;
        let page = self.store.list_audit_events(&account_id, &page).await?;
        Ok(pb::ListAuditEventsResponse {
            audit_events: page.events.into_iter().map(convert::audit_event).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl ApiKeyService for ApiKeyServiceImpl {
    #[instrument(name = "CreateKey", skip_all, fields(account_id = field::Empty, client_id = field::Empty))]
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.create(&caller, request.into_inner()).await?,
        ))
    }

    #[instrument(name = "ListKeys", skip_all, fields(account_id = field::Empty))]
    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.list(&caller, request.into_inner()).await?,
        ))
    }

    #[instrument(name = "RevokeKey", skip_all, fields(account_id = field::Empty, client_id = field::Empty))]
    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::RevokeKeyResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.revoke(&caller, request.into_inner()).await?,
        ))
    }

    #[instrument(name = "ListAuditEvents", skip_all, fields(account_id = field::Empty))]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.list_audit(&caller, request.into_inner()).await?,
        ))
    }
}
